/**
 * The relay over real sockets: `wsTransport()` against the test kit's loopback relay (127.0.0.1, port 0).
 * Short configured delays, and waits on states and events, never fixed sleeps.
 */
import { describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import type { Transport, TransportHandlers } from '../core/contract.ts';
import { wsTransport } from '../adapters/wsTransport.ts';
import { backoffCeiling } from '../policies/backoff.ts';
import { createRelay } from '../facades/createRelay.ts';
import type { RelayOptions } from '../runtime/options.ts';
import { expectNoLeaks, handleCounts, waitUntil } from './helpers.ts';
import { cleanup, delays, FAST, relayTo, roundTrip, server, type Msg } from './wsRig.ts';

describe('relay over real sockets', () => {
  it('reconnects after the server is killed and restarted mid-session, and messages round-trip again', async () => {
    const s = await server();
    const w = relayTo(s.url);
    w.relay.start();
    await w.relay.waitFor('open');
    await roundTrip(w, 1);
    await s.kill();
    await w.relay.waitFor('reconnecting');
    expect(w.relay.status().lastClose?.code).toBe(1006);
    await s.restart();
    await w.relay.waitFor('open', 5000);
    await roundTrip(w, 2);
    expect(w.states).toContain('reconnecting');
  });

  it('pause(): open → degraded → reconnecting within interval + timeout, open again after resume()', async () => {
    const s = await server();
    const w = relayTo(s.url);
    w.relay.start();
    await w.relay.waitFor('open');
    await waitUntil(() => w.relay.status().rttMs !== null, 2000, 'a first pong');
    s.pause();
    const pausedAt = Date.now();
    await w.relay.waitFor('degraded', 1000);
    await w.relay.waitFor('reconnecting', 1000);
    // Two missed pings: at most 2 × (interval + timeout), plus scheduling slack.
    expect(Date.now() - pausedAt).toBeLessThan(2 * (100 + 100) + 300);
    expect(w.relay.status().lastClose?.local).toBe('heartbeat-timeout');
    s.resume();
    await waitUntil(
      () => w.relay.status().state === 'open' && w.relay.status().missedPongs === 0,
      5000,
      'open after resume',
    );
    await roundTrip(w, 3);
  });

  it.each([401, 403])('upgrade refused with %i: failed, without retrying', async (status) => {
    const s = await server();
    s.rejectUpgrade(status);
    const w = relayTo(s.url);
    w.relay.start();
    await w.relay.waitFor('failed');
    expect(w.relay.status().lastClose).toMatchObject({ status, verdict: { action: 'fatal' } });
    expect(delays(w)).toEqual([]);
    expect(s.stats.upgradesRejected).toBe(1);
  });

  it('upgrade refused with 503 and ECONNREFUSED: retried with growing, jittered delays', async () => {
    const s = await server();
    s.rejectUpgrade(503);
    const w = relayTo(s.url, { random: () => 0.99 });
    w.relay.start();
    await waitUntil(() => delays(w).length >= 4, 5000, 'four retries');
    const d = delays(w).slice(0, 4);
    expect(d).toEqual([...d].sort((a, b) => a - b));
    d.forEach((ms, i) => expect(ms).toBeLessThan(backoffCeiling(i + 1, { ...FAST.backoff })));
    expect(w.relay.status().lastClose).toMatchObject({ status: 503, verdict: { action: 'retry' } });
    await w.relay.stop();

    await s.kill();
    const r = relayTo(s.url);
    r.relay.start();
    await waitUntil(() => delays(r).length >= 4, 5000, 'four retries');
    expect(r.relay.status().lastClose).toMatchObject({ errorCode: 'ECONNREFUSED', verdict: { action: 'retry' } });
    const jittered = delays(r).slice(0, 4);
    jittered.forEach((ms, i) => expect(ms).toBeLessThan(backoffCeiling(i + 1, { ...FAST.backoff })));
  });

  it('honours Retry-After on a refused upgrade', async () => {
    const s = await server();
    s.rejectUpgrade(503, { 'Retry-After': '1' });
    const w = relayTo(s.url);
    w.relay.start();
    await waitUntil(() => delays(w).length >= 1, 3000, 'a retry');
    expect(delays(w)[0]).toBeGreaterThanOrEqual(1000);
  });

  it('resets backoff only after stableAfter: a server that accepts then drops at once does not reset it', async () => {
    const s = await server();
    s.onMessage(() => undefined);
    const stopDropping = (() => {
      let on = true;
      const timer = setInterval(() => on && s.clients.forEach((c) => c.terminate()), 5);
      return () => {
        on = false;
        clearInterval(timer);
      };
    })();
    const w = relayTo(s.url, { heartbeat: false, random: () => 0.99 });
    w.relay.start();
    await waitUntil(() => delays(w).length >= 4, 5000, 'four flapping reconnects');
    stopDropping();
    const d = delays(w).slice(0, 4);
    expect(d[3]!).toBeGreaterThan(d[0]!);
    expect(w.relay.status().flaps + 0).toBeGreaterThanOrEqual(1);
    await w.relay.waitFor('open', 3000);
    // Now stay up past stableAfter, then drop: the next delay is back to the first ceiling.
    await waitUntil(() => Date.now() - (w.relay.status().connectedAt ?? Date.now()) > 350, 2000, 'a stable connection');
    const before = delays(w).length;
    s.clients.forEach((c) => c.terminate());
    await waitUntil(() => delays(w).length > before, 2000, 'a reconnect');
    expect(delays(w)[before]).toBeLessThan(backoffCeiling(1, { ...FAST.backoff }));
    expect(w.relay.status().attempts).toBe(0);
  });

  describe('stop() leaves nothing behind and never reconnects', () => {
    it('during an in-flight dial', async () => {
      const base = handleCounts();
      // A listening socket that never answers the HTTP upgrade: the dial stays in flight.
      const { createServer } = await import('node:net');
      const held: import('node:net').Socket[] = [];
      const silent = createServer((sock) => held.push(sock));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as import('node:net').AddressInfo).port;
      const w = relayTo(`ws://127.0.0.1:${port}`);
      w.relay.start();
      await waitUntil(() => held.length === 1, 2000, 'the dial to arrive');
      expect(w.relay.status().state).toBe('connecting');
      await w.relay.stop();
      expect(w.relay.status().state).toBe('closed');
      held.forEach((h) => h.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      await expectNoLeaks(base);
      expect(held.length).toBe(1);
    });

    it('during backoff', async () => {
      const s = await server();
      const base = handleCounts();
      await s.kill();
      const w = relayTo(s.url, { backoff: { base: 5000, max: 5000, factor: 2, stableAfter: 300 }, random: () => 0.9 });
      w.relay.start();
      await w.relay.waitFor('reconnecting');
      await w.relay.stop();
      await s.restart();
      await expectNoLeaks(base);
      expect(s.stats.connections).toBe(0);
    });

    it('during the handshake', async () => {
      const s = await server();
      s.helloAck('never');
      const base = handleCounts();
      const w = relayTo(s.url, { protocol: jsonProtocol({ hello: { token: 't' } }), handshakeTimeout: 10_000 });
      w.relay.start();
      await s.waitForConnections(1);
      await waitUntil(
        () => JSON.stringify(w.relay.actor.getSnapshot().value).includes('handshaking'),
        2000,
        'handshaking',
      );
      await w.relay.stop();
      await expectNoLeaks(base);
      expect(s.stats.connections).toBe(1);
    });

    it('while open: closes with 1000 and completes every stream', async () => {
      const s = await server();
      const base = handleCounts();
      const w = relayTo(s.url);
      const completed: string[] = [];
      w.relay.events$.subscribe({ complete: () => completed.push('events') });
      w.relay.messages$.subscribe({ complete: () => completed.push('messages') });
      w.relay.health$.subscribe({ complete: () => completed.push('health') });
      w.relay.start();
      const [serverSide] = await s.waitForConnections(1);
      const closed = new Promise<number>((resolve) => serverSide!.once('close', (code: number) => resolve(code)));
      await w.relay.waitFor('open');
      await w.relay.stop();
      expect(await closed).toBe(1000);
      expect(completed.sort()).toEqual(['events', 'health', 'messages']);
      await expectNoLeaks(base);
    });
  });

  it('events from a superseded socket never change the new session', async () => {
    const s = await server();
    const seen: TransportHandlers[] = [];
    const inner = wsTransport();
    const spy: Transport = {
      name: 'spy',
      supportsPing: true,
      connect(url, handlers, options) {
        seen.push(handlers);
        return inner.connect(url, handlers, options);
      },
    };
    const w = relayTo(s.url, { transport: spy });
    w.relay.start();
    await w.relay.waitFor('open');
    s.closeAll(1012, 'restart');
    await waitUntil(() => seen.length === 2 && w.relay.status().state === 'open', 3000, 'a second session');
    const before = w.relay.status();
    const stale = seen[0]!;
    stale.onMessage(JSON.stringify({ type: 'from-the-past' }), false);
    stale.onPong();
    stale.onOpen();
    stale.onClose({ code: 1006, reason: 'late', wasClean: false });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(w.messages.some((m) => m.type === 'from-the-past')).toBe(false);
    expect(w.relay.status()).toMatchObject({ state: 'open', attempts: before.attempts, lastClose: before.lastClose });
    await roundTrip(w, 5);
  });

  it('RETRY reconnects at once, overriding a long backoff', async () => {
    const s = await server();
    const w = relayTo(s.url, {
      backoff: { base: 60_000, max: 60_000, factor: 2, stableAfter: 300 },
      random: () => 0.9,
    });
    w.relay.start();
    await w.relay.waitFor('open');
    await s.kill();
    await w.relay.waitFor('reconnecting');
    await s.restart();
    const t = Date.now();
    w.relay.retry();
    await w.relay.waitFor('open', 2000);
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('wake (clock jump) reconnects at once with backoff reset', async () => {
    const s = await server();
    let jump = 0;
    const { createWakeDetector } = await import('../runtime/wake.ts');
    const { realClock } = await import('../runtime/options.ts');
    const detector = createWakeDetector(realClock, { gap: 1000, checkEvery: 20 }, () => Date.now() + jump);
    const w = relayTo(s.url, {
      backoff: { base: 60_000, max: 60_000, factor: 2, stableAfter: 300 },
      random: () => 0.9,
    });
    const off = detector.subscribe((sleptMs) => w.relay.actor.send({ type: 'WAKE', sleptMs }));
    cleanup.push(async () => off());
    w.relay.start();
    await w.relay.waitFor('open');
    await s.kill();
    await w.relay.waitFor('reconnecting');
    await s.restart();
    jump = 120_000; // the laptop slept for two minutes
    await w.relay.waitFor('open', 2000);
    expect(w.events.some((e) => e.type === 'wake' && e.sleptMs >= 100_000)).toBe(true);
    expect(w.relay.status().attempts).toBe(1);
  });

  it('maxAttempts ends in failed', async () => {
    const s = await server();
    await s.kill();
    const w = relayTo(s.url, { maxAttempts: 3 });
    w.relay.start();
    await w.relay.waitFor('failed', 5000);
    expect(w.relay.status()).toMatchObject({ attempts: 3, failure: 'gave up after 3 attempts' });
    await expect(w.relay.send({ a: 1 })).rejects.toMatchObject({ code: 'RELAY_FAILED' });
  });

  it('bad input: malformed JSON, binary, unknown types and oversized frames are typed errors; the relay keeps working', async () => {
    const s = await server();
    const w = relayTo(s.url, { protocol: jsonProtocol({ types: ['echo', 'note'] }), maxPayload: 1024 });
    w.relay.start();
    await w.relay.waitFor('open');
    s.send('{"type":');
    s.send(Buffer.from([0, 1, 2]));
    s.send(JSON.stringify({ type: 'mystery' }));
    s.send(JSON.stringify({ type: 'note', ok: true }));
    await waitUntil(() => w.messages.some((m) => m.type === 'note'), 2000, 'the good frame');
    const details = () =>
      w.events.flatMap((e) =>
        e.type === 'error' ? [(e.error as { detail?: string; code: string }).detail ?? e.error.code] : [],
      );
    expect(details()).toEqual(['MALFORMED', 'BINARY', 'UNKNOWN_TYPE']);
    expect(w.relay.status().state).toBe('open');

    s.send(JSON.stringify({ type: 'note', pad: 'x'.repeat(4096) }));
    await waitUntil(() => details().includes('FRAME_TOO_LARGE'), 2000, 'frame too large');
    expect(w.relay.status().lastClose?.code).toBe(1009);
    await w.relay.waitFor('open', 3000);
    await roundTrip(w, 6);
  });

  it('rejects bad options with a typed error naming the option', () => {
    const make = (o: Partial<RelayOptions<Msg, Msg>>) => () =>
      createRelay<Msg, Msg>('ws://127.0.0.1:1', { transport: wsTransport(), protocol: jsonProtocol(), ...o });
    expect(make({ heartbeat: { interval: -1 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'heartbeat.interval' }),
    );
    expect(make({ backoff: { base: 10, max: 5 } })).toThrow(expect.objectContaining({ option: 'backoff.max' }));
    expect(make({ maxAttempts: 0 })).toThrow(expect.objectContaining({ option: 'maxAttempts' }));
    expect(make({ heartbeat: { intervall: 5 } as never })).toThrow(
      expect.objectContaining({ option: 'heartbeat.intervall' }),
    );
    expect(() => createRelay('http://x', { transport: wsTransport(), protocol: jsonProtocol() })).toThrow(
      expect.objectContaining({ option: 'url' }),
    );
    // An unparsable URL is named in the error, with what looks like credentials and query values hidden.
    expect(() =>
      createRelay('ws://alice:hunter2@bad host/?token=sekrit&x=1', {
        transport: wsTransport(),
        protocol: jsonProtocol(),
      }),
    ).toThrow('"ws://***@bad host/?token=***&x=***" is not a valid URL');
    expect(() => createRelay('ws://x', { protocol: jsonProtocol() } as never)).toThrow(
      expect.objectContaining({ option: 'transport' }),
    );
  });
});
