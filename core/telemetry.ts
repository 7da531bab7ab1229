/**
 * Telemetry shapes: what `events$`, `health$` and `status()` carry. All plain, serialisable data.
 */
import type { CloseVerdict, DisconnectInfo } from './contract.ts';
import type { RelayActorsError } from './errors.ts';

/** Public relay states (the inspector shows these names). */
export type RelayState = 'idle' | 'connecting' | 'open' | 'degraded' | 'reconnecting' | 'failed' | 'closed';

/** The last way a connection ended, with the classifier's verdict. */
export interface LastClose {
  code: number;
  reason: string;
  status?: number;
  errorCode?: string;
  local?: string;
  verdict: CloseVerdict;
  /** Clock time it was seen. */
  at: number;
}

/** Heartbeat mode of the current connection. */
export type HeartbeatMode = 'on' | 'off' | 'pending';

/** Plain snapshot of one relay, from `status()`. */
export interface RelayStatus {
  /** The URL with credentials and query values redacted. */
  url: string;
  state: RelayState;
  /** Dials since the last stable connection. */
  attempts: number;
  /** Clock time of the next dial while `reconnecting`, else null. */
  nextRetryAt: number | null;
  rttMs: number | null;
  rttEwmaMs: number | null;
  missedPongs: number;
  /** Share of recent attempts and operations that succeeded. */
  successRatio: number;
  /** Connections that died before `backoff.stableAfter`. */
  flaps: number;
  heartbeat: HeartbeatMode;
  /** Why the heartbeat is off, when it is. */
  heartbeatNote: string | null;
  lastClose: LastClose | null;
  /** Why the relay is `failed`, when it is. */
  failure: string | null;
  /** Clock time the current connection opened, or null. */
  connectedAt: number | null;
}

/** One health sample on `health$`. */
export interface HealthSample {
  url: string;
  state: RelayState;
  rttMs: number | null;
  rttEwmaMs: number | null;
  missedPongs: number;
  successRatio: number;
  flaps: number;
  at: number;
}

/** Everything `events$` reports. Every event has `url` (redacted) and `at` (clock time). */
export type RelayEvent = { url: string; at: number } & (
  | { type: 'state'; state: RelayState; previous: RelayState }
  | { type: 'disconnected'; info: DisconnectInfo; verdict: CloseVerdict }
  | { type: 'reconnect-scheduled'; attempt: number; delayMs: number; cause: string }
  | { type: 'failed'; reason: string }
  | { type: 'heartbeat-off'; reason: string }
  | { type: 'wake'; sleptMs: number }
  | { type: 'error'; error: RelayActorsError }
  | { type: 'notice'; text: string }
  | { type: 'auth-challenge' }
  | { type: 'authenticated' }
);

/** Distributes `Omit` over the event union. */
export type RelayEventInput = RelayEvent extends infer E
  ? E extends RelayEvent
    ? Omit<E, 'url' | 'at'>
    : never
  : never;

/** One relay as the pool sees it: health plus score parts, primary marked. */
export interface PoolRelayHealth {
  url: string;
  state: RelayState;
  score: number;
  parts: { state: number; rtt: number; success: number; stability: number };
  primary: boolean;
  rttMs: number | null;
  rttEwmaMs: number | null;
  missedPongs: number;
  successRatio: number;
  recentFlaps: number;
  at: number;
}

/** Plain snapshot of a pool, from `status()`. */
export interface PoolStatus {
  state: 'idle' | 'online' | 'offline' | 'expired' | 'stopped';
  /** URL (redacted) of the primary relay, or null. */
  primary: string | null;
  relays: Array<RelayStatus & { score: number; parts: PoolRelayHealth['parts']; primary: boolean }>;
  outbox: { messages: number; bytes: number };
  /** Messages written and awaiting their ack. */
  inflight: number;
  subscriptions: Array<{ id: string; request: unknown; relays: string[] | 'all' }>;
}

/** Everything a pool's `events$` reports: its relays' events plus its own. */
export type PoolEvent =
  | RelayEvent
  | ({ url: null; at: number } & (
      | { type: 'pool-state'; state: PoolStatus['state'] }
      | {
          type: 'failover';
          from: string | null;
          to: string | null;
          reason: string;
          scoreFrom: number | null;
          scoreTo: number | null;
        }
      | { type: 'outbox-overflow'; limit: 'messages' | 'bytes'; size: number; bytes: number }
      | { type: 'message-expired'; id: string | null }
      | { type: 'session-expired'; rejected: number }
      | { type: 'replayed'; count: number; to: string }
      | { type: 'resent'; count: number; from: string; to: string | null }
      | { type: 'relay-added'; relay: string }
      | { type: 'relay-removed'; relay: string }
    ))
  | ({ url: string; at: number } & (
      | { type: 'subscribed'; subscription: string; since: number | null }
      | { type: 'eose'; subscription: string }
      | { type: 'subscription-closed'; subscription: string; reason: string }
      | { type: 'reauth'; reason: string; ok: boolean }
    ));
