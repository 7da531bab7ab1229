/**
 * `createRelay(url, options)`: one relay actor with its data path and telemetry, no coordinator.
 */
import type { Observable } from 'rxjs';
import { createActor, waitFor, type ActorRef, type SnapshotFrom } from 'xstate';
import type { Frame } from '../core/contract.ts';
import {
  NotOpenError,
  ProtocolError,
  redactError,
  RelayActorsError,
  RelayFailedError,
  SendFailedError,
  StoppedError,
  InvalidOptionError,
  WaitTimeoutError,
} from '../core/errors.ts';
import { withDelivery } from '../core/delivery.ts';
import { prepareSend } from '../runtime/prepareSend.ts';
import { successRatio } from '../policies/health.ts';
import {
  checkCallOptions,
  redactUrl,
  relayMachineConfig,
  resolveRelayOptions,
  validateUrl,
  type RelayOptions,
} from '../runtime/options.ts';
import { relayMachine, type RelayMachine, type RelayStateMeta } from '../machines/relayMachine.ts';
import type { RelayEmitted, RelayMachineEvent } from '../core/events.ts';
import { resumableRelaySnapshot } from '../machines/resume.ts';
import { registerRuntime, RelayRuntime, type Inbound } from '../runtime/relayRuntime.ts';
import { InspectionBus } from '../runtime/inspection.ts';
import type { InspectionEvent } from 'xstate';
import type { HealthSample, LastClose, RelayEvent, RelayState, RelayStatus } from '../core/telemetry.ts';
import { wakeDetector } from '../runtime/wake.ts';

/** The options `send` knows. */
const SEND_OPTION_KEYS: ReadonlyArray<keyof SendOptions> = ['ack'];

/** Per-send options. */
export interface SendOptions {
  /**
   * Wait for the relay's ack (by message id) before resolving. Default: true when the protocol acks and the
   * message has an id, else false.
   */
  ack?: boolean;
}

/** A running relay. */
export interface Relay<Out = unknown, In = unknown> {
  /** The URL, redacted for display. */
  readonly url: string;
  /** Starts connecting. Calling it again does nothing (one dial at a time). */
  start(): this;
  /**
   * Closes the socket with 1000, cancels every timer, completes every stream. Idempotent. Afterwards nothing
   * of this relay keeps the process alive.
   */
  stop(): Promise<void>;
  /**
   * Writes `message` straight to the socket. Resolves once written (or acknowledged, see {@link SendOptions});
   * rejects with `NotOpenError`, `RelayFailedError`, `StoppedError`, `ProtocolError`, `SendFailedError`,
   * `AckTimeoutError`, `NackError` or `ConnectionLostError`. Nothing is dropped silently.
   */
  send(message: Out, options?: SendOptions): Promise<void>;
  /** Reconnects now, overriding backoff and `failed`. */
  retry(): void;
  /** Plain, serialisable snapshot. */
  status(): RelayStatus;
  /** Bytes written to the current socket and not yet sent to the network (0 without a socket): for backpressure. */
  readonly bufferedAmount: number;
  /** Resolves when the relay reaches `state`; rejects after `timeoutMs` (default 10000) or if it stops first. */
  waitFor(state: RelayState, timeoutMs?: number): Promise<void>;
  /** Health samples (RTT, misses, success ratio), on every pong, miss and state change. */
  readonly health$: Observable<HealthSample>;
  /** Lifecycle telemetry: state changes, disconnects with verdicts, scheduled reconnects, errors. */
  readonly events$: Observable<RelayEvent>;
  /** Inbound application messages. */
  readonly messages$: Observable<In>;
  /**
   * Inbound frames with their metadata: messages with id, subscription and timestamp, end-of-stored-events,
   * server-closed subscriptions and notices. For pools and protocol-aware callers; most apps want `messages$`.
   */
  readonly inbound$: Observable<Inbound<In>>;
  /**
   * Writes a frame the protocol already built (a subscription request, say) straight to the socket. Throws
   * `NotOpenError`, `RelayFailedError` or `StoppedError` when the relay cannot take it, `SendFailedError` when the
   * socket refuses it.
   */
  writeFrame(frame: Frame): void;
  /**
   * Answers the current connection's authentication challenge (Nostr NIP-42) with the protocol's signer and
   * resolves when the relay accepts it. Rejects with a `ProtocolError` (`NO_CHALLENGE`, `NO_SIGNER`) when there is
   * nothing to answer or nothing to answer with, or with the ack's error.
   */
  authenticate(): Promise<void>;
  /**
   * XState inspection events (`@xstate.actor`, `@xstate.snapshot`, `@xstate.event`, ...) of this relay's actor
   * system, from subscription on: what inspectors attach to. For a pool's relay, subscribe to the pool's instead.
   */
  readonly inspection$: Observable<InspectionEvent>;
  /** The XState actor (for inspection and tests): standalone, or a coordinator's child. */
  readonly actor: ActorRef<SnapshotFrom<RelayMachine>, RelayMachineEvent, RelayEmitted>;
}

/** How a facade starts and stops the actor behind it: standalone, or as a coordinator's child. */
export interface RelayLifecycle {
  /** Starts the actor (and anything it listens to); called once, by the facade's first `start()`. */
  start(): void;
  /** Stops the actor and waits for its sockets to close; called once, by the facade's first `stop()`, which then completes the streams. */
  stop(): Promise<void>;
}

const DONE: Promise<void> = Promise.resolve();

/**
 * The public state of a relay snapshot: the name its state nodes carry in `meta.state` (the machine says it; no
 * mapping table here).
 *
 * @example
 * publicState(relay.actor.getSnapshot()) // 'open' for the state value { live: 'open' }
 */
export function publicState(snapshot: { getMeta(): Record<string, RelayStateMeta | undefined> }): RelayState {
  for (const meta of Object.values(snapshot.getMeta())) if (meta?.state) return meta.state;
  return 'idle';
}

/**
 * Creates one relay actor. Core entry: the transport and protocol must be given (the package entry binds
 * `wsTransport()` and `jsonProtocol()` as defaults).
 *
 * @example
 * const relay = createRelay('ws://127.0.0.1:7000', { transport: wsTransport(), protocol: jsonProtocol() }).start();
 * relay.messages$.subscribe((m) => console.log(m));
 * await relay.waitFor('open');
 * await relay.send({ type: 'hello' });
 * await relay.stop();
 */
export function createRelay<Out = unknown, In = unknown>(url: string, options: RelayOptions<Out, In>): Relay<Out, In> {
  validateUrl(url);
  const resolved = resolveRelayOptions(url, options);
  const rt = new RelayRuntime<Out, In>(url, redactUrl(url), resolved);
  const bus = new InspectionBus(options.inspect);
  const input = { id: resolved.id, url: rt.url, config: relayMachineConfig(resolved) };
  const restored = options.snapshot === undefined ? undefined : resumableRelaySnapshot(options.snapshot, input);
  const actor = createActor(relayMachine, {
    input,
    ...(restored ? { snapshot: restored } : {}),
    clock: resolved.clock,
    systemId: resolved.id,
    inspect: bus.observer,
  });
  // The actor system goes with the relay, and its registration with it: nothing to undo.
  registerRuntime(actor.system, resolved.id, rt);
  const cleanups: Array<() => void> = [];
  let started = false;
  return relayFacade<Out, In>(rt, actor, bus.events$, {
    start() {
      started = true;
      actor.start();
      if (resolved.wake.enabled) {
        cleanups.push(
          wakeDetector(resolved.clock, resolved.wake).subscribe((sleptMs) => actor.send({ type: 'WAKE', sleptMs })),
        );
      }
      if (resolved.network) {
        cleanups.push(resolved.network.subscribe((online) => online && actor.send({ type: 'ONLINE' })));
      }
      actor.send({ type: 'START' });
      // A restored relay starts the socket and timers its snapshot could not hold.
      if (restored) actor.send({ type: 'RESUME', at: rt.now(), jitter: resolved.random() });
    },
    async stop() {
      for (const c of cleanups.splice(0)) c();
      // An idle actor is started just to walk it to `closed`, so status and telemetry say so.
      if (!started) actor.start();
      actor.send({ type: 'STOP' });
      actor.stop();
      await Promise.all([...rt.closing]);
      bus.clear();
    },
  });
}

/**
 * The public face of one relay over its runtime and actor. `createRelay` binds a standalone actor; the pool binds
 * its coordinator's children, whose lifecycle it drives.
 *
 * @example
 * const options = resolveRelayOptions(url, { transport, protocol });
 * const rt = new RelayRuntime(url, redactUrl(url), options);
 * const bus = new InspectionBus();
 * const input = { id: 'r', url: rt.url, config: relayMachineConfig(options) };
 * const actor = createActor(relayMachine, { input, systemId: 'r', inspect: bus.observer });
 * registerRuntime(actor.system, 'r', rt);
 * const relay = relayFacade(rt, actor, bus.events$, {
 *   start: () => actor.start().send({ type: 'START' }),
 *   stop: async () => {
 *     actor.stop();
 *   },
 * });
 */
export function relayFacade<Out, In>(
  rt: RelayRuntime<Out, In>,
  actor: Relay<Out, In>['actor'],
  inspection$: Observable<InspectionEvent>,
  lifecycle: RelayLifecycle,
): Relay<Out, In> {
  return new RelayHandle(rt, actor, inspection$, lifecycle);
}

/**
 * A class rather than an object of closures: methods live on the prototype, so a thousand relays do not carry a
 * thousand copies of each (heap per relay is a benchmarked figure).
 */
class RelayHandle<Out, In> implements Relay<Out, In> {
  private started = false;
  private stopping: Promise<void> | undefined;
  /** The authentication under way, shared by every caller for the same challenge on the same connection. */
  private signing: { session: number; challenge: string; done: Promise<void> } | undefined;

  constructor(
    private readonly rt: RelayRuntime<Out, In>,
    readonly actor: Relay<Out, In>['actor'],
    readonly inspection$: Observable<InspectionEvent>,
    private readonly lifecycle: RelayLifecycle,
  ) {
    // A restored actor starts where its snapshot left off.
    rt.state = publicState(actor.getSnapshot());
    actor.subscribe((snapshot) => {
      const state = publicState(snapshot);
      if (state === rt.state) return;
      const previous = rt.state;
      rt.state = state;
      rt.emit({ type: 'state', state, previous });
      rt.publishHealth();
    });
    actor.on('*', (event) => this.onEmitted(event));
  }

  /** What the machine emitted becomes health, telemetry and the `beforeReconnect` call: here, once. */
  private onEmitted(event: RelayEmitted): void {
    const rt = this.rt;
    switch (event.type) {
      case 'connected':
        return rt.noteOutcome(true);
      case 'disconnected': {
        if (event.outcome === 'dial-failed') rt.noteOutcome(false);
        else if (event.outcome === 'flapped') rt.noteFlap(event.at);
        return rt.emit({ type: 'disconnected', info: event.info, verdict: event.verdict });
      }
      case 'reconnect-scheduled': {
        const { attempt, delayMs, cause, lastClose } = event;
        rt.emit({ type: 'reconnect-scheduled', attempt, delayMs, cause });
        if (lastClose) this.callBeforeReconnect(attempt, delayMs, lastClose);
        return;
      }
      default:
        return rt.emit(event);
    }
  }

  private callBeforeReconnect(attempt: number, delayMs: number, close: LastClose): void {
    const rt = this.rt;
    const hook = rt.options.beforeReconnect;
    if (!hook) return;
    try {
      hook({
        url: rt.url,
        attempt,
        delayMs,
        cause: {
          code: close.code,
          reason: close.reason,
          wasClean: false,
          ...(close.status !== undefined ? { status: close.status } : {}),
          ...(close.errorCode !== undefined ? { errorCode: close.errorCode } : {}),
        },
        verdict: close.verdict,
      });
    } catch (error) {
      const message = `the hook threw: ${String((error as Error)?.message ?? error)}`;
      rt.emit({ type: 'error', error: new InvalidOptionError('beforeReconnect', message) });
    }
  }

  get url(): string {
    return this.rt.url;
  }

  get health$(): Observable<HealthSample> {
    return this.rt.healthSamples.asObservable();
  }

  get events$(): Observable<RelayEvent> {
    return this.rt.events.asObservable();
  }

  get messages$(): Observable<In> {
    return this.rt.messages.asObservable();
  }

  get inbound$(): Observable<Inbound<In>> {
    return this.rt.inbound.asObservable();
  }

  get bufferedAmount(): number {
    return this.rt.socket?.bufferedAmount ?? 0;
  }

  start(): this {
    if (this.stopping) throw new StoppedError(`Relay ${this.rt.url}`);
    if (this.started) return this;
    this.started = true;
    this.lifecycle.start();
    return this;
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    const rt = this.rt;
    this.stopping = (async () => {
      rt.stopping = true;
      await this.lifecycle.stop();
      rt.dropEnded();
      rt.failPendingAcks();
      rt.messages.complete();
      rt.inbound.complete();
      rt.events.complete();
      rt.healthSamples.complete();
    })();
    return this.stopping;
  }

  writeFrame(frame: Frame): void {
    const socket = this.rt.socket;
    if (!socket) throw this.notWritable();
    try {
      socket.send(frame);
    } catch (error) {
      throw this.rt.wrapError(error, (cause) => new SendFailedError(this.rt.url, { cause }));
    }
  }

  /** Connections this relay has opened (the machine counts them). */
  private get session(): number {
    return this.actor.getSnapshot().context.session;
  }

  authenticate(): Promise<void> {
    const { authChallenge } = this.rt;
    const session = this.session;
    const current = this.signing;
    if (current && current.session === session && current.challenge === authChallenge) return current.done;
    const done = this.signChallenge();
    if (authChallenge !== null) this.signing = { session, challenge: authChallenge, done };
    return done;
  }

  private async signChallenge(): Promise<void> {
    const rt = this.rt;
    const challenge = rt.authChallenge;
    if (challenge === null)
      throw new ProtocolError(
        `Relay ${rt.url} has sent no authentication challenge on this connection.`,
        'NO_CHALLENGE',
      );
    const protocol = rt.options.protocol;
    if (!protocol.authenticate)
      throw new ProtocolError(
        `Relay ${rt.url} asks for authentication, but the protocol has no signer (pass one to the protocol).`,
        'NO_SIGNER',
      );
    if (rt.authenticated) return;
    const session = this.session;
    // The signer is given the dial URL (NIP-42 signs the relay's URL), so its errors may name it.
    let signed: Awaited<ReturnType<NonNullable<typeof protocol.authenticate>>>;
    try {
      signed = await protocol.authenticate(challenge, rt.dialUrl);
    } catch (error) {
      // The signer's own error (whatever it throws), only redacted.
      throw redactError(error, rt.redact);
    }
    const { frame, id } = signed;
    if (this.session !== session || rt.authChallenge !== challenge)
      throw new ProtocolError(`Relay ${rt.url} reconnected while we were signing its challenge.`, 'STALE_CHALLENGE');
    const acked = rt.awaitAck(id);
    try {
      this.writeFrame(frame);
    } catch (error) {
      acked.catch(() => {});
      rt.settleAck(id, false, 'write failed');
      throw error;
    }
    await acked;
    rt.authenticated = true;
    rt.emit({ type: 'authenticated' });
  }

  send(message: Out, sendOptions?: SendOptions): Promise<void> {
    const rt = this.rt;
    const badOption = checkCallOptions('send', sendOptions, SEND_OPTION_KEYS);
    if (badOption) return Promise.reject(withDelivery(badOption, 'not-sent'));
    const socket = rt.socket;
    if (!socket) return Promise.reject(withDelivery(this.notWritable(), 'not-sent'));
    const prepared = prepareSend(rt.options.protocol, message, sendOptions?.ack, rt.redact);
    if (prepared instanceof RelayActorsError) return Promise.reject(withDelivery(prepared, 'not-sent'));
    const { frame, id, wantAck } = prepared;
    const acked = wantAck ? rt.awaitAck(id!) : DONE;
    try {
      socket.send(frame);
    } catch (error) {
      if (wantAck) rt.settleAck(id!, false, 'write failed');
      acked.catch(() => {});
      return Promise.reject(rt.wrapError(error, (cause) => new SendFailedError(rt.url, { cause })));
    }
    return acked;
  }

  retry(): void {
    if (this.stopping) throw new StoppedError(`Relay ${this.rt.url}`);
    // A coordinator's child may be running without this facade having started it: ask the actor, not the flag.
    if (!this.started && this.rt.state === 'idle') this.start();
    else this.actor.send({ type: 'RETRY' });
  }

  status(): RelayStatus {
    const rt = this.rt;
    const { context } = this.actor.getSnapshot();
    const h = rt.health;
    return {
      url: rt.url,
      state: rt.state,
      attempts: context.attempt,
      nextRetryAt: context.nextRetryAt,
      rttMs: h.rttMs,
      rttEwmaMs: h.rttEwmaMs,
      missedPongs: h.missedPongs,
      successRatio: successRatio(h),
      flaps: h.flaps,
      heartbeat: context.heartbeat,
      heartbeatNote: context.heartbeatNote,
      lastClose: context.lastClose,
      failure: context.failure === null ? null : rt.redact(context.failure),
      connectedAt: context.connectedAt,
    };
  }

  waitFor(state: RelayState, timeoutMs = 10_000): Promise<void> {
    const rt = this.rt;
    if (rt.state === state) return DONE;
    if (this.stopping) return state === 'closed' ? this.stopping : Promise.reject(new StoppedError(`Relay ${rt.url}`));
    return waitFor(this.actor, (snapshot) => publicState(snapshot) === state, { timeout: timeoutMs }).then(
      () => undefined,
      () => {
        if (rt.state === state || (state === 'closed' && this.stopping)) return;
        if (this.stopping || this.actor.getSnapshot().status !== 'active') throw new StoppedError(`Relay ${rt.url}`);
        throw new WaitTimeoutError(`Relay ${rt.url}`, state, rt.state, timeoutMs);
      },
    );
  }

  private notWritable(): RelayActorsError {
    const rt = this.rt;
    if (this.stopping || rt.state === 'closed') return new StoppedError(`Relay ${rt.url}`);
    // The failure is a verdict's reason, which a classifier may have worded from the transport's message.
    if (rt.state === 'failed')
      return new RelayFailedError(rt.url, rt.redact(this.actor.getSnapshot().context.failure ?? 'failed'));
    return new NotOpenError(rt.url, rt.state);
  }
}
