/**
 * A slow or failing primary gives up the traffic (issue 10, item 2): late pongs measure the RTT even while data
 * keeps arriving, slow acks and ack timeouts count against the relay's score at once, and an acked send whose ack
 * times out is re-sent on the next usable relay instead of being rejected. Memory transports under SimulatedClock.
 */
import { describe, expect, it } from 'vitest';
import { poolRig, type PoolRig } from './poolRig.ts';

/** Sends `count` acked messages `everyMs` apart, then waits (bounded) until all settled: 'ok' or the error code. */
async function sendEvery(r: PoolRig, count: number, everyMs: number, settleWithinMs: number): Promise<string[]> {
  const settled: string[] = [];
  for (let n = 0; n < count; n++) {
    r.pool.send({ type: 'post', id: `m${n}` }, { ack: true }).then(
      () => settled.push('ok'),
      (error: { code: string }) => settled.push(error.code),
    );
    await r.tick(everyMs);
  }
  await r.until(() => settled.length === count, settleWithinMs);
  return settled;
}

describe('a slow or failing primary', () => {
  it('an acked send whose ack times out is re-sent on the next usable relay and resolves', async () => {
    const r = poolRig(2, { ackTimeout: 1000 });
    r.pool.start();
    await r.until(() => r.pool.status().relays.every((x) => x.state === 'open'), 1000);
    const primary = r.urls.indexOf(r.pool.status().primary!);
    const other = 1 - primary;
    r.acking[primary] = false; // takes messages, acks none; pongs as usual
    let outcome = 'pending';
    r.pool.send({ type: 'post', id: 'm1' }, { ack: true }).then(
      () => (outcome = 'resolved'),
      (error: Error) => (outcome = `rejected: ${error.message}`),
    );
    await r.tick(1200);
    expect(outcome).toBe('resolved');
    expect(r.received(other).map((m) => m.id)).toEqual(['m1']);
    expect(r.events).toContainEqual(
      expect.objectContaining({ type: 'resent', from: r.urls[primary], to: r.urls[other] }),
    );
    await r.pool.stop();
  });

  it('a primary that turns slow (every frame 1.5 s late) loses the traffic, and no acked send is rejected', async () => {
    const r = poolRig(2, { ackTimeout: 5000 });
    r.pool.start();
    await r.until(() => r.pool.status().relays.every((x) => x.state === 'open'), 1000);
    const slow = r.urls.indexOf(r.pool.status().primary!);
    r.servers[slow]!.delay(1500); // every frame to us 1.5 s late: pongs miss their 500 ms window, acks keep coming
    const settled = await sendEvery(r, 60, 100, 10_000);
    expect(settled.filter((s) => s !== 'ok')).toEqual([]);
    expect(r.pool.status().primary).toBe(r.urls[1 - slow]);
    const failover = r.events.find((e) => e.type === 'failover' && e.from === r.urls[slow]);
    expect(failover).toBeDefined();
    await r.pool.stop();
  });

  it('acks slower than degradedRtt count against the primary at once (heartbeat off: nothing else would tell)', async () => {
    const r = poolRig(2, { ackTimeout: 10_000, heartbeat: false });
    r.pool.start();
    await r.until(() => r.pool.status().relays.every((x) => x.state === 'open'), 1000);
    const slow = r.urls.indexOf(r.pool.status().primary!);
    r.servers[slow]!.delay(2500); // acks 2.5 s after each send: over degradedRtt (2 s), within ackTimeout
    const settled = await sendEvery(r, 20, 250, 15_000);
    expect(settled.filter((s) => s !== 'ok')).toEqual([]);
    expect(r.pool.status().primary).toBe(r.urls[1 - slow]);
    await r.pool.stop();
  });

  it('a slow ack that moves the primary settles its message first: it is not re-sent to the new primary', async () => {
    const r = poolRig(2, { ackTimeout: 10_000, heartbeat: false });
    r.pool.start();
    await r.until(() => r.pool.status().relays.every((x) => x.state === 'open'), 1000);
    const slow = r.urls.indexOf(r.pool.status().primary!);
    r.servers[slow]!.delay(2500);
    let outcome = 'pending';
    void r.pool.send({ type: 'post', id: 'm1' }, { ack: true }).then(() => (outcome = 'resolved'));
    await r.tick(3000);
    expect(outcome).toBe('resolved');
    expect(r.pool.status().primary).toBe(r.urls[1 - slow]);
    expect(r.received(1 - slow)).toEqual([]);
    await r.pool.stop();
  });
});
