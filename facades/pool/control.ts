/**
 * The pool's control path: builds its parts (roster, ranking, delivery, subscriptions) and reacts to what relays
 * report and what the coordinator decides. A relay changed state or health → re-rank and tell the coordinator what
 * is usable and who is primary; a relay opened a new connection → re-subscribe; a relay stopped being usable → its
 * unacked sends move on. The coordinator says replay or expire the outbox → the delivery does.
 */
import { isUsable } from '../../policies/score.ts';
import type { PoolEmitted } from '../../machines/poolMachine.ts';
import type { Inbound } from '../../runtime/relayRuntime.ts';
import type { RelayEvent } from '../../core/telemetry.ts';
import { Delivery } from './delivery.ts';
import type { PoolEnv } from './env.ts';
import { Ranking } from './ranking.ts';
import { Roster, type Member, type RelayListener } from './roster.ts';
import { Subscriptions } from './subscriptions.ts';

/**
 * The parts of one pool and the wiring between them.
 *
 * @example
 * const control = new PoolControl(env);
 * env.actor.on('*', (event) => control.poolEmitted(event));
 * env.actor.start();
 * control.roster.add('ws://127.0.0.1:7000');
 */
export class PoolControl<Out, In, Req> implements RelayListener<Out, In> {
  readonly roster: Roster<Out, In>;
  readonly ranking: Ranking<Out, In>;
  readonly delivery: Delivery<Out, In>;
  readonly subscriptions: Subscriptions<Out, In, Req>;

  constructor(private readonly env: PoolEnv<Out, In, Req>) {
    this.roster = new Roster<Out, In>(env, this);
    this.ranking = new Ranking<Out, In>(env, this.roster, (demoted) => this.delivery.moveInflight(demoted));
    this.delivery = new Delivery<Out, In>(env, this.roster, this.ranking);
    this.subscriptions = new Subscriptions<Out, In, Req>(env, this.roster);
  }

  /**
   * A relay's lifecycle event. The pool acts first (re-rank, move unacked messages), then tells listeners: a send
   * from a listener of this very event already goes to the new primary, after the moved messages.
   */
  relayEvent(m: Member<Out, In>, event: RelayEvent): void {
    if (event.type === 'state' && !this.env.halted && !m.removed) {
      if (isUsable(event.state)) this.subscriptions.onUsable(m);
      this.relayChanged(m);
      if (isUsable(event.previous) && !isUsable(event.state)) this.delivery.moveInflight(m);
    }
    if (this.env.events.observed) this.env.events.next(event);
  }

  inbound(m: Member<Out, In>, frame: Inbound<In>): void {
    this.subscriptions.onInbound(m, frame);
  }

  health(m: Member<Out, In>): void {
    if (!this.env.halted && !m.removed) this.relayChanged(m);
  }

  /** `m` changed state or health: re-rank, and tell the coordinator what is usable and who is primary now. */
  relayChanged(m: Member<Out, In>): void {
    const primary = this.ranking.rerank(m);
    this.env.actor.send({ type: 'RELAY_CHANGED', id: m.id, usable: m.usable(), primary });
  }

  /** What the coordinator emits: the outbox replay and expiry it decided, and its state for telemetry. */
  poolEmitted(event: PoolEmitted): void {
    if (event.type === 'replay-outbox') this.delivery.flush();
    else if (event.type === 'expire-session') this.delivery.expireSession();
    else this.env.emit({ type: 'pool-state', url: null, state: event.state });
  }

  /** Takes `m` out of the pool: its unacked sends move on, the coordinator stops its child, it leaves no trace. */
  async remove(m: Member<Out, In>): Promise<void> {
    this.roster.remove(m);
    this.ranking.forget(m);
    this.delivery.moveInflight(m);
    this.env.actor.send({ type: 'REMOVE_RELAY', id: m.id, primary: this.ranking.rerank() });
    await m.relay.stop();
    m.detach();
    this.subscriptions.forget(m.key);
    this.env.emit({ type: 'relay-removed', url: null, relay: m.rt.url });
  }
}
