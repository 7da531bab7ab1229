/**
 * `createRelayPool(options)`: a coordinator actor over several relays. It ranks them by health score, sends through
 * the best (failing over in the same event-loop turn a close is seen), queues while none is usable, re-sends
 * unacknowledged messages after failover, dedupes inbound messages across relays, and keeps subscriptions alive
 * across reconnects.
 *
 * This file is the composition and the public face; the parts live in `pool/`: `options` (every default, all
 * validation), `roster` (relays in and out), `ranking` (scores, the primary, `health$`), `delivery` (outbox,
 * in-flight acks, resends; the decision after an answer is the pure `decision`), `subscriptions` (registrations,
 * inbound routing and dedupe), `reauth` (the one reauthentication) and `control` (the wiring between them).
 */
import type { Observable } from 'rxjs';
import { waitFor, type Actor, type InspectionEvent } from 'xstate';
import { withDelivery } from '../core/delivery.ts';
import { SessionTimeoutError, StoppedError, UnknownRelayError, WaitTimeoutError } from '../core/errors.ts';
import { checkCallOptions, redactUrl } from '../runtime/options.ts';
import { poolState, type PoolMachine, type PoolState } from '../machines/poolMachine.ts';
import type { PoolEvent, PoolRelayHealth, PoolStatus } from '../core/telemetry.ts';
import { wakeDetector } from '../runtime/wake.ts';
import type { Relay } from './createRelay.ts';
import { PoolControl } from './pool/control.ts';
import { PoolEnv } from './pool/env.ts';
import { POOL_SEND_OPTION_KEYS, resolvePoolOptions } from './pool/options.ts';
import type {
  PoolSendOptions,
  PoolSubscribeOptions,
  PublishResult,
  RelayPool,
  RelayPoolOptions,
} from './pool/types.ts';

export { frameBytes } from './pool/pending.ts';
export type {
  PoolSendOptions,
  PoolSubscribeOptions,
  PublishResult,
  RelayPool,
  RelayPoolOptions,
} from './pool/types.ts';

const DONE: Promise<void> = Promise.resolve();

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
  const env = new PoolEnv(resolvePoolOptions(options));
  const control = new PoolControl(env);
  env.actor.on('*', (event) => control.poolEmitted(event));
  env.actor.start();
  for (const url of env.options.relays) control.roster.add(url);
  return new PoolHandle(env, control);
}

/** The public face of a pool over its parts: checks each call, then hands it to the part that does it. */
class PoolHandle<Out, In, Req> implements RelayPool<Out, In, Req> {
  readonly actor: Actor<PoolMachine>;
  readonly inspection$: Observable<InspectionEvent>;
  readonly health$: Observable<PoolRelayHealth>;
  readonly events$: Observable<PoolEvent>;
  readonly messages$: Observable<In>;
  private started = false;
  private stopping: Promise<void> | undefined;
  /** Wake and network listeners, ended by `stop()`. */
  private readonly cleanups: Array<() => void> = [];

  constructor(
    private readonly env: PoolEnv<Out, In, Req>,
    private readonly control: PoolControl<Out, In, Req>,
  ) {
    this.actor = env.actor;
    this.inspection$ = env.bus.events$;
    this.health$ = control.ranking.health.asObservable();
    this.events$ = env.events.asObservable();
    this.messages$ = control.subscriptions.messages.asObservable();
  }

  start(): this {
    const { env } = this;
    if (env.halted) throw new StoppedError('The pool');
    if (this.started) return this;
    this.started = true;
    const { shared } = env.options;
    if (shared.wake.enabled)
      this.cleanups.push(
        wakeDetector(shared.clock, shared.wake).subscribe((sleptMs) => env.actor.send({ type: 'WAKE', sleptMs })),
      );
    if (shared.network)
      this.cleanups.push(shared.network.subscribe((online) => online && env.actor.send({ type: 'ONLINE' })));
    env.actor.send({ type: 'START' });
    if (env.restored) this.resume();
    return this;
  }

  /** A restored pool starts the session timer and the relays' sockets and backoffs its snapshot could not hold. */
  private resume(): void {
    const { env, control } = this;
    env.actor.send({ type: 'RESUME' });
    const { random } = env.options.shared;
    for (const m of control.roster.members())
      if (env.restoredRelays.has(m.id)) m.relay.actor.send({ type: 'RESUME', at: env.now(), jitter: random() });
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.env.halted = true;
    this.stopping = this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    const { env, control } = this;
    for (const c of this.cleanups.splice(0)) c();
    const closing: Array<Promise<void>> = [];
    for (const m of control.roster.members()) {
      m.rt.stopping = true;
      closing.push(m.relay.stop());
    }
    env.actor.send({ type: 'STOP' });
    env.actor.stop();
    control.delivery.rejectAll(new StoppedError('The pool'));
    await Promise.all(closing);
    for (const m of control.roster.members()) m.detach();
    control.subscriptions.completeAll();
    env.events.complete();
    control.ranking.health.complete();
    env.bus.clear();
  }

  send(message: Out, sendOptions?: PoolSendOptions): Promise<void> {
    const badOption = checkCallOptions('send', sendOptions, POOL_SEND_OPTION_KEYS);
    if (badOption) return Promise.reject(withDelivery(badOption, 'not-sent'));
    if (this.env.options.selection.strategy === 'broadcast')
      return this.publish(message, sendOptions).then(() => undefined);
    if (this.env.halted) return Promise.reject(withDelivery(new StoppedError('The pool'), 'not-sent'));
    return this.control.delivery.send(message, sendOptions);
  }

  publish(message: Out, sendOptions?: PoolSendOptions): Promise<PublishResult> {
    const { env, control } = this;
    const badOption = checkCallOptions('publish', sendOptions, POOL_SEND_OPTION_KEYS);
    if (badOption) return Promise.reject(withDelivery(badOption, 'not-sent'));
    if (env.halted) return Promise.reject(withDelivery(new StoppedError('The pool'), 'not-sent'));
    if (env.state() === 'expired') return Promise.reject(new SessionTimeoutError(env.options.sessionTimeout));
    const targets = control.ranking.ranked().slice(0, env.options.selection.k);
    return control.delivery.publish(targets, message, sendOptions);
  }

  subscribe(request: Req, subscribeOptions?: PoolSubscribeOptions): Observable<In> {
    return this.control.subscriptions.subscribe(request, subscribeOptions);
  }

  addRelay(url: string): Relay<Out, In> {
    return this.control.roster.add(url).relay;
  }

  removeRelay(url: string): Promise<void> {
    const m = this.control.roster.find(url);
    if (!m || m.removed) return Promise.reject(new UnknownRelayError(redactUrl(url)));
    return this.control.remove(m);
  }

  retry(url?: string): void {
    if (this.env.halted) throw new StoppedError('The pool');
    if (url === undefined) {
      if (!this.started) this.start();
      else this.env.actor.send({ type: 'RETRY' });
      return;
    }
    const m = this.control.roster.find(url);
    if (!m) throw new UnknownRelayError(redactUrl(url));
    m.relay.retry();
  }

  relay(url: string): Relay<Out, In> | undefined {
    return this.control.roster.find(url)?.relay;
  }

  status(): PoolStatus {
    const { roster, ranking, delivery, subscriptions } = this.control;
    const primary = ranking.primary;
    const relays = [...roster.members()].map((m) => ({
      ...m.relay.status(),
      score: m.score.score,
      parts: m.score.parts,
      primary: primary === m,
    }));
    return {
      state: this.env.state(),
      primary: primary?.rt.url ?? null,
      relays,
      outbox: { messages: delivery.outbox.size, bytes: delivery.outbox.bytes },
      inflight: delivery.inflightCount(),
      subscriptions: subscriptions.list(),
    };
  }

  waitFor(state: PoolState, timeoutMs = 10_000): Promise<void> {
    const { env } = this;
    if (env.state() === state) return DONE;
    return waitFor(env.actor, (snapshot) => poolState(snapshot) === state, { timeout: timeoutMs }).then(
      () => undefined,
      () => {
        if (env.state() === state) return;
        if (env.actor.getSnapshot().status !== 'active') throw new StoppedError('The pool');
        throw new WaitTimeoutError('The pool', state, env.state(), timeoutMs);
      },
    );
  }
}
