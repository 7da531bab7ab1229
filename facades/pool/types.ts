/**
 * The pool's public types: its options, per-call options, and the `RelayPool` it returns. `createRelayPool.ts`
 * re-exports them; the parts under `pool/` import them from here.
 */
import type { InspectionEvent, Actor, Snapshot } from 'xstate';
import type { Observable } from 'rxjs';
import type { Protocol } from '../../core/contract.ts';
import type { Relay } from '../createRelay.ts';
import type { RelayOptions } from '../../runtime/options.ts';
import type { OutboxOptions } from '../../runtime/outbox.ts';
import type { PoolMachine, PoolState } from '../../machines/poolMachine.ts';
import type { ScoreOptions } from '../../policies/score.ts';
import type { SelectionOptions } from '../../policies/select.ts';
import type { PoolEvent, PoolRelayHealth, PoolStatus } from '../../core/telemetry.ts';

/** Options of `createRelayPool`. Relay options (heartbeat, backoff, timeouts, ...) apply to every relay. */
export interface RelayPoolOptions<Out = unknown, In = unknown, Req = unknown> extends Omit<
  RelayOptions<Out, In>,
  'id' | 'protocol' | 'snapshot'
> {
  /** Relay URLs to start with (more with `addRelay`). Duplicates are ignored. Default none. */
  relays?: string[];
  /** Wire protocol. Required here; the Node entry defaults it to `jsonProtocol()`. */
  protocol: Protocol<Out, In, Req>;
  /** Where traffic goes. Default `{ strategy: 'primary', margin: 0.1, k: 3 }`. */
  selection?: Partial<SelectionOptions>;
  /** Tuning of the health score (see score.ts). */
  score?: Partial<Omit<ScoreOptions, 'weights'>> & { weights?: Partial<ScoreOptions['weights']> };
  /** Bounds of the queue used while no relay is usable. Default 1000 messages, 1 MiB, ttl 60 s. */
  outbox?: Partial<OutboxOptions>;
  /** No usable relay for this long (ms) → pending sends reject with `SessionTimeoutError`. Default 60000. */
  sessionTimeout?: number;
  /** Inbound message ids remembered for dedupe across relays. Default 10000. */
  dedupeWindow?: number;
  /** System id of the coordinator actor. Default `pool`. */
  id?: string;
  /**
   * A snapshot saved with `pool.actor.getPersistedSnapshot()` (JSON round trips welcome) to resume from: the pool and
   * each relay keep their facts (attempts, sessions, last closes, the primary) and on `start()` the relays dial
   * again. Every relay of the snapshot must be in `relays` (a snapshot holds no credentials). Default none.
   */
  snapshot?: Snapshot<unknown>;
}

/** Per-send options of a pool. */
export interface PoolSendOptions {
  /** Wait for the relay's ack (and re-send after failover until one comes). Default: when the protocol acks and the message has an id. */
  ack?: boolean;
}

/** Result of a publish: the relays (redacted URLs) that took the message. */
export interface PublishResult {
  relays: string[];
}

/** Options of `subscribe`. */
export interface PoolSubscribeOptions {
  /** Relays (URLs as configured) to ask. Default every relay, including ones added later. */
  relays?: string[];
  /** Subscription id. Default `sub-<n>`. */
  id?: string;
}

/** A running pool. */
export interface RelayPool<Out = unknown, In = unknown, Req = unknown> {
  /** Starts every relay. Idempotent. */
  start(): this;
  /**
   * Closes every socket with 1000, cancels every timer, rejects what waits with `StoppedError`, completes every
   * stream. Idempotent. Afterwards nothing of the pool keeps the process alive.
   */
  stop(): Promise<void>;
  /**
   * Sends through the selection strategy (primary by default). Resolves when written, or acked where the protocol
   * acks; queues while no relay is usable. Rejects with `OutboxFullError`, `MessageExpiredError`,
   * `SessionTimeoutError`, `NackError`, `AckTimeoutError`, `ProtocolError` or `StoppedError`.
   */
  send(message: Out, options?: PoolSendOptions): Promise<void>;
  /** Sends to the best `selection.k` usable relays; resolves with those that took it, rejects with `PublishFailedError` if none did. */
  publish(message: Out, options?: PoolSendOptions): Promise<PublishResult>;
  /**
   * Inbound messages of one subscription, deduplicated by id. The request goes to every targeted relay on
   * subscribe and again after every reconnect (with `since` where the protocol resumes); unsubscribing sends the
   * protocol's close.
   */
  subscribe(request: Req, options?: PoolSubscribeOptions): Observable<In>;
  /** Adds a relay while running (or before). Adding a URL the pool has returns the existing relay. */
  addRelay(url: string): Relay<Out, In>;
  /** Removes a relay: its unacked messages move to another relay, its socket closes with 1000. */
  removeRelay(url: string): Promise<void>;
  /** Reconnects one relay (by URL) or all now, overriding backoff and `failed`. */
  retry(url?: string): void;
  /** The relay facade of one URL, if the pool has it. */
  relay(url: string): Relay<Out, In> | undefined;
  /** Plain, serialisable snapshot. */
  status(): PoolStatus;
  /** Resolves when the pool reaches `state`; rejects after `timeoutMs` (default 10000) or when it stops first. */
  waitFor(state: PoolState, timeoutMs?: number): Promise<void>;
  /** Every relay's state, score and its parts, RTT: on each change. */
  readonly health$: Observable<PoolRelayHealth>;
  /** Relay lifecycle events and the pool's own (failover, outbox overflow, session expired, ...). */
  readonly events$: Observable<PoolEvent>;
  /** Inbound application messages from every relay, deduplicated by id. */
  readonly messages$: Observable<In>;
  /**
   * XState inspection events of the whole system (coordinator and every relay), from subscription on: what the
   * offline inspector and the Stately bridge attach to.
   */
  readonly inspection$: Observable<InspectionEvent>;
  /** The coordinator actor; relays are its children (`actor.system.get('relay:<url>')`). */
  readonly actor: Actor<PoolMachine>;
}
