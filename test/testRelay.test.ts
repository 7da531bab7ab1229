import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestRelay } from '../testkit/index.ts';
import type { TestRelay } from '../testkit/index.ts';

const WAIT_MS = 3_000;
/** vitest's worker keeps at most one timer of its own that may appear or vanish mid-test. */
const VITEST_TIMEOUT_SLACK = 1;

/** Resolves with the value `subscribe` hands to its callback, rejects after `ms`; always cleans up. */
function within<T>(
  what: string,
  subscribe: (done: (value: T) => void, fail: (err: Error) => void) => () => void,
  ms = WAIT_MS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    unsubscribe = subscribe(
      (value) => {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        unsubscribe();
        reject(err);
      },
    );
  });
}

/** Every frame a client receives, with a way to wait for the next one matching a predicate. */
class Client {
  readonly ws: WebSocket;
  readonly frames: { data: string | Buffer; isBinary: boolean; at: number }[] = [];
  readonly pongs: Buffer[] = [];

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (raw, isBinary) => {
      const bytes = raw as Buffer;
      this.frames.push({ data: isBinary ? bytes : bytes.toString('utf8'), isBinary, at: performance.now() });
    });
    this.ws.on('pong', (data) => this.pongs.push(data));
  }

  static async open(relay: TestRelay, options?: WebSocket.ClientOptions): Promise<Client> {
    const client = new Client(relay.url, options);
    await within<void>('open', (done, fail) => {
      const onOpen = () => done();
      client.ws.once('open', onOpen);
      client.ws.once('error', fail);
      return () => {
        client.ws.off('open', onOpen);
        client.ws.off('error', fail);
      };
    });
    return client;
  }

  /** Text frames parsed as JSON (non-JSON frames are skipped). */
  get json(): any[] {
    return this.frames.flatMap((f) => {
      if (typeof f.data !== 'string') return [];
      try {
        return [JSON.parse(f.data)];
      } catch {
        return [];
      }
    });
  }

  /** Waits until a frame satisfying `match` has been received (including already received ones). */
  waitFrame(match: (data: string | Buffer, isBinary: boolean) => boolean, what = 'a frame', ms = WAIT_MS, since = 0) {
    return within<{ data: string | Buffer; isBinary: boolean; at: number }>(
      what,
      (done) => {
        const check = () => {
          const found = this.frames.slice(since).find((f) => match(f.data, f.isBinary));
          if (found) done(found);
        };
        this.ws.on('message', check);
        queueMicrotask(check);
        return () => this.ws.off('message', check);
      },
      ms,
    );
  }

  /** Waits for a text frame equal to `text`. */
  waitText(text: string) {
    return this.waitFrame((d) => d === text, `frame ${text}`);
  }

  /** Waits for a JSON frame with these fields. */
  waitJson(fields: Record<string, unknown>) {
    return this.waitFrame(
      (d) => {
        if (typeof d !== 'string') return false;
        try {
          const parsed = JSON.parse(d);
          return Object.entries(fields).every(([k, v]) => parsed[k] === v);
        } catch {
          return false;
        }
      },
      `frame matching ${JSON.stringify(fields)}`,
    );
  }

  /** Sends a text frame and waits for its echo; returns the round-trip time in ms. */
  async roundTrip(text: string): Promise<number> {
    const started = performance.now();
    this.ws.send(text);
    const frame = await this.waitText(text);
    return frame.at - started;
  }

  waitPong() {
    const before = this.pongs.length;
    return within<Buffer>('a protocol pong', (done) => {
      const onPong = () => {
        const pong = this.pongs[before];
        if (pong) done(pong);
      };
      this.ws.on('pong', onPong);
      return () => this.ws.off('pong', onPong);
    });
  }

  waitClose() {
    return within<{ code: number; reason: string }>('close', (done) => {
      if (this.ws.readyState === WebSocket.CLOSED) {
        queueMicrotask(() => done({ code: -1, reason: 'already closed' }));
        return () => {};
      }
      const onClose = (code: number, reason: Buffer) => done({ code, reason: reason.toString() });
      this.ws.once('close', onClose);
      return () => this.ws.off('close', onClose);
    });
  }

  /** Closes cleanly (or terminates if that does not work) and waits for the socket to be gone. */
  async dispose(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = this.waitClose();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    else this.ws.terminate();
    await closed;
  }
}

/** Starts a relay, runs `body`, then closes every client and the relay whatever happened. */
async function withRelay(
  body: (relay: TestRelay, connect: () => Promise<Client>) => Promise<void>,
  options?: Parameters<typeof startTestRelay>[0],
): Promise<void> {
  const relay = await startTestRelay(options);
  const clients: Client[] = [];
  const connect = async () => {
    const client = await Client.open(relay);
    clients.push(client);
    return client;
  };
  try {
    await body(relay, connect);
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    await relay.close();
  }
}

/** Dials `url` expecting the connection to fail; resolves with the error. */
function dialError(url: string): Promise<NodeJS.ErrnoException> {
  const ws = new WebSocket(url);
  return within<NodeJS.ErrnoException>('a dial error', (done) => {
    const onOpen = () => done(Object.assign(new Error('unexpectedly connected'), { code: 'CONNECTED' }));
    ws.once('error', done);
    ws.once('open', onOpen);
    return () => {
      ws.off('error', done);
      ws.off('open', onOpen);
      ws.terminate();
    };
  });
}

/** Dials `url` expecting a refused upgrade; resolves with the HTTP response. */
function dialRefused(url: string): Promise<IncomingMessage> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  return within<IncomingMessage>('an unexpected-response', (done, fail) => {
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      done(res);
    });
    ws.once('open', () => fail(new Error('upgrade unexpectedly accepted')));
    return () => ws.removeAllListeners('open');
  });
}

/**
 * Handle counts once pending libuv closes have run: polls for up to `turns` event-loop turns (no timers) until no
 * count exceeds `target`.
 */
async function settledHandles(target: Record<string, number>, turns = 50): Promise<Record<string, number>> {
  const settled = (counts: Record<string, number>) =>
    Object.entries(counts).every(([name, n]) => n <= (target[name] ?? Infinity));
  let counts = countHandles();
  for (let i = 0; i < turns && !settled(counts); i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    counts = countHandles();
  }
  if (process.env.DEBUG_HANDLES) console.log('settled', counts);
  return counts;
}

/**
 * Records every timer created through the global timer functions (our relay and `ws` use them; vitest's own
 * timers do not), so a test can tell which of them are still armed. `Timeout` entries of
 * `process.getActiveResourcesInfo()` cannot be attributed to an owner, and vitest's come and go.
 */
function trackTimers(): { armed: () => string[]; restore: () => void } {
  const armed = new Map<unknown, string>();
  const original = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
  };
  const g = globalThis as any;
  g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = original.setTimeout(
      (...a: unknown[]) => {
        armed.delete(timer);
        fn(...a);
      },
      ms,
      ...args,
    );
    armed.set(timer, new Error(`setTimeout(${ms})`).stack ?? '');
    return timer;
  };
  g.setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = original.setInterval(fn, ms, ...args);
    armed.set(timer, new Error(`setInterval(${ms})`).stack ?? '');
    return timer;
  };
  g.clearTimeout = (timer: any) => {
    armed.delete(timer);
    original.clearTimeout(timer);
  };
  g.clearInterval = (timer: any) => {
    armed.delete(timer);
    original.clearInterval(timer);
  };
  return {
    armed: () => [...armed.values()],
    restore: () => Object.assign(globalThis, original),
  };
}

function countHandles(): Record<string, number> {
  const counts: Record<string, number> = { TCPServerWrap: 0, TCPSocketWrap: 0, Timeout: 0 };
  for (const name of process.getActiveResourcesInfo()) {
    if (name in counts) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** No TCP handle beyond the baseline, no timer of ours armed, at most vitest's own extra `Timeout`. */
function expectNoLeak(before: Record<string, number>, after: Record<string, number>, armedTimers: string[]): void {
  expect(armedTimers).toEqual([]);
  expect(after.TCPServerWrap).toBe(before.TCPServerWrap);
  expect(after.TCPSocketWrap).toBe(before.TCPSocketWrap);
  expect(after.Timeout).toBeLessThanOrEqual((before.Timeout ?? 0) + VITEST_TIMEOUT_SLACK);
}

describe('startTestRelay', () => {
  it('listens on 127.0.0.1 with an ephemeral port', async () => {
    await withRelay(async (relay) => {
      expect(relay.port).toBeGreaterThan(0);
      expect(relay.url).toBe(`ws://127.0.0.1:${relay.port}`);
      expect(relay.listening).toBe(true);
    });
  });

  it('acks JSON frames with a string id, then echoes them verbatim', async () => {
    await withRelay(async (_relay, connect) => {
      const client = await connect();
      const frame = '{"type":"msg","id":"a1","payload": [1, 2]}';
      client.ws.send(frame);
      await client.waitText(frame);
      expect(client.frames.map((f) => f.data)).toEqual([JSON.stringify({ type: 'ack', id: 'a1', ok: true }), frame]);

      // No string id: echo only. Malformed JSON: echo only. Binary: echoed as binary.
      client.ws.send('{"type":"msg","id":7}');
      client.ws.send('not json {');
      client.ws.send(Buffer.from([1, 2, 3]));
      const binary = await client.waitFrame((_d, isBinary) => isBinary, 'binary echo');
      expect(binary.data).toEqual(Buffer.from([1, 2, 3]));
      expect(client.frames.slice(2).map((f) => f.data)).toEqual(['{"type":"msg","id":7}', 'not json {', binary.data]);
    });
  });

  it('flood() writes a frame count times to every client, and refuses a count out of range', async () => {
    await withRelay(async (relay, connect) => {
      const a = await connect();
      const b = await connect();
      expect(relay.flood('{"type":"note","id":"same"}', 1000)).toBe(2000);
      await a.waitFrame(() => a.frames.length >= 1000, '1000 frames on a');
      await b.waitFrame(() => b.frames.length >= 1000, '1000 frames on b');
      expect(new Set(a.frames.map((f) => f.data))).toEqual(new Set(['{"type":"note","id":"same"}']));
      expect(() => relay.flood('x', 0)).toThrow(RangeError);
      expect(() => relay.flood('x', 1_000_001)).toThrow(RangeError);
    });
  });

  it('honours the echo and ack options', async () => {
    await withRelay(
      async (_relay, connect) => {
        const client = await connect();
        client.ws.send('{"id":"x"}');
        client.ws.send('{"type":"ping","id":"marker"}');
        await client.waitJson({ type: 'pong', id: 'marker' });
        expect(client.json).toEqual([
          { type: 'ack', id: 'x', ok: true },
          { type: 'pong', id: 'marker' },
        ]);
      },
      { echo: false },
    );
    await withRelay(
      async (_relay, connect) => {
        const client = await connect();
        client.ws.send('{"id":"x"}');
        await client.waitText('{"id":"x"}');
        expect(client.frames).toHaveLength(1);
      },
      { ack: false },
    );
  });

  it('answers app-level pings with a pong carrying the same id', async () => {
    await withRelay(async (relay, connect) => {
      const client = await connect();
      client.ws.send(JSON.stringify({ type: 'ping', id: 42 }));
      await client.waitJson({ type: 'pong', id: 42 });
      expect(client.frames).toHaveLength(1);
      expect(relay.stats.pingsReceived).toBe(1);
      expect(relay.stats.pongsSent).toBe(1);
    });
  });

  it('answers protocol pings, and stops answering any ping after stopPongs()', async () => {
    await withRelay(async (relay, connect) => {
      const client = await connect();
      const pong = client.waitPong();
      client.ws.ping('p1');
      expect((await pong).toString()).toBe('p1');

      relay.stopPongs();
      client.ws.ping('p2');
      client.ws.send('{"type":"ping","id":"app"}');
      // The relay answers in order: had it answered the pings, the pongs would precede this echo.
      await client.roundTrip('after-pings');
      expect(client.pongs).toHaveLength(1);
      expect(client.json).toEqual([]);
      expect(relay.stats.pingsReceived).toBe(3);
      expect(relay.stats.pongsSent).toBe(1);

      relay.startPongs();
      const again = client.waitPong();
      client.ws.ping('p3');
      expect((await again).toString()).toBe('p3');
      client.ws.send('{"type":"ping","id":"app2"}');
      await client.waitJson({ type: 'pong', id: 'app2' });
    });
  });

  it('pause() answers nothing (new connections included) and resume() processes what was sent', async () => {
    await withRelay(async (relay, connect) => {
      const client = await connect();
      await client.roundTrip('warm-up');
      relay.pause();
      client.ws.send('{"type":"msg","id":"m1"}');
      client.ws.send('{"type":"ping","id":"q"}');
      client.ws.ping('held');
      const late = await connect(); // the upgrade still completes while paused
      late.ws.send('{"type":"hello","v":1}');

      // Bounded negative check: nothing may arrive within this window.
      await expect(client.waitFrame(() => true, 'anything', 300, client.frames.length)).rejects.toThrow(/timed out/);
      expect(client.frames).toHaveLength(1);
      expect(client.pongs).toHaveLength(0);
      expect(late.frames).toHaveLength(0);
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      // Explicit pushes still go out while paused.
      expect(relay.broadcast('pushed')).toBe(2);
      await late.waitText('pushed');

      relay.resume();
      await client.waitJson({ type: 'ack', id: 'm1' });
      await client.waitText('{"type":"msg","id":"m1"}');
      await client.waitJson({ type: 'pong', id: 'q' });
      await late.waitJson({ type: 'hello-ack', ok: true });
      if (client.pongs.length === 0) await client.waitPong();
      expect(client.pongs[0]?.toString()).toBe('held');
    });
  });

  it('kill() drops connections with 1006 and refuses new dials; restart() listens on the same port', async () => {
    await withRelay(async (relay, connect) => {
      const client = await connect();
      const port = relay.port;
      const closed = client.waitClose();
      await relay.kill();
      expect((await closed).code).toBe(1006);
      expect(relay.listening).toBe(false);
      expect(relay.stats.open).toBe(0);
      expect((await dialError(relay.url)).code).toBe('ECONNREFUSED');
      await relay.kill(); // idempotent

      await relay.restart();
      expect(relay.port).toBe(port);
      expect(relay.listening).toBe(true);
      const again = await connect();
      await again.roundTrip('back');
      expect(relay.stats.connections).toBe(2);

      // restart() while listening kills first.
      const dropped = again.waitClose();
      await relay.restart();
      expect((await dropped).code).toBe(1006);
      await (await connect()).roundTrip('back again');
    });
  });

  it('restart() retries while the port is busy, a bounded number of times, and keeps fault settings', async () => {
    const occupy = (port: number) =>
      new Promise<Server>((resolve, reject) => {
        const blocker = createServer();
        blocker.once('error', reject);
        blocker.listen({ port, host: '127.0.0.1' }, () => resolve(blocker));
      });
    const release = (blocker: Server) => new Promise<void>((resolve) => blocker.close(() => resolve()));

    await withRelay(
      async (relay, connect) => {
        relay.stopPongs();
        await relay.kill();
        const blocker = await occupy(relay.port);
        await expect(relay.restart()).rejects.toThrow(`port ${relay.port} still in use after 3 attempt(s)`);
        expect(relay.listening).toBe(false);

        // Free the port after the first attempt has failed: a later attempt binds it.
        const restarting = relay.restart();
        await new Promise<void>((resolve) => setImmediate(resolve));
        await release(blocker);
        await restarting;
        expect(relay.listening).toBe(true);

        const client = await connect();
        client.ws.send('{"type":"ping","id":"p"}');
        await client.roundTrip('pongs still stopped');
        expect(client.json).toEqual([]);
      },
      { restartAttempts: 3, restartRetryDelayMs: 20 },
    );
  });

  it('closeAll() sends a clean close frame with the code and reason', async () => {
    await withRelay(async (relay, connect) => {
      const a = await connect();
      const b = await connect();
      const closes = Promise.all([a.waitClose(), b.waitClose()]);
      relay.closeAll(4001, 'bye');
      expect(await closes).toEqual([
        { code: 4001, reason: 'bye' },
        { code: 4001, reason: 'bye' },
      ]);
      expect(() => relay.closeAll(1006)).not.toThrow(); // no clients left: nothing to validate against
    });
  });

  it('closeFrameOnly() sends a close frame and keeps TCP up: the client waits for its own close timeout', async () => {
    const relay = await startTestRelay();
    try {
      // ws's closeTimeout (how long it waits for the server to close TCP) is not in @types/ws 8.18.
      const closeTimeout = 200;
      const quick = { closeTimeout } as WebSocket.ClientOptions;
      const a = await Client.open(relay, quick);
      const b = await Client.open(relay, quick);
      await a.roundTrip('before');
      const closes = Promise.all([a.waitClose(), b.waitClose()]);
      const sentAt = performance.now();
      expect(relay.closeFrameOnly(1001, 'going away')).toBe(2);
      // The close frame arrived (ws answers it and waits for TCP to end) ...
      await within<void>('the close frame', (done) => {
        const timer = setInterval(
          () => a.ws.readyState === WebSocket.CLOSING && b.ws.readyState === WebSocket.CLOSING && done(),
          2,
        );
        return () => clearInterval(timer);
      });
      // ... the connections are no longer the relay's, and nothing more is sent on them ...
      expect(relay.clients).toEqual([]);
      expect(relay.stats.open).toBe(0);
      expect(relay.broadcast('after')).toBe(0);
      // ... and TCP ends only when the clients give up on it.
      expect(await closes).toEqual([
        { code: 1001, reason: 'going away' },
        { code: 1001, reason: 'going away' },
      ]);
      expect(performance.now() - sentAt).toBeGreaterThanOrEqual(closeTimeout - 5);
      expect(a.frames.map((f) => f.data)).toEqual(['before']);
      // New connections are not affected.
      const c = await Client.open(relay);
      await c.roundTrip('after');
      await c.dispose();
    } finally {
      await relay.close();
    }
  });

  it('closeFrameOnly() validates code and reason; kill() and close() release the kept sockets', async () => {
    const before = await settledHandles({ TCPServerWrap: 0, TCPSocketWrap: 0 });
    const relay = await startTestRelay();
    // A client that never gives up on its own (ws's default close timeout is 30 s).
    const client = await Client.open(relay);
    expect(() => relay.closeFrameOnly(1006)).toThrow(RangeError);
    expect(() => relay.closeFrameOnly(1000, 'x'.repeat(124))).toThrow(RangeError);
    const closed = client.waitClose();
    expect(relay.closeFrameOnly(4000, 'é'.repeat(61))).toBe(1);
    await relay.kill();
    expect(await closed).toEqual({ code: 4000, reason: 'é'.repeat(61) });
    await relay.close();
    expectNoLeak(before, await settledHandles(before), []);
  });

  it('reset() aborts every connection with a TCP RST: clients see ECONNRESET and 1006, the relay keeps listening', async () => {
    const before = await settledHandles({ TCPServerWrap: 0, TCPSocketWrap: 0 });
    const relay = await startTestRelay();
    try {
      // ws swallows socket errors after the upgrade, so read them on the TCP socket its public 'upgrade' event hands out.
      const open = async () => {
        const client = new Client(relay.url);
        const errors: NodeJS.ErrnoException[] = [];
        client.ws.once('upgrade', (res: IncomingMessage) => res.socket.on('error', (err) => errors.push(err)));
        await within<void>('open', (done, fail) => {
          client.ws.once('open', () => done());
          client.ws.once('error', fail);
          return () => client.ws.off('error', fail);
        });
        return { client, errors };
      };
      const a = await open();
      const b = await open();
      await a.client.roundTrip('before');
      const closes = Promise.all([a.client.waitClose(), b.client.waitClose()]);
      expect(relay.reset()).toBe(2);
      expect(relay.clients).toEqual([]);
      expect((await closes).map((c) => c.code)).toEqual([1006, 1006]);
      expect([...a.errors, ...b.errors].map((e) => e.code)).toEqual(['ECONNRESET', 'ECONNRESET']);
      expect(relay.reset()).toBe(0);

      // Still listening: a new dial works. A connection kept up by closeFrameOnly() is reset too, which ends the
      // client's wait for TCP (ws's default close timeout is 30 s) at once.
      expect(relay.listening).toBe(true);
      const c = await open();
      await c.client.roundTrip('after');
      const closed = c.client.waitClose();
      expect(relay.closeFrameOnly(4000, 'bye')).toBe(1);
      await within<void>('the close frame', (done) => {
        const timer = setInterval(() => c.client.ws.readyState === WebSocket.CLOSING && done(), 2);
        return () => clearInterval(timer);
      });
      expect(relay.reset()).toBe(1);
      expect(await closed).toEqual({ code: 4000, reason: 'bye' });
    } finally {
      await relay.close();
    }
    expectNoLeak(before, await settledHandles(before), []);
  });

  it('rejectUpgrade() refuses upgrades with the status and headers; acceptUpgrades() undoes it', async () => {
    await withRelay(async (relay, connect) => {
      relay.rejectUpgrade(401);
      const unauthorized = await dialRefused(relay.url);
      expect(unauthorized.statusCode).toBe(401);

      relay.rejectUpgrade(503, { 'Retry-After': '2' });
      const unavailable = await dialRefused(relay.url);
      expect(unavailable.statusCode).toBe(503);
      expect(unavailable.headers['retry-after']).toBe('2');
      expect(relay.stats.upgradesRejected).toBe(2);
      expect(relay.stats.connections).toBe(0);

      expect(() => relay.rejectUpgrade(99)).toThrow(RangeError);
      expect(() => relay.rejectUpgrade(400, { 'X-Evil': 'a\r\nSet-Cookie: x' })).toThrow(TypeError);

      relay.acceptUpgrades();
      await (await connect()).roundTrip('welcome');
    });
  });

  it('delay() adds latency to every answer; delay(0) removes it', async () => {
    await withRelay(async (relay, connect) => {
      const client = await connect();
      const baseline = await client.roundTrip('fast');
      relay.delay(100);
      const slow = await client.roundTrip('slow');
      expect(slow).toBeGreaterThanOrEqual(baseline + 90);
      const started = performance.now();
      const pong = client.waitPong();
      client.ws.ping();
      await pong;
      expect(performance.now() - started).toBeGreaterThanOrEqual(90);
      relay.delay(0);
      expect(await client.roundTrip('fast again')).toBeLessThan(90);
      expect(() => relay.delay(-1)).toThrow(RangeError);
    });
  });

  it('answers hello frames according to helloAck()', async () => {
    await withRelay(
      async (relay, connect) => {
        const client = await connect();
        client.ws.send('{"type":"hello","token":"t"}');
        await client.waitJson({ type: 'hello-ack', ok: true });

        relay.helloAck('reject');
        client.ws.send('{"type":"hello"}');
        const nack = await client.waitJson({ type: 'hello-ack', ok: false });
        expect(JSON.parse(nack.data as string)).toEqual({
          type: 'hello-ack',
          ok: false,
          reason: 'rejected by test relay',
        });

        relay.helloAck('never');
        client.ws.send('{"type":"hello"}');
        await client.roundTrip('after-hello');
        expect(client.json.filter((m) => m.type === 'hello-ack')).toHaveLength(2);
        expect(client.ws.readyState).toBe(WebSocket.OPEN);
      },
      { helloAck: 'ok' },
    );
  });

  it('onMessage() sees every data frame and can take over the answer', async () => {
    await withRelay(async (relay, connect) => {
      const client = await connect();
      const seen: [string | Buffer, boolean][] = [];
      const stopSeeing = relay.onMessage((data, isBinary) => {
        seen.push([data, isBinary]);
      });
      const stopCustom = relay.onMessage((data, _isBinary, ws) => {
        if (data === 'custom') {
          ws.send('custom-answer');
          return 'handled';
        }
      });
      client.ws.send('custom');
      await client.waitText('custom-answer');
      client.ws.send(Buffer.from('bin'));
      await client.waitFrame((_d, isBinary) => isBinary);
      expect(seen).toEqual([
        ['custom', false],
        [Buffer.from('bin'), true],
      ]);
      expect(client.frames.map((f) => f.data)).toEqual(['custom-answer', Buffer.from('bin')]);

      stopSeeing();
      stopCustom();
      await client.roundTrip('custom');
      expect(seen).toHaveLength(2);
    });
  });

  it('send() and broadcast() push raw frames', async () => {
    await withRelay(async (relay, connect) => {
      const a = await connect();
      const b = await connect();
      const [serverA] = await relay.waitForConnections(2);
      expect(relay.send('{"type":"event"}')).toBe(2);
      expect(relay.broadcast(new Uint8Array([9, 8]))).toBe(2);
      for (const client of [a, b]) {
        await client.waitFrame((_d, isBinary) => isBinary);
        expect(client.frames.map((f) => [f.data, f.isBinary])).toEqual([
          ['{"type":"event"}', false],
          [Buffer.from([9, 8]), true],
        ]);
      }
      expect(relay.send('only-one', serverA)).toBe(1);
      await a.waitText('only-one');
    });
  });

  it('closes connections sending more than maxPayload with 1009', async () => {
    await withRelay(
      async (_relay, connect) => {
        const client = await connect();
        const closed = client.waitClose();
        client.ws.send('x'.repeat(100));
        expect((await closed).code).toBe(1009);
      },
      { maxPayload: 16 },
    );
  });

  it('counts connections, frames, pings and pongs', async () => {
    await withRelay(async (relay, connect) => {
      const a = await connect();
      const b = await connect();
      a.ws.send('{"id":"1"}'); // ack + echo
      a.ws.send('{"type":"ping","id":1}'); // pong
      a.ws.send('{"type":"hello"}'); // hello-ack
      const pong = b.waitPong();
      b.ws.ping(); // protocol pong
      await pong;
      await a.roundTrip('plain'); // echo
      relay.broadcast('all'); // 2 sent
      await b.waitText('all');
      expect(relay.clients).toHaveLength(2);
      expect(relay.stats).toEqual({
        connections: 2,
        open: 2,
        upgradesRejected: 0,
        messagesReceived: 4,
        messagesSent: 7,
        pingsReceived: 2,
        pongsSent: 2,
      });
      const bClosed = within<void>('server-side close', (done) => {
        const serverSide = relay.clients[1];
        serverSide?.once('close', () => done());
        return () => {};
      });
      await b.dispose();
      await bClosed;
      expect(relay.stats.open).toBe(1);
      expect(relay.clients).toHaveLength(1);
    });
  });

  it('waitForConnections() resolves on connect and rejects with a clear error after its bound', async () => {
    await withRelay(async (relay, connect) => {
      await expect(relay.waitForConnections(1, 50)).rejects.toThrow(
        /waitForConnections\(1\) timed out after 50 ms with 0 open connection\(s\)/,
      );
      const pending = relay.waitForConnections(2, WAIT_MS);
      await connect();
      await connect();
      expect(await pending).toHaveLength(2);
      expect(await relay.waitForConnections(1)).toHaveLength(2);
    });
  });

  it('close() is idempotent, rejects pending waits and leaves no handle behind', async () => {
    const before = await settledHandles({ TCPServerWrap: 0, TCPSocketWrap: 0 });
    const timers = trackTimers();
    try {
      await closeLeavesNothing(before, timers.armed);
    } finally {
      timers.restore();
    }
  });

  async function closeLeavesNothing(before: Record<string, number>, armed: () => string[]): Promise<void> {
    const relay = await startTestRelay();
    const client = await Client.open(relay);
    relay.delay(1_000);
    const received = within<void>('the relay to receive a frame', (done) => relay.onMessage(() => done()));
    client.ws.send('pending');
    await received; // its delayed echo is now armed: close() must disarm it
    const pending = relay.waitForConnections(5, 10_000);
    const pendingOutcome = pending.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    const closed = client.waitClose();
    const first = relay.close();
    expect(relay.close()).toBe(first);
    await first;
    expect((await closed).code).toBe(1006);
    expect(await pendingOutcome).toMatch(/closed/);
    expect(relay.listening).toBe(false);
    await expect(relay.restart()).rejects.toThrow(/closed/);
    expectNoLeak(before, await settledHandles(before), armed());
  }

  it('supports await using / Symbol.asyncDispose', async () => {
    const before = await settledHandles({ TCPServerWrap: 0, TCPSocketWrap: 0 });
    const timers = trackTimers();
    let url = '';
    let closed: Promise<{ code: number }> | undefined;
    {
      await using relay = await startTestRelay();
      url = relay.url;
      const client = await Client.open(relay);
      await client.roundTrip('scoped');
      closed = client.waitClose();
    }
    expect((await closed).code).toBe(1006);
    expect((await dialError(url)).code).toBe('ECONNREFUSED');
    const armed = timers.armed();
    timers.restore();
    expectNoLeak(before, await settledHandles(before), armed);
  });
});
