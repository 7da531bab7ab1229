/**
 * The delivery: getting a pool's messages out. It owns the outbox (sends waiting for a usable relay) and the
 * in-flight acked sends of each relay; it writes through the ranking's target, carries out {@link decideAfter}'s
 * decision when an answer comes (or does not), moves unacked sends off a relay that stopped being their place,
 * replays and expires the outbox when the coordinator says so, and publishes to the best `k` relays.
 */
import {
  MessageExpiredError,
  NackError,
  OutboxFullError,
  PublishFailedError,
  RelayActorsError,
  SendFailedError,
  SessionTimeoutError,
  StoppedError,
  wrapError,
} from '../../core/errors.ts';
import { withDelivery } from '../../core/delivery.ts';
import { Outbox } from '../../runtime/outbox.ts';
import { encodeMessage, prepareSend } from '../../runtime/prepareSend.ts';
import { sharedScheduler } from '../../runtime/scheduler.ts';
import {
  decideAfter,
  type Decision,
  type HealthNote,
  type PendingFacts,
  type WriteOutcome,
} from '../../policies/afterSend.ts';
import type { PoolEnv } from './env.ts';
import { Pending, type ExpiryListener } from './pending.ts';
import type { Ranking } from './ranking.ts';
import { reauthenticate } from './reauth.ts';
import type { Member, Roster } from './roster.ts';
import type { PoolSendOptions, PublishResult } from './types.ts';

const DONE: Promise<void> = Promise.resolve();
const NO_ACK: WriteOutcome = Object.freeze({ kind: 'no-ack' });
const CONNECTION_LOST: WriteOutcome = Object.freeze({ kind: 'connection-lost' });

function noop(): void {}

/**
 * Sends, acks, resends and the outbox of one pool.
 *
 * @example
 * const delivery = new Delivery(env, roster, ranking);
 * await delivery.send({ type: 'post', id: 'm1' }, { ack: true }); // resolves when a relay acked it
 * delivery.flush(); // the coordinator says a relay is usable again: replay the outbox
 */
export class Delivery<Out, In> implements ExpiryListener<Out> {
  readonly outbox: Outbox<Pending<Out>>;

  constructor(
    private readonly env: PoolEnv<Out, In, unknown>,
    private readonly roster: Roster<Out, In>,
    private readonly ranking: Ranking<Out, In>,
  ) {
    this.outbox = new Outbox<Pending<Out>>(env.options.outbox, sharedScheduler(env.options.shared.clock));
  }

  /** Acked sends written and not yet answered, over every relay. */
  inflightCount(): number {
    let n = 0;
    for (const m of this.roster.members()) n += m.inflight.size;
    return n;
  }

  /**
   * Sends through the primary (or the best usable relay), or queues. Resolves when written, or acked.
   * Fast path, like a relay's own send: no ack wanted, a usable primary and nothing queued before this message
   * (order) → encode and write; no bookkeeping, nothing allocated beyond the frame.
   */
  send(message: Out, sendOptions: PoolSendOptions | undefined): Promise<void> {
    const protocol = this.env.options.protocol;
    const ack = sendOptions?.ack;
    if (ack === false || (ack === undefined && protocol.acks !== true)) {
      const primary = this.ranking.primary;
      if (primary && this.outbox.size === 0 && primary.usable() && this.env.state() !== 'expired') {
        const frame = encodeMessage(protocol, message);
        if (frame instanceof RelayActorsError) return Promise.reject(withDelivery(frame, 'not-sent'));
        try {
          primary.rt.socket!.send(frame);
          return DONE;
        } catch {
          // A dying socket: the full path below picks another relay or queues.
        }
      }
    }
    return this.submit(message, sendOptions).promise;
  }

  /** The full send path: prepare, then write through the best relay or queue; settles when written or acked. */
  submit(
    message: Out,
    sendOptions: PoolSendOptions | undefined,
  ): { promise: Promise<void>; pending: Pending<Out> | null } {
    const prepared = prepareSend(this.env.options.protocol, message, sendOptions?.ack);
    if (prepared instanceof RelayActorsError)
      return { promise: Promise.reject(withDelivery(prepared, 'not-sent')), pending: null };
    const p = new Pending(message, prepared, this.env.now() + this.env.options.outbox.ttl, this);
    const promise = p.promise();
    this.dispatch(p);
    return { promise, pending: p };
  }

  /**
   * Writes `message` to each of `targets` through the relay's own send (acked where the protocol acks), no
   * failover; resolves with the relays that took it, rejects with `PublishFailedError` if none did. With no target
   * it is queued (bounds and TTL apply) and goes out through the first relay that opens.
   */
  async publish(
    targets: Array<Member<Out, In>>,
    message: Out,
    sendOptions: PoolSendOptions | undefined,
  ): Promise<PublishResult> {
    if (targets.length === 0) {
      // Not through send(), which under `broadcast` comes back here.
      const { promise, pending } = this.submit(message, sendOptions);
      await promise;
      return { relays: pending?.via ? [pending.via] : [] };
    }
    const results = await Promise.allSettled(targets.map((m) => this.sendVia(m, message, sendOptions)));
    const ok: string[] = [];
    const errors: Array<{ url: string; error: RelayActorsError }> = [];
    results.forEach((r, i) => {
      const { rt } = targets[i]!;
      if (r.status === 'fulfilled') ok.push(rt.url);
      else
        errors.push({ url: rt.url, error: rt.wrapError(r.reason, (cause) => new SendFailedError(rt.url, { cause })) });
    });
    if (ok.length === 0) throw new PublishFailedError(errors);
    return { relays: ok };
  }

  /** One relay's part of a publish: written (and acked) through that relay, no failover. */
  private sendVia(m: Member<Out, In>, message: Out, sendOptions: PoolSendOptions | undefined): Promise<void> {
    const protocol = this.env.options.protocol;
    return m.relay.send(message, sendOptions).then(
      () => {
        if (protocol.acks) m.rt.noteOutcome(true);
      },
      (error: RelayActorsError) => {
        if (error instanceof NackError) {
          const action = protocol.classifyRejection?.(error.reason) ?? 'retry';
          if (action === 'ok') return;
          if (action === 'reauth')
            return new Promise<void>((ok, failed) => reauthenticate(m, error.reason, this.env, { ok, failed })).then(
              () => m.relay.send(message, sendOptions),
            );
        }
        m.rt.noteOutcome(false);
        throw error;
      },
    );
  }

  /** Sends `p` through the best relay, or queues it. `accepted`: it was taken before, so bounds do not apply. */
  dispatch(p: Pending<Out>, accepted = false): void {
    if (p.settled) return;
    if (this.env.halted) return this.settle(p, new StoppedError('The pool'));
    if (this.env.state() === 'expired') return this.settle(p, new SessionTimeoutError(this.env.options.sessionTimeout));
    const target = this.ranking.pickTarget(p.refusedBy);
    // A new message never overtakes queued ones: while the outbox holds anything it goes behind them.
    if (target && (accepted || this.outbox.size === 0)) return this.writeTo(p, target);
    if (accepted) return this.outbox.requeue([p]);
    try {
      this.outbox.push(p);
    } catch (error) {
      const { outbox } = this;
      if (error instanceof OutboxFullError)
        this.env.emit({
          type: 'outbox-overflow',
          url: null,
          limit: error.limit,
          size: outbox.size,
          bytes: outbox.bytes,
        });
      this.settle(
        p,
        wrapError(error, (cause) => new SendFailedError('the outbox', { cause })),
      );
      return;
    }
    // Online with a queue (a message requeued after its relay went): replay it all now, in order. Otherwise the
    // pool is about to enter `online`, whose entry replays the queue.
    if (target && this.env.state() === 'online') this.flush();
  }

  /** Writes `p` to `m`; a write that throws tries the next relay not yet `tried` for this write. */
  private writeTo(p: Pending<Out>, m: Member<Out, In>, tried: Set<string> = new Set(p.refusedBy)): void {
    const attempt = ++p.attempt;
    const writtenAt = this.env.now();
    p.via = m.rt.url;
    let acked: Promise<void> | undefined;
    if (p.wantAck) {
      acked = m.rt.awaitAck(p.id!);
      p.relay = m;
      m.inflight.add(p);
    }
    try {
      m.rt.socket!.send(p.frame);
      p.written = true;
    } catch (error) {
      if (acked) {
        acked.catch(noop);
        m.inflight.delete(p);
        m.rt.settleAck(p.id!, false, 'write failed');
      }
      tried.add(m.key);
      const next = this.ranking.pickTarget(tried);
      if (next) this.writeTo(p, next, tried);
      else
        this.settle(
          p,
          m.rt.wrapError(error, (cause) => new SendFailedError(m.rt.url, { cause })),
        );
      return;
    }
    if (!acked) return this.settle(p);
    acked.then(
      () => this.answered(p, m, attempt, { kind: 'acked', latencyMs: this.env.now() - writtenAt }),
      (error: RelayActorsError) => this.answered(p, m, attempt, this.outcomeOf(error), error),
    );
  }

  /** How an ack wait that failed ended, as {@link decideAfter} reads it. */
  private outcomeOf(error: RelayActorsError): WriteOutcome {
    if (error.code === 'CONNECTION_LOST') return CONNECTION_LOST;
    if (!(error instanceof NackError)) return NO_ACK;
    return { kind: 'nacked', action: this.env.options.protocol.classifyRejection?.(error.reason) ?? 'retry' };
  }

  /** The answer to write number `attempt` of `p` on `m` came (or the wait for it ended): decide, then do it. */
  private answered(
    p: Pending<Out>,
    m: Member<Out, In>,
    attempt: number,
    outcome: WriteOutcome,
    error?: RelayActorsError,
  ): void {
    const facts: PendingFacts = {
      current: p.attempt === attempt && !p.settled,
      halted: this.env.halted,
      reauthTried: p.reauthTried,
      withinTtl: this.env.now() < p.deadline,
      slowAfterMs: m.rt.options.heartbeat.degradedRtt,
    };
    const decision = decideAfter(outcome, facts);
    if (decision.kind === 'ignore') return;
    if (error) {
      // No longer waiting on `m`, whatever comes next.
      m.inflight.delete(p);
      p.relay = null;
    }
    if (decision.kind === 'settle-ok') {
      // Settled first: a slow ack re-ranks, and a message still in flight on `m` would follow the primary again.
      this.settle(p);
      return noteHealth(m, decision.health);
    }
    noteHealth(m, decision.health);
    this.carryOut(decision, p, m, error);
  }

  private carryOut(decision: Decision, p: Pending<Out>, m: Member<Out, In>, error?: RelayActorsError): void {
    switch (decision.kind) {
      case 'settle-ok':
        return this.settle(p);
      case 'settle-error':
        return this.settle(p, error);
      case 'settle-stopped':
        return this.settle(p, new StoppedError('The pool'));
      case 'requeue':
        return this.dispatch(p, true);
      case 'resend-elsewhere':
        return this.resendElsewhere(p, m, error!, decision.announce);
      case 'reauth-then-retry':
        return this.reauthThenRetry(p, m, error as NackError);
      case 'ignore':
        return;
    }
  }

  /** `m` refused `p` or did not ack it in time: the next usable relay that has not gets it, if any. */
  private resendElsewhere(p: Pending<Out>, m: Member<Out, In>, error: RelayActorsError, announce: boolean): void {
    p.refusedBy.add(m.key);
    const next = this.ranking.pickTarget(p.refusedBy);
    if (!next) return this.settle(p, error);
    if (announce) this.env.emit({ type: 'resent', url: null, count: 1, from: m.rt.url, to: next.rt.url });
    this.writeTo(p, next);
  }

  /** `m` asked for authentication: authenticate, then write `p` there again (or wherever it goes now). */
  private reauthThenRetry(p: Pending<Out>, m: Member<Out, In>, nack: NackError): void {
    p.reauthTried = true;
    reauthenticate(m, nack.reason, this.env, {
      ok: () => {
        if (p.settled) return;
        if (m.usable()) this.writeTo(p, m);
        else this.dispatch(p, true);
      },
      failed: () => this.settle(p, nack),
    });
  }

  /** Ends `p`: resolves, or rejects saying whether it was ever written. Idempotent. */
  settle(p: Pending<Out>, error?: RelayActorsError): void {
    if (p.settled) return;
    p.settled = true;
    p.relay?.inflight.delete(p);
    p.relay = null;
    if (error) p.reject(withDelivery(error, p.written ? 'unknown' : 'not-sent'));
    else p.resolve();
  }

  /** `p`'s ttl ran out in the outbox. */
  expired(p: Pending<Out>): void {
    this.env.emit({ type: 'message-expired', url: null, id: p.id ?? null });
    this.settle(p, new MessageExpiredError(this.env.options.outbox.ttl));
  }

  /** `m` stopped being the place for its unacked messages: send them on, oldest first, before anything newer. */
  moveInflight(m: Member<Out, In>): void {
    if (m.inflight.size === 0) return;
    const moving = [...m.inflight];
    m.inflight.clear();
    for (const p of moving) {
      p.attempt++;
      p.relay = null;
    }
    const target = this.ranking.pickTarget(new Set([m.key]));
    this.env.emit({ type: 'resent', url: null, count: moving.length, from: m.rt.url, to: target?.rt.url ?? null });
    if (!target) return this.outbox.requeue(moving.filter((p) => !p.settled));
    for (const p of moving) if (!p.settled) this.writeTo(p, target);
  }

  /** A relay is usable again (the coordinator says so): replay the outbox through it, in order. */
  flush(): void {
    if (this.outbox.size === 0) return;
    const target = this.ranking.pickTarget();
    if (!target) return;
    const waiting = this.outbox.drain();
    this.env.emit({ type: 'replayed', url: null, count: waiting.length, to: target.rt.url });
    for (const p of waiting) this.writeTo(p, this.ranking.pickTarget(p.refusedBy) ?? target);
  }

  /** No relay for `sessionTimeout` (the coordinator says so): what waits in the outbox is rejected. */
  expireSession(): void {
    const rejected = this.outbox.size;
    // Through settle, like every end of a send: it states whether the message had been written.
    const expired = new SessionTimeoutError(this.env.options.sessionTimeout);
    for (const p of this.outbox.drain()) this.settle(p, expired);
    this.env.emit({ type: 'session-expired', url: null, rejected });
  }

  /** The pool stops: every send still waiting, queued or in flight, rejects with `stopped`. */
  rejectAll(stopped: StoppedError): void {
    for (const p of this.outbox.drain()) this.settle(p, stopped);
    for (const m of this.roster.members()) for (const p of [...m.inflight]) this.settle(p, stopped);
  }
}

/** What `m`'s health records after an answer. */
function noteHealth<Out, In>(m: Member<Out, In>, note: HealthNote): void {
  if (note === 'none') return;
  m.rt.noteOutcome(note === 'success');
  // A relay failing its callers is re-ranked at once.
  if (note === 'failure-rerank') m.rt.publishHealth();
}
