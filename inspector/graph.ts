/**
 * A machine's statechart as plain data, walked from its state nodes (not `machine.toJSON()`, which leaves out
 * `always` transitions): what the inspector page draws. Works for any XState v5 machine.
 */
import type { AnyStateMachine } from 'xstate';

/** What a transition is triggered by. */
export type TransitionKind = 'event' | 'after' | 'always' | 'done' | 'error';

/** One transition of a state node. */
export interface TransitionJSON {
  kind: TransitionKind;
  /** The event type as the machine names it (`xstate.after.…` for delays). */
  event: string;
  /** A short label for the page: `PONG_TIMEOUT [tooManyMissed]`, `after CONNECT_TIMEOUT`, `always`. */
  label: string;
  /** Ids of the target state nodes; empty for a targetless (internal) transition. */
  targets: string[];
  guard: string | null;
}

/** One state node, with its children nested. */
export interface StateNodeJSON {
  /** Full id, e.g. `relay.live.open`. */
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Id of the initial child of a compound state. */
  initial: string | null;
  /** Ids (or sources) of the actors this state invokes. */
  invoke: string[];
  transitions: TransitionJSON[];
  states: StateNodeJSON[];
}

/** A whole machine. */
export interface MachineGraph {
  /** The machine's id (`relay`, `pool`). */
  id: string;
  root: StateNodeJSON;
}

interface NodeLike {
  id: string;
  key: string;
  type: StateNodeJSON['type'];
  states: Record<string, NodeLike>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
  after: Array<{ delay: unknown; eventType: string }>;
  invoke: Array<{ id: string; src: unknown }>;
  initial?: { target?: NodeLike[] } | undefined;
}

interface TransitionLike {
  eventType: string;
  target?: NodeLike[] | undefined;
  guard?: unknown;
}

function guardName(guard: unknown): string | null {
  if (!guard) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string')
    return (guard as { type: string }).type;
  return 'guard';
}

function classify(eventType: string, node: NodeLike): { kind: TransitionKind; label: string } {
  const delayed = node.after.find((a) => a.eventType === eventType);
  if (delayed)
    return {
      kind: 'after',
      label: `after ${typeof delayed.delay === 'number' ? `${delayed.delay} ms` : String(delayed.delay)}`,
    };
  if (eventType.startsWith('xstate.done.actor.'))
    return { kind: 'done', label: `done: ${eventType.slice('xstate.done.actor.'.length)}` };
  if (eventType.startsWith('xstate.error.actor.'))
    return { kind: 'error', label: `error: ${eventType.slice('xstate.error.actor.'.length)}` };
  if (eventType.startsWith('xstate.done.state.')) return { kind: 'done', label: 'done' };
  return { kind: 'event', label: eventType };
}

function transitionJSON(t: TransitionLike, kind: TransitionKind, label: string): TransitionJSON {
  const guard = guardName(t.guard);
  return {
    kind,
    event: t.eventType,
    label: guard ? `${label} [${guard}]` : label,
    targets: (t.target ?? []).map((n) => n.id),
    guard,
  };
}

function walk(node: NodeLike): StateNodeJSON {
  const transitions: TransitionJSON[] = [];
  for (const [eventType, list] of node.transitions) {
    const { kind, label } = classify(eventType, node);
    for (const t of list) transitions.push(transitionJSON(t, kind, label));
  }
  for (const t of node.always ?? []) transitions.push(transitionJSON(t, 'always', 'always'));
  return {
    id: node.id,
    key: node.key,
    type: node.type,
    initial: node.initial?.target?.[0]?.id ?? null,
    invoke: node.invoke.map((i) => (typeof i.src === 'string' ? i.src : i.id)),
    transitions,
    states: Object.values(node.states).map(walk),
  };
}

/**
 * The statechart of `machine` as plain, serialisable data.
 *
 * @example
 * const graph = machineGraph(relayMachine);
 * graph.root.states.map((s) => s.key); // ['idle', 'live', 'reconnecting', 'failed', 'closed']
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as NodeLike;
  return { id: machine.id, root: walk(root) };
}

/**
 * Every state id of a graph, depth first (the root included).
 *
 * @example
 * stateIds(machineGraph(relayMachine)); // ['relay', 'relay.idle', 'relay.live', 'relay.live.connecting', ...]
 */
export function stateIds(graph: MachineGraph): string[] {
  const out: string[] = [];
  const visit = (n: StateNodeJSON) => {
    out.push(n.id);
    n.states.forEach(visit);
  };
  visit(graph.root);
  return out;
}

/**
 * The ids of the active state nodes for a snapshot's `value` (`{ live: 'open' }` → `relay`, `relay.live`,
 * `relay.live.open`), resolved against the graph so that custom state ids still work.
 *
 * @example
 * activeStateIds(machineGraph(relayMachine), { live: 'open' }); // ['relay', 'relay.live', 'relay.live.open']
 */
export function activeStateIds(graph: MachineGraph, value: unknown): string[] {
  const out: string[] = [graph.root.id];
  const visit = (node: StateNodeJSON, v: unknown) => {
    if (typeof v === 'string') {
      const child = node.states.find((s) => s.key === v);
      if (child) out.push(child.id);
      return;
    }
    if (v && typeof v === 'object') {
      for (const [key, sub] of Object.entries(v)) {
        const child = node.states.find((s) => s.key === key);
        if (!child) continue;
        out.push(child.id);
        visit(child, sub);
      }
    }
  };
  visit(graph.root, value);
  return out;
}
