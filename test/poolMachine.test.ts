/**
 * Every state and transition of the coordinator, under SimulatedClock, over memory transports: idle → offline →
 * online ⇄ offline → expired → online, stop from each, the outbox, failover and re-sends, relays added and removed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RelayActorsError } from '../core/errors.ts';
import { poolRig, settle, type PoolRig } from './poolRig.ts';

const rigs: PoolRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.pool.stop();
});

function rig(n = 2, options: Parameters<typeof poolRig>[1] = {}): PoolRig {
  const r = poolRig(n, options);
  rigs.push(r);
  return r;
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: RelayActorsError) => e.code,
  );
const state = (r: PoolRig) => r.pool.status().state;

async function online(r: PoolRig): Promise<void> {
  r.pool.start();
  await r.until(() => r.pool.status().relays.every((x) => x.state === 'open'), 1000);
  expect(state(r)).toBe('online');
}

/** Takes every relay down for good: refuse further dials, drop the connections. */
async function allDown(r: PoolRig): Promise<void> {
  for (const s of r.servers) s.refuse();
  for (const s of r.servers) s.drop();
  await settle();
}

describe('coordinator states', () => {
  it('idle until START, then offline, then online when a relay opens; relays are children with stable system ids', async () => {
    const r = rig();
    expect(state(r)).toBe('idle');
    r.pool.start();
    expect(state(r)).toBe('offline');
    await settle();
    await r.tick(20);
    expect(state(r)).toBe('online');
    expect(r.pool.status().primary).toBe('ws://r0.test');
    for (const url of r.urls) expect(r.pool.actor.system.get(`relay:${url}/`)).toBeDefined();
    expect(r.events.filter((e) => e.type === 'pool-state').map((e) => (e as { state: string }).state)).toEqual([
      'offline',
      'online',
    ]);
  });

  it('online → offline when the last usable relay goes, not before', async () => {
    const r = rig();
    await online(r);
    r.servers[0]!.refuse();
    r.servers[0]!.drop();
    await settle();
    expect(state(r)).toBe('online');
    r.servers[1]!.refuse();
    r.servers[1]!.drop();
    await settle();
    expect(state(r)).toBe('offline');
  });

  it('offline → expired after sessionTimeout: queued sends reject with SESSION_TIMEOUT and new ones fail fast', async () => {
    const r = rig();
    await online(r);
    await allDown(r);
    const queued = codeOf(r.pool.send({ type: 'm', id: 'q1' }));
    await r.tick(9_990, 100);
    expect(state(r)).toBe('offline');
    await r.tick(200);
    expect(state(r)).toBe('expired');
    expect(await queued).toBe('SESSION_TIMEOUT');
    expect(await codeOf(r.pool.send({ type: 'm', id: 'q2' }))).toBe('SESSION_TIMEOUT');
    expect(r.events.some((e) => e.type === 'session-expired')).toBe(true);
  });

  it('expired → online when a relay opens, and sends work again', async () => {
    const r = rig();
    await online(r);
    await allDown(r);
    await r.tick(10_100, 100);
    expect(state(r)).toBe('expired');
    r.servers[1]!.accept();
    await r.until(() => state(r) === 'online', 20_000);
    expect(state(r)).toBe('online');
    await r.pool.send({ type: 'm', id: 'back' });
    expect(r.received(1).map((m) => m.id)).toContain('back');
  });

  it.each(['idle', 'online', 'offline', 'expired'] as const)(
    'STOP from %s: stopped, pending sends rejected with STOPPED, streams complete',
    async (from) => {
      const r = rig();
      if (from !== 'idle') await online(r);
      if (from === 'offline' || from === 'expired') await allDown(r);
      if (from === 'expired') await r.tick(10_100, 100);
      expect(state(r)).toBe(from);
      const pending = from === 'offline' || from === 'idle' ? codeOf(r.pool.send({ type: 'm', id: 'p' })) : undefined;
      let completed = 0;
      r.pool.events$.subscribe({ complete: () => completed++ });
      r.pool.messages$.subscribe({ complete: () => completed++ });
      r.pool.health$.subscribe({ complete: () => completed++ });
      await r.pool.stop();
      expect(state(r)).toBe('stopped');
      if (pending) expect(await pending).toBe('STOPPED');
      expect(completed).toBe(3);
      expect(await codeOf(r.pool.send({ type: 'm', id: 'after' }))).toBe('STOPPED');
      expect((r.clock as unknown as { timeouts: Map<number, unknown> }).timeouts.size).toBe(0);
    },
  );
});

describe('outbox', () => {
  it('queues while offline and replays in order through the first relay that opens', async () => {
    const r = rig();
    await online(r);
    await allDown(r);
    const sends = [1, 2, 3].map((n) => r.pool.send({ type: 'm', id: `o${n}`, n }));
    expect(r.pool.status().outbox.messages).toBe(3);
    r.servers[1]!.accept();
    await r.until(() => state(r) === 'online', 20_000);
    await Promise.all(sends);
    expect(
      r
        .received(1)
        .filter((m) => typeof m.n === 'number')
        .map((m) => m.n),
    ).toEqual([1, 2, 3]);
  });

  it('a send made while the pool comes online (from a pool-state listener) goes out after what was queued', async () => {
    const r = rig();
    await online(r);
    await allDown(r);
    const sends = [1, 2, 3].map((n) => r.pool.send({ type: 'm', id: `q${n}`, n }));
    const sub = r.pool.events$.subscribe((e) => {
      if (e.type === 'pool-state' && e.state === 'online') sends.push(r.pool.send({ type: 'm', id: 'hello', n: 4 }));
    });
    r.servers[1]!.accept();
    await r.until(() => state(r) === 'online' && sends.length === 4, 20_000);
    sub.unsubscribe();
    await Promise.all(sends);
    expect(
      r
        .received(1)
        .filter((m) => typeof m.n === 'number')
        .map((m) => m.n),
    ).toEqual([1, 2, 3, 4]);
  });

  it('broadcast with no usable relay queues the message (no recursion) and publishes it when one opens', async () => {
    const r = rig(2, { selection: { strategy: 'broadcast', k: 2 } });
    await online(r);
    await allDown(r);
    const sent = r.pool.send({ type: 'm', id: 'b1', n: 1 });
    const published = r.pool.publish({ type: 'm', id: 'b2', n: 2 });
    expect(r.pool.status().outbox.messages).toBe(2);
    r.servers[0]!.accept();
    await r.until(() => state(r) === 'online', 20_000);
    await sent;
    expect((await published).relays).toEqual([r.urls[0]]);
    expect(r.received(0).map((m) => m.n)).toEqual([1, 2]);
  });

  it('sends before start queue too, and go out once started', async () => {
    const r = rig();
    const early = r.pool.send({ type: 'm', id: 'early' });
    await online(r);
    await early;
    expect(r.received(0).map((m) => m.id)).toContain('early');
  });

  it('a full outbox rejects with OUTBOX_FULL; an expired message with MESSAGE_EXPIRED', async () => {
    const r = rig(2, { outbox: { maxMessages: 2, ttl: 3000 }, sessionTimeout: 60_000 });
    await online(r);
    await allDown(r);
    const a = codeOf(r.pool.send({ type: 'm', id: 'a' }));
    const b = codeOf(r.pool.send({ type: 'm', id: 'b' }));
    expect(await codeOf(r.pool.send({ type: 'm', id: 'c' }))).toBe('OUTBOX_FULL');
    await r.tick(3100, 100);
    expect(await a).toBe('MESSAGE_EXPIRED');
    expect(await b).toBe('MESSAGE_EXPIRED');
    expect(r.pool.status().outbox).toEqual({ messages: 0, bytes: 0 });
  });
});

describe('failover', () => {
  it('the primary drops: the primary moves in the same turn and the next send goes to the other relay', async () => {
    const r = rig();
    await online(r);
    expect(r.pool.status().primary).toBe('ws://r0.test');
    let primaryInTurn: string | null | undefined;
    r.pool.events$.subscribe((e) => {
      if (e.type === 'state' && e.url === 'ws://r0.test' && e.state === 'reconnecting') {
        primaryInTurn = r.pool.status().primary;
        void r.pool.send({ type: 'm', id: 'in-turn' });
      }
    });
    r.servers[0]!.drop();
    await settle();
    expect(primaryInTurn).toBe('ws://r1.test');
    await r.tick(10);
    expect(r.received(1).map((m) => m.id)).toContain('in-turn');
    expect(r.events.some((e) => e.type === 'failover' && e.reason === 'primary-unusable')).toBe(true);
  });

  it('unacked messages are re-sent to the next relay after failover, in order (at least once)', async () => {
    const r = rig();
    await online(r);
    r.acking[0] = false; // r0 takes messages but never acks them
    const sends = [1, 2, 3].map((n) => r.pool.send({ type: 'm', id: `u${n}`, n }));
    await settle();
    expect(r.received(0).map((m) => m.n)).toEqual([1, 2, 3]);
    expect(r.pool.status().inflight).toBe(3);
    r.servers[0]!.drop();
    await settle();
    await r.tick(10);
    await Promise.all(sends);
    expect(r.received(1).map((m) => m.n)).toEqual([1, 2, 3]);
    expect(r.events.some((e) => e.type === 'resent' && e.count === 3)).toBe(true);
  });

  it('a degraded primary is demoted by score while a healthy relay exists', async () => {
    const r = rig();
    await online(r);
    await r.until(() => r.pool.status().relays.every((x) => x.rttMs !== null), 3000);
    r.servers[0]!.pongs(false);
    await r.until(() => r.pool.status().primary === 'ws://r1.test', 3000);
    expect(r.pool.relay('ws://r0.test')!.status().state).toBe('degraded');
    expect(r.events.some((e) => e.type === 'failover' && e.reason === 'better-by-margin')).toBe(true);
  });
});

describe('relays at run time', () => {
  it('addRelay while running starts the new relay; the same URL twice makes one relay', async () => {
    const r = rig(2);
    await online(r);
    const a = r.pool.addRelay('ws://r1.test');
    const b = r.pool.addRelay('ws://r1.test/');
    expect(a).toBe(b);
    expect(r.pool.status().relays).toHaveLength(2);
  });

  it('removeRelay moves the primary and, when it was the last usable relay, the pool goes offline', async () => {
    const r = rig(2);
    await online(r);
    await r.pool.removeRelay('ws://r0.test');
    expect(r.pool.status().primary).toBe('ws://r1.test');
    expect(r.pool.actor.getSnapshot().context.relays).toEqual(['relay:ws://r1.test/']);
    await r.pool.removeRelay('ws://r1.test');
    expect(state(r)).toBe('offline');
    expect(r.pool.status().relays).toHaveLength(0);
  });

  it('RETRY goes to every relay: both dial at once instead of waiting out their backoff', async () => {
    const r = rig(2, { backoff: { base: 60_000, max: 60_000, factor: 2, stableAfter: 5000 } });
    await online(r);
    await allDown(r);
    const dials = r.servers.map((s) => s.stats.dials);
    for (const s of r.servers) s.accept();
    r.pool.retry();
    await settle();
    await r.tick(20);
    expect(r.servers.map((s) => s.stats.dials - dials[r.servers.indexOf(s)]!)).toEqual([1, 1]);
    expect(state(r)).toBe('online');
  });
});
