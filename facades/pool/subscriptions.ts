/**
 * The subscriptions: each `subscribe()` is a registration, asked of every relay it targets when it is made and again
 * on every new connection (resuming with `since` where the protocol can). Inbound messages are routed here and
 * deduplicated by id, per subscription and pool-wide (`messages$`). A relay that closes a subscription asking for
 * authentication gets one reauth per connection; one that refuses it again is dropped from it.
 */
import { Observable, Subject, type Subscriber, type TeardownLogic } from 'rxjs';
import type { Frame } from '../../core/contract.ts';
import { InvalidOptionError, ProtocolError, StoppedError } from '../../core/errors.ts';
import { RecentIds } from '../../runtime/idSet.ts';
import { checkCallOptions, redactUrl, validateUrl } from '../../runtime/options.ts';
import type { Inbound } from '../../runtime/relayRuntime.ts';
import type { PoolEnv } from './env.ts';
import { SUBSCRIBE_OPTION_KEYS } from './options.ts';
import { reauthenticate } from './reauth.ts';
import { relayKey, type Member, type Roster } from './roster.ts';
import type { PoolSubscribeOptions } from './types.ts';

/** One `subscribe()`: its request, the relays it targets, and what each relay has seen of it. */
class Registration<Req, In> {
  /** Newest message time seen per relay key, ms: the `since` of a re-subscription. */
  readonly newest = new Map<string, number>();
  /** Relay session each relay was last subscribed on. */
  readonly sessions = new Map<string, number>();
  readonly seen: RecentIds;
  readonly subject = new Subject<In>();
  /** Per relay key: the connection session on which it was last re-subscribed after authenticating. */
  readonly authTried = new Map<string, number>();
  /** Relay keys that closed it again after we authenticated: not re-sent there until it reconnects. */
  readonly refused = new Set<string>();

  constructor(
    readonly id: string,
    readonly request: Req,
    /** Relay keys it targets; null: every relay, including ones added later. */
    readonly targets: Set<string> | null,
    dedupeWindow: number,
  ) {
    this.seen = new RecentIds(dedupeWindow);
  }

  /** Whether it is asked of relay `m`. */
  covers(m: { readonly key: string }): boolean {
    return this.targets === null || this.targets.has(m.key);
  }

  /** A removed relay leaves no trace (a relay added again under its URL starts afresh). */
  forget(key: string): void {
    this.newest.delete(key);
    this.sessions.delete(key);
    this.authTried.delete(key);
    this.refused.delete(key);
  }
}

/**
 * The pool's subscriptions, inbound routing and dedupe.
 *
 * @example
 * const subscriptions = new Subscriptions(env, roster);
 * subscriptions.subscribe({ kinds: [1] }).subscribe((event) => console.log(event));
 * subscriptions.onInbound(m, frame); // what a relay received
 */
export class Subscriptions<Out, In, Req> {
  /** Inbound application messages from every relay, deduplicated by id. */
  readonly messages = new Subject<In>();
  private readonly registrations = new Map<string, Registration<Req, In>>();
  private readonly seen: RecentIds;
  private seq = 0;

  constructor(
    private readonly env: PoolEnv<Out, In, Req>,
    private readonly roster: Roster<Out, In>,
  ) {
    this.seen = new RecentIds(env.options.dedupeWindow);
  }

  /** Inbound messages of one subscription, deduplicated by id (see `RelayPool.subscribe`). */
  subscribe(request: Req, options: PoolSubscribeOptions | undefined): Observable<In> {
    return new Observable<In>((observer) => this.open(request, options, observer));
  }

  /** The subscriptions as `status()` shows them. */
  list(): Array<{ id: string; request: Req; relays: string[] | 'all' }> {
    return [...this.registrations.values()].map((r) => ({
      id: r.id,
      request: r.request,
      relays: r.targets ? [...r.targets].map(redactUrl) : ('all' as const),
    }));
  }

  /** The pool stopped: every subscription completes. */
  completeAll(): void {
    for (const reg of this.registrations.values()) reg.subject.complete();
    this.registrations.clear();
    this.messages.complete();
  }

  /** `m` is usable: on a connection not seen before, every subscription it is targeted by is asked of it again. */
  onUsable(m: Member<Out, In>): void {
    const session = m.connection();
    if (session === m.session) return;
    m.session = session;
    for (const reg of this.registrations.values()) if (reg.covers(m)) this.writeSubscribe(reg, m);
  }

  /** A removed relay leaves no trace in the subscriptions. */
  forget(key: string): void {
    for (const reg of this.registrations.values()) reg.forget(key);
  }

  /** What relay `m` received: messages to their subscription and `messages$`, once each; closes and EOSE reported. */
  onInbound(m: Member<Out, In>, frame: Inbound<In>): void {
    switch (frame.kind) {
      case 'message': {
        const reg = frame.subscription === undefined ? undefined : this.registrations.get(frame.subscription);
        if (reg) {
          if (frame.timestamp !== undefined && frame.timestamp > (reg.newest.get(m.key) ?? -Infinity))
            reg.newest.set(m.key, frame.timestamp);
          if (frame.id === undefined || reg.seen.add(frame.id)) reg.subject.next(frame.message);
        }
        if (frame.id === undefined || this.seen.add(frame.id)) this.messages.next(frame.message);
        return;
      }
      case 'eose':
        this.env.emit({ type: 'eose', url: m.rt.url, subscription: frame.subscription });
        return;
      case 'closed': {
        this.env.emit({
          type: 'subscription-closed',
          url: m.rt.url,
          subscription: frame.subscription,
          reason: frame.reason,
        });
        const reg = this.registrations.get(frame.subscription);
        const protocol = this.env.options.protocol;
        if (reg && protocol.classifyRejection?.(frame.reason) === 'reauth') this.reauth(reg, m, frame.reason);
        return;
      }
      case 'notice':
        return;
    }
  }

  /** The subscriber function of `subscribe()`: checks, registers and asks every usable target. */
  private open(request: Req, options: PoolSubscribeOptions | undefined, observer: Subscriber<In>): TeardownLogic {
    const refusal = this.refusal(options);
    if (refusal) return observer.error(refusal);
    const id = options?.id ?? `sub-${++this.seq}`;
    if (this.registrations.has(id))
      return observer.error(new InvalidOptionError('id', `subscription "${id}" already exists`));
    const targets = options?.relays ? new Set(options.relays.map((u) => relayKey(validateUrl(u)))) : null;
    const reg = new Registration<Req, In>(id, request, targets, this.env.options.dedupeWindow);
    const inner = reg.subject.subscribe(observer);
    this.registrations.set(id, reg);
    for (const m of this.roster.members()) if (reg.covers(m) && m.usable()) this.writeSubscribe(reg, m);
    return () => {
      inner.unsubscribe();
      this.close(reg);
    };
  }

  /** Why a subscription cannot be made now, if it cannot. */
  private refusal(options: PoolSubscribeOptions | undefined): Error | undefined {
    const badOption = checkCallOptions('subscribe', options, SUBSCRIBE_OPTION_KEYS);
    if (badOption) return badOption;
    if (this.env.halted) return new StoppedError('The pool');
    const protocol = this.env.options.protocol;
    if (!protocol.subscribe)
      return new ProtocolError(`The ${protocol.name} protocol has no subscriptions.`, 'NO_SUBSCRIPTIONS');
    return undefined;
  }

  /** The last subscriber left: unregister, and send the protocol's close to every usable target. */
  private close(reg: Registration<Req, In>): void {
    if (this.registrations.get(reg.id) !== reg) return;
    this.registrations.delete(reg.id);
    const close = this.env.options.protocol.unsubscribe?.(reg.id);
    if (close === undefined) return;
    for (const m of this.roster.members()) {
      if (!reg.covers(m) || !m.usable()) continue;
      try {
        m.relay.writeFrame(close);
      } catch {
        // The relay is going away; its subscription goes with the connection.
      }
    }
  }

  /** Asks `m` for `reg` (resuming with `since` when it was subscribed there before). */
  private writeSubscribe(reg: Registration<Req, In>, m: Member<Out, In>): void {
    if (reg.refused.has(m.key)) {
      // Refused on an earlier connection: a new one may authenticate differently, so it gets one more try.
      if (reg.authTried.get(m.key) === m.connection()) return;
      reg.refused.delete(m.key);
    }
    const since = reg.newest.get(m.key);
    const resume = since !== undefined && reg.sessions.has(m.key) ? { since } : undefined;
    let frame: Frame;
    try {
      frame = this.env.options.protocol.subscribe!(reg.id, reg.request, resume);
      m.relay.writeFrame(frame);
    } catch (error) {
      const wrap = (c: unknown) =>
        new ProtocolError(`Could not subscribe ${reg.id}: ${String((c as Error)?.message ?? c)}`, 'SUBSCRIBE', {
          cause: c,
        });
      this.env.emit({ type: 'error', url: m.rt.url, error: m.rt.wrapError(error, wrap) });
      return;
    }
    reg.sessions.set(m.key, m.connection());
    this.env.emit({ type: 'subscribed', url: m.rt.url, subscription: reg.id, since: resume?.since ?? null });
  }

  /**
   * A relay closed `reg` asking for authentication: authenticate and subscribe again, once per connection (as a
   * publish gets one reauth). Closed again, or authentication failed: that relay refused it.
   */
  private reauth(reg: Registration<Req, In>, m: Member<Out, In>, reason: string): void {
    if (reg.authTried.get(m.key) === m.connection()) return this.refuse(reg, m, reason);
    reg.authTried.set(m.key, m.connection());
    reauthenticate(m, reason, this.env, {
      ok: () => {
        if (this.registrations.get(reg.id) === reg && m.usable()) this.writeSubscribe(reg, m);
      },
      failed: () => this.refuse(reg, m, reason),
    });
  }

  /** `m` refused `reg`; when every relay it targets has, it ends with a typed error. */
  private refuse(reg: Registration<Req, In>, m: Member<Out, In>, reason: string): void {
    if (this.registrations.get(reg.id) !== reg) return;
    reg.refused.add(m.key);
    for (const x of this.roster.members()) if (reg.covers(x) && !x.removed && !reg.refused.has(x.key)) return;
    reg.subject.error(
      new ProtocolError(
        `Subscription ${reg.id} was refused by every relay it targets, after authenticating: ${m.rt.redact(reason)}`,
        'AUTH_REFUSED',
      ),
    );
  }
}
