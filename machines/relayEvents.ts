/**
 * Events of the relay machine, named in the user's words. Commands come from the API (START, STOP, RETRY) or the
 * platform (WAKE, ONLINE); the rest are reported by the connection actor.
 */
import type { CloseVerdict, DisconnectInfo } from '../adapters/types.ts';

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
  /** The machine woke from sleep: reconnect now (or probe an open link). */
  | { type: 'WAKE'; sleptMs?: number }
  /** The network came back: reconnect now (or probe an open link). */
  | { type: 'ONLINE' }
  /** The socket opened; `handshake` says whether a hello now awaits its ack. */
  | { type: 'SOCKET_OPEN'; handshake: boolean }
  /** The server acknowledged our hello. */
  | { type: 'HELLO_ACK' }
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
  /** The connection ended (or we ended it); `verdict` is the classifier's. */
  | { type: 'CONNECTION_LOST'; info: DisconnectInfo; verdict: CloseVerdict };
