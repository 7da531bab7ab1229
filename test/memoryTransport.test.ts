import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { memoryTransport, type MemoryConnection, type MemoryTransport } from '../testkit/memoryTransport.ts';
import type { DialOptions, DisconnectInfo, Frame, TransportHandlers, TransportSocket } from '../core/contract.ts';

type Ev =
  | { type: 'open' }
  | { type: 'message'; data: Frame; isBinary: boolean }
  | { type: 'pong' }
  | { type: 'close'; info: DisconnectInfo };

const URL = 'ws://relay.test';

/** Lets every queued microtask run (one macrotask turn): memory deliveries without a delay are microtasks. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const sockets: Array<{ socket: TransportSocket; events: Ev[]; sync: { calls: number } }> = [];
const transports: MemoryTransport[] = [];

afterEach(async () => {
  for (const { socket } of sockets) socket.terminate();
  await settle();
  for (const { events, sync } of sockets) {
    expect(events.filter((e) => e.type === 'close')).toHaveLength(1);
    expect(events.at(-1)?.type).toBe('close');
    expect(sync.calls).toBe(0);
  }
  sockets.length = 0;
  for (const m of transports.splice(0)) m.reset();
});

function setup(options: Parameters<typeof memoryTransport>[0] = {}) {
  const m = memoryTransport(options);
  transports.push(m);
  return m;
}

/** Dials through `transport`; handler calls made while inside a socket method or connect() count as `sync`. */
function dial(transport: MemoryTransport, url = URL, dialOptions: DialOptions = {}) {
  const events: Ev[] = [];
  const sync = { calls: 0, inside: false };
  const push = (ev: Ev) => {
    if (sync.inside) sync.calls++;
    events.push(ev);
  };
  const handlers: TransportHandlers = {
    onOpen: () => push({ type: 'open' }),
    onMessage: (data, isBinary) => push({ type: 'message', data, isBinary }),
    onPong: () => push({ type: 'pong' }),
    onClose: (info) => push({ type: 'close', info }),
  };
  sync.inside = true;
  const raw = transport.connect(url, handlers, dialOptions);
  sync.inside = false;
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      sync.inside = true;
      try {
        return fn(...args);
      } finally {
        sync.inside = false;
      }
    };
  const socket: TransportSocket = {
    send: guard((d: Frame) => raw.send(d)),
    close: guard((c?: number, r?: string) => raw.close(c, r)),
    terminate: guard(() => raw.terminate()),
    ...(raw.ping ? { ping: guard(() => raw.ping!()) } : {}),
    get bufferedAmount() {
      return raw.bufferedAmount;
    },
  };
  sockets.push({ socket, events, sync });
  const types = () => events.map((e) => e.type);
  const closeInfo = () => (events.find((e) => e.type === 'close') as { info: DisconnectInfo } | undefined)?.info;
  const messages = () => events.filter((e) => e.type === 'message').map((e) => (e as { data: Frame }).data);
  return { socket, raw, events, types, closeInfo, messages };
}

describe('memoryTransport: basics', () => {
  it('is the transport and its controller', () => {
    const m = setup();
    expect(m.transport).toBe(m);
    expect(m.name).toBe('memory');
    expect(m.supportsPing).toBe(true);
    expect(setup({ name: 'sim', supportsPing: false }).name).toBe('sim');
  });

  it('opens asynchronously and exchanges frames both ways', async () => {
    const m = setup();
    const server = m.server(URL, { onMessage: (data, conn) => conn.send(`echo:${String(data)}`) });
    const client = dial(m);
    expect(client.events).toEqual([]);
    expect(() => client.socket.send('early')).toThrow(/not open/);
    await settle();
    expect(client.types()).toEqual(['open']);

    client.socket.send('hi');
    client.socket.send(new Uint8Array([1, 2]));
    expect(server.received.map((f) => [f.data, f.isBinary])).toEqual([
      ['hi', false],
      [new Uint8Array([1, 2]), true],
    ]);
    expect(client.messages()).toEqual([]); // the echo is not delivered synchronously
    await settle();
    expect(client.messages()).toEqual(['echo:hi', 'echo:1,2']);

    server.send(new Uint8Array([7]));
    await settle();
    expect(client.events.at(-1)).toEqual({ type: 'message', data: new Uint8Array([7]), isBinary: true });
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0]!.received.map((f) => f.data)).toEqual(['hi', new Uint8Array([1, 2])]);
    expect(server.stats).toMatchObject({ dials: 1, accepted: 1, refused: 0, framesIn: 2, framesOut: 3 });
    expect(m.dials).toBe(1);
    expect(client.socket.bufferedAmount).toBe(0);
  });

  it('refuses a dial to a URL without a server with ECONNREFUSED', async () => {
    const m = setup();
    const client = dial(m, 'ws://nowhere.test');
    await settle();
    expect(client.closeInfo()).toMatchObject({ code: 1006, wasClean: false, errorCode: 'ECONNREFUSED' });
    expect(client.types()).toEqual(['close']);
  });

  it('matches servers ignoring credentials, query and fragment, and keeps the dialled URL', async () => {
    const m = setup();
    const server = m.server('ws://relay.test');
    const seen: MemoryConnection[] = [];
    server.onConnection((c) => seen.push(c));
    const client = dial(m, 'ws://user:pw@relay.test/?token=abc', { protocols: ['v1'] });
    await settle();
    expect(client.types()).toEqual(['open']);
    expect(seen[0]!.url).toBe('ws://user:pw@relay.test/?token=abc');
    expect(seen[0]!.options).toEqual({ protocols: ['v1'] });
    expect(m.server('ws://relay.test/')).toBe(server);
    expect(m.getServer('ws://relay.test')).toBe(server);
    expect(m.getServer('ws://other.test')).toBeUndefined();
  });

  it('calls server handlers and listeners, and unsubscribes', async () => {
    const m = setup();
    const log: string[] = [];
    const server = m.server(URL, {
      onConnection: (c) => log.push(`conn ${c.id}`),
      onMessage: (d) => log.push(`msg ${String(d)}`),
      onClose: (_c, info) => log.push(`close ${info.code}`),
    });
    const off = server.onMessage((d) => log.push(`listener ${String(d)}`));
    const client = dial(m);
    await settle();
    client.socket.send('a');
    off();
    client.socket.send('b');
    client.socket.close(1000, 'bye');
    await settle();
    expect(log).toEqual(['conn 1', 'msg a', 'listener a', 'msg b', 'close 1000']);
  });
});

describe('memoryTransport: faults', () => {
  it('refuses with an upgrade status and Retry-After', async () => {
    const m = setup();
    m.server(URL).refuse({ status: 503, retryAfterMs: 5000 });
    const client = dial(m);
    await settle();
    expect(client.closeInfo()).toEqual({
      code: 1006,
      reason: '',
      wasClean: false,
      status: 503,
      retryAfterMs: 5000,
      message: 'Unexpected server response: 503',
    });
  });

  it('refuses with 401, with an error code, or with ECONNREFUSED by default', async () => {
    const m = setup();
    const server = m.server(URL).refuse({ status: 401 });
    const a = dial(m);
    await settle();
    expect(a.closeInfo()).toMatchObject({ status: 401 });
    expect(a.closeInfo()?.errorCode).toBeUndefined();

    server.refuse({ errorCode: 'ETIMEDOUT' });
    const b = dial(m);
    server.refuse();
    const c = dial(m);
    await settle();
    expect(b.closeInfo()).toMatchObject({ code: 1006, errorCode: 'ETIMEDOUT' });
    expect(c.closeInfo()).toMatchObject({ code: 1006, errorCode: 'ECONNREFUSED' });
    expect(server.stats).toMatchObject({ dials: 3, refused: 3, accepted: 0 });
  });

  it('refuses only `times` dials, then accepts; accept() clears a refusal', async () => {
    const m = setup();
    const server = m.server(URL).refuse({ errorCode: 'ECONNRESET', times: 2 });
    const dials = [dial(m), dial(m), dial(m)];
    await settle();
    expect(dials.map((d) => d.types()[0])).toEqual(['close', 'close', 'open']);

    server.refuse();
    server.accept();
    const later = dial(m);
    await settle();
    expect(later.types()).toEqual(['open']);
  });

  it('holds dials until released; a held dial can be abandoned', async () => {
    const m = setup();
    const server = m.server(URL).holdDials();
    const kept = dial(m);
    const abandoned = dial(m);
    await settle();
    expect(kept.events).toEqual([]);
    expect(server.pendingDials).toBe(2);

    abandoned.socket.terminate();
    await settle();
    expect(abandoned.closeInfo()).toMatchObject({ code: 1006, wasClean: false });
    expect(server.pendingDials).toBe(1);

    server.releaseDials();
    await settle();
    expect(kept.types()).toEqual(['open']);
    expect(abandoned.types()).toEqual(['close']);
    expect(server.connections).toHaveLength(1);
  });

  it('close() while connecting aborts with 1006', async () => {
    const m = setup();
    m.server(URL).holdDials();
    const client = dial(m);
    client.socket.close(1000, 'give up');
    await settle();
    expect(client.closeInfo()).toMatchObject({ code: 1006, wasClean: false });
  });

  it('answers pings unless told not to; sockets have no ping without supportsPing', async () => {
    const m = setup();
    const server = m.server(URL);
    const client = dial(m);
    client.socket.ping!(); // before open: ignored
    await settle();
    client.socket.ping!();
    expect(client.types()).toEqual(['open']); // the pong is not synchronous
    await settle();
    expect(client.types()).toEqual(['open', 'pong']);

    server.pongs(false);
    client.socket.ping!();
    await settle();
    expect(client.types()).toEqual(['open', 'pong']);
    expect(server.stats).toMatchObject({ pings: 2, pongs: 1 });

    const noPing = setup({ supportsPing: false });
    noPing.server(URL);
    const other = dial(noPing);
    expect(other.raw.ping).toBeUndefined();
    expect(noPing.supportsPing).toBe(false);
  });

  it('drop() closes every connection with 1006 and no close frame', async () => {
    const m = setup();
    const closes: number[] = [];
    const server = m.server(URL, { onClose: (_c, info) => closes.push(info.code) });
    const a = dial(m);
    const b = dial(m);
    await settle();
    server.drop();
    expect(server.connections).toHaveLength(0);
    await settle();
    expect(a.closeInfo()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(b.closeInfo()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(closes).toEqual([1006, 1006]);
    expect(server.allConnections.map((c) => c.state)).toEqual(['closed', 'closed']);
  });

  it('closeAll() closes cleanly with code and reason', async () => {
    const m = setup();
    const server = m.server(URL);
    const client = dial(m);
    await settle();
    server.send('last words');
    server.closeAll(4001, 'maintenance');
    server.send('ignored: closed');
    await settle();
    expect(client.events).toEqual([
      { type: 'open' },
      { type: 'message', data: 'last words', isBinary: false },
      { type: 'close', info: { code: 4001, reason: 'maintenance', wasClean: true } },
    ]);
    expect(server.allConnections[0]!.closeInfo).toEqual({ code: 4001, reason: 'maintenance', wasClean: true });
  });

  it('a client close is echoed; an invalid code closes without one (1005); close never throws', async () => {
    const m = setup();
    const server = m.server(URL);
    const a = dial(m);
    const b = dial(m);
    await settle();
    a.socket.close(1000, 'done');
    expect(() => b.socket.close(1006, 'not sendable')).not.toThrow();
    expect(() => a.socket.send('after close')).toThrow(/not open/);
    await settle();
    expect(a.closeInfo()).toEqual({ code: 1000, reason: 'done', wasClean: true });
    expect(b.closeInfo()).toEqual({ code: 1005, reason: '', wasClean: true });
    expect(server.allConnections.map((c) => c.closeInfo?.code)).toEqual([1000, 1005]);
  });

  it('blackhole: writes, pings, frames and closes vanish; only a local terminate ends the socket', async () => {
    const m = setup();
    const server = m.server(URL);
    const client = dial(m);
    await settle();
    server.blackhole();
    client.socket.send('lost');
    client.socket.ping!();
    server.send('lost too');
    client.socket.close(1000); // no echo will come
    await settle();
    expect(client.types()).toEqual(['open']);
    expect(server.received).toEqual([]);
    expect(server.stats.swallowed).toBe(3);

    client.socket.terminate();
    await settle();
    expect(client.closeInfo()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(server.connections).toHaveLength(0);

    server.blackhole(false);
    const fresh = dial(m);
    await settle();
    expect(fresh.types()).toEqual(['open']);
  });

  it('enforces the dial maxPayload with 1009', async () => {
    const m = setup();
    const server = m.server(URL);
    const client = dial(m, URL, { maxPayload: 4 });
    await settle();
    server.send('ok');
    server.send('é'.repeat(3)); // 6 bytes
    server.send('never');
    await settle();
    expect(client.messages()).toEqual(['ok']);
    expect(client.closeInfo()).toMatchObject({
      code: 1009,
      wasClean: false,
      errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    });
    expect(server.allConnections[0]!.closeInfo?.code).toBe(1009);
  });

  it('terminate() reports 1006 and discards deliveries in flight; no handler after onClose', async () => {
    const m = setup();
    const server = m.server(URL);
    const closes: number[] = [];
    server.onConnection(() => {});
    m.server(URL, { onClose: (_c, info) => closes.push(info.code) });
    const client = dial(m);
    await settle();
    server.send('in flight');
    client.socket.terminate();
    client.socket.terminate();
    client.socket.close();
    await settle();
    server.send('after');
    server.drop();
    await settle();
    expect(client.types()).toEqual(['open', 'close']);
    expect(client.closeInfo()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(closes).toEqual([1006]);
  });

  it('server.close() unregisters: connections drop, held and later dials are refused', async () => {
    const m = setup();
    const server = m.server(URL);
    const open = dial(m);
    await settle();
    server.holdDials();
    const held = dial(m);
    server.close();
    const later = dial(m);
    await settle();
    expect(open.closeInfo()).toMatchObject({ code: 1006 });
    expect(held.closeInfo()).toMatchObject({ code: 1006, errorCode: 'ECONNREFUSED' });
    expect(later.closeInfo()).toMatchObject({ code: 1006, errorCode: 'ECONNREFUSED' });
    expect(m.getServer(URL)).toBeUndefined();
    expect(m.server(URL)).not.toBe(server);
  });

  it('a throwing server script does not fail the client write', async () => {
    const errors: unknown[] = [];
    const m = setup({ onScriptError: (e) => errors.push(e) });
    const server = m.server(URL, {
      onMessage: () => {
        throw new Error('script bug');
      },
    });
    const client = dial(m);
    await settle();
    expect(() => client.socket.send('x')).not.toThrow();
    expect(server.received).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('script bug');
  });
});

describe('memoryTransport: delay on a SimulatedClock', () => {
  it('delays open, frames, pongs and closes by the server delay', async () => {
    const clock = new SimulatedClock();
    const m = setup({ clock });
    const server = m.server(URL).delay(100);
    const client = dial(m);
    await settle();
    expect(client.events).toEqual([]);
    clock.increment(99);
    await settle();
    expect(client.events).toEqual([]);
    clock.increment(1);
    expect(client.types()).toEqual(['open']);

    server.send('a');
    client.socket.ping!();
    clock.increment(50);
    expect(client.types()).toEqual(['open']);
    clock.increment(50);
    expect(client.types()).toEqual(['open', 'message', 'pong']);

    server.closeAll(1001, 'later');
    clock.increment(100);
    expect(client.closeInfo()).toEqual({ code: 1001, reason: 'later', wasClean: true });
  });

  it('keeps frames in order when the delay shrinks', async () => {
    const clock = new SimulatedClock();
    const m = setup({ clock });
    const server = m.server(URL);
    const client = dial(m);
    await settle();
    server.delay(100);
    server.send('first');
    server.delay(10);
    server.send('second');
    server.delay(0);
    server.send('third');
    clock.increment(10);
    await settle();
    expect(client.messages()).toEqual([]);
    clock.increment(90);
    await settle();
    expect(client.messages()).toEqual(['first', 'second', 'third']);

    server.send('now');
    await settle();
    expect(client.messages()).toEqual(['first', 'second', 'third', 'now']);
  });

  it('terminate cancels delayed deliveries', async () => {
    const clock = new SimulatedClock();
    const m = setup({ clock });
    const server = m.server(URL);
    const client = dial(m);
    await settle();
    server.delay(100);
    server.send('never');
    client.socket.terminate();
    await settle();
    clock.increment(1000);
    expect(client.types()).toEqual(['open', 'close']);
  });

  it("closeFrameOnly(): the client closes at once; the TCP kept up is dropped after the dial's closeTimeout", async () => {
    const clock = new SimulatedClock();
    const m = setup({ clock });
    const ends: Array<[number, number]> = [];
    const server = m.server(URL, { onClose: (c, info) => ends.push([c.id, info.code]) });
    const quick = dial(m, URL, { closeTimeout: 500 });
    const plain = dial(m); // no closeTimeout: ws's 30000
    await settle();
    expect(server.closeFrameOnly(1001, 'going away')).toBe(server);
    server.send('ignored: a close frame was sent');
    server.closeAll(4000); // ignored too: already closing
    await settle();
    for (const client of [quick, plain]) {
      expect(client.events).toEqual([
        { type: 'open' },
        { type: 'close', info: { code: 1001, reason: 'going away', wasClean: true } },
      ]);
    }
    const [q, p] = server.allConnections as [MemoryConnection, MemoryConnection];
    expect([q.state, p.state]).toEqual(['closing', 'closing']);
    expect(server.connections).toEqual([]);
    expect(ends).toEqual([]);

    clock.increment(499);
    expect(q.state).toBe('closing');
    clock.increment(1);
    expect(q.state).toBe('closed');
    expect(q.closeInfo).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(ends).toEqual([[q.id, 1006]]);
    clock.increment(30_000 - 500);
    expect(p.state).toBe('closed');
    expect(ends).toEqual([
      [q.id, 1006],
      [p.id, 1006],
    ]);
    expect(server.stats.framesOut).toBe(0);
  });

  it('closeFrameOnly(): drop(), terminate() and closeTimeout 0 end the kept TCP at once; unsendable codes are 1005', async () => {
    const clock = new SimulatedClock();
    const m = setup({ clock });
    const server = m.server(URL);
    const dropped = dial(m, URL, { closeTimeout: 10_000 });
    const terminated = dial(m, URL, { closeTimeout: 10_000 });
    const immediate = dial(m, URL, { closeTimeout: 0 });
    await settle();
    server.closeFrameOnly(1006, 'not sendable');
    await settle();
    expect(dropped.closeInfo()).toEqual({ code: 1005, reason: '', wasClean: true });
    expect(immediate.closeInfo()).toEqual({ code: 1005, reason: '', wasClean: true });
    const [d, t, i] = server.allConnections as [MemoryConnection, MemoryConnection, MemoryConnection];
    expect([d.state, t.state, i.state]).toEqual(['closing', 'closing', 'closed']);
    terminated.socket.terminate();
    expect(t.state).toBe('closed');
    server.drop();
    expect(d.state).toBe('closed');
    expect(d.closeInfo).toEqual({ code: 1006, reason: '', wasClean: false });
    // The timers of the kept connections are gone with them.
    clock.increment(10_000);
    await settle();
    expect(dropped.types()).toEqual(['open', 'close']);
  });

  it('rejects a negative delay', () => {
    const m = setup();
    expect(() => m.server(URL).delay(-1)).toThrow(RangeError);
  });
});
