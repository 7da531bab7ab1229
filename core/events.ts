/**
 * Events of the relay machine, named in the user's words, and what it emits. Commands come from the API (START,
 * STOP, RETRY, RESUME) or the platform (WAKE, ONLINE); the rest are reported by the connection actor, which stamps
 * them with the clock time (and, for a loss, the jitter of the next backoff), so the machine itself never reads a
 * clock or a random source.
 */
import type { CloseVerdict, DisconnectInfo, LocalCloseCause } from './contract.ts';
import type { LastClose } from './telemetry.ts';

/**
 * Every event the relay machine accepts. Commands come from the API (START, STOP, RETRY) or the platform (WAKE,
 * ONLINE); the rest are reported by the connection actor.
 */
export type RelayMachineEvent =
  /** Begin connecting (from `idle`). */
  | { type: 'START' }
  /** Close for good; never reconnects. */
  | { type: 'STOP' }
  /** Manual retry: overrides backoff and `failed`. */
  | { type: 'RETRY' }
  /** Restored from a saved snapshot: start the timers and the socket the snapshot could not hold. */
  | { type: 'RESUME'; at: number; jitter: number }
  /** The machine woke from sleep: reconnect now (or probe an open link). */
  | { type: 'WAKE'; sleptMs?: number }
  /** The network came back: reconnect now (or probe an open link). */
  | { type: 'ONLINE' }
  /** The socket opened at clock time `at`; `handshake` says whether a hello now awaits its ack. */
  | { type: 'SOCKET_OPEN'; handshake: boolean; at: number }
  /** The server acknowledged our hello at clock time `at`. */
  | { type: 'HELLO_ACK'; at: number }
  /** A ping went unanswered; `missed` in a row so far on this connection. */
  | { type: 'PONG_TIMEOUT'; missed: number }
  /** A pong took longer than `heartbeat.degradedRtt`. */
  | { type: 'RTT_HIGH'; rttMs: number }
  /** Misses forgiven and RTT back under the threshold. */
  | { type: 'RECOVERED' }
  /** The heartbeat turned itself off for this connection. */
  | { type: 'HEARTBEAT_OFF'; reason: string }
  /** Nothing inbound for `heartbeat.staleAfter`. */
  | { type: 'STALE'; silentMs: number }
  /**
   * The connection ended (or we ended it) at clock time `at`; `verdict` is the classifier's; `jitter` in [0, 1)
   * picks the delay of the next dial within its backoff ceiling.
   */
  | { type: 'CONNECTION_LOST'; info: DisconnectInfo; verdict: CloseVerdict; at: number; jitter: number };

/** Commands the machine sends to its connection actor. */
export type ConnectionCommand =
  /** Check the link now (woken, or the network came back). */
  | { type: 'PROBE' }
  /** Our side gave up on this connection (a timeout, a heartbeat verdict): report it lost with `cause`. */
  | { type: 'DROP'; cause: LocalCloseCause };

/**
 * What the relay machine tells the world, through XState `emit`: the runtime keeps health and telemetry from these,
 * and inspectors see them as they are.
 */
export type RelayEmitted =
  /** A connection reached `open`: session `session`. */
  | { type: 'connected'; session: number }
  /**
   * A connection ended. `outcome` is what it means for health: the dial never opened (`dial-failed`), it opened
   * and died before `stableAfter` (`flapped`), or it had been up long enough (`stable`).
   */
  | {
      type: 'disconnected';
      info: DisconnectInfo;
      verdict: CloseVerdict;
      outcome: 'dial-failed' | 'flapped' | 'stable';
      at: number;
    }
  /** The next dial is due in `delayMs`. */
  | { type: 'reconnect-scheduled'; attempt: number; delayMs: number; cause: string; lastClose: LastClose | null }
  /** The relay gave up (fatal verdict or attempts exhausted). */
  | { type: 'failed'; reason: string }
  /** The heartbeat turned itself off for this connection. */
  | { type: 'heartbeat-off'; reason: string }
  /** The machine woke after sleeping `sleptMs`. */
  | { type: 'wake'; sleptMs: number };
