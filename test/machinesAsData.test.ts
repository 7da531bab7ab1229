/**
 * The machines are data (issue 11): pure transitions over plain JSON context, with no runtime at all; transition()
 * leaves a live relay untouched; a running relay's snapshot survives JSON and resumes; provide() swaps a delay, a
 * guard and the connection actor.
 */
import { createActor, fromCallback, initialTransition, SimulatedClock, transition, type AnyEventObject } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { memoryTransport } from '../testkit/memoryTransport.ts';
import { createRelay, publicState, type Relay } from '../facades/createRelay.ts';
import { createRelayPool, type RelayPool } from '../facades/createRelayPool.ts';
import { poolMachine, poolState, type PoolMachineEvent } from '../machines/poolMachine.ts';
import type { ConnectionInput } from '../runtime/connection.ts';
import type { ConnectionCommand, RelayMachineEvent } from '../core/events.ts';
import { relayMachine, type RelayMachineConfig } from '../machines/relayMachine.ts';
import type { RelayEvent } from '../core/telemetry.ts';
import { advance } from '../testkit/simulated.ts';

const config: RelayMachineConfig = {
  connectTimeout: 100,
  handshakeTimeout: 100,
  maxAttempts: 3,
  backoff: { base: 1000, factor: 2, max: 8000, stableAfter: 5000 },
  heartbeat: { enabled: true, maxMissed: 2 },
};
const input = { id: 'relay:ws://h', url: 'ws://h', config };
const lost = (at: number, action: 'retry' | 'fatal' = 'retry', code = 1006): RelayMachineEvent => ({
  type: 'CONNECTION_LOST',
  info: { code, reason: '', wasClean: false },
  verdict: { action, reason: `close ${code}`, code: action === 'fatal' ? 'fatal-close' : 'transient-close' },
  at,
  jitter: 0.5,
});
const after = (delay: string, state: string) =>
  ({ type: `xstate.after.${delay}.${state}` }) as unknown as RelayMachineEvent;

/** What a transition asked to be done, as `[type, detail]`: emitted events by their type, others by action type. */
function effects(actions: ReadonlyArray<{ type: string; params?: unknown }>): string[] {
  return actions.map((a) => {
    const params = a.params as { event?: AnyEventObject } | undefined;
    if (a.type === 'xstate.emit') return `emit ${params?.event?.type}`;
    if (a.type === 'xstate.sendTo') return `sendTo ${(params as { event?: AnyEventObject })?.event?.type}`;
    return a.type;
  });
}

/** Steps the relay machine through `events` with transition(), checking the context is plain JSON at every step. */
function walk(events: RelayMachineEvent[], machine = relayMachine) {
  let [snapshot] = initialTransition(machine, input);
  const steps: Array<{ value: unknown; state: string; effects: string[] }> = [];
  for (const event of events) {
    const [next, actions] = transition(machine, snapshot, event);
    expect(JSON.parse(JSON.stringify(next.context))).toEqual(next.context);
    steps.push({ value: next.value, state: publicState(next), effects: effects(actions) });
    snapshot = next;
  }
  return { snapshot, steps };
}

describe('the relay machine is pure data (transition(), no runtime)', () => {
  it('walks a life: dial, open, degrade, recover, flap, back off, redial, fail, retry, stop', () => {
    const { snapshot, steps } = walk([
      { type: 'START' },
      { type: 'SOCKET_OPEN', handshake: false, at: 100 },
      { type: 'PONG_TIMEOUT', missed: 1 },
      { type: 'RECOVERED' },
      { type: 'PONG_TIMEOUT', missed: 2 },
      lost(1100),
      after('RECONNECT_DELAY', 'relay.reconnecting'),
      { type: 'SOCKET_OPEN', handshake: true, at: 2000 },
      { type: 'HELLO_ACK', at: 2010 },
      lost(9000, 'fatal', 1008),
      { type: 'RETRY' },
      { type: 'STOP' },
    ]);
    expect(steps.map((s) => s.state)).toEqual([
      'connecting',
      'open',
      'degraded',
      'open',
      'open',
      'reconnecting',
      'connecting',
      'connecting',
      'open',
      'failed',
      'connecting',
      'closed',
    ]);
    expect(steps[0]!.effects).toEqual(['xstate.spawnChild', 'xstate.raise']);
    expect(steps[1]!.effects).toEqual(['xstate.cancel', 'emit connected']);
    // Two misses: the machine tells its connection to drop; the loss comes back as an event.
    expect(steps[4]!.effects).toEqual(['sendTo DROP']);
    expect(steps[5]!.effects).toEqual([
      'xstate.stopChild',
      'emit disconnected',
      'emit reconnect-scheduled',
      'xstate.raise',
    ]);
    expect(steps[9]!.effects).toEqual(['xstate.stopChild', 'emit disconnected', 'emit failed']);
    expect(snapshot.status).toBe('done');
    expect(snapshot.context).toMatchObject({ session: 2, attempt: 1, failure: null });
    expect(snapshot.context.lastClose).toMatchObject({ code: 1008, at: 9000, verdict: { action: 'fatal' } });
  });

  it('takes time and jitter from the events: the same events give the same delays', () => {
    const events: RelayMachineEvent[] = [{ type: 'START' }, lost(40)];
    const a = walk(events).snapshot.context;
    const b = walk(events).snapshot.context;
    // Retry 1, ceiling 1000 ms, jitter 0.5.
    expect(a).toMatchObject({ retryDelayMs: 500, nextRetryAt: 540 });
    expect(b).toEqual(a);
  });

  it('counts attempts, resets them after a stable connection, and gives up after maxAttempts', () => {
    const redial = after('RECONNECT_DELAY', 'relay.reconnecting');
    const { steps, snapshot } = walk([{ type: 'START' }, lost(10), redial, lost(20), redial, lost(30)]);
    expect(steps.map((s) => s.state)).toEqual([
      'connecting',
      'reconnecting',
      'connecting',
      'reconnecting',
      'connecting',
      'failed',
    ]);
    expect(snapshot.context.failure).toBe('gave up after 3 attempts');
    const stable = walk([{ type: 'START' }, { type: 'SOCKET_OPEN', handshake: false, at: 0 }, lost(6000)]).snapshot;
    expect(stable.context.attempt).toBe(0);
    expect(stable.context.lastClose?.at).toBe(6000);
  });

  it('names public states in meta and marks open and degraded with the usable tag', () => {
    const { steps } = walk([{ type: 'START' }, { type: 'SOCKET_OPEN', handshake: false, at: 0 }]);
    expect(steps[1]!.value).toEqual({ live: 'open' });
    let [s] = initialTransition(relayMachine, input);
    expect(s.hasTag('usable')).toBe(false);
    [s] = transition(relayMachine, s, { type: 'START' });
    expect(s.hasTag('usable')).toBe(false);
    [s] = transition(relayMachine, s, { type: 'SOCKET_OPEN', handshake: false, at: 0 });
    expect(s.hasTag('usable')).toBe(true);
    [s] = transition(relayMachine, s, { type: 'RTT_HIGH', rttMs: 3000 });
    expect(publicState(s)).toBe('degraded');
    expect(s.hasTag('usable')).toBe(true);
  });
});

describe('the pool machine is pure data (transition(), no runtime)', () => {
  it('offline → online → offline → expired → online, emitting the replay before the state', () => {
    let [s] = initialTransition(poolMachine, { relayConfig: config, sessionTimeout: 1000 });
    const log: Array<{ state: string; effects: string[] }> = [];
    const step = (event: PoolMachineEvent) => {
      const [next, actions] = transition(poolMachine, s, event);
      expect(JSON.parse(JSON.stringify(next.context))).toEqual(next.context);
      log.push({ state: poolState(next), effects: effects(actions) });
      s = next;
    };
    step({ type: 'START' });
    step({ type: 'ADD_RELAY', id: 'a', url: 'ws://a' });
    step({ type: 'ADD_RELAY', id: 'b', url: 'ws://b' });
    step({ type: 'RELAY_CHANGED', id: 'a', usable: true, primary: 'a' });
    step({ type: 'RELAY_CHANGED', id: 'b', usable: true, primary: 'a' });
    step({ type: 'REMOVE_RELAY', id: 'a', primary: 'b' });
    step({ type: 'RELAY_CHANGED', id: 'b', usable: false, primary: null });
    step({ type: 'xstate.after.SESSION_TIMEOUT.pool.running.offline' } as unknown as PoolMachineEvent);
    step({ type: 'RELAY_CHANGED', id: 'b', usable: true, primary: 'b' });
    expect(log.map((l) => l.state)).toEqual([
      'offline',
      'offline',
      'offline',
      'online',
      'online',
      'online',
      'offline',
      'expired',
      'online',
    ]);
    expect(log[0]!.effects).toEqual(['emit pool-state', 'xstate.raise']);
    expect(log[3]!.effects).toEqual(['xstate.cancel', 'emit replay-outbox', 'emit pool-state']);
    expect(log[7]!.effects).toEqual(['xstate.cancel', 'emit expire-session', 'emit pool-state']);
    expect(s.context).toMatchObject({ relays: ['b'], usable: ['b'], primary: 'b' });
    expect(s.hasTag('usable')).toBe(true);
  });
});

const URL = 'ws://relay.test';
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const relays: Relay[] = [];

/** Relay options for memory servers under `clock`: fixed jitter, short heartbeat and backoff, no wake detector. */
function simulatedOptions(clock: SimulatedClock, mem: ReturnType<typeof memoryTransport>) {
  return {
    transport: mem,
    protocol: jsonProtocol(),
    clock,
    wake: false as const,
    random: () => 0.5,
    closeTimeout: 0,
    heartbeat: { interval: 1000, timeout: 500, maxMissed: 2 },
    backoff: { base: 1000, factor: 2, max: 8000, stableAfter: 5000 },
  };
}

/** Advances simulated time in 10 ms steps, letting deliveries settle between them. */
function ticker(clock: SimulatedClock): (ms: number) => Promise<void> {
  return async (ms) => {
    for (let t = 0; t < ms; t += 10) {
      advance(clock, 10, 10);
      await settle();
    }
  };
}
afterEach(async () => {
  for (const r of relays.splice(0)) await r.stop();
});

function memoryRig() {
  const clock = new SimulatedClock();
  const mem = memoryTransport({ clock });
  const server = mem.server(URL);
  const options = simulatedOptions(clock, mem);
  const relay = (extra: { snapshot?: unknown } = {}) => {
    const r = createRelay<Record<string, unknown>, Record<string, unknown>>(URL, { ...options, ...extra } as never);
    relays.push(r);
    return r;
  };
  const tick = ticker(clock);
  return { clock, server, relay, tick };
}

describe('transition() leaves a live relay alone', () => {
  it('four pure steps from a running relay change nothing of it and emit nothing', async () => {
    const rig = memoryRig();
    const relay = rig.relay().start();
    await settle();
    expect(relay.status().state).toBe('open');
    const events: RelayEvent[] = [];
    relay.events$.subscribe((e) => events.push(e));
    const before = relay.status();
    let snapshot = relay.actor.getSnapshot();
    for (const event of [lost(10), after('RECONNECT_DELAY', 'relay.reconnecting'), lost(20), { type: 'RETRY' }]) {
      [snapshot] = transition(relayMachine, snapshot, event as RelayMachineEvent);
    }
    expect(snapshot.context.session).toBe(1);
    expect(relay.status()).toEqual(before);
    expect(relay.actor.getSnapshot().context.session).toBe(1);
    expect(events).toEqual([]);
  });
});

describe('save → JSON → restore', () => {
  it('a running relay with subscribers is saved as JSON and resumes: dials again, same facts, next session', async () => {
    const rig = memoryRig();
    const first = rig.relay().start();
    first.events$.subscribe(() => {});
    first.health$.subscribe(() => {});
    first.messages$.subscribe(() => {});
    await settle();
    rig.server.closeAll(1011, 'restart');
    await settle();
    await rig.tick(600);
    expect(first.status().state).toBe('open');
    const json = JSON.stringify(first.actor.getPersistedSnapshot());
    const saved = JSON.parse(json) as unknown;
    await first.stop();
    const restored = rig.relay({ snapshot: saved });
    expect(restored.status()).toMatchObject({ state: 'open', lastClose: { code: 1011 } });
    const states: string[] = [];
    restored.events$.subscribe((e) => e.type === 'state' && states.push(e.state));
    restored.start();
    await restored.waitFor('open', 1000);
    expect(states).toEqual(['connecting', 'open']);
    expect(restored.actor.getSnapshot().context.session).toBe(3);
    const echoed = new Promise((resolve) => restored.messages$.subscribe(resolve));
    rig.server.onMessage((data, conn) => conn.send(String(data)));
    await restored.send({ type: 'echo', n: 1 });
    expect(await echoed).toEqual({ type: 'echo', n: 1 });
  });

  it('a relay saved while reconnecting waits out a backoff again, then connects', async () => {
    const rig = memoryRig();
    rig.server.refuse();
    const first = rig.relay().start();
    await settle();
    expect(first.status().state).toBe('reconnecting');
    const saved = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as unknown;
    await first.stop();
    rig.server.accept();
    const restored = rig.relay({ snapshot: saved }).start();
    expect(restored.status()).toMatchObject({ state: 'reconnecting', attempts: 1, nextRetryAt: 500 });
    await rig.tick(490);
    expect(restored.status().state).toBe('reconnecting');
    await rig.tick(30);
    expect(restored.status().state).toBe('open');
  });

  it('a failed relay stays failed until retried; a snapshot of another relay or of a stopped one is refused', async () => {
    const rig = memoryRig();
    rig.server.refuse({ status: 401 });
    const first = rig.relay().start();
    await settle();
    expect(first.status().state).toBe('failed');
    const saved = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as { context: { url: string } };
    await first.stop();
    const restored = rig.relay({ snapshot: saved }).start();
    await settle();
    expect(restored.status()).toMatchObject({ state: 'failed', failure: 'upgrade 401' });
    rig.server.accept();
    restored.retry();
    await settle();
    expect(restored.status().state).toBe('open');
    const other = { ...saved, context: { ...saved.context, url: 'ws://other.test' } };
    expect(() => rig.relay({ snapshot: other })).toThrow(/snapshot of relay ws:\/\/other.test/);
    const stopped = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as unknown;
    expect(() => rig.relay({ snapshot: stopped })).toThrow(/only a running one resumes/);
  });
});

describe('save → JSON → restore (pool)', () => {
  const A = 'ws://a.test';
  const B = 'ws://b.test';
  const C = 'ws://c.test';
  function poolRig() {
    const clock = new SimulatedClock();
    const mem = memoryTransport({ clock });
    const servers = { a: mem.server(A), b: mem.server(B), c: mem.server(C) };
    const options = { ...simulatedOptions(clock, mem), relays: [A, B], sessionTimeout: 5000 };
    const pool = (extra: { snapshot?: unknown; relays?: string[] } = {}) => {
      const p = createRelayPool<Record<string, unknown>, Record<string, unknown>>({ ...options, ...extra } as never);
      pools.push(p);
      return p;
    };
    const tick = ticker(clock);
    return { servers, pool, tick };
  }
  const pools: RelayPool[] = [];
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.stop();
  });

  it('a running pool with subscribers is saved as JSON and resumes: same facts, relays dial again, traffic flows', async () => {
    const rig = poolRig();
    const first = rig.pool().start();
    first.events$.subscribe(() => {});
    first.health$.subscribe(() => {});
    first.messages$.subscribe(() => {});
    await first.waitFor('online', 1000);
    await settle();
    rig.servers.b.closeAll(1011, 'restart');
    await settle();
    await rig.tick(600);
    const before = first.status();
    expect(before.relays.map((r) => r.state)).toEqual(['open', 'open']);
    const saved = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as unknown;
    await first.stop();

    // C was not in the pool when it was saved: it joins as a new relay (one dial), A and B resume.
    const restored = rig.pool({ snapshot: saved, relays: [A, B, C] });
    expect(restored.actor.getSnapshot().context.relays).toEqual([
      'relay:ws://a.test/',
      'relay:ws://b.test/',
      'relay:ws://c.test/',
    ]);
    restored.start();
    await restored.waitFor('online', 1000);
    await settle();
    const after = restored.status();
    expect(after.relays.map((r) => r.state)).toEqual(['open', 'open', 'open']);
    expect(after.relays[2]).toMatchObject({ url: C, attempts: 1 });
    expect(after.relays[1]!.lastClose).toMatchObject({ code: 1011 });
    const sessions = after.relays.map((r) => restored.relay(r.url)!.actor.getSnapshot().context.session);
    expect(sessions).toEqual([2, 3, 1]);
    const got = new Promise((resolve) => restored.messages$.subscribe(resolve));
    rig.servers.a.onMessage((data, conn) => conn.send(String(data)));
    rig.servers.b.onMessage((data, conn) => conn.send(String(data)));
    rig.servers.c.onMessage((data, conn) => conn.send(String(data)));
    await restored.send({ type: 'echo', n: 2 });
    expect(await got).toEqual({ type: 'echo', n: 2 });
  });

  it('a pool saved offline restarts its session timer; a snapshot naming a relay the pool lacks is refused', async () => {
    const rig = poolRig();
    rig.servers.a.refuse();
    rig.servers.b.refuse();
    const first = rig.pool().start();
    await settle();
    expect(first.status().state).toBe('offline');
    const saved = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as unknown;
    await first.stop();
    expect(() => rig.pool({ snapshot: saved, relays: [A] })).toThrow(/relay:ws:\/\/b.test\/, which is not among/);
    const restored = rig.pool({ snapshot: saved }).start();
    await rig.tick(4900);
    expect(restored.status().state).toBe('offline');
    await rig.tick(200);
    expect(restored.status().state).toBe('expired');
  });
});

describe('provide() swaps implementations', () => {
  it('a delay, a guard and the connection actor', async () => {
    const clock = new SimulatedClock();
    const dials: number[] = [];
    const scripted = fromCallback<ConnectionCommand, ConnectionInput>(({ sendBack }) => {
      dials.push(clock.now());
      sendBack(lost(clock.now()));
    });
    const machine = relayMachine.provide({
      delays: { RECONNECT_DELAY: 5 },
      guards: { isFatal: ({ event }) => event.type === 'CONNECTION_LOST' && event.info.code === 4000 },
      actors: { connection: scripted },
    });
    const actor = createActor(machine, { input, clock }).start();
    actor.send({ type: 'START' });
    expect(publicState(actor.getSnapshot())).toBe('reconnecting');
    clock.increment(5);
    expect(dials).toEqual([0, 5]);
    // The swapped guard: code 4000 is fatal here, 1008 is not.
    const [failed] = transition(machine, initialTransition(machine, input)[0], { type: 'START' });
    expect(publicState(transition(machine, failed, lost(0, 'retry', 4000))[0])).toBe('failed');
    expect(publicState(transition(machine, failed, lost(0, 'fatal', 1008))[0])).toBe('reconnecting');
    actor.stop();
  });
});
