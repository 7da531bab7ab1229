/**
 * The simulated world: a pool of memory-transport relays under `SimulatedClock`, servers that store, ack and
 * broadcast what they receive, and the invariants every run must keep. Deterministic: time moves only in `tick`,
 * jitter comes from the schedule's seed.
 */
import { SimulatedClock } from 'xstate';
import { memoryTransport, type MemoryServer } from '../../testkit/memoryTransport.ts';
import { silenceBound } from '../../runtime/connection.ts';
import type { RelayActorsError } from '../../core/errors.ts';
import type { PoolEvent, RelayState } from '../../core/telemetry.ts';
import type { Action, Schedule } from './schedule.ts';
import { HEARTBEAT, poolTarget, relayTarget, type SimTarget } from './targets.ts';

type Msg = Record<string, unknown>;

/** Simulated ms per tick: every timer fires within one tick of its time. */
export const TICK = 50;
/** A dead link must leave `open`/`degraded` within this long (the documented bound plus one tick). */
export const DETECTION_BOUND = silenceBound(HEARTBEAT) + TICK;
/** After the world heals, every send must settle within this long (outbox TTL + ack timeout + backoff cap, rounded up). */
export const SETTLE_BOUND = 60_000;

const RELAY_STATES: ReadonlySet<RelayState> = new Set([
  'idle',
  'connecting',
  'open',
  'degraded',
  'reconnecting',
  'failed',
  'closed',
]);
const POOL_STATES = new Set(['idle', 'online', 'offline', 'expired', 'stopped']);
/** A standalone relay's final state after stop(), and the legal overall states of each kind of target. */
const OVERALL = { pool: POOL_STATES, relay: RELAY_STATES as ReadonlySet<string> };
const STOPPED = { pool: 'stopped', relay: 'closed' };
const LIVE: ReadonlySet<RelayState> = new Set(['open', 'degraded']);

/** What became of one send or publish. */
interface Outcome {
  kind: 'send' | 'publish';
  id: string;
  n: number;
  ack: boolean;
  state: 'pending' | 'resolved' | 'rejected';
  code?: string;
  /** What the rejection said of the message: never written, or possibly delivered. */
  delivery?: string;
}

/** A violated invariant: what and when, for the shrunk counterexample's report. */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Small, fast, seeded PRNG (mulberry32): the pool's jitter, reproducible from the schedule. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One run of the simulator over a schedule. */
export class World {
  readonly clock = new SimulatedClock();
  readonly urls: string[];
  readonly servers: MemoryServer[];
  /** Ids each server stored, in the order it first received them. */
  readonly stored: string[][];
  readonly target: SimTarget;
  readonly outcomes: Outcome[] = [];
  readonly delivered = new Map<string, number>();
  /** Per relay: when its link went silent while it was live (cleared when it left `live` or the link healed). */
  private readonly silentSince: Array<number | null>;
  /** Per relay: its server→client latency; frames already in flight when the link goes silent still arrive. */
  private readonly latency: number[];
  /** Per relay: until when frames sent under an earlier, longer latency may still arrive. */
  private readonly inFlightUntil: number[];
  private readonly log: string[] = [];
  private next = 0;

  constructor(
    readonly schedule: Schedule,
    readonly kind: 'pool' | 'relay' = 'pool',
  ) {
    const mem = memoryTransport({ clock: this.clock });
    this.urls = Array.from({ length: schedule.relays }, (_, i) => `ws://r${i}.sim`);
    this.stored = this.urls.map(() => []);
    this.silentSince = this.urls.map(() => null);
    this.latency = this.urls.map(() => 0);
    this.inFlightUntil = this.urls.map(() => 0);
    this.servers = this.urls.map((url, i) => mem.server(url, { onMessage: (data, conn) => this.serve(i, data, conn) }));
    const random = seeded(schedule.seed);
    this.target =
      kind === 'pool'
        ? poolTarget(this.urls, mem, this.clock, random)
        : relayTarget(this.urls[0]!, mem, this.clock, random);
    this.target.events$.subscribe((e) => this.observe(e));
    this.target.messages$.subscribe((m) => {
      const id = String(m.id);
      this.delivered.set(id, (this.delivered.get(id) ?? 0) + 1);
    });
  }

  /** A server stores each application message once, broadcasts it to its clients, and acks it. */
  private serve(i: number, data: unknown, conn: { send(frame: string): void }): void {
    if (typeof data !== 'string') return;
    const m = JSON.parse(data) as Msg;
    if (m.type !== 'msg' || typeof m.id !== 'string') return;
    if (!this.stored[i]!.includes(m.id)) this.stored[i]!.push(m.id);
    for (const c of this.servers[i]!.connections) c.send(JSON.stringify({ type: 'msg', id: m.id, n: m.n, echo: i }));
    conn.send(JSON.stringify({ type: 'ack', id: m.id, ok: true }));
  }

  private observe(e: PoolEvent): void {
    if (e.type !== 'state' || e.url === null) return;
    const i = this.urls.indexOf(e.url);
    if (!RELAY_STATES.has(e.state)) this.fail(`relay ${i} entered an unknown state "${e.state}"`);
    if (i >= 0 && !LIVE.has(e.state)) this.silentSince[i] = null;
  }

  private fail(what: string): never {
    throw new InvariantError(`${what} at t=${this.clock.now()} ms\n  log: ${this.log.slice(-12).join('\n       ')}`);
  }

  /** Runs every step, checking invariants as it goes, then heals the world and checks the end state. */
  async run(): Promise<void> {
    this.target.start();
    await this.tick(100);
    for (const step of this.schedule.steps) {
      this.log.push(`t=${this.clock.now()} ${JSON.stringify(step.action)} +${step.waitMs}`);
      await this.apply(step.action);
      await this.tick(step.waitMs);
    }
    await this.heal();
    await this.stop();
  }

  private relayState(i: number): RelayState {
    return this.target.relayState(this.urls[i]!);
  }

  private async apply(a: Action): Promise<void> {
    if (a.kind === 'send' || a.kind === 'publish') return this.submit(a.kind, a.kind === 'send' && a.ack);
    if (a.kind === 'clockJump') {
      this.clock.increment(a.ms);
      // Time the process did not run is no link's fault: the detection bound restarts after a jump.
      this.silentSince.forEach((t, i) => t !== null && (this.silentSince[i] = this.clock.now()));
      return settle();
    }
    if (a.kind === 'retry') return this.target.retry(this.urls[a.relay]!);
    this.fault(a);
  }

  private fault(a: Exclude<Action, { kind: 'send' | 'publish' | 'clockJump' | 'retry' }>): void {
    const server = this.servers[a.relay]!;
    if (a.kind === 'kill') {
      server.refuse({ errorCode: 'ECONNREFUSED' });
      server.drop();
    } else if (a.kind === 'restart') server.accept();
    else if (a.kind === 'blackhole') {
      server.blackhole(a.on);
      const lastFrameAt = Math.max(this.clock.now() + this.latency[a.relay]!, this.inFlightUntil[a.relay]!);
      this.silentSince[a.relay] = a.on && LIVE.has(this.relayState(a.relay)) ? lastFrameAt : null;
    } else if (a.kind === 'pongs') server.pongs(a.on);
    else if (a.kind === 'slow') {
      server.delay(a.ms);
      this.inFlightUntil[a.relay] = Math.max(this.inFlightUntil[a.relay]!, this.clock.now() + this.latency[a.relay]!);
      this.latency[a.relay] = a.ms;
    } else if (a.kind === 'close') server.closeAll(a.code);
    else
      server.refuse({ ...(a.status ? { status: a.status } : {}), ...(a.errorCode ? { errorCode: a.errorCode } : {}) });
  }

  private submit(kind: 'send' | 'publish', ack: boolean): void {
    const n = this.next++;
    const outcome: Outcome = { kind, id: `m${n}`, n, ack: kind === 'publish' || ack, state: 'pending' };
    this.outcomes.push(outcome);
    const message = { type: 'msg', id: outcome.id, n };
    const done = kind === 'send' ? this.target.send(message, ack) : this.target.publish(message);
    done.then(
      () => (outcome.state = 'resolved'),
      (error: RelayActorsError) => {
        outcome.state = 'rejected';
        outcome.code = error?.code ?? String(error);
        outcome.delivery = error?.delivery;
        if (!error?.code) this.fail(`send ${outcome.id} rejected with an untyped error: ${String(error)}`);
      },
    );
  }

  /** Advances simulated time tick by tick, checking the running invariants after each. */
  async tick(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += TICK) {
      this.clock.increment(Math.min(TICK, ms - t));
      await settle();
      this.checkRunning();
    }
  }

  private checkRunning(): void {
    const state = this.target.overallState();
    if (!OVERALL[this.kind].has(state)) this.fail(`${this.kind} entered an unknown state "${state}"`);
    const now = this.clock.now();
    this.silentSince.forEach((since, i) => {
      if (since !== null && now - since > DETECTION_BOUND && LIVE.has(this.relayState(i))) {
        this.fail(
          `relay ${i}'s link has been silent for ${now - since} ms and it is still ${this.relayState(i)} (bound ${DETECTION_BOUND} ms)`,
        );
      }
    });
  }

  /** Heals every fault and waits (bounded) for every send to settle, then checks what was delivered. */
  private async heal(): Promise<void> {
    this.log.push(`t=${this.clock.now()} heal`);
    for (const server of this.servers) server.accept().blackhole(false).pongs(true).delay(0);
    this.latency.fill(0);
    this.silentSince.fill(null);
    for (let t = 0; t < SETTLE_BOUND && this.outcomes.some((o) => o.state === 'pending'); t += TICK)
      await this.tick(TICK);
    const pending = this.outcomes.filter((o) => o.state === 'pending').map((o) => o.id);
    if (pending.length > 0)
      this.fail(`sends still pending ${SETTLE_BOUND} ms after the world healed: ${pending.join(', ')}`);
    this.checkDelivery();
  }

  private checkDelivery(): void {
    const everywhere = new Set(this.stored.flat());
    for (const o of this.outcomes) {
      if (o.ack && o.state === 'resolved' && !everywhere.has(o.id)) this.fail(`acked message ${o.id} is on no relay`);
      if (o.state !== 'rejected') continue;
      if (o.delivery !== 'not-sent' && o.delivery !== 'unknown')
        this.fail(`${o.id} was rejected (${o.code}) without saying whether it was sent`);
      if (o.delivery === 'not-sent' && everywhere.has(o.id))
        this.fail(`${o.id} was rejected (${o.code}) as never sent, yet a relay has it`);
    }
    for (const [id, count] of this.delivered) if (count > 1) this.fail(`message ${id} was delivered ${count} times`);
    // Order: among sends (publishes go to several relays at once by design, outside the primary's order).
    const sends = new Set(this.outcomes.filter((o) => o.kind === 'send').map((o) => o.id));
    this.stored.forEach((all, i) => {
      const ids = all.filter((id) => sends.has(id));
      const ns = ids.map((id) => Number(id.slice(1)));
      const outOfOrder = ns.findIndex((n, k) => k > 0 && n < ns[k - 1]!);
      if (outOfOrder > 0)
        this.fail(`relay ${i} received m${ns[outOfOrder]} after m${ns[outOfOrder - 1]}: ${ids.join(' ')}`);
    });
  }

  /** Stops the pool; afterwards no timer may be pending and no connection open. */
  private async stop(): Promise<void> {
    await this.target.stop();
    await settle();
    const timers = (this.clock as unknown as { timeouts: Map<number, unknown> }).timeouts.size;
    if (timers > 0) this.fail(`${timers} timer(s) still pending after stop()`);
    const open = this.servers.reduce((sum, s) => sum + s.connections.length, 0);
    if (open > 0) this.fail(`${open} connection(s) still open after stop()`);
    const state = this.target.overallState();
    if (state !== STOPPED[this.kind]) this.fail(`${this.kind} is ${state} after stop()`);
  }
}
