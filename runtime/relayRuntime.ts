/**
 * The per-relay runtime: what the machine's context points at but cannot hold as data (the transport, the open
 * socket for the data path, telemetry subjects, pending acks). It serialises to its URL, so snapshots and the
 * inspector stay plain data.
 */
import { Subject } from 'rxjs';
import type { Decoded, TransportSocket } from '../core/contract.ts';
import {
  AckTimeoutError,
  ConnectionLostError,
  NackError,
  redactError,
  wrapError,
  type RelayActorsError,
} from '../core/errors.ts';
import {
  initialHealth,
  recordAlive,
  recordFlap,
  recordMissedPong,
  recordOutcome,
  recordRtt,
  successRatio,
  type RelayHealth,
} from '../policies/health.ts';
import { urlRedactor, type ResolvedRelayOptions } from './options.ts';
import { clockNow, sharedScheduler, type Cancel, type Scheduler } from './scheduler.ts';
import type { HealthSample, RelayEvent, RelayEventInput, RelayState } from '../core/telemetry.ts';

/**
 * One inbound frame that means something to a subscriber: application data (with its id, subscription and
 * timestamp), end of stored events, a server-closed subscription or a notice, tagged with the relay's URL.
 */
export type Inbound<In> = Extract<Decoded<In>, { kind: 'message' | 'eose' | 'closed' | 'notice' }> & { relay: string };

interface PendingAck {
  resolve: () => void;
  reject: (error: RelayActorsError) => void;
  cancel: Cancel;
  /** What every caller waiting for this id gets. */
  promise: Promise<void>;
}

/**
 * Shared, mutable state of one relay outside the machine's context: the runtime a {@link relayMachine} runs over
 * (its `input`). `createRelay` and `createRelayPool` build one per relay; build your own only to run the machine
 * yourself.
 *
 * @example
 * const options = resolveRelayOptions(url, { transport: wsTransport(), protocol: jsonProtocol() });
 * const rt = new RelayRuntime(url, redactUrl(url), options);
 * const actor = createActor(relayMachine, { input: { rt }, clock: options.clock });
 */
export class RelayRuntime<Out = unknown, In = unknown> {
  /** Socket the data path writes to: set only while the relay is `open` or `degraded`. */
  socket: TransportSocket | null = null;
  private healthRecord: RelayHealth = initialHealth();
  /** Whether this relay ever answered a ping (on any connection): heartbeat negotiation reads it. */
  pongSeen = false;
  /** Public state, kept current by the relay facade (for telemetry written outside the machine). */
  state: RelayState = 'idle';
  /** True from `stop()` on: the connection closes gracefully instead of dropping. */
  stopping = false;
  /** Closes in progress, awaited by `stop()`. */
  readonly closing = new Set<Promise<void>>();
  /**
   * The last few sockets whose connection ended: one the server closed with a close frame but not TCP may still be
   * up until the transport drops it (closeTimeout); stop() drops them at once. Bounded: at most 4.
   */
  private readonly ended: TransportSocket[] = [];
  /** The latest authentication challenge on the current connection (Nostr NIP-42), or null. */
  authChallenge: string | null = null;
  /** The current connection has answered its challenge and the answer was accepted. */
  authenticated = false;
  readonly messages = new Subject<In>();
  /** Every inbound frame a subscriber may care about, with ids; the pool reads this for dedupe and subscriptions. */
  readonly inbound = new Subject<Inbound<In>>();
  readonly events = new Subject<RelayEvent>();
  readonly healthSamples = new Subject<HealthSample>();
  readonly scheduler: Scheduler;
  /**
   * Hides the secrets of `dialUrl` (user info, query values; the URL itself becomes `url`) in a text. Everything
   * this relay reports goes through it: {@link RelayRuntime.wrapError} for errors, {@link RelayRuntime.emit} for
   * telemetry.
   */
  readonly redact: (text: string) => string;
  private readonly acks = new Map<string, PendingAck>();

  constructor(
    /** The real URL, credentials included: used to dial only. */
    readonly dialUrl: string,
    /** The redacted URL used everywhere else. */
    readonly url: string,
    readonly options: ResolvedRelayOptions<Out, In>,
  ) {
    this.scheduler = sharedScheduler(options.clock);
    this.redact = urlRedactor(dialUrl);
  }

  /**
   * An error to raise or report for a failure on this relay: `error` itself if it is ours, else `wrap(error)` with
   * it as the cause; either way without the dial URL's secrets in any message, stack or cause (see
   * {@link wrapError}).
   */
  wrapError(error: unknown, wrap: (cause: unknown) => RelayActorsError): RelayActorsError {
    return wrapError(error, wrap, this.redact);
  }

  /**
   * Health record of this relay: RTT, misses, outcomes, flaps. This runtime is its one owner: the connection, the
   * machine's emitted lifecycle and the pool's delivery write it through the `note…` methods below, all else reads.
   */
  get health(): RelayHealth {
    return this.healthRecord;
  }

  /** A pong measured `rttMs`. */
  noteRtt(rttMs: number): void {
    this.healthRecord = recordRtt(this.healthRecord, rttMs);
  }

  /** A ping went unanswered. */
  noteMissedPong(): void {
    this.healthRecord = recordMissedPong(this.healthRecord);
  }

  /** The link showed life: misses are forgiven. */
  noteAlive(): void {
    this.healthRecord = recordAlive(this.healthRecord);
  }

  /** A dial or an operation ended, `ok` or not. */
  noteOutcome(ok: boolean): void {
    this.healthRecord = recordOutcome(this.healthRecord, ok);
  }

  /** A connection died young at clock time `at`. */
  noteFlap(at: number): void {
    this.healthRecord = recordFlap(this.healthRecord, at);
  }

  /** Current time on the relay's clock (`SimulatedClock` time in tests), ms. */
  now(): number {
    return clockNow(this.options.clock);
  }

  /** Publishes a telemetry event, with the dial URL's secrets hidden in its texts and errors. */
  emit(event: RelayEventInput): void {
    if (this.events.observed) this.events.next({ ...this.redactEvent(event), url: this.url, at: this.now() });
  }

  /**
   * `event` with {@link RelayRuntime.redact} applied to its strings and errors, and to those of the plain records it
   * holds (`info`, `verdict`). Copies only what changes.
   */
  private redactEvent<E extends object>(event: E, depth = 1): E {
    let out: Record<string, unknown> | undefined;
    for (const [key, value] of Object.entries(event) as Array<[string, unknown]>) {
      const record =
        depth > 0 && typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
      const next = record ? this.redactEvent(value, depth - 1) : redactError(value, this.redact);
      if (next !== value) (out ??= { ...event } as Record<string, unknown>)[key] = next;
    }
    return (out ?? event) as E;
  }

  /** Publishes a health sample, if anyone listens. */
  publishHealth(): void {
    if (!this.healthSamples.observed) return;
    const h = this.health;
    this.healthSamples.next({
      url: this.url,
      state: this.state,
      rttMs: h.rttMs,
      rttEwmaMs: h.rttEwmaMs,
      missedPongs: h.missedPongs,
      successRatio: successRatio(h),
      flaps: h.flaps,
      at: this.now(),
    });
  }

  /** Remembers a socket whose connection ended, for {@link RelayRuntime.dropEnded}. */
  socketEnded(socket: TransportSocket): void {
    this.ended.push(socket);
    if (this.ended.length > 4) this.ended.shift();
  }

  /** Drops every remembered ended socket now (a no-op for those already gone). */
  dropEnded(): void {
    for (const socket of this.ended.splice(0)) {
      try {
        socket.terminate();
      } catch {
        // A transport that considers it gone already.
      }
    }
  }

  /**
   * Waits for the ack of message `id`, bounded by `ackTimeout` from the first write. Writes of the same id on this
   * connection (a message back here after failovers, the same event sent twice) share one wait: one ack answers
   * them all, and no wait ever ends another.
   */
  awaitAck(id: string): Promise<void> {
    const existing = this.acks.get(id);
    if (existing) return existing.promise;
    const wait: PendingAck = { resolve: noop, reject: noop, cancel: noop, promise: DONE };
    wait.promise = new Promise<void>((resolve, reject) => {
      wait.resolve = resolve;
      wait.reject = reject;
    });
    wait.cancel = this.scheduler.schedule(this.options.ackTimeout, () => {
      if (this.acks.get(id) === wait) this.acks.delete(id);
      wait.reject(new AckTimeoutError(id, this.options.ackTimeout));
    });
    this.acks.set(id, wait);
    return wait.promise;
  }

  /** An ack (or nack) arrived. Unknown ids are ignored: they may be another sender's. */
  settleAck(id: string, ok: boolean, reason?: string): void {
    const pending = this.acks.get(id);
    if (!pending) return;
    this.acks.delete(id);
    pending.cancel();
    if (ok) pending.resolve();
    // The server saw the dial URL (its query, say) and may quote it.
    else pending.reject(new NackError(id, this.redact(reason ?? 'no reason given')));
  }

  /** The connection ended: every unacked send is told so (it may have arrived; the pool re-sends). */
  failPendingAcks(): void {
    for (const [id, pending] of this.acks) {
      pending.cancel();
      pending.reject(new ConnectionLostError(this.url, id));
    }
    this.acks.clear();
  }

  /** Keeps anything that prints a runtime plain (it is never in a snapshot). */
  toJSON(): { url: string } {
    return { url: this.url };
  }
}

/**
 * Where the relay machine's implementations find the runtime of the relay they run for: per actor system, by the
 * relay's system id. Not in the context (context is data) and not a `provide()` per relay (a provided machine costs
 * about 21 KiB and 160 µs to build; a pool's relays share one machine).
 */
const runtimes = new WeakMap<object, Map<string, RelayRuntime>>();
/** A standalone relay's system holds one runtime: kept as `[id, runtime]` without a Map (heap per relay counts). */
const single = new WeakMap<object, readonly [string, RelayRuntime]>();

/**
 * Registers `rt` as the runtime of relay `id` in actor `system`; the returned function unregisters it (a system
 * that is dropped takes its registrations with it, so a standalone relay need not call it).
 *
 * @example
 * const actor = createActor(relayMachine, { input: { id: 'r', url: rt.url, config: relayMachineConfig(rt.options) } });
 * const unregister = registerRuntime(actor.system, 'r', rt);
 */
export function registerRuntime<Out, In>(system: object, id: string, rt: RelayRuntime<Out, In>): () => void {
  const runtime = rt as RelayRuntime;
  let byId = runtimes.get(system);
  const only = single.get(system);
  if (!byId && (!only || only[0] === id)) single.set(system, [id, runtime]);
  else {
    if (!byId) runtimes.set(system, (byId = new Map<string, RelayRuntime>(only ? [only] : [])));
    single.delete(system);
    byId.set(id, runtime);
  }
  return () => unregisterRuntime(system, id, runtime);
}

function unregisterRuntime(system: object, id: string, rt: RelayRuntime): void {
  const only = single.get(system);
  if (only && only[0] === id && only[1] === rt) single.delete(system);
  const byId = runtimes.get(system);
  if (byId?.get(id) === rt) byId.delete(id);
}

/**
 * The runtime registered for relay `id` in `system`. Throws when there is none: the machine was started without
 * `createRelay`/`createRelayPool` and without a `connection` actor of its own (`relayMachine.provide({ actors })`).
 *
 * @example
 * const rt = runtimeOf(actor.system, 'relay:ws://127.0.0.1:7000/');
 */
export function runtimeOf(system: object, id: string): RelayRuntime {
  const only = single.get(system);
  const rt = only && only[0] === id ? only[1] : runtimes.get(system)?.get(id);
  if (!rt)
    throw new Error(
      `No runtime for relay "${id}": run the machine through createRelay()/createRelayPool(), or provide a connection actor.`,
    );
  return rt;
}

function noop(): void {}

const DONE: Promise<void> = Promise.resolve();
