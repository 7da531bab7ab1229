/**
 * The coordinator machine: spawns one relay actor per URL, follows which of them are usable, records the primary
 * the ranking chose, and says whether the pool can take traffic.
 *
 * ```
 * idle ─START→ running ┬ offline ─a relay usable→ online ─none usable→ offline
 *                      │    └─SESSION_TIMEOUT→ expired ─a relay usable→ online
 * any ─STOP→ stopped (final)
 * ```
 *
 * `online`: at least one relay is `open` or `degraded`. `offline`: none is; sends queue in the outbox.
 * `expired`: none has been for `sessionTimeout`; queued sends were rejected and new ones fail fast, while the
 * relays keep retrying. Its context is plain data (relay ids, usable ids, the primary); scores are computed outside
 * and arrive on the events. What the pool must do on a change (replay the outbox, reject it) leaves through `emit`.
 */
import { assign, emit, enqueueActions, setup, spawnChild, stopChild } from 'xstate';
import { relayMachine, type RelayMachineConfig } from './relayMachine.ts';

/** Public pool states (the inspector shows these names). */
export type PoolState = 'idle' | 'online' | 'offline' | 'expired' | 'stopped';

/** Events of the coordinator. */
export type PoolMachineEvent =
  | { type: 'START' }
  | { type: 'STOP' }
  /** Spawn relay `id` (its runtime is registered under that id in the pool's actor system). */
  | { type: 'ADD_RELAY'; id: string; url: string }
  /** Remove relay `id`; `primary` is the ranking's choice without it. */
  | { type: 'REMOVE_RELAY'; id: string; primary: string | null }
  /** Relay `id` changed state or health: whether it is usable now, and the primary the ranking chose. */
  | { type: 'RELAY_CHANGED'; id: string; usable: boolean; primary: string | null }
  | { type: 'RETRY' }
  | { type: 'WAKE'; sleptMs?: number }
  | { type: 'ONLINE' }
  /** Restored from a saved snapshot: restart the session timer the snapshot could not hold. */
  | { type: 'RESUME' };

/** What the coordinator tells its runtime, through `emit`. */
export type PoolEmitted =
  /** The pool entered `state`. */
  | { type: 'pool-state'; state: PoolState }
  /** A relay is usable again: replay the outbox, in order (before `pool-state` online is announced). */
  | { type: 'replay-outbox' }
  /** No relay for `sessionTimeout`: reject what waits. */
  | { type: 'expire-session' };

/** Context: plain data only. */
export interface PoolContext {
  /** Child ids of the relays, in configuration order. */
  relays: string[];
  /** Child ids of the relays that are usable (`open` or `degraded`) now. */
  usable: string[];
  /** Child id of the primary relay, or null. */
  primary: string | null;
  /** What every relay machine reads (timeouts, attempts, backoff): one object for all. */
  relayConfig: RelayMachineConfig;
  /** `sessionTimeout`, ms. */
  sessionTimeout: number;
}

/** Input of the coordinator. */
export interface PoolInput {
  relayConfig: RelayMachineConfig;
  sessionTimeout: number;
}

/** Meta of the state nodes that name a public pool state. */
export interface PoolStateMeta {
  state: PoolState;
}

/** The usable relays once `event` is applied. */
function usableAfter(context: PoolContext, event: PoolMachineEvent): string[] {
  if (event.type === 'REMOVE_RELAY') return context.usable.filter((id) => id !== event.id);
  if (event.type !== 'RELAY_CHANGED') return context.usable;
  const has = context.usable.includes(event.id);
  if (event.usable === has || (event.usable && !context.relays.includes(event.id))) return context.usable;
  return event.usable ? [...context.usable, event.id] : context.usable.filter((id) => id !== event.id);
}

/**
 * The public state of a pool snapshot: the name its state nodes carry in `meta.state`.
 *
 * @example
 * poolState(pool.actor.getSnapshot()) // 'online'
 */
export function poolState(snapshot: { getMeta(): Record<string, PoolStateMeta | undefined> }): PoolState {
  for (const meta of Object.values(snapshot.getMeta())) if (meta?.state) return meta.state;
  return 'idle';
}

/**
 * The coordinator machine: `idle → running` (`offline ⇄ online`, `expired` after `sessionTimeout` offline), `STOP`
 * ends in `stopped`; one {@link relayMachine} child per relay, spawned by `ADD_RELAY`. `createRelayPool` runs it
 * over its pool runtime; use it directly to inspect, draw or step it with `transition()`.
 *
 * @example
 * const [idle] = initialTransition(poolMachine, { relayConfig, sessionTimeout: 60_000 });
 * const [offline] = transition(poolMachine, idle, { type: 'START' });
 * poolState(offline); // 'offline'
 */
export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as PoolMachineEvent,
    input: {} as PoolInput,
    emitted: {} as PoolEmitted,
    tags: 'usable' as const,
    meta: {} as PoolStateMeta,
  },
  actors: {
    relay: relayMachine,
  },
  delays: {
    SESSION_TIMEOUT: ({ context }) => context.sessionTimeout,
  },
  guards: {
    /** At least one relay is `open` or `degraded` once this event is applied. */
    anyUsable: ({ context, event }) => usableAfter(context, event).length > 0,
    /** No relay is usable once this event is applied. */
    noneUsable: ({ context, event }) => usableAfter(context, event).length === 0,
  },
  actions: {
    /** Spawns the relay actor with a stable system id (the same as its child id). */
    spawnRelay: enqueueActions(({ enqueue, event, context }) => {
      if (event.type !== 'ADD_RELAY') return;
      const input = { id: event.id, url: event.url, config: context.relayConfig };
      enqueue(spawnChild('relay', { id: event.id, systemId: event.id, input }));
      enqueue.assign({ relays: ({ context }) => [...context.relays, event.id] });
    }),
    /** Starts one new relay (the pool is running). */
    startRelay: enqueueActions(({ enqueue, event }) => {
      if (event.type === 'ADD_RELAY') enqueue.sendTo(event.id, { type: 'START' });
    }),
    /** Starts every relay. */
    startRelays: enqueueActions(({ enqueue, context }) => {
      for (const id of context.relays) enqueue.sendTo(id, { type: 'START' });
    }),
    /** Stops one relay actor: STOP walks it to `closed` (closing its socket with 1000), then it is removed. */
    removeRelay: enqueueActions(({ enqueue, event }) => {
      if (event.type !== 'REMOVE_RELAY') return;
      enqueue.sendTo(event.id, { type: 'STOP' });
      enqueue(stopChild(event.id));
      enqueue.assign({ relays: ({ context }) => context.relays.filter((id) => id !== event.id) });
    }),
    /** Tells every relay still running to close (the pool facade has usually done so already, to await the closes). */
    stopRelays: enqueueActions(({ enqueue, context, self }) => {
      const children = self.getSnapshot().children as Record<string, { getSnapshot(): { status: string } } | undefined>;
      for (const id of context.relays)
        if (children[id]?.getSnapshot().status === 'active') enqueue.sendTo(id, { type: 'STOP' });
    }),
    /** RETRY, WAKE and ONLINE go to every relay: each reconnects at once with its backoff reset. */
    forwardToRelays: enqueueActions(({ enqueue, context, event }) => {
      for (const id of context.relays) enqueue.sendTo(id, event);
    }),
    /** Records which relays are usable and the primary the ranking chose. */
    recordChange: assign(({ context, event }) => ({
      usable: usableAfter(context, event),
      primary: event.type === 'RELAY_CHANGED' || event.type === 'REMOVE_RELAY' ? event.primary : context.primary,
    })),
    /** A relay is usable again: replay what waited, in order. */
    replayOutbox: emit({ type: 'replay-outbox' as const }),
    /** No relay for `sessionTimeout`: pending sends are rejected. */
    expireSession: emit({ type: 'expire-session' as const }),
    announceOnline: emit({ type: 'pool-state' as const, state: 'online' as const }),
    announceOffline: emit({ type: 'pool-state' as const, state: 'offline' as const }),
    announceExpired: emit({ type: 'pool-state' as const, state: 'expired' as const }),
    announceStopped: emit({ type: 'pool-state' as const, state: 'stopped' as const }),
  },
}).createMachine({
  id: 'pool',
  /** No relays and no primary until `ADD_RELAY`. */
  context: ({ input }) => ({
    relays: [],
    usable: [],
    primary: null,
    relayConfig: input.relayConfig,
    sessionTimeout: input.sessionTimeout,
  }),
  initial: 'idle',
  on: {
    STOP: '.stopped',
    ADD_RELAY: { actions: 'spawnRelay' },
    REMOVE_RELAY: { actions: ['removeRelay', 'recordChange'] },
    RELAY_CHANGED: { actions: 'recordChange' },
  },
  states: {
    idle: {
      meta: { state: 'idle' },
      on: { START: 'running' },
    },
    running: {
      entry: 'startRelays',
      initial: 'offline',
      on: {
        ADD_RELAY: { actions: ['spawnRelay', 'startRelay'] },
        RETRY: { actions: 'forwardToRelays' },
        WAKE: { actions: 'forwardToRelays' },
        ONLINE: { actions: 'forwardToRelays' },
      },
      states: {
        online: {
          meta: { state: 'online' },
          tags: 'usable',
          // Replay first: a listener that sends on `online` must find the queue already gone out.
          entry: ['replayOutbox', 'announceOnline'],
          on: {
            RELAY_CHANGED: [
              { guard: 'noneUsable', target: 'offline', actions: 'recordChange' },
              { actions: 'recordChange' },
            ],
            REMOVE_RELAY: [
              { guard: 'noneUsable', target: 'offline', actions: ['removeRelay', 'recordChange'] },
              { actions: ['removeRelay', 'recordChange'] },
            ],
          },
        },
        offline: {
          meta: { state: 'offline' },
          entry: 'announceOffline',
          after: { SESSION_TIMEOUT: 'expired' },
          on: {
            RELAY_CHANGED: [
              { guard: 'anyUsable', target: 'online', actions: 'recordChange' },
              { actions: 'recordChange' },
            ],
            /** Restored from a saved snapshot: the session timer starts again. */
            RESUME: { target: 'offline', reenter: true },
          },
        },
        expired: {
          meta: { state: 'expired' },
          entry: ['expireSession', 'announceExpired'],
          on: {
            RELAY_CHANGED: [
              { guard: 'anyUsable', target: 'online', actions: 'recordChange' },
              { actions: 'recordChange' },
            ],
          },
        },
      },
    },
    stopped: {
      meta: { state: 'stopped' },
      type: 'final',
      entry: ['stopRelays', 'announceStopped'],
    },
  },
});

/** The coordinator machine's type, for `machine.provide()` and inspection. */
export type PoolMachine = typeof poolMachine;
