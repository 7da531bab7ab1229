/**
 * The relay machine: one resilient connection.
 *
 * ```
 * idle ─START→ live ──────────────────────────────────────────┐
 *               ├ connecting (dialing → handshaking)           │ CONNECTION_LOST (retryable)
 *               ├ open      ─PONG_TIMEOUT / RTT_HIGH→ degraded │──────────────→ reconnecting ─RECONNECT_DELAY / RETRY / WAKE / ONLINE→ live
 *               └ degraded  ─RECOVERED→ open                   │ fatal or attempts exhausted → failed ─RETRY→ live
 * any ─STOP→ closed (final)
 * ```
 *
 * The machine is data and pure transitions: its context is plain JSON (attempts, session, last close, the chosen
 * delay), every `assign` is a function of context and event, time and jitter arrive on the events, and everything
 * it tells the world leaves through `emit`. The socket is the `connection` actor invoked by `live`, so open↔degraded
 * never reopens it and leaving `live` always disposes it. Policies (backoff, classifier, health) are pure functions
 * in their own files; timers are named delays, guards and actors named implementations, all swappable with
 * `relayMachine.provide()`.
 */
import { assign, emit, sendTo, setup } from 'xstate';
import type { LocalCloseCause } from '../core/contract.ts';
import { backoffDelay, isStableConnection } from '../policies/backoff.ts';
import { connectionLogic } from '../runtime/connection.ts';
import type { RelayMachineConfig } from '../runtime/options.ts';
import type { RelayEmitted, RelayMachineEvent } from '../core/events.ts';
import type { HeartbeatMode, LastClose, RelayState } from '../core/telemetry.ts';

/** Context of the relay machine: lifecycle facts as plain JSON; sockets and data live in the runtime. */
export interface RelayContext {
  /** System id of this relay: the key its implementations find its runtime by. */
  id: string;
  /** Redacted URL (for the inspector). */
  url: string;
  config: RelayMachineConfig;
  /** Dials since the last stable connection, the current one included. */
  attempt: number;
  /** Connections that reached `open`: tells a fresh session from the same one. */
  session: number;
  /** Clock time the current connection opened (became `open`), or null. */
  connectedAt: number | null;
  /** Delay chosen for the pending reconnect, ms. */
  retryDelayMs: number | null;
  /** Clock time of the pending reconnect. */
  nextRetryAt: number | null;
  lastClose: LastClose | null;
  failure: string | null;
  heartbeat: HeartbeatMode;
  heartbeatNote: string | null;
}

/** Input of the relay machine: plain data. */
export interface RelayInput {
  /** System id of the relay actor (its runtime is registered under it). */
  id: string;
  /** Redacted URL. */
  url: string;
  config: RelayMachineConfig;
}

/** Meta of the state nodes that name a public state. */
export interface RelayStateMeta {
  state: RelayState;
}

/** Whether the connection that opened at `connectedAt` had lasted `stableAfter` by `at`. */
function stableAt(context: RelayContext, at: number): boolean {
  return isStableConnection(context.connectedAt ?? undefined, at, context.config.backoff);
}

/**
 * Which retry the next dial is (1-based): dials since the last stable connection, and at least 1 right after one
 * (the attempt count was just reset). The backoff delay and every report of the attempt use this one number.
 */
function retryNumber(context: RelayContext): number {
  return Math.max(1, context.attempt);
}

/** When and with what jitter an event says its moment came (losses and resumes carry both). */
function momentOf(event: RelayMachineEvent): { at: number; jitter: number } {
  return event.type === 'CONNECTION_LOST' || event.type === 'RESUME'
    ? { at: event.at, jitter: event.jitter }
    : { at: 0, jitter: 0 };
}

/**
 * The relay machine: `idle → live` (`connecting → open ⇄ degraded`) `→ reconnecting → live`, or `failed` when fatal
 * or out of attempts; `STOP` ends in `closed`. `createRelay` runs it over a relay runtime (sockets, streams); use it directly
 * to inspect, draw or step it with `transition()`, or swap a named delay, guard or actor with
 * `relayMachine.provide()`. Its context is plain data: `actor.getPersistedSnapshot()` saves it as JSON.
 *
 * @example
 * const [snapshot] = initialTransition(relayMachine, { id: 'r', url: 'ws://h', config });
 * const [connecting] = transition(relayMachine, snapshot, { type: 'START' });
 * connecting.hasTag('usable'); // false
 * const fastRetry = relayMachine.provide({ delays: { RECONNECT_DELAY: 0 } });
 */
export const relayMachine = setup({
  types: {
    context: {} as RelayContext,
    events: {} as RelayMachineEvent,
    input: {} as RelayInput,
    emitted: {} as RelayEmitted,
    tags: 'usable' as const,
    meta: {} as RelayStateMeta,
  },
  actors: {
    connection: connectionLogic,
  },
  delays: {
    CONNECT_TIMEOUT: ({ context }) => context.config.connectTimeout,
    HANDSHAKE_TIMEOUT: ({ context }) => context.config.handshakeTimeout,
    RECONNECT_DELAY: ({ context }) => context.retryDelayMs ?? 0,
  },
  guards: {
    /** The classifier said this will not work by retrying. */
    isFatal: ({ event }) => event.type === 'CONNECTION_LOST' && event.verdict.action === 'fatal',
    /** `maxAttempts` dials since the last stable connection all failed. */
    attemptsExhausted: ({ context, event }) =>
      context.config.maxAttempts !== null &&
      !stableAt(context, momentOf(event).at) &&
      context.attempt >= context.config.maxAttempts,
    /** The socket opened and a hello awaits its ack. */
    awaitsHelloAck: ({ event }) => event.type === 'SOCKET_OPEN' && event.handshake,
    /** `heartbeat.maxMissed` pings in a row went unanswered. */
    tooManyMissed: ({ context, event }) =>
      event.type === 'PONG_TIMEOUT' && event.missed >= context.config.heartbeat.maxMissed,
  },
  actions: {
    /** A dial begins. */
    countAttempt: assign({
      attempt: ({ context }) => context.attempt + 1,
      heartbeat: 'pending' as HeartbeatMode,
      heartbeatNote: null,
      failure: null,
    }),
    /** RETRY, WAKE or ONLINE: start over with a fresh backoff. */
    resetAttempts: assign({ attempt: 0 }),
    /** The connection is usable: a new session, and the clock for `stableAfter` starts. */
    markConnected: assign(({ context, event }) => ({
      session: context.session + 1,
      connectedAt: event.type === 'SOCKET_OPEN' || event.type === 'HELLO_ACK' ? event.at : null,
      heartbeat: context.heartbeat === 'off' ? 'off' : context.config.heartbeat.enabled ? 'on' : 'off',
    })),
    /** Tells the runtime a connection opened (a success for its health record). */
    announceConnected: emit(({ context }) => ({ type: 'connected' as const, session: context.session })),
    /** Our runtime ends the connection (a timeout or heartbeat verdict): the connection reports it as a loss. */
    loseConnection: sendTo('connection', (_, params: { cause: LocalCloseCause }) => ({
      type: 'DROP' as const,
      cause: params.cause,
    })),
    /** Records how the connection ended, for status and telemetry, and resets backoff after a stable connection. */
    recordLoss: assign(({ context, event }) => {
      if (event.type !== 'CONNECTION_LOST') return {};
      const { info, verdict, at } = event;
      const stable = stableAt(context, at);
      const lastClose: LastClose = {
        code: info.code,
        reason: info.reason,
        ...(info.status !== undefined ? { status: info.status } : {}),
        ...(info.errorCode !== undefined ? { errorCode: info.errorCode } : {}),
        ...(info.local !== undefined ? { local: info.local } : {}),
        verdict,
        at,
      };
      return {
        lastClose,
        attempt: stable ? 0 : context.attempt,
        connectedAt: null,
        failure: verdict.action === 'fatal' ? verdict.reason : null,
      };
    }),
    /** Tells how the connection ended, and what that means for health: a failed dial, a flap, or neither. */
    announceLoss: emit(({ context, event }) => {
      if (event.type !== 'CONNECTION_LOST') throw new Error('announceLoss runs on CONNECTION_LOST only');
      const outcome =
        context.connectedAt === null ? 'dial-failed' : stableAt(context, event.at) ? 'stable' : ('flapped' as const);
      return { type: 'disconnected' as const, info: event.info, verdict: event.verdict, outcome, at: event.at };
    }),
    /** `maxAttempts` ran out. */
    recordExhausted: assign({ failure: ({ context }) => `gave up after ${context.attempt} attempts` }),
    /** Reports the failure. */
    announceFailure: emit(({ context }) => ({ type: 'failed' as const, reason: context.failure ?? 'failed' })),
    /** Picks the backoff delay for the next dial (never below a server's Retry-After), from the event's jitter. */
    scheduleReconnect: assign(({ context, event }) => {
      const { at, jitter } = momentOf(event);
      const floor = context.lastClose?.verdict.delayMs ?? 0;
      const delay = backoffDelay(retryNumber(context), context.config.backoff, () => jitter, floor);
      return { retryDelayMs: delay, nextRetryAt: at + delay };
    }),
    /** Tells telemetry and the `beforeReconnect` hook, so callers can fail in-flight requests. */
    announceReconnect: emit(({ context }) => ({
      type: 'reconnect-scheduled' as const,
      attempt: retryNumber(context),
      delayMs: context.retryDelayMs ?? 0,
      cause: context.lastClose?.verdict.reason ?? 'unknown',
      lastClose: context.lastClose,
    })),
    clearRetry: assign({ retryDelayMs: null, nextRetryAt: null }),
    /** The heartbeat turned itself off for this connection. */
    recordHeartbeatOff: assign(({ event }) =>
      event.type === 'HEARTBEAT_OFF' ? { heartbeat: 'off', heartbeatNote: event.reason } : {},
    ),
    announceHeartbeatOff: emit(({ context }) => ({
      type: 'heartbeat-off' as const,
      reason: context.heartbeatNote ?? 'off',
    })),
    /** Woken or back online while connected: check the link now instead of at the next heartbeat. */
    probeNow: sendTo('connection', { type: 'PROBE' as const }),
    /** Reports a wake. */
    announceWake: emit(({ event }) => ({
      type: 'wake' as const,
      sleptMs: event.type === 'WAKE' ? (event.sleptMs ?? 0) : 0,
    })),
  },
}).createMachine({
  id: 'relay',
  /** Fresh lifecycle facts: no attempts, no session, no close, heartbeat pending. */
  context: ({ input }) => ({
    id: input.id,
    url: input.url,
    config: input.config,
    attempt: 0,
    session: 0,
    connectedAt: null,
    retryDelayMs: null,
    nextRetryAt: null,
    lastClose: null,
    failure: null,
    heartbeat: 'pending',
    heartbeatNote: null,
  }),
  initial: 'idle',
  on: {
    STOP: '.closed',
  },
  states: {
    idle: {
      meta: { state: 'idle' },
      on: { START: 'live' },
    },
    live: {
      entry: 'countAttempt',
      invoke: {
        id: 'connection',
        src: 'connection',
        /** The connection finds the relay's runtime by the relay's id. */
        input: ({ context }) => ({ relay: context.id }),
      },
      initial: 'connecting',
      on: {
        CONNECTION_LOST: [
          { guard: 'isFatal', target: 'failed', actions: ['announceLoss', 'recordLoss'] },
          {
            guard: 'attemptsExhausted',
            target: 'failed',
            actions: ['announceLoss', 'recordLoss', 'recordExhausted'],
          },
          { target: 'reconnecting', actions: ['announceLoss', 'recordLoss'] },
        ],
        HEARTBEAT_OFF: { actions: ['recordHeartbeatOff', 'announceHeartbeatOff'] },
        STALE: { actions: { type: 'loseConnection', params: { cause: 'stale' } } },
        WAKE: { actions: ['announceWake', 'probeNow'] },
        ONLINE: { actions: 'probeNow' },
        /** Restored from a saved snapshot: a socket cannot be saved, so the relay dials again. */
        RESUME: { target: 'live', reenter: true },
      },
      states: {
        connecting: {
          meta: { state: 'connecting' },
          initial: 'dialing',
          states: {
            dialing: {
              after: { CONNECT_TIMEOUT: { actions: { type: 'loseConnection', params: { cause: 'connect-timeout' } } } },
              on: {
                SOCKET_OPEN: [
                  { guard: 'awaitsHelloAck', target: 'handshaking' },
                  { target: '#relay.live.open', actions: ['markConnected', 'announceConnected'] },
                ],
              },
            },
            handshaking: {
              after: {
                HANDSHAKE_TIMEOUT: { actions: { type: 'loseConnection', params: { cause: 'handshake-timeout' } } },
              },
              on: { HELLO_ACK: { target: '#relay.live.open', actions: ['markConnected', 'announceConnected'] } },
            },
          },
        },
        open: {
          meta: { state: 'open' },
          tags: 'usable',
          on: {
            PONG_TIMEOUT: [
              { guard: 'tooManyMissed', actions: { type: 'loseConnection', params: { cause: 'heartbeat-timeout' } } },
              { target: 'degraded' },
            ],
            RTT_HIGH: { target: 'degraded' },
          },
        },
        degraded: {
          meta: { state: 'degraded' },
          tags: 'usable',
          on: {
            PONG_TIMEOUT: {
              guard: 'tooManyMissed',
              actions: { type: 'loseConnection', params: { cause: 'heartbeat-timeout' } },
            },
            RECOVERED: { target: 'open' },
          },
        },
      },
    },
    reconnecting: {
      meta: { state: 'reconnecting' },
      entry: ['scheduleReconnect', 'announceReconnect'],
      exit: 'clearRetry',
      after: { RECONNECT_DELAY: 'live' },
      on: {
        RETRY: { target: 'live', actions: 'resetAttempts' },
        WAKE: { target: 'live', actions: ['announceWake', 'resetAttempts'] },
        ONLINE: { target: 'live', actions: 'resetAttempts' },
        /** Restored from a saved snapshot: its timer was not saved, so the wait starts again. */
        RESUME: { target: 'reconnecting', reenter: true },
      },
    },
    failed: {
      meta: { state: 'failed' },
      entry: 'announceFailure',
      on: {
        RETRY: { target: 'live', actions: 'resetAttempts' },
      },
    },
    closed: {
      meta: { state: 'closed' },
      type: 'final',
    },
  },
});

/** The relay machine's type, for `machine.provide()` and inspection. */
export type RelayMachine = typeof relayMachine;

export type { RelayMachineConfig } from '../runtime/options.ts';
