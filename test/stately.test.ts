/**
 * The Stately bridge against `@statelyai/inspect`'s own WebSocket receiver on loopback: the actors of a live
 * pool and their transitions arrive (contexts sanitised, URLs redacted), and a process that used the bridge exits
 * by itself after `stop()`, whether or not anything was listening.
 */
import { createWebSocketReceiver } from '@statelyai/inspect';
import { describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { createRelayPool, InvalidOptionError } from '../index.ts';
import { statelyInspector, sanitizeEvent } from '../inspector/stately.ts';
import { startTestRelay } from '../testkit/index.ts';
import { cleanupAfterEach, freePort, runNode, waitUntil } from './helpers.ts';

const cleanups = cleanupAfterEach();

/** What `@statelyai/inspect/server` does, on port 0: every message from one client goes to all the others. */
async function startHub(): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data, isBinary) => {
      for (const other of wss.clients)
        if (other !== ws && other.readyState === 1) other.send(data, { binary: isBinary });
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** The fixture's output (stdout and stderr together) and exit code. */
async function runChild(url: string): Promise<{ code: number | null; out: string }> {
  const r = await runNode(['--import', 'tsx', 'test/fixtures/statelyExit.ts', url], 15_000);
  return { code: r.code, out: r.out + r.err };
}

describe('statelyInspector', () => {
  it('delivers actors and transitions of a live pool to a @statelyai/inspect WebSocket receiver', async () => {
    const hub = await startHub();
    cleanups.push(() => hub.close());
    const received: Array<Record<string, any>> = [];
    const receiver = createWebSocketReceiver({ server: hub.url });
    receiver.subscribe((e: Record<string, any>) => received.push(e));
    const server = await startTestRelay();
    cleanups.push(() => server.close());
    const secretUrl = server.url.replace('ws://', 'ws://bob:pa55@') + '?auth=xyz';
    const pool = createRelayPool({
      relays: [secretUrl],
      heartbeat: { interval: 200, timeout: 200 },
      backoff: { base: 30, max: 100 },
    });
    cleanups.push(() => pool.stop());
    const stately = statelyInspector({ url: hub.url, retryDelayMs: 50 });
    cleanups.push(() => stately.stop());
    stately.attach(pool);
    pool.start();
    await pool.waitFor('online');
    await waitUntil(() => stately.connected, 5000, 'bridge connected');
    await server.kill();
    await waitUntil(
      () => received.some((e) => e.type === '@xstate.snapshot' && e.snapshot?.value === 'reconnecting'),
      5000,
      'reconnecting snapshot',
    );
    await server.restart();
    await waitUntil(
      () => received.filter((e) => e.type === '@xstate.snapshot' && e.snapshot?.value?.live === 'open').length >= 2,
      10_000,
      'open again',
    );

    const actors = received.filter((e) => e.type === '@xstate.actor');
    expect(actors.map((a) => a.name)).toEqual(expect.arrayContaining(['pool', 'relay']));
    const relayActor = actors.find((a) => a.name === 'relay')!;
    expect(JSON.parse(relayActor.definition).states.live.states.open).toBeDefined();
    const lost = received.find((e) => e.type === '@xstate.snapshot' && e.snapshot?.value === 'reconnecting')!;
    expect(lost.event.type).toBe('CONNECTION_LOST');
    expect(lost.event.info.code).toBe(1006);
    expect(Object.keys(lost.snapshot.context)).not.toContain('rt');
    const all = JSON.stringify(received);
    expect(all).not.toContain('pa55');
    expect(all).not.toContain('xyz');
    expect(all).toContain('***@127.0.0.1');
  });

  it('a process that used it exits by itself after stop(), with a receiver and with nothing listening', async () => {
    const hub = await startHub();
    cleanups.push(() => hub.close());
    const withHub = await runChild(hub.url);
    expect(withHub.out).toContain('stopped');
    expect(withHub.code).toBe(0);
    const nothing = await runChild(`ws://127.0.0.1:${await freePort()}`);
    expect(nothing.out).toContain('stopped');
    expect(nothing.code).toBe(0);
  });

  it('a WebSocket constructor that throws is retried (bounded), never an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    let calls = 0;
    class Throwing {
      constructor() {
        calls++;
        throw new SyntaxError('The URL ws://user:pw@x/ is invalid');
      }
    }
    const bridge = statelyInspector({ WebSocket: Throwing as never, maxRetries: 2, retryDelayMs: 1 });
    try {
      await waitUntil(() => calls === 3, 2000, 'three attempts');
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      expect(bridge.connected).toBe(false);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await bridge.stop();
    }
  });

  it('rejects bad options with a typed error and sanitises events', () => {
    expect(() => statelyInspector({ url: 'http://x' })).toThrow(InvalidOptionError);
    expect(() => statelyInspector({ kind: 'sky' as never })).toThrow(/kind/);
    expect(() => statelyInspector({ retryDelayMs: -1 })).toThrow(/retryDelayMs/);
    // Unparsable: a typed error at once, and the URL's secrets are not in it.
    expect(() => statelyInspector({ url: 'ws://user:pw@bad host/?token=s3cret' })).toThrow(InvalidOptionError);
    expect(() => statelyInspector({ url: 'ws://user:pw@bad host/?token=s3cret' })).not.toThrow(/pw|s3cret/);
    expect(
      sanitizeEvent({
        type: 'ADD_RELAY',
        id: 'relay:wss://a:b@h/?t=1',
        rt: new (class Runtime {
          secret = 1;
        })(),
        info: { code: 1006, deep: { x: 1 } },
      }),
    ).toEqual({
      type: 'ADD_RELAY',
      id: 'relay:wss://***@h/?t=***',
      info: { code: 1006 },
    });
  });
});
