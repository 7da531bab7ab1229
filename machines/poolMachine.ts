/**
 * The coordinator machine: spawns one relay actor per URL, follows their states, and says whether the pool can
 * take traffic.
 *
 * ```
 * idle ─START→ running ┬ offline ─a relay usable→ online ─none usable→ offline
 *                      │    └─SESSION_TIMEOUT→ expired ─a relay usable→ online
 * any ─STOP→ stopped (final)
 * ```
 *
 * `online`: at least one relay is `open` or `degraded`. `offline`: none is; sends queue in the outbox.
 * `expired`: none has been for `sessionTimeout`; queued sends were rejected and new ones fail fast, while the
 * relays keep retrying. Ranking, the outbox and subscriptions live in the pool runtime; the machine calls them
 * through named actions, so a diagram shows where each happens.
 */
import { assign, enqueueActions, setup, spawnChild, stopChild } from 'xstate';
import { relayMachine } from './relayMachine.ts';
import type { RelayRuntime } from './runtime.ts';

/** What the machine needs of the pool runtime. */
export interface PoolMachineRuntime {
  /** Usable relays right now. */
  usableCount(): number;
  /** Re-scores every relay and re-picks the primary; returns it. */
  rerank(cause: string): string | null;
  /** Replays the outbox in order through usable relays. */
  flushOutbox(): void;
  /** No relay usable for `sessionTimeout`: reject what waits. */
  expireSession(): void;
  /** The pool's state changed (for telemetry). */
  announce(state: PoolState): void;
  /** `sessionTimeout`, ms. */
  readonly sessionTimeout: number;
}

/** Public pool states (the inspector shows these names). */
export type PoolState = 'idle' | 'online' | 'offline' | 'expired' | 'stopped';

/** Events of the coordinator. */
export type PoolMachineEvent =
  | { type: 'START' }
  | { type: 'STOP' }
  | { type: 'ADD_RELAY'; id: string; rt: RelayRuntime<any, any> }
  | { type: 'REMOVE_RELAY'; id: string }
  /** A relay's state or health changed: re-rank, and maybe change the pool's state. */
  | { type: 'RELAY_CHANGED'; id: string }
  | { type: 'RETRY' }
  | { type: 'WAKE'; sleptMs?: number }
  | { type: 'ONLINE' };

/** Context: lifecycle facts only; the runtime is referenced, not copied. */
export interface PoolContext {
  pool: PoolMachineRuntime;
  /** Child ids of the relays, in configuration order. */
  relays: string[];
  /** Child id of the primary relay, or null. */
  primary: string | null;
}

/** Input of the coordinator. */
export interface PoolInput {
  pool: PoolMachineRuntime;
}

/**
 * Maps the machine's state value to the public pool state.
 *
 * @example
 * poolState({ running: 'online' }) // 'online'
 * poolState('stopped')             // 'stopped'
 * poolState(pool.actor.getSnapshot().value)
 */
export function poolState(value: unknown): PoolState {
  if (typeof value === 'string') return value as PoolState;
  const running = (value as { running?: string }).running;
  return (running as PoolState | undefined) ?? 'offline';
}

/**
 * The coordinator machine: `idle → running` (`offline ⇄ online`, `expired` after `sessionTimeout` offline), `STOP`
 * ends in `stopped`; one {@link relayMachine} child per relay, spawned by `ADD_RELAY`. `createRelayPool` runs it
 * over its pool runtime; use it directly to inspect or draw it.
 *
 * @example
 * const graph = machineGraph(poolMachine); // from relay-actors/inspector
 */
export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as PoolMachineEvent,
    input: {} as PoolInput,
  },
  actors: {
    relay: relayMachine,
  },
  delays: {
    SESSION_TIMEOUT: ({ context }) => context.pool.sessionTimeout,
  },
  guards: {
    /** At least one relay is `open` or `degraded`. */
    anyUsable: ({ context }) => context.pool.usableCount() > 0,
    /** No relay is usable. */
    noneUsable: ({ context }) => context.pool.usableCount() === 0,
  },
  actions: {
    /** Spawns the relay actor with a stable system id (the same as its child id). */
    spawnRelay: enqueueActions(({ enqueue, event }) => {
      if (event.type !== 'ADD_RELAY') return;
      enqueue(spawnChild('relay', { id: event.id, systemId: event.id, input: { rt: event.rt } }));
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
    /** Re-scores relays and re-picks the primary (with hysteresis). */
    rerank: assign({
      primary: ({ context, event }) =>
        context.pool.rerank(event.type === 'RELAY_CHANGED' ? `relay-changed:${event.id}` : event.type),
    }),
    /** A relay is usable again: replay what waited, in order. */
    flushOutbox: ({ context }) => context.pool.flushOutbox(),
    /** No relay for `sessionTimeout`: pending sends are rejected. */
    expireSession: ({ context }) => context.pool.expireSession(),
    announceOnline: ({ context }) => context.pool.announce('online'),
    announceOffline: ({ context }) => context.pool.announce('offline'),
    announceExpired: ({ context }) => context.pool.announce('expired'),
    announceStopped: ({ context }) => context.pool.announce('stopped'),
  },
}).createMachine({
  id: 'pool',
  /** The input's pool runtime; no relays and no primary until `ADD_RELAY`. */
  context: ({ input }) => ({ pool: input.pool, relays: [], primary: null }),
  initial: 'idle',
  on: {
    STOP: '.stopped',
    ADD_RELAY: { actions: 'spawnRelay' },
    REMOVE_RELAY: { actions: ['removeRelay', 'rerank'] },
  },
  states: {
    idle: {
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
          // Replay first: a listener that sends on `online` must find the queue already gone out.
          entry: ['flushOutbox', 'announceOnline'],
          on: {
            RELAY_CHANGED: [{ guard: 'noneUsable', target: 'offline', actions: 'rerank' }, { actions: 'rerank' }],
            REMOVE_RELAY: [
              { guard: 'noneUsable', target: 'offline', actions: ['removeRelay', 'rerank'] },
              { actions: ['removeRelay', 'rerank'] },
            ],
          },
        },
        offline: {
          entry: 'announceOffline',
          after: { SESSION_TIMEOUT: 'expired' },
          on: {
            RELAY_CHANGED: [{ guard: 'anyUsable', target: 'online', actions: 'rerank' }, { actions: 'rerank' }],
          },
        },
        expired: {
          entry: ['expireSession', 'announceExpired'],
          on: {
            RELAY_CHANGED: [{ guard: 'anyUsable', target: 'online', actions: 'rerank' }, { actions: 'rerank' }],
          },
        },
      },
    },
    stopped: {
      type: 'final',
      entry: ['stopRelays', 'announceStopped'],
    },
  },
});

/** The coordinator machine's type, for `machine.provide()` and inspection. */
export type PoolMachine = typeof poolMachine;
