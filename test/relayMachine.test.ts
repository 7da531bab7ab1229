/**
 * Every state and transition of the relay machine, under SimulatedClock, over the memory transport.
 * Time moves only when the test moves it; the memory transport delivers on microtasks, so `settle()` lets
 * one turn of deliveries happen (it is not a sleep: no time passes on the clock).
 */
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { memoryTransport, type MemoryServer } from '../testkit/memoryTransport.ts';
import { createRelay, type Relay } from '../facades/createRelay.ts';
import type { RelayOptions } from '../runtime/options.ts';
import type { RelayEvent, RelayState } from '../core/telemetry.ts';
import { advance } from '../testkit/simulated.ts';

const URL = 'ws://relay.test';
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Rig {
  clock: SimulatedClock;
  server: MemoryServer;
  relay: Relay<Record<string, unknown>, Record<string, unknown>>;
  states: RelayState[];
  events: RelayEvent[];
  /** Advances simulated time, letting deliveries settle between steps. */
  tick(ms: number, step?: number): Promise<void>;
  pendingTimers(): number;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.relay.stop();
});

function rig(
  options: Partial<RelayOptions<Record<string, unknown>, Record<string, unknown>>> = {},
  protocolOptions = {},
): Rig {
  const clock = new SimulatedClock();
  const mem = memoryTransport({ clock });
  const server = mem.server(URL);
  const relay = createRelay<Record<string, unknown>, Record<string, unknown>>(URL, {
    transport: mem,
    protocol: jsonProtocol(protocolOptions),
    clock,
    wake: false,
    random: () => 0.5,
    closeTimeout: 0,
    heartbeat: { interval: 1000, timeout: 500, maxMissed: 2 },
    backoff: { base: 1000, factor: 2, max: 8000, stableAfter: 5000 },
    connectTimeout: 2000,
    handshakeTimeout: 1000,
    ...options,
  });
  const states: RelayState[] = [];
  const events: RelayEvent[] = [];
  relay.events$.subscribe((e) => {
    events.push(e);
    if (e.type === 'state') states.push(e.state);
  });
  const r: Rig = {
    clock,
    server,
    relay,
    states,
    events,
    async tick(ms, step = 10) {
      for (let t = 0; t < ms; t += step) {
        advance(clock, Math.min(step, ms - t), step);
        await settle();
      }
    },
    pendingTimers: () => (clock as unknown as { timeouts: Map<number, unknown> }).timeouts.size,
  };
  rigs.push(r);
  return r;
}

describe('relay machine (SimulatedClock, memory transport)', () => {
  it('idle → connecting → open', async () => {
    const r = rig();
    expect(r.relay.status().state).toBe('idle');
    r.relay.start();
    expect(r.relay.status().state).toBe('connecting');
    await settle();
    expect(r.relay.status().state).toBe('open');
    expect(r.states).toEqual(['connecting', 'open']);
    expect(r.relay.actor.getSnapshot().value).toEqual({ live: 'open' });
  });

  it('connecting.dialing → reconnecting on CONNECT_TIMEOUT', async () => {
    const r = rig();
    r.server.holdDials();
    r.relay.start();
    await r.tick(1990);
    expect(r.relay.status().state).toBe('connecting');
    await r.tick(20);
    expect(r.relay.status().state).toBe('reconnecting');
    expect(r.relay.status().lastClose?.local).toBe('connect-timeout');
  });

  it('handshaking → open on HELLO_ACK; → reconnecting on HANDSHAKE_TIMEOUT; → failed when the hello is rejected', async () => {
    const ok = rig({}, { hello: { token: 't' } });
    ok.server.onMessage((data, conn) => {
      if (String(data).includes('"hello"')) conn.send(JSON.stringify({ type: 'hello-ack', ok: true }));
    });
    ok.relay.start();
    await settle();
    await settle();
    expect(ok.relay.status().state).toBe('open');
    expect(ok.relay.actor.getSnapshot().value).toEqual({ live: 'open' });

    const silent = rig({}, { hello: { token: 't' } });
    silent.relay.start();
    await settle();
    expect(silent.relay.actor.getSnapshot().value).toEqual({ live: { connecting: 'handshaking' } });
    await silent.tick(1010);
    expect(silent.relay.status().state).toBe('reconnecting');
    expect(silent.relay.status().lastClose?.local).toBe('handshake-timeout');

    const rejected = rig({}, { hello: { token: 'bad' } });
    rejected.server.onMessage((_d, conn) =>
      conn.send(JSON.stringify({ type: 'hello-ack', ok: false, reason: 'bad token' })),
    );
    rejected.relay.start();
    await settle();
    await settle();
    expect(rejected.relay.status().state).toBe('failed');
    expect(rejected.relay.status().failure).toBe('hello rejected: bad token');
  });

  it('open → degraded on one missed pong → open on recovery', async () => {
    const r = rig();
    r.relay.start();
    await r.tick(1100); // first ping answered
    expect(r.relay.status().rttMs).not.toBeNull();
    r.server.pongs(false);
    await r.tick(1500); // next ping at 1000+1000, its timeout 500 later
    expect(r.relay.status().state).toBe('degraded');
    expect(r.relay.status().missedPongs).toBe(1);
    r.server.pongs(true);
    await r.tick(1000);
    expect(r.relay.status().state).toBe('open');
    expect(r.relay.status().missedPongs).toBe(0);
  });

  it('degraded → reconnecting after maxMissed misses, and the old socket is gone', async () => {
    const r = rig();
    r.relay.start();
    await r.tick(1100);
    r.server.blackhole(true);
    await r.tick(2500);
    expect(r.states.at(-1)).toBe('reconnecting');
    expect(r.states).toEqual(['connecting', 'open', 'degraded', 'reconnecting']);
    expect(r.relay.status().lastClose?.local).toBe('heartbeat-timeout');
    expect(r.server.allConnections[0]?.state).toBe('closed');
    // The next dial opens a fresh session with a fresh miss count.
    await r.tick(1000);
    expect(r.relay.status().state).toBe('open');
    expect(r.relay.status().missedPongs).toBe(0);
  });

  it('any inbound frame counts as life', async () => {
    const r = rig();
    r.relay.start();
    await r.tick(1100);
    r.server.pongs(false);
    // The server keeps talking: no ping is ever counted as missed.
    for (let i = 0; i < 10; i++) {
      r.server.send(JSON.stringify({ type: 'note', i }));
      await r.tick(400);
    }
    expect(r.relay.status().state).toBe('open');
    expect(r.states).not.toContain('degraded');
  });

  it('open → degraded when RTT is over the threshold', async () => {
    const r = rig({ heartbeat: { interval: 1000, timeout: 900, degradedRtt: 200 } });
    r.relay.start();
    await r.tick(1100);
    r.server.delay(300);
    await r.tick(1500);
    expect(r.relay.status().state).toBe('degraded');
    r.server.delay(0);
    await r.tick(1200);
    expect(r.relay.status().state).toBe('open');
  });

  it('a relay that never pongs but sends between pings keeps its connection and turns the heartbeat off', async () => {
    const r = rig();
    r.server.pongs(false);
    r.relay.start();
    // Pings at 1000, 2000, …, each unanswered for 500 ms; the relay talks at 700, 1700, … (between the windows).
    for (let k = 0; k < 6; k++) {
      await r.tick(700);
      r.server.send(JSON.stringify({ type: 'note', k }));
      await r.tick(300);
    }
    expect(r.relay.status().state).toBe('open');
    expect(r.relay.status().heartbeat).toBe('off');
    expect(r.events.find((e) => e.type === 'heartbeat-off')).toMatchObject({
      reason: expect.stringContaining('sends other frames'),
    });
    expect(r.states).toEqual(['connecting', 'open']);
  });

  it('a link silent from the moment it opened (no pong ever) is dead within maxMissed × interval + timeout', async () => {
    const r = rig(); // interval 1000, timeout 500, maxMissed 2: bound 2500 ms
    r.server.blackhole(true);
    r.relay.start();
    await r.tick(1600);
    expect(r.relay.status().state).toBe('degraded');
    await r.tick(1000);
    expect(r.relay.status().state).toBe('reconnecting');
    expect(r.relay.status().lastClose?.local).toBe('heartbeat-timeout');
    expect(r.events.some((e) => e.type === 'heartbeat-off')).toBe(false);
  });

  it('after the heartbeat turned itself off, a link that goes silent is still dead within the same bound', async () => {
    const r = rig();
    r.server.pongs(false);
    r.relay.start();
    for (let k = 0; k < 3; k++) {
      await r.tick(700);
      r.server.send(JSON.stringify({ type: 'note', k }));
      await r.tick(300);
    }
    expect(r.relay.status().heartbeat).toBe('off');
    // Last frame at 2700: silence from then on ends the connection by 2700 + 2500.
    await r.tick(2200);
    expect(r.relay.status().state).toBe('open');
    await r.tick(400);
    expect(r.relay.status().state).toBe('reconnecting');
    expect(r.relay.status().lastClose?.local).toBe('stale');
  });

  it('after a stable connection the next reconnect is reported as attempt 1, with the delay of attempt 1', async () => {
    const r = rig();
    r.relay.start();
    await r.tick(6000); // past stableAfter (5000): the attempt count resets when this connection ends
    r.server.drop();
    await r.tick(10);
    const scheduled = r.events.filter((e) => e.type === 'reconnect-scheduled');
    expect(scheduled).toEqual([expect.objectContaining({ attempt: 1, delayMs: 500 })]); // 0.5 × base
  });

  it('a pong that comes after its window still measures the round trip', async () => {
    const r = rig(); // interval 1000, timeout 500
    r.relay.start();
    await r.tick(1100);
    expect(r.relay.status().rttMs).toBe(0);
    r.server.delay(700); // the next pong misses its 500 ms window and comes 700 ms after its ping
    await r.tick(1800);
    expect(r.relay.status().rttMs).toBe(700);
    expect(r.relay.status().rttEwmaMs).toBeGreaterThan(0);
  });

  it('a link whose every pong comes after its window stays up, degraded, and is not torn down', async () => {
    const r = rig(); // interval 1000, timeout 500, maxMissed 2
    r.relay.start();
    await r.tick(1100);
    r.server.delay(600); // every pong 100 ms past its window
    await r.tick(10_000);
    expect(r.relay.status().state).toBe('degraded');
    expect(r.states).not.toContain('reconnecting');
    r.server.delay(0);
    await r.tick(1100);
    expect(r.relay.status().state).toBe('open');
  });

  it('stale inbound ends the connection when staleAfter is set', async () => {
    const r = rig({ heartbeat: { enabled: false, staleAfter: 3000 } });
    r.relay.start();
    await r.tick(3100);
    expect(r.relay.status().lastClose?.local).toBe('stale');
  });

  it('reconnecting → live after the backoff delay (full jitter, growing ceiling)', async () => {
    const r = rig();
    r.server.refuse({ errorCode: 'ECONNREFUSED' });
    r.relay.start();
    await settle();
    const delays = () => r.events.flatMap((e) => (e.type === 'reconnect-scheduled' ? [e.delayMs] : []));
    expect(delays()).toEqual([500]); // 0.5 × 1000
    await r.tick(510);
    expect(delays()).toEqual([500, 1000]); // 0.5 × 2000
    await r.tick(1010);
    expect(delays()).toEqual([500, 1000, 2000]);
    r.server.accept();
    await r.tick(2010);
    expect(r.relay.status().state).toBe('open');
  });

  it('a backoff table without jitter waits exactly its delays, the last one from then on', async () => {
    const r = rig({ backoff: { delays: [100, 200, 400, 800], jitter: 'none', stableAfter: 5000 } });
    r.server.refuse({ errorCode: 'ECONNREFUSED' });
    r.relay.start();
    await settle();
    await r.tick(100 + 200 + 400 + 800 + 800 + 50);
    const delays = r.events.flatMap((e) => (e.type === 'reconnect-scheduled' ? [e.delayMs] : []));
    expect(delays).toEqual([100, 200, 400, 800, 800, 800]);
  });

  it('RETRY and WAKE in reconnecting dial at once with backoff reset', async () => {
    const r = rig();
    r.server.refuse({ errorCode: 'ECONNREFUSED' });
    r.relay.start();
    await r.tick(2000);
    expect(r.relay.status().attempts).toBeGreaterThan(1);
    r.server.accept();
    r.relay.retry();
    await settle();
    expect(r.relay.status().state).toBe('open');
    expect(r.relay.status().attempts).toBe(1);

    const w = rig();
    w.server.refuse({ errorCode: 'ECONNREFUSED' });
    w.relay.start();
    await settle();
    w.server.accept();
    w.relay.actor.send({ type: 'WAKE', sleptMs: 60_000 });
    await settle();
    expect(w.relay.status().state).toBe('open');
    expect(w.events.some((e) => e.type === 'wake')).toBe(true);
  });

  it('failed on a fatal upgrade status, without retrying; RETRY leaves failed', async () => {
    const r = rig();
    r.server.refuse({ status: 401 });
    r.relay.start();
    await settle();
    expect(r.relay.status().state).toBe('failed');
    await r.tick(60_000, 1000);
    expect(r.server.stats.dials).toBe(1);
    await expect(r.relay.send({ a: 1 })).rejects.toMatchObject({ code: 'RELAY_FAILED' });
    r.server.accept();
    r.relay.retry();
    await settle();
    expect(r.relay.status().state).toBe('open');
  });

  it('failed after maxAttempts', async () => {
    const r = rig({ maxAttempts: 3 });
    r.server.refuse({ errorCode: 'ECONNREFUSED' });
    r.relay.start();
    await r.tick(20_000, 100);
    expect(r.relay.status().state).toBe('failed');
    expect(r.relay.status().failure).toBe('gave up after 3 attempts');
    expect(r.server.stats.dials).toBe(3);
  });

  it('resets backoff only after stableAfter of uptime', async () => {
    const r = rig({ heartbeat: false });
    r.server.onConnection((conn) => {
      // Accept, then drop at once: never stable.
      queueMicrotask(() => conn.drop());
    });
    r.relay.start();
    await r.tick(4000, 10);
    const attemptsAfterFlaps = r.relay.status().attempts;
    expect(attemptsAfterFlaps).toBeGreaterThanOrEqual(3);
    expect(r.relay.status().flaps).toBeGreaterThanOrEqual(2);

    const s = rig({ heartbeat: false });
    s.relay.start();
    await settle();
    await s.tick(5000, 100);
    s.server.drop();
    await settle();
    expect(s.relay.status().state).toBe('reconnecting');
    expect(s.relay.status().attempts).toBe(0);
    expect(s.events.filter((e) => e.type === 'reconnect-scheduled').at(-1)).toMatchObject({ delayMs: 500 });
  });

  it('a remote normal close (1000) reconnects; a declared-fatal app code does not', async () => {
    const r = rig();
    r.relay.start();
    await settle();
    r.server.closeAll(1000, 'bye');
    await settle();
    expect(r.relay.status().state).toBe('reconnecting');

    const f = rig({ fatalCloseCodes: [4001] });
    f.relay.start();
    await settle();
    f.server.closeAll(4001, 'banned');
    await settle();
    expect(f.relay.status().state).toBe('failed');
  });

  it.each(['idle', 'connecting', 'handshaking', 'open', 'degraded', 'reconnecting', 'failed'] as const)(
    'STOP from %s → closed, with no timer left and no reconnect afterwards',
    async (from) => {
      const r = rig({}, from === 'handshaking' ? { hello: { t: 1 } } : {});
      if (from === 'connecting') r.server.holdDials();
      if (from === 'reconnecting') r.server.refuse({ errorCode: 'ECONNREFUSED' });
      if (from === 'failed') r.server.refuse({ status: 403 });
      if (from !== 'idle') r.relay.start();
      await settle();
      if (from === 'degraded') {
        await r.tick(1100);
        r.server.pongs(false);
        await r.tick(1500);
      }
      const expected = from === 'handshaking' ? 'connecting' : from;
      expect(r.relay.status().state).toBe(expected);
      await r.relay.stop();
      expect(r.relay.status().state).toBe('closed');
      expect(r.pendingTimers()).toBe(0);
      const dials = r.server.stats.dials;
      r.server.accept();
      await r.tick(60_000, 1000);
      expect(r.server.stats.dials).toBe(dials);
      expect(r.server.connections.length).toBe(0);
      await expect(r.relay.send({ a: 1 })).rejects.toMatchObject({ code: 'STOPPED' });
    },
  );

  it('sends write straight to the socket when open and reject with a typed error otherwise', async () => {
    const r = rig();
    await expect(r.relay.send({ a: 1 })).rejects.toMatchObject({ code: 'NOT_OPEN', state: 'idle' });
    r.relay.start();
    await settle();
    await r.relay.send({ type: 'x', n: 1 });
    await settle();
    expect(r.server.received.map((f) => String(f.data))).toContain('{"type":"x","n":1}');
    await expect(r.relay.send(5 as never)).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
  });

  it('acknowledged sends resolve on ack, reject on nack, timeout and connection loss', async () => {
    const r = rig({ ackTimeout: 1000 }, { acks: true });
    r.server.onMessage((data, conn) => {
      const m = JSON.parse(String(data)) as { id?: string; type?: string };
      if (m.id === 'good') conn.send(JSON.stringify({ type: 'ack', id: m.id, ok: true }));
      if (m.id === 'bad') conn.send(JSON.stringify({ type: 'ack', id: m.id, ok: false, reason: 'nope' }));
    });
    r.relay.start();
    await settle();
    await expect(r.relay.send({ id: 'good' })).resolves.toBeUndefined();
    await expect(r.relay.send({ id: 'bad' })).rejects.toMatchObject({ code: 'NACK' });
    const slow = r.relay.send({ id: 'slow' });
    const timedOut = expect(slow).rejects.toMatchObject({ code: 'ACK_TIMEOUT' });
    await r.tick(1010);
    await timedOut;
    const lost = r.relay.send({ id: 'lost' });
    const lostExpect = expect(lost).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    r.server.drop();
    await settle();
    await lostExpect;
  });

  it('reports bad inbound frames as typed errors and keeps working', async () => {
    const r = rig({}, { types: ['note'] });
    const got: unknown[] = [];
    r.relay.messages$.subscribe((m) => got.push(m));
    r.relay.start();
    await settle();
    r.server.send('{not json');
    r.server.send(new Uint8Array([1, 2, 3]));
    r.server.send(JSON.stringify({ type: 'mystery' }));
    r.server.send(JSON.stringify({ type: 'note', n: 1 }));
    await settle();
    const codes = r.events.flatMap((e) => (e.type === 'error' ? [(e.error as { detail?: string }).detail] : []));
    expect(codes).toEqual(['MALFORMED', 'BINARY', 'UNKNOWN_TYPE']);
    expect(got).toEqual([{ type: 'note', n: 1 }]);
    expect(r.relay.status().state).toBe('open');
  });

  it('calls beforeReconnect before each reconnect with the cause', async () => {
    const seen: Array<{ attempt: number; reason: string }> = [];
    const r = rig({ beforeReconnect: (i) => seen.push({ attempt: i.attempt, reason: i.verdict.reason }) });
    r.relay.start();
    await settle();
    r.server.drop();
    await settle();
    expect(seen).toEqual([{ attempt: 1, reason: 'close 1006' }]);
  });
});
