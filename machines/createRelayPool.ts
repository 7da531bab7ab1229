/**
 * `createRelayPool(options)`: a coordinator actor over several relays. It ranks them by health score, sends through
 * the best (failing over in the same event-loop turn a close is seen), queues while none is usable, re-sends
 * unacknowledged messages after failover, dedupes inbound messages across relays, and keeps subscriptions alive
 * across reconnects.
 */
import { Observable, Subject } from 'rxjs';
import { createActor, waitFor, type Actor, type ActorRef, type SnapshotFrom } from 'xstate';
import type { Frame, Protocol, RejectionAction } from '../adapters/types.ts';
import {
  InvalidOptionError,
  MessageExpiredError,
  NackError,
  OutboxFullError,
  ProtocolError,
  PublishFailedError,
  RelayActorsError,
  SendFailedError,
  SessionTimeoutError,
  StoppedError,
  UnknownRelayError,
  WaitTimeoutError,
  wrapError,
} from './errors.ts';
import { recentFlaps, successRatio } from './health.ts';
import { RecentIds } from './idSet.ts';
import {
  checkCallOptions,
  redactUrl,
  rejectUnknownKeys,
  RELAY_OPTION_KEYS,
  relayMachineConfig,
  resolveRelayOptions,
  validateUrl,
  type RelayOptions,
} from './options.ts';
import { DEFAULT_OUTBOX, Outbox, resolveOutboxOptions, type OutboxItem, type OutboxOptions } from './outbox.ts';
import { poolMachine, poolState, type PoolEmitted, type PoolMachine, type PoolState } from './poolMachine.ts';
import { relayFacade, type Relay } from './createRelay.ts';
import type { RelayMachine } from './relayMachine.ts';
import type { RelayEmitted, RelayMachineEvent } from './relayEvents.ts';
import { registerRuntime, RelayRuntime, type Inbound } from './runtime.ts';
import { clockNow, sharedScheduler } from './scheduler.ts';
import { withDelivery } from './delivery.ts';
import { DEFAULT_SCORE, isUsable, scoreRelay, type RelayScore, type ScoreOptions } from './score.ts';
import { choosePrimary, DEFAULT_SELECTION, type Candidate, type SelectionOptions } from './select.ts';
import type { PoolEvent, PoolRelayHealth, PoolStatus, RelayEvent } from './telemetry.ts';
import { wakeDetector } from './wake.ts';
import { InspectionBus } from './inspection.ts';
import type { InspectionEvent } from 'xstate';

/** Options of {@link createRelayPool}. Relay options (heartbeat, backoff, timeouts, ...) apply to every relay. */
export interface RelayPoolOptions<Out = unknown, In = unknown, Req = unknown> extends Omit<
  RelayOptions<Out, In>,
  'id' | 'protocol'
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

type ChildRef = ActorRef<SnapshotFrom<RelayMachine>, RelayMachineEvent, RelayEmitted>;

interface Member<Out, In> {
  /** Child id and system id: `relay:<redacted url>`. */
  id: string;
  /** This relay as selection sees it, updated in place (no allocation per health sample). */
  candidate: Candidate;
  /** The URL as normalised for identity. */
  key: string;
  rt: RelayRuntime<Out, In>;
  relay: Relay<Out, In>;
  score: RelayScore;
  /** Session of the relay we last saw open (subscriptions are re-sent when it changes). */
  session: number;
  /** Acked sends written to this relay and not yet acknowledged, oldest first. */
  inflight: Set<Pending<Out>>;
  removed: boolean;
  cleanups: Array<() => void>;
}

interface Pending<Out> extends OutboxItem {
  message: Out;
  frame: Frame;
  id: string | undefined;
  wantAck: boolean;
  /** Bumped on every write, so a late answer to an older write is ignored. */
  attempt: number;
  relay: Member<Out, unknown> | null;
  /** Relays that refused it (nack `retry`) or did not ack it within ackTimeout; not tried again for this message. */
  refusedBy: Set<string>;
  /** Clock time after which it is no longer re-sent (`outbox.ttl` after it was sent). */
  deadline: number;
  reauthTried: boolean;
  settled: boolean;
  /** Redacted URL of the relay it was last written to. */
  via: string | null;
  /** Written to a socket at least once: if it fails now, it may still have been delivered. */
  written: boolean;
  resolve(): void;
}

interface Registration<Req, In> {
  id: string;
  request: Req;
  targets: Set<string> | null;
  /** Newest message time seen per relay key, ms: the `since` of a re-subscription. */
  newest: Map<string, number>;
  /** Relay session each relay was last subscribed on. */
  sessions: Map<string, number>;
  seen: RecentIds;
  subject: Subject<In>;
  /** Per relay key: the connection session on which it was last re-subscribed after authenticating. */
  authTried: Map<string, number>;
  /** Relay keys that closed it again after we authenticated: not re-sent there until it reconnects. */
  refused: Set<string>;
}

const DONE: Promise<void> = Promise.resolve();

/** The options `send` and `publish` know, and those `subscribe` knows. */
const POOL_SEND_OPTION_KEYS: ReadonlyArray<keyof PoolSendOptions> = ['ack'];
const SUBSCRIBE_OPTION_KEYS: ReadonlyArray<keyof PoolSubscribeOptions> = ['relays', 'id'];

/**
 * The pool's own options (beyond the relay options its relays share) with their defaults. Its keys are the known
 * names; `satisfies` makes the compiler hold them to {@link RelayPoolOptions}, one for one.
 */
const POOL_OPTION_DEFAULTS = {
  relays: Object.freeze([]) as readonly string[],
  selection: DEFAULT_SELECTION,
  score: DEFAULT_SCORE,
  outbox: DEFAULT_OUTBOX,
  sessionTimeout: 60_000,
  dedupeWindow: 10_000,
  id: 'pool',
} satisfies { [K in Exclude<keyof RelayPoolOptions, keyof RelayOptions> | 'id']-?: unknown };

/** Every top-level option of {@link createRelayPool}: its own and the shared relay options. */
const POOL_OPTION_KEYS: readonly string[] = Object.freeze([
  ...Object.keys(POOL_OPTION_DEFAULTS),
  ...RELAY_OPTION_KEYS.filter((k) => !(k in POOL_OPTION_DEFAULTS)),
]);

/** Normalises a URL for identity (`ws://h:1` and `ws://h:1/` are one relay). */
function relayKey(url: string): string {
  return new URL(url).href;
}

/**
 * UTF-8 size of a frame, without Node's Buffer (the core bundles for browsers).
 *
 * @example
 * frameBytes('héllo');            // 6
 * frameBytes(new Uint8Array(3));  // 3
 */
export function frameBytes(frame: Frame): number {
  if (typeof frame !== 'string') return frame.byteLength;
  let bytes = frame.length;
  for (let i = 0; i < frame.length; i++) {
    const c = frame.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair: 4 bytes for 2 UTF-16 units.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

function resolveScore(score: RelayPoolOptions['score']): ScoreOptions {
  const s = score ?? {};
  rejectUnknownKeys('score', s, Object.keys(DEFAULT_SCORE));
  if (s.weights !== undefined) rejectUnknownKeys('score.weights', s.weights, Object.keys(DEFAULT_SCORE.weights));
  const out: ScoreOptions = { ...DEFAULT_SCORE, ...s, weights: { ...DEFAULT_SCORE.weights, ...(s.weights ?? {}) } };
  for (const [k, v] of Object.entries(out.weights))
    if (typeof v !== 'number' || !(v >= 0))
      throw new InvalidOptionError(`score.weights.${k}`, `must be a number >= 0, got ${String(v)}`);
  for (const k of ['rttReferenceMs', 'flapWindowMs'] as const)
    if (typeof out[k] !== 'number' || !(out[k] > 0))
      throw new InvalidOptionError(`score.${k}`, `must be a number > 0, got ${String(out[k])}`);
  for (const k of ['unknownRtt', 'degradedFactor', 'flapPenalty'] as const)
    if (typeof out[k] !== 'number' || !(out[k] >= 0))
      throw new InvalidOptionError(`score.${k}`, `must be a number >= 0, got ${String(out[k])}`);
  return out;
}

function resolveSelection(selection: RelayPoolOptions['selection']): SelectionOptions {
  if (selection !== undefined) rejectUnknownKeys('selection', selection, Object.keys(DEFAULT_SELECTION));
  const s: SelectionOptions = { ...DEFAULT_SELECTION, ...(selection ?? {}) };
  if (s.strategy !== 'primary' && s.strategy !== 'broadcast')
    throw new InvalidOptionError('selection.strategy', `must be "primary" or "broadcast", got ${String(s.strategy)}`);
  if (typeof s.margin !== 'number' || !(s.margin >= 0 && s.margin <= 1))
    throw new InvalidOptionError('selection.margin', `must be a number in [0, 1], got ${String(s.margin)}`);
  if (!Number.isInteger(s.k) || s.k < 1)
    throw new InvalidOptionError('selection.k', `must be an integer >= 1, got ${String(s.k)}`);
  return s;
}

/**
 * Creates a pool of relays under one coordinator actor. Core entry: `transport` and `protocol` must be given (the
 * Node entry binds `wsTransport()` and `jsonProtocol()`).
 *
 * @example
 * const pool = createRelayPool({ relays: [a, b, c], transport: wsTransport(), protocol: jsonProtocol({ acks: true }) }).start();
 * pool.subscribe({ topic: 'news' }).subscribe((m) => console.log(m));
 * await pool.send({ type: 'post', id: 'm1', text: 'hi' }); // resolves when a relay acked it
 * console.log(pool.status().primary);
 * await pool.stop();
 */
export function createRelayPool<Out = unknown, In = unknown, Req = unknown>(
  options: RelayPoolOptions<Out, In, Req>,
): RelayPool<Out, In, Req> {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'expected an object');
  // Here and not only in resolveRelayOptions: a typo of a pool option is suggested its pool name.
  rejectUnknownKeys('', options, POOL_OPTION_KEYS);
  const defaults = POOL_OPTION_DEFAULTS;
  const {
    relays: initialRelays = defaults.relays,
    selection: selectionOption,
    score: scoreOption,
    outbox: outboxOption,
    sessionTimeout: sessionTimeoutOption,
    dedupeWindow: dedupeOption,
    id: poolId = defaults.id,
    ...relayOptions
  } = options;
  if (!Array.isArray(initialRelays))
    throw new InvalidOptionError('relays', 'expected an array of ws:// or wss:// URLs');
  // Validates the shared relay options once, with the pool's own names in errors.
  const shared = resolveRelayOptions('ws://pool.invalid', relayOptions as RelayOptions<Out, In>);
  const protocol = options.protocol;
  const clock = shared.clock;
  const scheduler = sharedScheduler(clock);
  const selection = resolveSelection(selectionOption);
  const scoreOptions = resolveScore(scoreOption);
  const outboxOptions = resolveOutboxOptions(outboxOption);
  const sessionTimeout = sessionTimeoutOption ?? defaults.sessionTimeout;
  if (typeof sessionTimeout !== 'number' || !(sessionTimeout > 0))
    throw new InvalidOptionError('sessionTimeout', `must be a number > 0, got ${String(sessionTimeout)}`);
  const dedupeWindow = dedupeOption ?? defaults.dedupeWindow;
  if (!Number.isInteger(dedupeWindow) || dedupeWindow < 1)
    throw new InvalidOptionError('dedupeWindow', `must be an integer >= 1, got ${String(dedupeWindow)}`);
  for (const url of initialRelays) validateUrl(url);

  const now = () => clockNow(clock);
  const members = new Map<string, Member<Out, In>>();
  const byId = new Map<string, Member<Out, In>>();
  const registrations = new Map<string, Registration<Req, In>>();
  const outbox = new Outbox<Pending<Out>>(outboxOptions, scheduler);
  const seen = new RecentIds(dedupeWindow);
  const messages = new Subject<In>();
  const events = new Subject<PoolEvent>();
  const health = new Subject<PoolRelayHealth>();
  const cleanups: Array<() => void> = [];
  let primary: Member<Out, In> | null = null;
  let subSeq = 0;
  let started = false;
  let stopping: Promise<void> | undefined;
  /** Set first thing in `stop()`: from then on relay changes are not acted on. */
  let halted = false;

  const emit = (event: PoolEvent extends infer E ? (E extends PoolEvent ? Omit<E, 'at'> : never) : never): void => {
    if (events.observed) events.next({ ...event, at: now() });
  };

  const usable = (m: Member<Out, In>): boolean => !m.removed && isUsable(m.rt.state) && m.rt.socket !== null;

  /** Candidates in configuration order; rebuilt only when relays are added or removed. */
  let candidates: Candidate[] = [];
  const rescore = (m: Member<Out, In>): void => {
    const h = m.rt.health;
    m.score = scoreRelay(
      {
        state: m.removed ? 'closed' : m.rt.state,
        rttEwmaMs: h.rttEwmaMs,
        successRatio: successRatio(h),
        recentFlaps: recentFlaps(h, now(), scoreOptions.flapWindowMs),
      },
      scoreOptions,
    );
    m.candidate.score = m.score;
    m.candidate.usable = usable(m);
  };

  const publishHealth = (m: Member<Out, In>): void => {
    if (!health.observed) return;
    const h = m.rt.health;
    health.next({
      url: m.rt.url,
      state: m.rt.state,
      score: m.score.score,
      parts: m.score.parts,
      primary: primary === m,
      rttMs: h.rttMs,
      rttEwmaMs: h.rttEwmaMs,
      missedPongs: h.missedPongs,
      successRatio: successRatio(h),
      recentFlaps: recentFlaps(h, now(), scoreOptions.flapWindowMs),
      at: now(),
    });
  };

  /** Best usable relays, best first, excluding `exclude`. O(n log n); used on failover and publish only. */
  const ranked = (exclude?: Set<string>): Array<Member<Out, In>> =>
    [...members.values()]
      .filter((m) => usable(m) && !exclude?.has(m.key))
      .sort((a, b) => b.score.score - a.score.score);

  const pickTarget = (exclude?: Set<string>): Member<Out, In> | undefined => {
    if (primary && usable(primary) && !exclude?.has(primary.key)) return primary;
    return ranked(exclude)[0];
  };

  const settle = (p: Pending<Out>, error?: RelayActorsError): void => {
    if (p.settled) return;
    p.settled = true;
    p.relay?.inflight.delete(p);
    p.relay = null;
    if (error) p.reject(withDelivery(error, p.written ? 'unknown' : 'not-sent'));
    else p.resolve();
  };

  // ---- the data path --------------------------------------------------------------------------------------

  /** Writes `p` to `m`; a write that throws tries the next relay not yet `tried` for this write. */
  const writeTo = (p: Pending<Out>, m: Member<Out, In>, tried: Set<string> = new Set(p.refusedBy)): void => {
    const attempt = ++p.attempt;
    const writtenAt = now();
    p.via = m.rt.url;
    let acked: Promise<void> | undefined;
    if (p.wantAck) {
      acked = m.rt.awaitAck(p.id!);
      p.relay = m as Member<Out, unknown>;
      m.inflight.add(p);
    }
    try {
      m.rt.socket!.send(p.frame);
      p.written = true;
    } catch (error) {
      if (acked) {
        acked.catch(() => {});
        m.inflight.delete(p);
        m.rt.settleAck(p.id!, false, 'write failed');
      }
      tried.add(m.key);
      const next = pickTarget(tried);
      if (next) writeTo(p, next, tried);
      else
        settle(
          p,
          m.rt.wrapError(error, (cause) => new SendFailedError(m.rt.url, { cause })),
        );
      return;
    }
    if (!acked) {
      settle(p);
      return;
    }
    acked.then(
      () => {
        if (p.attempt !== attempt || p.settled) return;
        recordAck(m, now() - writtenAt);
        settle(p);
      },
      (error: RelayActorsError) => {
        if (p.attempt !== attempt || p.settled) return;
        m.inflight.delete(p);
        p.relay = null;
        if (halted) return settle(p, new StoppedError('The pool'));
        if (error.code === 'CONNECTION_LOST') return dispatch(p, true);
        m.rt.noteOutcome(false);
        if (error instanceof NackError) return handleNack(p, m, error);
        m.rt.publishHealth(); // re-rank now: this relay just failed an operation
        resendElsewhere(p, m, error);
      },
    );
  };

  /**
   * An ack came after `latencyMs`: a success for the relay's score, unless it took longer than the heartbeat's
   * `degradedRtt` (a slow relay is failing its callers), which also re-ranks at once.
   */
  const recordAck = (m: Member<Out, In>, latencyMs: number): void => {
    const slow = latencyMs > m.rt.options.heartbeat.degradedRtt;
    m.rt.noteOutcome(!slow);
    if (slow) m.rt.publishHealth();
  };

  /** No ack from `m` in time: the message goes to the next usable relay while its ttl lasts (at least once). */
  const resendElsewhere = (p: Pending<Out>, m: Member<Out, In>, error: RelayActorsError): void => {
    p.refusedBy.add(m.key);
    const next = now() < p.deadline ? pickTarget(p.refusedBy) : undefined;
    if (!next) return settle(p, error);
    emit({ type: 'resent', url: null, count: 1, from: m.rt.url, to: next.rt.url });
    writeTo(p, next);
  };

  const handleNack = (p: Pending<Out>, m: Member<Out, In>, error: NackError): void => {
    const action: RejectionAction = protocol.classifyRejection?.(error.reason) ?? 'retry';
    if (action === 'ok') return settle(p);
    if (action === 'fatal') return settle(p, error);
    if (action === 'reauth' && !p.reauthTried) {
      p.reauthTried = true;
      m.relay.authenticate().then(
        () => {
          emit({ type: 'reauth', url: m.rt.url, reason: error.reason, ok: true });
          if (p.settled) return;
          if (usable(m)) writeTo(p, m);
          else dispatch(p, true);
        },
        (authError: unknown) => {
          emit({
            type: 'reauth',
            url: m.rt.url,
            reason: String((authError as Error)?.message ?? authError),
            ok: false,
          });
          settle(p, error);
        },
      );
      return;
    }
    if (action === 'reauth') return settle(p, error);
    p.refusedBy.add(m.key);
    const next = pickTarget(p.refusedBy);
    if (next) writeTo(p, next);
    else settle(p, error);
  };

  /** Sends `p` through the best relay, or queues it. `accepted`: it was taken before, so bounds do not apply. */
  const dispatch = (p: Pending<Out>, accepted = false): void => {
    if (p.settled) return;
    if (halted) return settle(p, new StoppedError('The pool'));
    if (currentState() === 'expired') return settle(p, new SessionTimeoutError(sessionTimeout));
    const target = pickTarget(p.refusedBy);
    // A new message never overtakes queued ones: while the outbox holds anything it goes behind them.
    if (target && (accepted || outbox.size === 0)) return writeTo(p, target);
    if (accepted) return outbox.requeue([p]);
    try {
      outbox.push(p);
    } catch (error) {
      if (error instanceof OutboxFullError)
        emit({ type: 'outbox-overflow', url: null, limit: error.limit, size: outbox.size, bytes: outbox.bytes });
      settle(
        p,
        wrapError(error, (cause) => new SendFailedError('the outbox', { cause })),
      );
      return;
    }
    // Online with a queue (a message requeued after its relay went): replay it all now, in order. Otherwise the
    // pool is about to enter `online`, whose entry replays the queue.
    if (target && currentState() === 'online') flushOutbox();
  };

  /** The full send path: encode, then write through the best relay or queue; settles when written or acked. */
  const submit = (
    message: Out,
    sendOptions: PoolSendOptions | undefined,
  ): { promise: Promise<void>; pending: Pending<Out> | null } => {
    const p = newPending(message, sendOptions);
    if (p instanceof RelayActorsError) return { promise: Promise.reject(withDelivery(p, 'not-sent')), pending: null };
    const promise = new Promise<void>((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    p.expire = () => {
      emit({ type: 'message-expired', url: null, id: p.id ?? null });
      settle(p, new MessageExpiredError(outboxOptions.ttl));
    };
    dispatch(p);
    return { promise, pending: p };
  };

  /** `m` stopped being the place for its unacked messages: send them on, oldest first, before anything newer. */
  const moveInflight = (m: Member<Out, In>): void => {
    if (m.inflight.size === 0) return;
    const moving = [...m.inflight];
    m.inflight.clear();
    for (const p of moving) {
      p.attempt++;
      p.relay = null;
    }
    const target = pickTarget(new Set([m.key]));
    emit({ type: 'resent', url: null, count: moving.length, from: m.rt.url, to: target?.rt.url ?? null });
    if (!target) return outbox.requeue(moving.filter((p) => !p.settled));
    for (const p of moving) if (!p.settled) writeTo(p, target);
  };

  const encodeError = (error: unknown): RelayActorsError =>
    wrapError(
      error,
      (c) =>
        new ProtocolError(`Could not encode the message: ${String((c as Error)?.message ?? c)}`, 'ENCODE', {
          cause: c,
        }),
    );

  const newPending = (message: Out, sendOptions: PoolSendOptions | undefined): Pending<Out> | RelayActorsError => {
    let frame: Frame;
    try {
      frame = protocol.encode(message);
    } catch (error) {
      return encodeError(error);
    }
    const id = protocol.messageId?.(message);
    const wantAck = sendOptions?.ack ?? (protocol.acks === true && id !== undefined);
    if (wantAck && id === undefined)
      return new ProtocolError('An acknowledged send needs a message id (protocol.messageId returned none).', 'NO_ID');
    const p = {
      message,
      frame,
      id,
      wantAck,
      bytes: frameBytes(frame),
      attempt: 0,
      relay: null,
      refusedBy: new Set<string>(),
      deadline: now() + outboxOptions.ttl,
      reauthTried: false,
      settled: false,
      via: null,
      written: false,
    } as unknown as Pending<Out>;
    return p;
  };

  // ---- relays -------------------------------------------------------------------------------------------

  /** Re-scores `changed` (or every relay) and re-picks the primary (with hysteresis); returns its id. */
  const rerank = (changed?: Member<Out, In>): string | null => {
    if (halted) return primary?.id ?? null;
    if (changed) rescore(changed);
    else {
      candidates = [...members.values()].map((m) => m.candidate);
      for (const m of members.values()) rescore(m);
    }
    const previous = primary;
    const choice = choosePrimary(previous?.key ?? null, candidates, selection.margin);
    const next = choice.key === null ? null : (members.get(choice.key) ?? null);
    if (next !== previous) {
      primary = next;
      emit({
        type: 'failover',
        url: null,
        from: previous?.rt.url ?? null,
        to: next?.rt.url ?? null,
        reason: choice.reason,
        scoreFrom: previous?.score.score ?? null,
        scoreTo: next?.score.score ?? null,
      });
      if (previous) {
        publishHealth(previous);
        // Unacked messages follow the primary, so the new one receives them before anything newer.
        if (next && selection.strategy === 'primary') moveInflight(previous);
      }
      if (next) publishHealth(next);
    }
    if (changed && changed !== next && changed !== previous) publishHealth(changed);
    return next?.id ?? null;
  };

  const flushOutbox = (): void => {
    if (outbox.size === 0) return;
    const target = pickTarget();
    if (!target) return;
    const waiting = outbox.drain();
    emit({ type: 'replayed', url: null, count: waiting.length, to: target.rt.url });
    for (const p of waiting) writeTo(p, pickTarget(p.refusedBy) ?? target);
  };

  const expireSession = (): void => {
    const rejected = outbox.size;
    // Through settle, like every end of a send: it states whether the message had been written.
    const expired = new SessionTimeoutError(sessionTimeout);
    for (const p of outbox.drain()) settle(p, expired);
    emit({ type: 'session-expired', url: null, rejected });
  };

  /** What the coordinator emits: the outbox replay and expiry it decided, and its state for telemetry. */
  const onPoolEmitted = (event: PoolEmitted): void => {
    if (event.type === 'replay-outbox') flushOutbox();
    else if (event.type === 'expire-session') expireSession();
    else emit({ type: 'pool-state', url: null, state: event.state });
  };

  const bus = new InspectionBus(options.inspect);
  const actor = createActor(poolMachine, {
    input: { relayConfig: relayMachineConfig(shared), sessionTimeout },
    clock,
    systemId: poolId,
    inspect: bus.observer,
  });
  actor.on('*', onPoolEmitted);
  actor.start();

  function currentState(): PoolState {
    return poolState(actor.getSnapshot());
  }

  /** Connections relay `m` has opened: its machine counts them. */
  function sessionOf(m: Member<Out, In>): number {
    return m.relay.actor.getSnapshot().context.session;
  }

  /** `m` changed state or health: re-rank, and tell the coordinator what is usable and who is primary now. */
  function relayChanged(m: Member<Out, In>): void {
    const primaryId = rerank(m);
    actor.send({ type: 'RELAY_CHANGED', id: m.id, usable: usable(m), primary: primaryId });
  }

  const onRelayEvent = (m: Member<Out, In>, e: RelayEvent): void => {
    // The pool acts first (re-rank, move unacked messages), then tells listeners: a send from a listener of this
    // very event already goes to the new primary, after the moved messages.
    handleRelayEvent(m, e);
    if (events.observed) events.next(e);
  };

  const handleRelayEvent = (m: Member<Out, In>, e: RelayEvent): void => {
    if (e.type !== 'state' || halted || m.removed) return;
    const wasUsable = isUsable(e.previous);
    const isNowUsable = isUsable(e.state);
    if (isNowUsable && sessionOf(m) !== m.session) {
      m.session = sessionOf(m);
      for (const reg of registrations.values()) if (targets(reg, m)) writeSubscribe(reg, m);
    }
    relayChanged(m);
    if (wasUsable && !isNowUsable) moveInflight(m);
  };

  const onInbound = (m: Member<Out, In>, frame: Inbound<In>): void => {
    switch (frame.kind) {
      case 'message': {
        if (frame.subscription !== undefined) {
          const reg = registrations.get(frame.subscription);
          if (reg) {
            if (frame.timestamp !== undefined && frame.timestamp > (reg.newest.get(m.key) ?? -Infinity))
              reg.newest.set(m.key, frame.timestamp);
            if (frame.id === undefined || reg.seen.add(frame.id)) reg.subject.next(frame.message);
          }
        }
        if (frame.id === undefined || seen.add(frame.id)) messages.next(frame.message);
        return;
      }
      case 'eose':
        emit({ type: 'eose', url: m.rt.url, subscription: frame.subscription });
        return;
      case 'closed': {
        emit({ type: 'subscription-closed', url: m.rt.url, subscription: frame.subscription, reason: frame.reason });
        const reg = registrations.get(frame.subscription);
        if (reg && protocol.classifyRejection?.(frame.reason) === 'reauth') reauthSubscription(reg, m, frame.reason);
        return;
      }
      case 'notice':
        return;
    }
  };

  /**
   * A relay closed `reg` asking for authentication: authenticate and subscribe again, once per connection (as a
   * publish gets one reauth). Closed again, or authentication failed: that relay refused it; when every relay the
   * subscription targets has, it ends with a typed error.
   */
  function reauthSubscription(reg: Registration<Req, In>, m: Member<Out, In>, reason: string): void {
    if (reg.authTried.get(m.key) === sessionOf(m)) return refuseSubscription(reg, m, reason);
    reg.authTried.set(m.key, sessionOf(m));
    m.relay.authenticate().then(
      () => {
        emit({ type: 'reauth', url: m.rt.url, reason, ok: true });
        if (registrations.get(reg.id) === reg && usable(m)) writeSubscribe(reg, m);
      },
      (error: unknown) => {
        emit({ type: 'reauth', url: m.rt.url, reason: String((error as Error)?.message ?? error), ok: false });
        refuseSubscription(reg, m, reason);
      },
    );
  }

  function refuseSubscription(reg: Registration<Req, In>, m: Member<Out, In>, reason: string): void {
    if (registrations.get(reg.id) !== reg) return;
    reg.refused.add(m.key);
    const open = [...members.values()].filter((x) => targets(reg, x) && !x.removed && !reg.refused.has(x.key));
    if (open.length > 0) return;
    reg.subject.error(
      new ProtocolError(
        `Subscription ${reg.id} was refused by every relay it targets, after authenticating: ${m.rt.redact(reason)}`,
        'AUTH_REFUSED',
      ),
    );
  }

  /** A removed relay leaves no trace in the subscriptions (a relay added again under its URL starts afresh). */
  function forgetInRegistrations(key: string): void {
    for (const reg of registrations.values()) {
      reg.newest.delete(key);
      reg.sessions.delete(key);
      reg.authTried.delete(key);
      reg.refused.delete(key);
    }
  }

  function targets(reg: Registration<Req, In>, m: Member<Out, In>): boolean {
    return reg.targets === null || reg.targets.has(m.key);
  }

  function writeSubscribe(reg: Registration<Req, In>, m: Member<Out, In>): void {
    if (reg.refused.has(m.key)) {
      // Refused on an earlier connection: a new one may authenticate differently, so it gets one more try.
      if (reg.authTried.get(m.key) === sessionOf(m)) return;
      reg.refused.delete(m.key);
    }
    const since = reg.newest.get(m.key);
    const resume = since !== undefined && reg.sessions.has(m.key) ? { since } : undefined;
    let frame: Frame;
    try {
      frame = protocol.subscribe!(reg.id, reg.request, resume);
      m.relay.writeFrame(frame);
    } catch (error) {
      emit({
        type: 'error',
        url: m.rt.url,
        error: m.rt.wrapError(
          error,
          (c) =>
            new ProtocolError(`Could not subscribe ${reg.id}: ${String((c as Error)?.message ?? c)}`, 'SUBSCRIBE', {
              cause: c,
            }),
        ),
      });
      return;
    }
    reg.sessions.set(m.key, sessionOf(m));
    emit({ type: 'subscribed', url: m.rt.url, subscription: reg.id, since: resume?.since ?? null });
  }

  function addMember(url: string): Member<Out, In> {
    validateUrl(url);
    if (halted) throw new StoppedError('The pool');
    const key = relayKey(url);
    const existing = members.get(key);
    if (existing) return existing;
    let id = `relay:${redactUrl(key)}`;
    for (let n = 2; byId.has(id); n++) id = `relay:${redactUrl(key)}#${n}`;
    const resolved = resolveRelayOptions(url, { ...(relayOptions as RelayOptions<Out, In>), id, wake: false });
    const rt = new RelayRuntime<Out, In>(url, redactUrl(url), resolved);
    const unregister = registerRuntime(actor.system, id, rt);
    actor.send({ type: 'ADD_RELAY', id, url: rt.url });
    const ref = actor.getSnapshot().children[id] as unknown as ChildRef;
    const relay = relayFacade<Out, In>(rt, ref, bus.events$, {
      start: () => ref.send({ type: 'START' }),
      stop: async () => {
        if (ref.getSnapshot().status === 'active') ref.send({ type: 'STOP' });
        await Promise.all([...rt.closing]);
      },
    });
    const score = scoreRelay({ state: 'idle', rttEwmaMs: null, successRatio: 1, recentFlaps: 0 }, scoreOptions);
    const m: Member<Out, In> = {
      id,
      key,
      rt,
      relay,
      score,
      candidate: { key, usable: false, score },
      session: 0,
      inflight: new Set(),
      removed: false,
      cleanups: [],
    };
    members.set(key, m);
    byId.set(id, m);
    candidates = [...members.values()].map((x) => x.candidate);
    const s1 = relay.events$.subscribe((e) => onRelayEvent(m, e));
    const s2 = relay.inbound$.subscribe((f) => onInbound(m, f));
    const s3 = relay.health$.subscribe(() => {
      if (!halted && !m.removed) relayChanged(m);
    });
    m.cleanups.push(
      unregister,
      () => s1.unsubscribe(),
      () => s2.unsubscribe(),
      () => s3.unsubscribe(),
    );
    // The child may have moved already (the pool is running): catch up.
    if (rt.state !== 'idle')
      onRelayEvent(m, { type: 'state', state: rt.state, previous: 'idle', url: rt.url, at: now() });
    emit({ type: 'relay-added', url: null, relay: rt.url });
    return m;
  }

  function findMember(url: string): Member<Out, In> | undefined {
    try {
      return members.get(relayKey(url));
    } catch {
      return undefined;
    }
  }

  for (const url of initialRelays as string[]) addMember(url);

  const pool: RelayPool<Out, In, Req> = {
    actor,
    inspection$: bus.events$,
    health$: health.asObservable(),
    events$: events.asObservable(),
    messages$: messages.asObservable(),

    start() {
      if (halted) throw new StoppedError('The pool');
      if (started) return pool;
      started = true;
      if (shared.wake.enabled)
        cleanups.push(wakeDetector(clock, shared.wake).subscribe((sleptMs) => actor.send({ type: 'WAKE', sleptMs })));
      if (shared.network) cleanups.push(shared.network.subscribe((online) => online && actor.send({ type: 'ONLINE' })));
      actor.send({ type: 'START' });
      return pool;
    },

    stop() {
      if (stopping) return stopping;
      halted = true;
      stopping = (async () => {
        for (const c of cleanups.splice(0)) c();
        const closing: Array<Promise<void>> = [];
        for (const m of members.values()) {
          m.rt.stopping = true;
          closing.push(m.relay.stop());
        }
        actor.send({ type: 'STOP' });
        actor.stop();
        const stopped = new StoppedError('The pool');
        for (const p of outbox.drain()) settle(p, stopped);
        for (const m of members.values()) for (const p of [...m.inflight]) settle(p, stopped);
        await Promise.all(closing);
        for (const m of members.values()) for (const c of m.cleanups.splice(0)) c();
        for (const reg of registrations.values()) reg.subject.complete();
        registrations.clear();
        messages.complete();
        events.complete();
        health.complete();
        bus.clear();
      })();
      return stopping;
    },

    send(message, sendOptions) {
      const badOption = checkCallOptions('send', sendOptions, POOL_SEND_OPTION_KEYS);
      if (badOption) return Promise.reject(withDelivery(badOption, 'not-sent'));
      if (selection.strategy === 'broadcast') return pool.publish(message, sendOptions).then(() => undefined);
      if (halted) return Promise.reject(withDelivery(new StoppedError('The pool'), 'not-sent'));
      // Fast path, like a relay's own send: no ack wanted, a usable primary and nothing queued before this message
      // (order) → encode and write; no bookkeeping, nothing allocated beyond the frame.
      const ack = sendOptions?.ack;
      if (ack === false || (ack === undefined && protocol.acks !== true)) {
        if (primary && outbox.size === 0 && usable(primary) && currentState() !== 'expired') {
          let frame: Frame;
          try {
            frame = protocol.encode(message);
          } catch (error) {
            return Promise.reject(withDelivery(encodeError(error), 'not-sent'));
          }
          try {
            primary.rt.socket!.send(frame);
            return DONE;
          } catch {
            // A dying socket: the full path below picks another relay or queues.
          }
        }
      }
      return submit(message, sendOptions).promise;
    },

    async publish(message, sendOptions) {
      const badOption = checkCallOptions('publish', sendOptions, POOL_SEND_OPTION_KEYS);
      if (badOption) throw withDelivery(badOption, 'not-sent');
      if (halted) throw withDelivery(new StoppedError('The pool'), 'not-sent');
      if (currentState() === 'expired') throw new SessionTimeoutError(sessionTimeout);
      const targetsNow = ranked().slice(0, selection.k);
      if (targetsNow.length === 0) {
        // Nobody to publish to: queue it (bounds and TTL apply); it goes out through the first relay that opens.
        // Not through send(), which under `broadcast` comes back here.
        const { promise, pending } = submit(message, sendOptions);
        await promise;
        return { relays: pending?.via ? [pending.via] : [] };
      }
      const results = await Promise.allSettled(targetsNow.map((m) => sendVia(m, message, sendOptions)));
      const ok: string[] = [];
      const errors: Array<{ url: string; error: RelayActorsError }> = [];
      results.forEach((r, i) => {
        const { rt } = targetsNow[i]!;
        if (r.status === 'fulfilled') ok.push(rt.url);
        else
          errors.push({
            url: rt.url,
            error: rt.wrapError(r.reason, (cause) => new SendFailedError(rt.url, { cause })),
          });
      });
      if (ok.length === 0) throw new PublishFailedError(errors);
      return { relays: ok };
    },

    subscribe(request, subscribeOptions) {
      return new Observable<In>((observer) => {
        const badOption = checkCallOptions('subscribe', subscribeOptions, SUBSCRIBE_OPTION_KEYS);
        if (badOption) {
          observer.error(badOption);
          return;
        }
        if (halted) {
          observer.error(new StoppedError('The pool'));
          return;
        }
        if (!protocol.subscribe) {
          observer.error(new ProtocolError(`The ${protocol.name} protocol has no subscriptions.`, 'NO_SUBSCRIPTIONS'));
          return;
        }
        const id = subscribeOptions?.id ?? `sub-${++subSeq}`;
        if (registrations.has(id)) {
          observer.error(new InvalidOptionError('id', `subscription "${id}" already exists`));
          return;
        }
        const reg: Registration<Req, In> = {
          id,
          request,
          targets: subscribeOptions?.relays
            ? new Set(subscribeOptions.relays.map((u) => relayKey(validateUrl(u))))
            : null,
          newest: new Map(),
          sessions: new Map(),
          seen: new RecentIds(dedupeWindow),
          subject: new Subject<In>(),
          authTried: new Map(),
          refused: new Set(),
        };
        const inner = reg.subject.subscribe(observer);
        registrations.set(id, reg);
        for (const m of members.values()) if (targets(reg, m) && usable(m)) writeSubscribe(reg, m);
        return () => {
          inner.unsubscribe();
          if (registrations.get(id) !== reg) return;
          registrations.delete(id);
          const close = protocol.unsubscribe?.(id);
          if (close === undefined) return;
          for (const m of members.values()) {
            if (!targets(reg, m) || !usable(m)) continue;
            try {
              m.relay.writeFrame(close);
            } catch {
              // The relay is going away; its subscription goes with the connection.
            }
          }
        };
      });
    },

    addRelay(url) {
      return addMember(url).relay;
    },

    async removeRelay(url) {
      const m = findMember(url);
      if (!m || m.removed) throw new UnknownRelayError(redactUrl(url));
      m.removed = true;
      m.rt.stopping = true;
      members.delete(m.key);
      byId.delete(m.id);
      candidates = [...members.values()].map((x) => x.candidate);
      if (primary === m) primary = null;
      moveInflight(m);
      actor.send({ type: 'REMOVE_RELAY', id: m.id, primary: rerank() });
      await m.relay.stop();
      for (const c of m.cleanups.splice(0)) c();
      forgetInRegistrations(m.key);
      emit({ type: 'relay-removed', url: null, relay: m.rt.url });
    },

    retry(url) {
      if (halted) throw new StoppedError('The pool');
      if (url === undefined) {
        if (!started) pool.start();
        else actor.send({ type: 'RETRY' });
        return;
      }
      const m = findMember(url);
      if (!m) throw new UnknownRelayError(redactUrl(url));
      m.relay.retry();
    },

    relay(url) {
      return findMember(url)?.relay;
    },

    status() {
      const relays = [...members.values()].map((m) => ({
        ...m.relay.status(),
        score: m.score.score,
        parts: m.score.parts,
        primary: primary === m,
      }));
      return {
        state: currentState(),
        primary: primary?.rt.url ?? null,
        relays,
        outbox: { messages: outbox.size, bytes: outbox.bytes },
        inflight: [...members.values()].reduce((n, m) => n + m.inflight.size, 0),
        subscriptions: [...registrations.values()].map((r) => ({
          id: r.id,
          request: r.request,
          relays: r.targets ? [...r.targets].map(redactUrl) : ('all' as const),
        })),
      };
    },

    waitFor(state, timeoutMs = 10_000) {
      if (currentState() === state) return DONE;
      return waitFor(actor, (snapshot) => poolState(snapshot) === state, { timeout: timeoutMs }).then(
        () => undefined,
        () => {
          if (currentState() === state) return;
          if (actor.getSnapshot().status !== 'active') throw new StoppedError('The pool');
          throw new WaitTimeoutError('The pool', state, currentState(), timeoutMs);
        },
      );
    },
  };

  /** One relay's part of a publish: written (and acked) through that relay, no failover. */
  function sendVia(m: Member<Out, In>, message: Out, sendOptions: PoolSendOptions | undefined): Promise<void> {
    return m.relay.send(message, sendOptions).then(
      () => {
        if (protocol.acks) m.rt.noteOutcome(true);
      },
      (error: RelayActorsError) => {
        if (error instanceof NackError) {
          const action = protocol.classifyRejection?.(error.reason) ?? 'retry';
          if (action === 'ok') return;
          if (action === 'reauth') return m.relay.authenticate().then(() => m.relay.send(message, sendOptions));
        }
        m.rt.noteOutcome(false);
        throw error;
      },
    );
  }

  return pool;
}
