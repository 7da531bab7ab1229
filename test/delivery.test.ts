/**
 * What a failed send says about its message (`err.delivery`): `'not-sent'` when it was never written to a socket,
 * `'unknown'` when it was written and may have been delivered; and the error's words agree. Memory transports
 * under SimulatedClock for the pool, the loopback test relay for a single relay.
 */
import { describe, expect, it } from 'vitest';
import { MessageExpiredError, NotOpenError, type RelayActorsError } from '../core/errors.ts';
import { poolRig, settle } from './poolRig.ts';
import { relayTo, server } from './wsRig.ts';

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the send to fail');
    },
    (error: RelayActorsError) => error,
  );

/**
 * A one-relay pool, online; then its link goes silent (black hole) and it refuses new dials, and an acked send is
 * written into it: the message is written, never acknowledged, and no relay is left to take it.
 */
async function sendIntoDyingRelay(options: Parameters<typeof poolRig>[1]) {
  const r = poolRig(1, options);
  r.pool.start();
  await r.until(() => r.pool.status().state === 'online', 1000);
  r.servers[0]!.blackhole(true).refuse({ errorCode: 'ECONNREFUSED' });
  const sent = failure(r.pool.send({ type: 'post', id: 'm1' }, { ack: true }));
  return { r, sent };
}

describe('delivery of a failed send', () => {
  it('MESSAGE_EXPIRED after being written to a relay that died unacknowledged: "unknown", "may have arrived"', async () => {
    const { r, sent } = await sendIntoDyingRelay({ outbox: { ttl: 6000 }, ackTimeout: 60_000, sessionTimeout: 60_000 });
    await r.tick(10);
    expect(r.received(0)).toEqual([]); // swallowed by the black hole: written by us, never seen by the relay
    await r.tick(12_000);
    const error = await sent;
    expect(error).toBeInstanceOf(MessageExpiredError);
    expect(error.delivery).toBe('unknown');
    expect(error.message).toContain('may have arrived');
    await r.pool.stop();
  });

  it('MESSAGE_EXPIRED for a message queued while no relay was ever usable: "not-sent", "never sent"', async () => {
    const r = poolRig(1, { outbox: { ttl: 3000 }, sessionTimeout: 60_000 });
    r.servers[0]!.refuse({ errorCode: 'ECONNREFUSED' });
    r.pool.start();
    await settle();
    const sent = failure(r.pool.send({ type: 'post', id: 'm1' }, { ack: true }));
    await r.tick(3500);
    const error = await sent;
    expect(error.code).toBe('MESSAGE_EXPIRED');
    expect(error.delivery).toBe('not-sent');
    expect(error.message).toContain('never sent');
    await r.pool.stop();
  });

  it('SESSION_TIMEOUT for a message written to a relay that died unacknowledged: "unknown", as for expiry', async () => {
    const { r, sent } = await sendIntoDyingRelay({ outbox: { ttl: 60_000 }, ackTimeout: 60_000, sessionTimeout: 5000 });
    await r.tick(12_000);
    const error = await sent;
    expect(error.code).toBe('SESSION_TIMEOUT');
    expect(error.delivery).toBe('unknown');
    expect(error.message).toContain('may have arrived');
    await r.pool.stop();
  });

  it('the same message sent twice while unacknowledged: both resolve on its one ack', async () => {
    const r = poolRig(1);
    r.pool.start();
    await r.until(() => r.pool.status().state === 'online', 1000);
    const message = { type: 'post', id: 'twice' };
    const both = Promise.all([r.pool.send(message, { ack: true }), r.pool.send(message, { ack: true })]);
    await r.tick(50);
    await expect(both).resolves.toEqual([undefined, undefined]);
    await r.pool.stop();
  });

  it('a relay: NOT_OPEN is "not-sent"; an ack that never comes is "unknown"', async () => {
    const s = await server();
    s.onMessage(() => 'handled'); // takes every message, acks none
    const w = relayTo(s.url, { ackTimeout: 100 });
    const notOpen = await failure(w.relay.send({ type: 'echo', id: 'a' }, { ack: true }));
    expect(notOpen).toBeInstanceOf(NotOpenError);
    expect(notOpen.delivery).toBe('not-sent');
    w.relay.start();
    await w.relay.waitFor('open');
    const timedOut = await failure(w.relay.send({ type: 'echo', id: 'b' }, { ack: true }));
    expect(timedOut.code).toBe('ACK_TIMEOUT');
    expect(timedOut.delivery).toBe('unknown');
  });
});
