import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import { browserNetwork, browserTransport } from '../adapters/browserTransport.ts';
import type { DialOptions, DisconnectInfo, Frame, TransportHandlers, TransportSocket } from '../core/contract.ts';
import { startTestRelay } from '../testkit/testRelay.ts';

const WAIT_MS = 5000;

type Ev =
  | { type: 'open' }
  | { type: 'message'; data: Frame; isBinary: boolean }
  | { type: 'pong' }
  | { type: 'close'; info: DisconnectInfo };

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

/** ws's WHATWG-style class, recording every instance so tests can inspect listeners. */
const instances: WebSocket[] = [];
class CapturingWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols);
    instances.push(this);
  }
}
const WhatwgWebSocket = CapturingWebSocket as unknown as typeof globalThis.WebSocket;

const sockets: Array<{ socket: TransportSocket; rec: Recorder }> = [];
const cleanups: Array<() => Promise<void> | void> = [];

/** Waits for the native socket to reach CLOSED (its own 'close' event), bounded. */
async function nativeClosed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  // Not events.once(): it rejects on the 'error' that ws emits when a connecting socket is closed.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('native socket did not close')), WAIT_MS);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

afterEach(async () => {
  for (const { socket } of sockets) socket.terminate();
  await Promise.all(sockets.map(({ rec }) => rec.closed()));
  await Promise.all(instances.map(nativeClosed));
  for (const { rec } of sockets) {
    expect(rec.events.filter((e) => e.type === 'close')).toHaveLength(1);
    expect(rec.events.at(-1)?.type).toBe('close');
    expect(rec.state.syncCalls).toBe(0);
  }
  for (const ws of instances) {
    // No listener of ours survives the native close.
    for (const event of ['open', 'message', 'close', 'error']) expect(ws.listenerCount(event)).toBe(0);
  }
  sockets.length = 0;
  instances.length = 0;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.unstubAllGlobals();
});

function dial(url: string, dialOptions: DialOptions = {}, react?: (ev: Ev) => void, WebSocketClass = WhatwgWebSocket) {
  const rec = recorder(react);
  rec.state.inConnect = true;
  const socket = browserTransport({ WebSocket: WebSocketClass }).connect(url, rec.handlers, dialOptions);
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
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const nextConnection = async () => (await once(wss, 'connection')) as [WebSocket, http.IncomingMessage];
  return { wss, url, nextConnection };
}

describe('browserTransport', () => {
  it('is named browser, without protocol pings', async () => {
    const t = browserTransport({ WebSocket: WhatwgWebSocket });
    expect(t.name).toBe('browser');
    expect(t.supportsPing).toBe(false);
    const { url } = await wsServer();
    const { socket, rec } = dial(url);
    expect(socket.ping).toBeUndefined();
    await rec.wait('open');
  });

  it('opens, sends, and receives text as string and binary as Uint8Array', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { socket, rec } = dial(url);
    expect(rec.events).toEqual([]);
    expect(() => socket.send('early')).toThrow(/not open/);
    await rec.wait('open');
    const [server] = await conn;

    const got = once(server, 'message');
    socket.send('hi');
    const [data, isBinary] = (await got) as [Buffer, boolean];
    expect([data.toString(), isBinary]).toEqual(['hi', false]);

    server.send('text');
    server.send(Buffer.from([4, 5, 6]));
    expect((await rec.wait('message', (e) => !e.isBinary)).data).toBe('text');
    const bin = await rec.wait('message', (e) => e.isBinary);
    expect(bin.data).toBeInstanceOf(Uint8Array);
    expect([...(bin.data as Uint8Array)]).toEqual([4, 5, 6]);
    expect(socket.bufferedAmount).toBe(0);
  });

  it('offers protocols and ignores headers', async () => {
    const { url, nextConnection } = await wsServer({
      handleProtocols: (p) => (p.has('relay.v1') ? 'relay.v1' : false),
    });
    const conn = nextConnection();
    const { rec } = dial(url, { protocols: ['relay.v1'], headers: { 'x-token': 'abc' } });
    await rec.wait('open');
    const [server, req] = await conn;
    expect(server.protocol).toBe('relay.v1');
    expect(req.headers['x-token']).toBeUndefined();
  });

  it('reports a server close with code, reason and wasClean', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    server.close(4002, 'bye');
    expect(await rec.closed()).toEqual({ code: 4002, reason: 'bye', wasClean: true });
  });

  it("a close frame without a TCP close: reported at the platform's close, with the code; send throws meanwhile", async () => {
    const relay = await startTestRelay();
    cleanups.push(() => relay.close());
    const platformWaitMs = 150;
    // Stands in for a browser's own wait for the TCP close (ws's closeTimeout here; a page cannot set it).
    class PlatformWithTimer extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { closeTimeout: platformWaitMs } as ClientOptions);
        instances.push(this);
      }
    }
    const { socket, rec } = dial(
      relay.url,
      { closeTimeout: 10 },
      undefined,
      PlatformWithTimer as unknown as typeof globalThis.WebSocket,
    );
    await rec.wait('open');
    const sentAt = performance.now();
    relay.closeFrameOnly(1001, 'going away');
    const native = instances[0]!;
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + WAIT_MS;
      const poll = setInterval(() => {
        if (native.readyState === WebSocket.CLOSING) resolve();
        else if (Date.now() > deadline) reject(new Error('the close frame did not arrive'));
        else return;
        clearInterval(poll);
      }, 2);
    });
    expect(() => socket.send('into a closing socket')).toThrow(/not open/);
    expect(await rec.closed()).toEqual({ code: 1001, reason: 'going away', wasClean: true });
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(platformWaitMs - 5);
  });

  it('closes from our side; a code the platform rejects falls back to a plain close', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { socket, rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    const serverClosed = once(server, 'close');
    expect(() => socket.close(1006, 'not sendable')).not.toThrow();
    const [code] = (await serverClosed) as [number];
    expect(code).toBe(1005);
    expect((await rec.closed()).code).toBe(1005);
  });

  it('reports 1006 when the server drops the connection', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    server.terminate();
    expect(await rec.closed()).toMatchObject({ code: 1006, wasClean: false });
  });

  it('reports the platform error code when there is one (ws: ECONNREFUSED)', async () => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { rec } = dial(`ws://127.0.0.1:${port}`);
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1006, wasClean: false, errorCode: 'ECONNREFUSED' });
    expect(info.status).toBeUndefined();
  });

  it('enforces maxPayload: closes with 1009 and reports WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { rec } = dial(url, { maxPayload: 1024 });
    const [server] = await conn;
    await rec.wait('open');
    const serverClosed = once(server, 'close');
    server.send('small');
    server.send('é'.repeat(600)); // 600 characters but 1200 bytes
    server.send('after');
    const info = await rec.closed();
    expect(info).toMatchObject({ code: 1009, wasClean: false, errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' });
    expect(rec.events.filter((e) => e.type === 'message').map((e) => (e as { data: Frame }).data)).toEqual(['small']);
    const [code] = (await serverClosed) as [number];
    expect(code).toBe(1009);
  });

  it('terminate() reports 1006 at once and ignores the socket afterwards', async () => {
    const { url, nextConnection } = await wsServer();
    const conn = nextConnection();
    const { socket, rec } = dial(url);
    const [server] = await conn;
    await rec.wait('open');
    const serverClosed = once(server, 'close');
    server.send('in flight');
    socket.terminate();
    expect(await rec.closed()).toEqual({ code: 1006, reason: '', wasClean: false });
    await serverClosed;
    await nativeClosed(instances[0]!);
    expect(rec.events.map((e) => e.type)).toEqual(['open', 'close']);
  });

  it('terminate() while connecting: 1006, never open, no unhandled error', async () => {
    const { url } = await wsServer();
    const { socket, rec } = dial(url);
    socket.terminate();
    expect(await rec.closed()).toMatchObject({ code: 1006, wasClean: false });
    await nativeClosed(instances[0]!);
    expect(rec.events.map((e) => e.type)).toEqual(['close']);
  });

  it('reports a constructor failure as DIAL_FAILED, asynchronously', async () => {
    const { rec } = dial('not a url');
    expect(rec.events).toEqual([]);
    expect(await rec.closed()).toMatchObject({ code: 1006, errorCode: 'DIAL_FAILED' });
  });

  it('resolves the global WebSocket lazily and throws clearly when there is none', async () => {
    const transport = browserTransport();
    vi.stubGlobal('WebSocket', undefined);
    expect(() => transport.connect('ws://127.0.0.1:1', recorder().handlers, {})).toThrow(/no WebSocket implementation/);

    const { url } = await wsServer();
    vi.stubGlobal('WebSocket', WhatwgWebSocket); // installed after the transport was created
    const rec = recorder();
    const socket = transport.connect(url, rec.handlers, {});
    sockets.push({ socket, rec });
    await rec.wait('open');
  });
});

describe('browserNetwork', () => {
  it('reports online/offline events from the target until unsubscribed', () => {
    const target = new EventTarget();
    const nav = { onLine: false };
    const network = browserNetwork(target, nav);
    expect(network.isOnline()).toBe(false);
    const seen: boolean[] = [];
    const off = network.subscribe((online) => seen.push(online));
    const also: boolean[] = [];
    const offAlso = network.subscribe((online) => also.push(online));
    target.dispatchEvent(new Event('online'));
    nav.onLine = true;
    expect(network.isOnline()).toBe(true);
    target.dispatchEvent(new Event('offline'));
    off();
    off(); // idempotent
    target.dispatchEvent(new Event('online'));
    expect(seen).toEqual([true, false]);
    expect(also).toEqual([true, false, true]);
    offAlso();
  });

  it('is a no-op monitor where the global has no events (Node)', () => {
    const network = browserNetwork();
    const listener = vi.fn();
    const off = network.subscribe(listener);
    expect(typeof off).toBe('function');
    off();
    expect(network.isOnline()).toBe(true);
    expect(listener).not.toHaveBeenCalled();
  });

  it('uses globalThis when it is an event target', () => {
    const target = new EventTarget();
    vi.stubGlobal('addEventListener', target.addEventListener.bind(target));
    vi.stubGlobal('removeEventListener', target.removeEventListener.bind(target));
    const seen: boolean[] = [];
    const off = browserNetwork().subscribe((online) => seen.push(online));
    target.dispatchEvent(new Event('offline'));
    off();
    target.dispatchEvent(new Event('online'));
    expect(seen).toEqual([false]);
  });
});
