/**
 * The relay pool over real sockets: `wsTransport()` against the test kit's loopback relays (127.0.0.1, port 0).
 * Short configured delays; waits on states and events, never fixed sleeps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { wsTransport } from '../adapters/wsTransport.ts';
import { createRelayPool, type RelayPool, type RelayPoolOptions } from '../facades/createRelayPool.ts';
import type { RelayActorsError } from '../core/errors.ts';
import type { PoolEvent } from '../core/telemetry.ts';
import { startTestRelay, type TestRelay } from '../testkit/testRelay.ts';
import { expectNoLeaks, handleCounts, waitUntil } from './helpers.ts';

type Msg = Record<string, unknown>;
const FAST = {
  heartbeat: { interval: 100, timeout: 100, maxMissed: 2 },
  backoff: { base: 40, factor: 2, max: 300, stableAfter: 300 },
  connectTimeout: 1000,
  closeTimeout: 300,
  wake: false as const,
};

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function relays(n: number): Promise<TestRelay[]> {
  const out = await Promise.all(Array.from({ length: n }, () => startTestRelay({ echo: false })));
  for (const r of out) cleanup.push(() => r.close());
  return out;
}

interface Watched {
  pool: RelayPool<Msg, Msg, Msg>;
  events: PoolEvent[];
}

function poolOf(urls: string[], options: Partial<RelayPoolOptions<Msg, Msg, Msg>> = {}): Watched {
  const pool = createRelayPool<Msg, Msg, Msg>({
    relays: urls,
    transport: wsTransport(),
    protocol: jsonProtocol({ acks: true }),
    ...FAST,
    ...options,
  });
  const w: Watched = { pool, events: [] };
  pool.events$.subscribe((e) => w.events.push(e));
  cleanup.push(() => pool.stop());
  return w;
}

const failovers = (w: Watched) =>
  w.events.filter((e): e is Extract<PoolEvent, { type: 'failover' }> => e.type === 'failover');
const numbers = (r: TestRelay) => r.received.filter((m) => m.type === 'n').map((m) => m.n as number);
const isIncreasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const codeOf = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: RelayActorsError) => e.code,
  );

describe('relay pool over real sockets', () => {
  it('primary killed mid-stream of acked messages: every message arrives once, in order per relay; the primary moves and does not flap back', async () => {
    const rs = await relays(3);
    const pub = poolOf(rs.map((r) => r.url));
    const sub = poolOf(rs.map((r) => r.url));
    const got: number[] = [];
    sub.pool.subscribe({ type: 'n' }).subscribe((m) => got.push(m.n as number));
    pub.pool.start();
    sub.pool.start();
    await pub.pool.waitFor('online');
    await waitUntil(() => sub.events.filter((e) => e.type === 'subscribed').length === 3, 3000, 'three subscriptions');

    const first = pub.pool.status().primary!;
    const dying = rs.find((r) => r.url === first)!;
    const N = 300;
    const sends: Array<Promise<void>> = [];
    // In the very turn the close is seen, the primary has moved and a new send goes out after the moved ones.
    let primaryAtClose: string | null | undefined;
    let lastSent = -1;
    pub.pool.events$.subscribe((e) => {
      if (e.type !== 'state' || e.url !== first || primaryAtClose !== undefined || e.state !== 'reconnecting') return;
      primaryAtClose = pub.pool.status().primary;
      sends.push(pub.pool.send({ type: 'n', id: 'marker', n: lastSent + 0.5 }));
    });
    for (let i = 0; i < N; i++) {
      sends.push(pub.pool.send({ type: 'n', id: `n${i}`, n: i }));
      lastSent = i;
      if (i % 10 === 9) await turn();
      if (i === 150) await dying.kill();
    }
    await Promise.all(sends);

    // The primary moved once, to the best remaining relay.
    const moves = failovers(pub).filter((f) => f.from !== null);
    expect(moves).toHaveLength(1);
    expect(moves[0]!.from).toBe(first);
    expect(moves[0]!.reason).toBe('primary-unusable');
    expect(rs.map((r) => r.url).filter((u) => u !== first)).toContain(moves[0]!.to);

    expect(primaryAtClose).toBe(moves[0]!.to);
    // Every message reached some relay; each relay saw its share in order.
    const union = new Set(rs.flatMap(numbers));
    expect(union.size).toBe(N + 1);
    for (const r of rs) expect(isIncreasing(numbers(r)), `order at ${r.url}: ${numbers(r).join(',')}`).toBe(true);
    // The subscriber, deduping across relays, saw each exactly once.
    await waitUntil(() => got.length >= N + 1, 5000, 'the subscriber to see every message');
    expect(got).toHaveLength(N + 1);
    expect(new Set(got).size).toBe(N + 1);

    // Another relay becomes slightly better than the new primary (5 ms of latency on the primary): within the
    // margin, so hysteresis keeps the primary where it is.
    const current = rs.find((r) => r.url === moves[0]!.to)!;
    const other = rs.find((r) => r.url !== first && r !== current)!;
    current.delay(5);
    const scoreOf = (url: string) => pub.pool.status().relays.find((r) => r.url === url)!.score;
    await waitUntil(() => scoreOf(other.url) > scoreOf(current.url), 5000, 'the other relay to score higher');
    for (let i = N; i < N + 50; i++) await pub.pool.send({ type: 'n', id: `n${i}`, n: i });
    expect(failovers(pub).filter((f) => f.from !== null)).toHaveLength(1);
    expect(pub.pool.status().primary).toBe(moves[0]!.to);
  });

  it('all relays down: sends queue and replay in order; a full outbox rejects with OUTBOX_FULL', async () => {
    const rs = await relays(2);
    const w = poolOf(
      rs.map((r) => r.url),
      { outbox: { maxMessages: 5 } },
    );
    w.pool.start();
    await w.pool.waitFor('online');
    await Promise.all(rs.map((r) => r.kill()));
    await w.pool.waitFor('offline');

    const queued = Array.from({ length: 5 }, (_, i) => w.pool.send({ type: 'n', id: `q${i}`, n: i }));
    expect(await codeOf(w.pool.send({ type: 'n', id: 'q5', n: 5 }))).toBe('OUTBOX_FULL');
    expect(w.events.some((e) => e.type === 'outbox-overflow')).toBe(true);
    expect(w.pool.status().outbox.messages).toBe(5);

    await rs[1]!.restart();
    await Promise.all(queued);
    expect(numbers(rs[1]!)).toEqual([0, 1, 2, 3, 4]);
    expect(w.pool.status().outbox).toEqual({ messages: 0, bytes: 0 });
  });

  it('a queued message past its ttl rejects with MESSAGE_EXPIRED', async () => {
    const rs = await relays(1);
    const w = poolOf([rs[0]!.url], { outbox: { ttl: 200 } });
    w.pool.start();
    await w.pool.waitFor('online');
    await rs[0]!.kill();
    await w.pool.waitFor('offline');
    expect(await codeOf(w.pool.send({ type: 'n', id: 'late', n: 1 }))).toBe('MESSAGE_EXPIRED');
    expect(w.events.some((e) => e.type === 'message-expired')).toBe(true);
  });

  it('sessionTimeout: pending sends reject, the pool is expired and fails fast, then recovers when a relay opens', async () => {
    const rs = await relays(1);
    const w = poolOf([rs[0]!.url], { sessionTimeout: 300 });
    w.pool.start();
    await w.pool.waitFor('online');
    await rs[0]!.kill();
    const pending = w.pool.send({ type: 'n', id: 'p1', n: 1 });
    expect(await codeOf(pending)).toBe('SESSION_TIMEOUT');
    expect(w.pool.status().state).toBe('expired');
    expect(await codeOf(w.pool.send({ type: 'n', id: 'p2', n: 2 }))).toBe('SESSION_TIMEOUT');
    expect(w.events.some((e) => e.type === 'session-expired')).toBe(true);

    await rs[0]!.restart();
    await w.pool.waitFor('online', 3000);
    await w.pool.send({ type: 'n', id: 'p3', n: 3 });
    expect(numbers(rs[0]!)).toEqual([3]);
  });

  it('a half-open primary (pause) is demoted by score before it is declared dead, and traffic moves', async () => {
    const rs = await relays(3);
    const w = poolOf(
      rs.map((r) => r.url),
      { heartbeat: { interval: 100, timeout: 100, maxMissed: 4 }, ackTimeout: 5000 },
    );
    let stateAtFailover: string | undefined;
    w.pool.events$.subscribe((e) => {
      if (e.type === 'failover' && e.from !== null && stateAtFailover === undefined)
        stateAtFailover = w.pool.relay(e.from)!.status().state;
    });
    w.pool.start();
    await w.pool.waitFor('online');
    await waitUntil(
      () => w.pool.status().relays.every((r) => r.state === 'open' && r.rttMs !== null),
      3000,
      'RTTs on every relay',
    );
    const first = w.pool.status().primary!;
    const paused = rs.find((r) => r.url === first)!;
    paused.pause();

    await waitUntil(() => failovers(w).some((f) => f.from === first), 3000, 'the half-open primary to be demoted');
    const move = failovers(w).find((f) => f.from === first)!;
    expect(stateAtFailover).toBe('degraded');
    expect(move.reason).toBe('better-by-margin');
    expect(move.scoreTo!).toBeGreaterThan(move.scoreFrom! + 0.1);

    await w.pool.send({ type: 'n', id: 'after', n: 1 });
    const target = rs.find((r) => r.url === move.to)!;
    expect(numbers(target)).toContain(1);
    paused.resume();
  });

  it('subscriptions are re-sent after a relay restart, resuming with since; what was missed arrives once', async () => {
    const [r] = await relays(1);
    const relayUrl = r!.url;
    // A fixed, long-enough reconnect delay lets the publisher get in first after the restart.
    const w = poolOf([relayUrl], { backoff: { base: 300, max: 300, factor: 2, stableAfter: 100 }, random: () => 1 });
    const got: Msg[] = [];
    w.pool.subscribe({ topic: 'a' }).subscribe((m) => got.push(m));
    w.pool.start();
    await waitUntil(() => w.events.some((e) => e.type === 'subscribed'), 3000, 'the first subscription');

    const publish = async (msg: Msg) => {
      const ws = new WebSocket(relayUrl);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send(JSON.stringify(msg));
      await new Promise((resolve) => ws.once('message', resolve)); // the ack
      ws.close();
    };
    await publish({ type: 'post', topic: 'a', id: 'x1' });
    await publish({ type: 'post', topic: 'b', id: 'other' });
    await waitUntil(() => got.length === 1, 3000, 'x1');

    await r!.kill();
    await r!.restart();
    await publish({ type: 'post', topic: 'a', id: 'x2' }); // while our subscriber is still waiting to reconnect
    await waitUntil(() => got.length === 2, 3000, 'x2 through the re-subscription');
    const subscribed = w.events.filter((e): e is Extract<PoolEvent, { type: 'subscribed' }> => e.type === 'subscribed');
    expect(subscribed).toHaveLength(2);
    expect(subscribed[1]!.since).toBe(got[0]!.ts);
    expect(got.map((m) => m.id)).toEqual(['x1', 'x2']);

    await publish({ type: 'post', topic: 'a', id: 'x3' });
    await waitUntil(() => got.length === 3, 3000, 'x3 live');
  });

  it('unsubscribing sends the protocol close to every relay', async () => {
    const rs = await relays(2);
    const w = poolOf(rs.map((r) => r.url));
    const frames: string[] = [];
    for (const r of rs) r.onMessage((data) => void frames.push(String(data)));
    const s = w.pool.subscribe({ topic: 'z' }, { id: 'mine' }).subscribe();
    w.pool.start();
    await waitUntil(() => w.events.filter((e) => e.type === 'subscribed').length === 2, 3000, 'two subscriptions');
    expect(w.pool.status().subscriptions).toEqual([{ id: 'mine', request: { topic: 'z' }, relays: 'all' }]);
    s.unsubscribe();
    await waitUntil(
      () => frames.filter((f) => f.includes('"unsubscribe"')).length === 2,
      3000,
      'two unsubscribe frames',
    );
    expect(w.pool.status().subscriptions).toEqual([]);
  });

  it('addRelay and removeRelay while running; two concurrent adds of one URL make one relay', async () => {
    const rs = await relays(2);
    const w = poolOf([rs[0]!.url]);
    w.pool.start();
    await w.pool.waitFor('online');

    const [a, b] = await Promise.all([
      Promise.resolve().then(() => w.pool.addRelay(rs[1]!.url)),
      Promise.resolve().then(() => w.pool.addRelay(`${rs[1]!.url}/`)),
    ]);
    expect(a).toBe(b);
    expect(w.pool.status().relays).toHaveLength(2);
    await a.waitFor('open', 3000);
    expect(w.pool.actor.system.get(`relay:${rs[1]!.url}/`)).toBeDefined();

    const primary = w.pool.status().primary!;
    const closes: number[] = [];
    for (const c of rs.find((r) => r.url === primary)!.clients) c.once('close', (code) => closes.push(code));
    await w.pool.removeRelay(primary);
    expect(closes).toEqual([1000]);
    expect(w.pool.status().relays).toHaveLength(1);
    expect(w.pool.status().primary).not.toBe(primary);
    await w.pool.send({ type: 'n', id: 'r1', n: 1 });
    await expect(w.pool.removeRelay('ws://127.0.0.1:1')).rejects.toMatchObject({ code: 'UNKNOWN_RELAY' });
  });

  it('publish writes to the best k relays and resolves with those that acked', async () => {
    const rs = await relays(3);
    const w = poolOf(
      rs.map((r) => r.url),
      { selection: { k: 2 } },
    );
    w.pool.start();
    await waitUntil(() => w.pool.status().relays.every((r) => r.state === 'open'), 3000, 'all open');
    const result = await w.pool.publish({ type: 'n', id: 'pub1', n: 7 });
    expect(result.relays).toHaveLength(2);
    expect(rs.filter((r) => numbers(r).includes(7))).toHaveLength(2);
  });

  describe('stop() leaves no timer or socket, in every coordinator state', () => {
    it.each(['idle', 'online', 'offline', 'expired'] as const)('%s', async (state) => {
      const rs = await relays(2);
      const baseline = handleCounts();
      const w = poolOf(
        rs.map((r) => r.url),
        { sessionTimeout: 200 },
      );
      if (state !== 'idle') {
        w.pool.start();
        await w.pool.waitFor('online');
      }
      let pending: Promise<string> | undefined;
      if (state === 'offline' || state === 'expired') {
        await Promise.all(rs.map((r) => r.kill()));
        await w.pool.waitFor('offline');
        if (state === 'offline') pending = codeOf(w.pool.send({ type: 'n', id: 'w', n: 1 }));
        else await w.pool.waitFor('expired', 3000);
      }
      expect(w.pool.status().state).toBe(state);
      const connections = rs.map((r) => r.stats.connections);
      await w.pool.stop();
      expect(w.pool.status().state).toBe('stopped');
      if (pending) expect(await pending).toBe('STOPPED');
      await expect(w.pool.send({ type: 'n', id: 'x', n: 2 })).rejects.toMatchObject({ code: 'STOPPED' });
      // Relays are closed too (servers stay up for the leak check to see only the pool's handles).
      for (const r of rs) await r.close();
      await expectNoLeaks(baseline);
      expect(rs.map((r) => r.stats.connections)).toEqual(connections);
    });
  });
});
