import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import type { DialOptions, DisconnectInfo, Frame, TransportHandlers, TransportSocket } from '../core/contract.ts';
import { parseRetryAfter, wsTransport } from '../adapters/wsTransport.ts';
import { startTestRelay } from '../testkit/testRelay.ts';

const WAIT_MS = 5000;

type Ev =
  | { type: 'open' }
  | { type: 'message'; data: Frame; isBinary: boolean }
  | { type: 'pong' }
  | { type: 'close'; info: DisconnectInfo };

/** Records handler calls; `wait` resolves on the first matching event, bounded by WAIT_MS. */
function recorder(react?: (ev: Ev) => void) {
  const events: Ev[] = [];
  const waiters: Array<{ match: (e: Ev) => boolean; resolve: (e: Ev) => void }> = [];
  const state = { inConnect: false, syncCalls: 0 };
  const push = (ev: Ev) => {
    if (state.inConnect) state.syncCalls++;
    events.push(ev);
    for (const w of [...waiters]) {
      if (w.match(ev)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(ev);
      }
    }
    react?.(ev);
  };
  const handlers: TransportHandlers = {
    onOpen: () => push({ type: 'open' }),
    onMessage: (data, isBinary) => push({ type: 'message', data, isBinary }),
    onPong: () => push({ type: 'pong' }),
    onClose: (info) => push({ type: 'close', info }),
  };
  const wait = <T extends Ev['type']>(
    type: T,
    match: (e: Extract<Ev, { type: T }>) => boolean = () => true,
  ): Promise<Extract<Ev, { type: T }>> => {
    const test = (e: Ev) => e.type === type && match(e as Extract<Ev, { type: T }>);
    const found = events.find(test);
    if (found) return Promise.resolve(found as Extract<Ev, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for "${type}"; got ${JSON.stringify(events.map((e) => e.type))}`));
      }, WAIT_MS);
      const waiter = {
        match: test,
        resolve: (e: Ev) => {
          clearTimeout(timer);
          resolve(e as Extract<Ev, { type: T }>);
        },
      };
      waiters.push(waiter);
    });
  };
  const closed = async () => (await wait('close')).info;
  return { events, handlers, wait, closed, state };
}

type Recorder = ReturnType<typeof recorder>;

// Resources of the current test, released in afterEach.
const sockets: Array<{ socket: TransportSocket; rec: Recorder }> = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const { socket } of sockets) socket.terminate();
  await Promise.all(sockets.map(({ rec }) => rec.closed()));
  for (const { rec } of sockets) {
    // Invariants of every socket: exactly one onClose, last; nothing from within connect().
    expect(rec.events.filter((e) => e.type === 'close')).toHaveLength(1);
    expect(rec.events.at(-1)?.type).toBe('close');
    expect(rec.state.syncCalls).toBe(0);
  }
  sockets.length = 0;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function dial(
  url: string,
  dialOptions: DialOptions = {},
  options: Parameters<typeof wsTransport>[0] = {},
  react?: (ev: Ev) => void,
) {
  const rec = recorder(react);
  rec.state.inConnect = true;
  const socket = wsTransport(options).connect(url, rec.handlers, dialOptions);
  rec.state.inConnect = false;
  sockets.push({ socket, rec });
  return { socket, rec };
}

async function wsServer(options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  cleanups.push(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  const { port } = wss.address() as AddressInfo;
  const url = `ws://127.0.0.1:${port}`;
  const nextConnection = async () => (await once(wss, 'connection')) as [WebSocket, http.IncomingMessage];
  return { wss, url, nextConnection };
}

/** An HTTP server whose upgrade handler is scripted: answer with a status, or hold the socket. */
async function rawServer(onUpgrade: (socket: Socket) => void) {
  const server = http.createServer((_req, res) => res.end());
  const open = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  server.on('upgrade', (_req, socket: Socket) => onUpgrade(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('wsTransport', () => {
  it('is named ws and has protocol pings', () => {
    const t = wsTransport();
    expect(t.name).toBe('ws');
    expect(t.supportsPing).toBe(true);
  });

  it('opens, sends and receives text and binary frames', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { socket, rec } = dial(url);
    expect(rec.events).toEqual([]); // nothing synchronously
    await rec.wait('open');
    const [server] = await conn;

    const got = once(server, 'message');
    socket.send('hello');
    const [data, isBinary] = (await got) as [Buffer, boolean];
    expect(isBinary).toBe(false);
    expect(data.toString()).toBe('hello');

    const gotBinary = once(server, 'message');
    socket.send(new Uint8Array([9, 8, 7]));
    const [bin, binIsBinary] = (await gotBinary) as [Buffer, boolean];
    expect(binIsBinary).toBe(true);
    expect([...bin]).toEqual([9, 8, 7]);

    server.send('text');
    server.send(Buffer.from([1, 2, 3]));
    const text = await rec.wait('message', (e) => !e.isBinary);
    expect(text.data).toBe('text');
    const binary = await rec.wait('message', (e) => e.isBinary);
    expect(binary.data).toBeInstanceOf(Uint8Array);
    expect([...(binary.data as Uint8Array)]).toEqual([1, 2, 3]);
    expect(socket.bufferedAmount).toBe(0);
  });

  it('passes headers, protocols, maxPayload and closeTimeout to the injected WebSocket class', async () => {
    const { url, nextConnection } = await wsServer({
      handleProtocols: (protocols) => (protocols.has('relay.v1') ? 'relay.v1' : false),
    });
    const seen: Array<{ protocols: unknown; options: ClientOptions & { closeTimeout?: number } }> = [];
    class SpyWebSocket extends WebSocket {
      constructor(address: string, protocols: string[], options: ClientOptions) {
        super(address, protocols, options);
        seen.push({ protocols, options });
      }
    }
    const conn = nextConnection();
    const { rec } = dial(
      url,
      { headers: { 'x-token': 'abc' }, protocols: ['relay.v1'], maxPayload: 4096 },
      {
        WebSocket: SpyWebSocket as typeof WebSocket,
        closeTimeout: 500,
        clientOptions: { headers: { 'x-base': '1', 'x-token': 'base' } },
      },
    );
    await rec.wait('open');
    const [server, req] = await conn;
    expect(req.headers['x-token']).toBe('abc');
    expect(req.headers['x-base']).toBe('1');
    expect(server.protocol).toBe('relay.v1');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.protocols).toEqual(['relay.v1']);
    expect(seen[0]!.options.maxPayload).toBe(4096);
    expect(seen[0]!.options.closeTimeout).toBe(500);
  });

  it('reports protocol pongs, and ignores ping() before open', async () => {
    const { url } = await wsServer();
    const { socket, rec } = dial(url);
    expect(() => socket.ping!()).not.toThrow();
    await rec.wait('open');
    socket.ping!();
    await rec.wait('pong');
  });

  it('throws on send unless open', async () => {
    const { url } = await wsServer();
    const { socket, rec } = dial(url);
    expect(() => socket.send('early')).toThrow(/not open/);
    await rec.wait('open');
    socket.close(1000, 'bye');
    expect(() => socket.send('late')).toThrow(/not open/);
    await rec.closed();
    expect(() => socket.send('later')).toThrow(/not open/);
  });

  it('reports a server close with code, reason and wasClean', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    server.close(4001, 'go away');
    expect(await rec.closed()).toEqual({ code: 4001, reason: 'go away', wasClean: true });
  });

  it('closes cleanly from our side; invalid codes and long reasons do not throw', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { socket, rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    const serverClosed = once(server, 'close');
    socket.close(1000, 'done');
    const [code, reason] = (await serverClosed) as [number, Buffer];
    expect(code).toBe(1000);
    expect(reason.toString()).toBe('done');
    expect(await rec.closed()).toEqual({ code: 1000, reason: 'done', wasClean: true });

    const conn2 = nextConnection();
    const second = dial(url);
    const [server2] = await conn2;
    await second.rec.wait('open');
    const server2Closed = once(server2, 'close');
    expect(() => second.socket.close(1006, 'x'.repeat(300))).not.toThrow();
    const [code2] = (await server2Closed) as [number, Buffer];
    expect(code2).toBe(1005);
    expect((await second.rec.closed()).code).toBe(1005);

    const conn3 = nextConnection();
    const third = dial(url);
    const [server3] = await conn3;
    await third.rec.wait('open');
    const server3Closed = once(server3, 'close');
    third.socket.close(4000, 'é'.repeat(100)); // 200 bytes: cut to 123 without splitting a character
    const [, reason3] = (await server3Closed) as [number, Buffer];
    expect(reason3.byteLength).toBeLessThanOrEqual(123);
    expect(reason3.toString()).toBe('é'.repeat(61));
  });

  it('reports 1006 when the server drops the connection', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    server.terminate();
    const info = await rec.closed();
    expect(info.code).toBe(1006);
    expect(info.wasClean).toBe(false);
    expect(info.status).toBeUndefined();
  });

  it('reports the TCP error when the server resets the connection after open: 1006 with ECONNRESET', async () => {
    const relay = await startTestRelay();
    cleanups.push(() => relay.close());
    const { rec } = dial(relay.url);
    await rec.wait('open');
    await relay.waitForConnections(1);
    expect(relay.reset()).toBe(1);
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1006, wasClean: false, errorCode: 'ECONNRESET' });
    expect(info.message).toMatch(/ECONNRESET/);
  });

  it('reports any error of the TCP socket after the upgrade by its code (ETIMEDOUT, EPIPE, ...)', async () => {
    const { url } = await wsServer();
    let tcp: Socket | undefined;
    const { WebSocket: Capture } = capture((ws) => ws.once('upgrade', (res) => (tcp = res.socket)));
    const { rec } = dial(url, {}, { WebSocket: Capture });
    await rec.wait('open');
    // What the kernel reports when TCP keepalive or retransmissions give up on a dead peer.
    tcp!.destroy(Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT', errno: -110, syscall: 'read' }));
    expect(await rec.closed()).toMatchObject({
      code: 1006,
      wasClean: false,
      errorCode: 'ETIMEDOUT',
      message: 'read ETIMEDOUT',
    });
  });

  it('reports 1006 when we terminate an open socket', async () => {
    const { url } = await wsServer();
    const { socket, rec } = dial(url);
    await rec.wait('open');
    socket.terminate();
    socket.terminate(); // idempotent
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1006, wasClean: false });
  });

  it('terminate() after close() ends at once when the peer never answers the close frame', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { socket, rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    // Stop the server from reading: our close frame goes unanswered, as with a dead peer.
    (server as unknown as { _socket: Socket })._socket.pause();
    socket.close(1000, 'bye');
    socket.terminate();
    expect(await rec.closed()).toMatchObject({ code: 1006, wasClean: false });
  });

  it('reports ECONNREFUSED against a closed port', async () => {
    const port = await closedPort();
    const { rec } = dial(`ws://127.0.0.1:${port}`);
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1006, wasClean: false, errorCode: 'ECONNREFUSED' });
    expect(info.message).toMatch(/ECONNREFUSED/);
    expect(rec.events.map((e) => e.type)).toEqual(['close']);
  });

  it('reports a refused upgrade: 401', async () => {
    const url = await rawServer((socket) =>
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'),
    );
    const { rec } = dial(url);
    const info = await rec.closed();
    expect(info).toEqual({
      code: 1006,
      reason: '',
      wasClean: false,
      status: 401,
      message: 'Unexpected server response: 401',
    });
  });

  it('reports a refused upgrade: 503 with Retry-After in seconds', async () => {
    const url = await rawServer((socket) =>
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      ),
    );
    const { rec } = dial(url);
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1006, wasClean: false, status: 503, retryAfterMs: 7000 });
    expect(info.errorCode).toBeUndefined();
  });

  it('reports a refused upgrade: 503 with Retry-After as an HTTP-date', async () => {
    const date = new Date(Date.now() + 10_000).toUTCString();
    const url = await rawServer((socket) =>
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${date}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      ),
    );
    const { rec } = dial(url);
    const info = await rec.closed();
    expect(info.status).toBe(503);
    expect(info.retryAfterMs).toBeGreaterThan(7000);
    expect(info.retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it('closes with 1009 and WS_ERR_UNSUPPORTED_MESSAGE_LENGTH on a frame over maxPayload', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { rec } = dial(url, { maxPayload: 1024 });
    const [server] = await conn;
    await rec.wait('open');
    const serverClosed = once(server, 'close');
    server.send('x'.repeat(2048));
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1009, wasClean: false, errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' });
    const [serverCode] = (await serverClosed) as [number];
    expect(serverCode).toBe(1009);
    expect(rec.events.some((e) => e.type === 'message')).toBe(false);
  });

  it('calls no handler after onClose, even with frames in flight', async () => {
    const { url, wss } = await wsServer();
    wss.on('connection', (server) => {
      for (let i = 0; i < 50; i++) server.send(`m${i}`);
      server.ping();
    });
    const target: { socket?: TransportSocket } = {};
    const { socket, rec } = dial(url, {}, {}, (ev) => {
      if (ev.type === 'message') target.socket?.terminate();
    });
    target.socket = socket;
    await rec.closed();
    // Poke the dead socket, then make a full round trip on another connection as an I/O barrier.
    socket.ping!();
    socket.close();
    socket.terminate();
    const other = dial(url);
    await other.rec.wait('message', (e) => e.data === 'm49');
    expect(rec.events.map((e) => e.type)).toEqual(['open', 'message', 'close']);
  });

  it('terminates while connecting: 1006, never open', async () => {
    const url = await rawServer(() => {}); // holds the upgrade forever
    const { socket, rec } = dial(url);
    socket.terminate();
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1006, wasClean: false });
    expect(info.errorCode).toBeUndefined();
    expect(rec.events.map((e) => e.type)).toEqual(['close']);
  });

  it('close() while connecting aborts the dial with 1006', async () => {
    const url = await rawServer(() => {});
    let upgraded!: () => void;
    const reached = new Promise<void>((resolve) => (upgraded = resolve));
    const heldUrl = await rawServer(() => upgraded());
    const first = dial(url);
    first.socket.close(1000, 'never mind'); // before any I/O
    expect(await first.rec.closed()).toMatchObject({ code: 1006, wasClean: false });

    const second = dial(heldUrl);
    await reached; // the upgrade request reached the server and hangs
    second.socket.close(4000, 'timeout');
    const info = await second.rec.closed();
    expect(info).toMatchObject({
      code: 1006,
      wasClean: false,
      message: 'closed locally before the connection was established',
    });
    expect(second.rec.events.map((e) => e.type)).toEqual(['close']);
  });

  it('reports a constructor failure as DIAL_FAILED, asynchronously', async () => {
    const { rec } = dial('not a url');
    expect(rec.events).toEqual([]);
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1006, wasClean: false, errorCode: 'DIAL_FAILED' });
  });

  it('leaves no listeners on the ws socket after close', async () => {
    const { url } = await wsServer();
    const instances: WebSocket[] = [];
    class Capture extends WebSocket {
      constructor(address: string, protocols: string[], options: ClientOptions) {
        super(address, protocols, options);
        instances.push(this);
      }
    }
    const { socket, rec } = dial(url, {}, { WebSocket: Capture as typeof WebSocket });
    await rec.wait('open');
    socket.close(1000);
    await rec.closed();
    const ws = instances[0]!;
    for (const event of ['open', 'message', 'pong', 'close', 'unexpected-response'])
      expect(ws.listenerCount(event)).toBe(0);
    expect(ws.listenerCount('error')).toBeLessThanOrEqual(1);
  });
});

/** Every `ws` socket the transport opens, to see when TCP really ends (`readyState` CLOSED). */
function capture(patch?: (ws: WebSocket) => void) {
  const instances: WebSocket[] = [];
  class Capture extends WebSocket {
    constructor(address: string, protocols: string[], options: ClientOptions) {
      super(address, protocols, options);
      patch?.(this);
      instances.push(this);
    }
  }
  return { WebSocket: Capture as typeof WebSocket, instances };
}

/** Resolves when `ws` has emitted 'close' (TCP ended), with the ms it took from `since`; bounded by WAIT_MS. */
async function tcpClosed(ws: WebSocket, since: number): Promise<number> {
  if (ws.readyState !== WebSocket.CLOSED)
    await Promise.race([once(ws, 'close'), rejectAfter(WAIT_MS, 'the socket to close')]);
  return performance.now() - since;
}

function rejectAfter(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref(),
  );
}

describe('wsTransport: a peer that sends a close frame and keeps TCP open', () => {
  it("reports onClose at once with the code and reason, then drops TCP after the dial's closeTimeout", async () => {
    const relay = await startTestRelay();
    cleanups.push(() => relay.close());
    const ws = capture();
    const { rec } = dial(relay.url, { closeTimeout: 300 }, { WebSocket: ws.WebSocket });
    await rec.wait('open');
    const sentAt = performance.now();
    relay.closeFrameOnly(1012, 'restarting');
    const info = await rec.closed();
    const reportedAfter = performance.now() - sentAt;
    expect(info).toEqual({ code: 1012, reason: 'restarting', wasClean: true });
    // Reported while TCP is still up: the server keeps it, and we have not dropped it yet.
    expect(ws.instances[0]!.readyState).toBe(WebSocket.CLOSING);
    expect(reportedAfter).toBeLessThan(300);
    const droppedAfter = await tcpClosed(ws.instances[0]!, sentAt);
    expect(droppedAfter).toBeGreaterThanOrEqual(295);
    expect(rec.events.map((e) => e.type)).toEqual(['open', 'close']);
  });

  it("uses the transport's closeTimeout when the dial has none; the dial's wins", async () => {
    const relay = await startTestRelay();
    cleanups.push(() => relay.close());
    const ws = capture();
    const a = dial(relay.url, {}, { WebSocket: ws.WebSocket, closeTimeout: 150 });
    const b = dial(relay.url, { closeTimeout: 0 }, { WebSocket: ws.WebSocket, closeTimeout: 150 });
    await Promise.all([a.rec.wait('open'), b.rec.wait('open')]);
    const sentAt = performance.now();
    relay.closeFrameOnly(1001);
    expect((await a.rec.closed()).code).toBe(1001);
    expect((await b.rec.closed()).code).toBe(1001);
    const [wsA, wsB] = ws.instances as [WebSocket, WebSocket];
    expect(await tcpClosed(wsB, sentAt)).toBeLessThan(150); // 0: dropped at once
    expect(await tcpClosed(wsA, sentAt)).toBeGreaterThanOrEqual(145);
  });

  it('terminate() after that onClose drops the socket at once', async () => {
    const relay = await startTestRelay();
    cleanups.push(() => relay.close());
    const ws = capture();
    const { socket, rec } = dial(relay.url, { closeTimeout: 10_000 }, { WebSocket: ws.WebSocket });
    await rec.wait('open');
    relay.closeFrameOnly(1000, 'bye');
    expect(await rec.closed()).toEqual({ code: 1000, reason: 'bye', wasClean: true });
    const terminatedAt = performance.now();
    socket.terminate();
    expect(await tcpClosed(ws.instances[0]!, terminatedAt)).toBeLessThan(1000);
    expect(rec.events.map((e) => e.type)).toEqual(['open', 'close']);
  });

  it('a peer that closes TCP right after its close frame: exactly one onClose', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const ws = capture();
    const { rec } = dial(url, { closeTimeout: 10_000 }, { WebSocket: ws.WebSocket });
    const [server] = await conn;
    await rec.wait('open');
    const serverClosed = once(server, 'close');
    server.close(4001, 'go away');
    expect(await rec.closed()).toEqual({ code: 4001, reason: 'go away', wasClean: true });
    await serverClosed;
    expect(await tcpClosed(ws.instances[0]!, performance.now())).toBeLessThan(WAIT_MS);
    // One more round trip on another connection as an I/O barrier for anything late.
    const other = dial(url);
    await other.rec.wait('open');
    expect(rec.events.map((e) => e.type)).toEqual(['open', 'close']);
  });

  it('a local close is unaffected: onClose once TCP has ended, with our code', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const ws = capture();
    const { socket, rec } = dial(url, { closeTimeout: 10_000 }, { WebSocket: ws.WebSocket });
    const [server] = await conn;
    await rec.wait('open');
    socket.close(1000, 'done');
    expect(await rec.closed()).toEqual({ code: 1000, reason: 'done', wasClean: true });
    // Not reported before TCP ended: stop() awaits this to know the socket is gone.
    expect(ws.instances[0]!.readyState).toBe(WebSocket.CLOSED);
    expect(server.readyState).not.toBe(WebSocket.OPEN);
  });

  it("without ws's close-frame fields (another ws version), reports at the drop, still with the code", async () => {
    const relay = await startTestRelay();
    cleanups.push(() => relay.close());
    // Hide the private fields the early report reads; ws itself keeps working through the setter.
    const ws = capture((socket) => {
      let received = false;
      Object.defineProperty(socket, '_closeFrameReceived', {
        get: () => undefined,
        set: (v: boolean) => void (received = v),
      });
      void received;
    });
    const { rec } = dial(relay.url, { closeTimeout: 200 }, { WebSocket: ws.WebSocket });
    await rec.wait('open');
    const sentAt = performance.now();
    relay.closeFrameOnly(1001, 'going away');
    expect(await rec.closed()).toEqual({ code: 1001, reason: 'going away', wasClean: true });
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(195);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP-dates', () => {
    expect(parseRetryAfter('5')).toBe(5000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    expect(parseRetryAfter(['3', '9'])).toBe(3000);
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
  });

  it('returns undefined for absent or unreadable values', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('-5')).toBeUndefined();
  });
});
