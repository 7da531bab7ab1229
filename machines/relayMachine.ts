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
 * The socket is the `connection` actor invoked by `live`, so open↔degraded never reopens it and leaving `live`
 * always disposes it. Policies (backoff, classifier, health) are pure functions in their own files; timers are
 * named delays, all swappable with `relayMachine.provide()`.
 */
import { assign, raise, sendTo, setup } from 'xstate';
import type { CloseVerdict, DisconnectInfo, LocalCloseCause } from '../adapters/types.ts';
import { backoffDelay, isStableConnection } from './backoff.ts';
import { connectionLogic, localLoss } from './connection.ts';
import { recordFlap, recordOutcome } from './health.ts';
import type { RelayMachineEvent } from './relayEvents.ts';
import type { RelayRuntime } from './runtime.ts';
import type { HeartbeatMode, LastClose } from './telemetry.ts';

/** Context of the relay machine: lifecycle facts only; data and sockets live in the runtime. */
export interface RelayContext {
  rt: RelayRuntime<any, any>;
  /** Redacted URL (for the inspector). */
  url: string;
  /** Dials since the last stable connection, the current one included. */
  attempt: number;
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

/** Input of the relay machine. */
export interface RelayInput {
  rt: RelayRuntime<any, any>;
}

const retryLoss = (local: LocalCloseCause): { info: DisconnectInfo; verdict: CloseVerdict } => ({
  info: localLoss(local),
  verdict: { action: 'retry', reason: local },
});

function stableNow(context: RelayContext): boolean {
  const rt = context.rt;
  return isStableConnection(context.connectedAt ?? undefined, rt.now(), rt.options.backoff);
}

/**
 * Which retry the next dial is (1-based): dials since the last stable connection, and at least 1 right after one
 * (the attempt count was just reset). The backoff delay and every report of the attempt use this one number.
 */
function retryNumber(context: RelayContext): number {
  return Math.max(1, context.attempt);
}

/**
 * The relay machine: `idle → live` (`connecting → open ⇄ degraded`) `→ reconnecting → live`, or `failed` when fatal
 * or out of attempts; `STOP` ends in `closed`. `createRelay` runs it over a {@link RelayRuntime}; use it directly
 * to inspect or draw it, or swap a named delay, guard or action with `relayMachine.provide()`.
 *
 * @example
 * const fastRetry = relayMachine.provide({ delays: { RECONNECT_DELAY: 0 } });
 */
export const relayMachine = setup({
  types: {
    context: {} as RelayContext,
    events: {} as RelayMachineEvent,
    input: {} as RelayInput,
  },
  actors: {
    connection: connectionLogic,
  },
  delays: {
    CONNECT_TIMEOUT: ({ context }) => context.rt.options.connectTimeout,
    HANDSHAKE_TIMEOUT: ({ context }) => context.rt.options.handshakeTimeout,
    RECONNECT_DELAY: ({ context }) => context.retryDelayMs ?? 0,
  },
  guards: {
    /** The classifier said this will not work by retrying. */
    isFatal: ({ event }) => event.type === 'CONNECTION_LOST' && event.verdict.action === 'fatal',
    /** `maxAttempts` dials since the last stable connection all failed. */
    attemptsExhausted: ({ context }) => !stableNow(context) && context.attempt >= context.rt.options.maxAttempts,
    /** The socket opened and a hello awaits its ack. */
    awaitsHelloAck: ({ event }) => event.type === 'SOCKET_OPEN' && event.handshake,
    /** `heartbeat.maxMissed` pings in a row went unanswered. */
    tooManyMissed: ({ context, event }) =>
      event.type === 'PONG_TIMEOUT' && event.missed >= context.rt.options.heartbeat.maxMissed,
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
    /** The connection is usable: the clock for `stableAfter` starts. */
    markConnected: assign({
      connectedAt: ({ context }) => {
        const rt = context.rt;
        rt.health = recordOutcome(rt.health, true);
        rt.session++;
        return rt.now();
      },
      heartbeat: ({ context }) =>
        context.heartbeat === 'off' ? 'off' : context.rt.options.heartbeat.enabled ? 'on' : 'off',
    }),
    /** Our runtime ends the connection (a timeout or heartbeat verdict), through the same path as a remote close. */
    loseConnection: raise((_, params: { cause: LocalCloseCause }) => ({
      type: 'CONNECTION_LOST' as const,
      ...retryLoss(params.cause),
    })),
    /** Records how the connection ended, for status and telemetry, and resets backoff after a stable connection. */
    recordLoss: assign(({ context, event }) => {
      if (event.type !== 'CONNECTION_LOST') return {};
      const rt = context.rt;
      const { info, verdict } = event;
      const stable = stableNow(context);
      if (context.connectedAt === null) rt.health = recordOutcome(rt.health, false);
      else if (!stable) rt.health = recordFlap(rt.health, rt.now());
      rt.emit({ type: 'disconnected', info, verdict });
      const lastClose: LastClose = {
        code: info.code,
        reason: info.reason,
        ...(info.status !== undefined ? { status: info.status } : {}),
        ...(info.errorCode !== undefined ? { errorCode: info.errorCode } : {}),
        ...(info.local !== undefined ? { local: info.local } : {}),
        verdict,
        at: rt.now(),
      };
      return {
        lastClose,
        attempt: stable ? 0 : context.attempt,
        connectedAt: null,
        failure: verdict.action === 'fatal' ? verdict.reason : null,
      };
    }),
    /** `maxAttempts` ran out. */
    recordExhausted: assign({ failure: ({ context }) => `gave up after ${context.attempt} attempts` }),
    /** Reports the failure. */
    announceFailure: ({ context }) => context.rt.emit({ type: 'failed', reason: context.failure ?? 'failed' }),
    /** Picks the backoff delay for the next dial (never below a server's Retry-After). */
    scheduleReconnect: assign(({ context }) => {
      const rt = context.rt;
      const floor = context.lastClose?.verdict.delayMs ?? 0;
      const delay = backoffDelay(retryNumber(context), rt.options.backoff, rt.options.random, floor);
      return { retryDelayMs: delay, nextRetryAt: rt.now() + delay };
    }),
    /** Tells telemetry and the `beforeReconnect` hook, so callers can fail in-flight requests. */
    announceReconnect: ({ context }) => {
      const rt = context.rt;
      const delayMs = context.retryDelayMs ?? 0;
      const cause = context.lastClose;
      const attempt = retryNumber(context);
      rt.emit({ type: 'reconnect-scheduled', attempt, delayMs, cause: cause?.verdict.reason ?? 'unknown' });
      const hook = rt.options.beforeReconnect;
      if (!hook || !cause) return;
      try {
        hook({
          url: rt.url,
          attempt,
          delayMs,
          cause: {
            code: cause.code,
            reason: cause.reason,
            wasClean: false,
            ...(cause.status !== undefined ? { status: cause.status } : {}),
            ...(cause.errorCode !== undefined ? { errorCode: cause.errorCode } : {}),
          },
          verdict: cause.verdict,
        });
      } catch (error) {
        rt.emit({
          type: 'error',
          error: Object.assign(new Error(`beforeReconnect threw: ${String((error as Error)?.message ?? error)}`), {
            code: 'INVALID_OPTION',
          }) as never,
        });
      }
    },
    clearRetry: assign({ retryDelayMs: null, nextRetryAt: null }),
    /** The heartbeat turned itself off for this connection. */
    recordHeartbeatOff: assign(({ context, event }) => {
      if (event.type !== 'HEARTBEAT_OFF') return {};
      context.rt.emit({ type: 'heartbeat-off', reason: event.reason });
      return { heartbeat: 'off', heartbeatNote: event.reason };
    }),
    /** Woken or back online while connected: check the link now instead of at the next heartbeat. */
    probeNow: sendTo('connection', { type: 'PROBE' }),
    /** Reports a wake. */
    announceWake: ({ context, event }) => {
      if (event.type === 'WAKE') context.rt.emit({ type: 'wake', sleptMs: event.sleptMs ?? 0 });
    },
  },
}).createMachine({
  id: 'relay',
  /** Fresh lifecycle facts around the input's runtime: no attempts, no close, heartbeat pending. */
  context: ({ input }) => ({
    rt: input.rt,
    url: input.rt.url,
    attempt: 0,
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
      on: { START: 'live' },
    },
    live: {
      entry: 'countAttempt',
      invoke: {
        id: 'connection',
        src: 'connection',
        /** The connection actor shares the relay's runtime. */
        input: ({ context }) => ({ rt: context.rt }),
      },
      initial: 'connecting',
      on: {
        CONNECTION_LOST: [
          { guard: 'isFatal', target: 'failed', actions: 'recordLoss' },
          { guard: 'attemptsExhausted', target: 'failed', actions: ['recordLoss', 'recordExhausted'] },
          { target: 'reconnecting', actions: 'recordLoss' },
        ],
        HEARTBEAT_OFF: { actions: 'recordHeartbeatOff' },
        STALE: { actions: { type: 'loseConnection', params: { cause: 'stale' } } },
        WAKE: { actions: ['announceWake', 'probeNow'] },
        ONLINE: { actions: 'probeNow' },
      },
      states: {
        connecting: {
          initial: 'dialing',
          states: {
            dialing: {
              after: { CONNECT_TIMEOUT: { actions: { type: 'loseConnection', params: { cause: 'connect-timeout' } } } },
              on: {
                SOCKET_OPEN: [
                  { guard: 'awaitsHelloAck', target: 'handshaking' },
                  { target: '#relay.live.open', actions: 'markConnected' },
                ],
              },
            },
            handshaking: {
              after: {
                HANDSHAKE_TIMEOUT: { actions: { type: 'loseConnection', params: { cause: 'handshake-timeout' } } },
              },
              on: { HELLO_ACK: { target: '#relay.live.open', actions: 'markConnected' } },
            },
          },
        },
        open: {
          on: {
            PONG_TIMEOUT: [
              { guard: 'tooManyMissed', actions: { type: 'loseConnection', params: { cause: 'heartbeat-timeout' } } },
              { target: 'degraded' },
            ],
            RTT_HIGH: { target: 'degraded' },
          },
        },
        degraded: {
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
      entry: ['scheduleReconnect', 'announceReconnect'],
      exit: 'clearRetry',
      after: { RECONNECT_DELAY: 'live' },
      on: {
        RETRY: { target: 'live', actions: 'resetAttempts' },
        WAKE: { target: 'live', actions: ['announceWake', 'resetAttempts'] },
        ONLINE: { target: 'live', actions: 'resetAttempts' },
      },
    },
    failed: {
      entry: 'announceFailure',
      on: {
        RETRY: { target: 'live', actions: 'resetAttempts' },
      },
    },
    closed: {
      type: 'final',
    },
  },
});

/** The relay machine's type, for `machine.provide()` and inspection. */
export type RelayMachine = typeof relayMachine;
