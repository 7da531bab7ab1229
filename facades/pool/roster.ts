/**
 * The roster: the pool's relays, in and out. It builds each relay (runtime, child actor, facade), keeps them by URL
 * key and by child id, in configuration order for selection, and hands what each relay reports (state changes,
 * inbound frames, health samples) to one {@link RelayListener}. It owns membership; scores, in-flight sends and
 * subscriptions are other parts' (see the fields of {@link Member}).
 */
import { Subscription } from 'rxjs';
import type { ActorRef, SnapshotFrom } from 'xstate';
import { relayFacade, type Relay, type RelayLifecycle } from '../createRelay.ts';
import { StoppedError } from '../../core/errors.ts';
import { redactUrl, resolveRelayOptions, validateUrl } from '../../runtime/options.ts';
import type { RelayMachine } from '../../machines/relayMachine.ts';
import type { RelayEmitted, RelayMachineEvent } from '../../core/events.ts';
import { registerRuntime, RelayRuntime, type Inbound } from '../../runtime/relayRuntime.ts';
import type { RelayScore } from '../../policies/score.ts';
import type { Candidate } from '../../policies/select.ts';
import type { RelayEvent } from '../../core/telemetry.ts';
import type { PoolEnv } from './env.ts';
import type { Pending } from './pending.ts';
import { idleScore } from './ranking.ts';
import { childId, relayKey } from './ids.ts';

export { relayKey } from './ids.ts';

type ChildRef = ActorRef<SnapshotFrom<RelayMachine>, RelayMachineEvent, RelayEmitted>;

/**
 * One relay of the pool. A class, so its behaviour lives on the prototype (heap per relay is a benchmarked
 * figure); it is also the facade's lifecycle, which starts and stops the coordinator's child. Each field has one
 * writer, named on it.
 *
 * @example
 * const m = roster.add('ws://127.0.0.1:7000');
 * m.usable(); // false until the relay is open
 */
export class Member<Out = unknown, In = unknown> implements RelayLifecycle {
  /** This relay as selection sees it, updated in place (no allocation per health sample). Written by the ranking. */
  readonly candidate: Candidate;
  /** The public face of the relay; set once, right after construction. */
  relay!: Relay<Out, In>;
  /** Session of the relay last seen open (subscriptions are re-sent when it changes). Written by the subscriptions. */
  session = 0;
  /** Acked sends written to this relay and not yet acknowledged, oldest first. Written by the delivery. */
  readonly inflight = new Set<Pending<Out>>();
  /** Out of the pool (by `removeRelay`). Written by the roster. */
  removed = false;
  /** Its runtime registration and the subscriptions to its streams, ended together. Written by the roster. */
  readonly links = new Subscription();

  constructor(
    /** Child id and system id: `relay:<redacted url>`. */
    readonly id: string,
    /** The URL as normalised for identity. */
    readonly key: string,
    readonly rt: RelayRuntime<Out, In>,
    /** Its health score. Written by the ranking. */
    public score: RelayScore,
  ) {
    this.candidate = { key, usable: false, score };
  }

  /** Whether it can take traffic now: in the pool, in a state the machine tags `usable`, with a socket. */
  usable(): boolean {
    return !this.removed && this.rt.socket !== null && this.relay.actor.getSnapshot().hasTag('usable');
  }

  /** Connections the relay has opened: its machine counts them. */
  connection(): number {
    return this.relay.actor.getSnapshot().context.session;
  }

  /** The facade's lifecycle: starts the coordinator's child. */
  start(): void {
    this.relay.actor.send({ type: 'START' });
  }

  /** The facade's lifecycle: walks the child to `closed` and waits for its sockets to close. */
  async stop(): Promise<void> {
    const ref = this.relay.actor;
    if (ref.getSnapshot().status === 'active') ref.send({ type: 'STOP' });
    await Promise.all([...this.rt.closing]);
  }

  /** Ends its registration and stream subscriptions (idempotent). */
  detach(): void {
    this.links.unsubscribe();
  }
}

/** Who hears what a relay reports; the roster subscribes it to every relay it adds. */
export interface RelayListener<Out, In> {
  /** A relay's lifecycle event (state change, disconnect, ...). */
  relayEvent(m: Member<Out, In>, event: RelayEvent): void;
  /** An inbound frame of a relay. */
  inbound(m: Member<Out, In>, frame: Inbound<In>): void;
  /** A health sample of a relay (a pong, a miss, an outcome). */
  health(m: Member<Out, In>): void;
}

/**
 * The pool's relays by URL key and by child id, and the candidates selection reads.
 *
 * @example
 * const roster = new Roster(env, listener);
 * const m = roster.add('ws://127.0.0.1:7000');
 * roster.find('ws://127.0.0.1:7000/') === m; // true
 */
export class Roster<Out, In> {
  private readonly byKey = new Map<string, Member<Out, In>>();
  private readonly byId = new Map<string, Member<Out, In>>();
  /** Candidates in configuration order; rebuilt only when relays are added or removed. */
  candidates: Candidate[] = [];

  constructor(
    private readonly env: PoolEnv<Out, In, unknown>,
    private readonly listener: RelayListener<Out, In>,
  ) {}

  /** Every relay in the pool, in configuration order. */
  members(): IterableIterator<Member<Out, In>> {
    return this.byKey.values();
  }

  /** The relay of a URL key. */
  get(key: string): Member<Out, In> | undefined {
    return this.byKey.get(key);
  }

  /** The relay of a URL as configured, if the pool has it (an unparsable URL has none). */
  find(url: string): Member<Out, In> | undefined {
    try {
      return this.byKey.get(relayKey(url));
    } catch {
      return undefined;
    }
  }

  /** Adds the relay of `url` (or returns the one the pool has): spawns its child and listens to it. */
  add(url: string): Member<Out, In> {
    validateUrl(url);
    if (this.env.halted) throw new StoppedError('The pool');
    const key = relayKey(url);
    const existing = this.byKey.get(key);
    if (existing) return existing;
    const m = this.build(url, key);
    this.byKey.set(key, m);
    this.byId.set(m.id, m);
    this.candidates = [...this.byKey.values()].map((x) => x.candidate);
    this.listen(m);
    const rt = m.rt;
    // The child may have moved already (the pool is running): catch up.
    if (rt.state !== 'idle')
      this.listener.relayEvent(m, {
        type: 'state',
        state: rt.state,
        previous: 'idle',
        url: rt.url,
        at: this.env.now(),
      });
    this.env.emit({ type: 'relay-added', url: null, relay: rt.url });
    return m;
  }

  /** Takes `m` out: no longer found, ranked or written to; its socket is to close gracefully. */
  remove(m: Member<Out, In>): void {
    m.removed = true;
    m.rt.stopping = true;
    this.byKey.delete(m.key);
    this.byId.delete(m.id);
    this.candidates = [...this.byKey.values()].map((x) => x.candidate);
  }

  /** The runtime, the coordinator's child and the facade of a new relay. */
  private build(url: string, key: string): Member<Out, In> {
    const { env } = this;
    const id = childId(key, (x) => this.byId.has(x));
    const resolved = resolveRelayOptions(url, { ...env.options.relayOptions, id, wake: false });
    const rt = new RelayRuntime<Out, In>(url, redactUrl(url), resolved);
    const unregister = registerRuntime(env.actor.system, id, rt);
    // A relay of a restored snapshot is the coordinator's child already.
    if (!env.actor.getSnapshot().children[id]) env.actor.send({ type: 'ADD_RELAY', id, url: rt.url });
    const ref = env.actor.getSnapshot().children[id] as unknown as ChildRef;
    const m = new Member<Out, In>(id, key, rt, idleScore(env.options.score));
    m.relay = relayFacade<Out, In>(rt, ref, env.bus.events$, m);
    m.links.add(unregister);
    return m;
  }

  private listen(m: Member<Out, In>): void {
    const { listener } = this;
    const { links } = m;
    links.add(m.relay.events$.subscribe((e) => listener.relayEvent(m, e)));
    links.add(m.relay.inbound$.subscribe((f) => listener.inbound(m, f)));
    links.add(m.relay.health$.subscribe(() => listener.health(m)));
  }
}
