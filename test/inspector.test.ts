/**
 * The inspector server and its feed, over real sockets: the graph walk (always/after transitions included), the
 * token and origin checks, the first snapshot and live updates from XState's inspection events, redaction of
 * credentials and query tokens, and a close that leaves nothing behind. The page itself is tested in Chromium
 * (test/browser/).
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createActor, createMachine, setup } from 'xstate';
import { createRelay, createRelayPool, InvalidOptionError, poolMachine, relayMachine } from '../index.ts';
import {
  activeStateIds,
  machineGraph,
  serveInspector,
  stateIds,
  type FeedMessage,
  type InspectorServer,
} from '../inspector/index.ts';
import { startTestRelay, type TestRelay } from '../testkit/index.ts';
import { cleanupAfterEach, expectNoLeaks, handleCounts, waitUntil } from './helpers.ts';

const FAST = {
  heartbeat: { interval: 200, timeout: 200, maxMissed: 2 },
  backoff: { base: 30, max: 200, stableAfter: 200 },
  closeTimeout: 300,
};
const cleanups = cleanupAfterEach();

/** A feed client that records every message. */
async function listen(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ messages: FeedMessage[]; text: string[]; ws: WebSocket }> {
  const ws = new WebSocket(url, { headers });
  const messages: FeedMessage[] = [];
  const text: string[] = [];
  ws.on('message', (d) => {
    text.push(d.toString());
    messages.push(JSON.parse(d.toString()) as FeedMessage);
  });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  cleanups.push(async () => ws.terminate());
  return { messages, text, ws };
}

function refusal(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('connection was accepted')));
    ws.once('error', () => {});
  });
}

const items = (messages: FeedMessage[]) => messages.flatMap((m) => (m.type === 'batch' ? m.items : []));

async function poolWithInspector(
  n = 2,
): Promise<{ relays: TestRelay[]; pool: ReturnType<typeof createRelayPool>; inspector: InspectorServer }> {
  const relays = await Promise.all(Array.from({ length: n }, () => startTestRelay()));
  cleanups.push(() => Promise.all(relays.map((r) => r.close())));
  const pool = createRelayPool({ relays: relays.map((r) => r.url), ...FAST }).start();
  cleanups.push(() => pool.stop());
  await pool.waitFor('online');
  const inspector = await serveInspector(pool, { batchMs: 10 });
  cleanups.push(() => inspector.close());
  return { relays, pool, inspector };
}

describe('machineGraph', () => {
  it('walks every state node of the relay and coordinator machines, with delayed transitions labelled', () => {
    const relay = machineGraph(relayMachine);
    expect(stateIds(relay)).toEqual([
      'relay',
      'relay.idle',
      'relay.live',
      'relay.live.connecting',
      'relay.live.connecting.dialing',
      'relay.live.connecting.handshaking',
      'relay.live.open',
      'relay.live.degraded',
      'relay.reconnecting',
      'relay.failed',
      'relay.closed',
    ]);
    const reconnecting = relay.root.states.find((s) => s.key === 'reconnecting')!;
    expect(reconnecting.transitions).toContainEqual(
      expect.objectContaining({ kind: 'after', label: 'after RECONNECT_DELAY', targets: ['relay.live'] }),
    );
    const live = relay.root.states.find((s) => s.key === 'live')!;
    expect(live.invoke).toEqual(['connection']);
    expect(live.transitions.filter((t) => t.event === 'CONNECTION_LOST').map((t) => t.guard)).toEqual([
      'isFatal',
      'attemptsExhausted',
      null,
    ]);
    expect(stateIds(machineGraph(poolMachine))).toContain('pool.running.expired');
    // Plain data: it survives JSON.
    expect(JSON.parse(JSON.stringify(relay))).toEqual(relay);
  });

  it('keeps `always` transitions, which machine.toJSON() leaves out', () => {
    const m = setup({ guards: { ready: () => true } }).createMachine({
      id: 'm',
      initial: 'a',
      states: { a: { always: { target: 'b', guard: 'ready' } }, b: { on: { GO: 'a' } } },
    });
    const a = machineGraph(m).root.states[0]!;
    expect(a.transitions).toEqual([
      { kind: 'always', event: '', label: 'always [ready]', targets: ['m.b'], guard: 'ready' },
    ]);
  });

  it('resolves the active state ids of a snapshot value', () => {
    const g = machineGraph(relayMachine);
    expect(activeStateIds(g, { live: { connecting: 'dialing' } })).toEqual([
      'relay',
      'relay.live',
      'relay.live.connecting',
      'relay.live.connecting.dialing',
    ]);
    expect(activeStateIds(g, 'reconnecting')).toEqual(['relay', 'relay.reconnecting']);
  });
});

describe('serveInspector', () => {
  it('serves a self-contained page only with the token, with a strict CSP', async () => {
    const { inspector } = await poolWithInspector(1);
    expect(inspector.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48}$/);
    const ok = await fetch(inspector.url);
    expect(ok.status).toBe(200);
    const html = await ok.text();
    expect(ok.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(ok.headers.get('referrer-policy')).toBe('no-referrer');
    // Nothing is loaded from anywhere: no src/href attributes, no URLs but the SVG namespace.
    expect(html).not.toMatch(/\s(src|href)=/);
    expect(html.match(/https?:\/\/[^\s'"`]+/g) ?? []).toEqual(['http://www.w3.org/2000/svg']);
    const origin = new URL(inspector.url).origin;
    expect((await fetch(`${origin}/`)).status).toBe(401);
    expect((await fetch(`${origin}/?token=${'a'.repeat(48)}`)).status).toBe(401);
    expect((await fetch(`${origin}/nope?token=${inspector.token}`)).status).toBe(404);
    expect((await fetch(inspector.url, { method: 'POST' })).status).toBe(405);
  });

  it('refuses tokenless and wrong-token feed connections, and other origins', async () => {
    const { inspector } = await poolWithInspector(1);
    const base = inspector.feedUrl.replace(/\?token=.*/, '');
    expect(await refusal(base)).toBe(401);
    expect(await refusal(`${base}?token=${'0'.repeat(48)}`)).toBe(401);
    expect(await refusal(inspector.feedUrl, { Origin: 'http://evil.example' })).toBe(403);
    expect(await refusal(inspector.feedUrl, { Origin: `http://127.0.0.1:${inspector.port + 1}` })).toBe(403);
    // Its own origin, and tools that send none, are let in.
    await listen(inspector.feedUrl, { Origin: `http://127.0.0.1:${inspector.port}` });
    await listen(inspector.feedUrl);
    expect(inspector.clients).toBe(2);
  });

  it('survives clients that reset the connection while their upgrade is being refused', async () => {
    const { inspector } = await poolWithInspector(1);
    const thrown: unknown[] = [];
    const onError = (e: unknown) => thrown.push(e);
    process.on('uncaughtException', onError);
    cleanups.push(async () => void process.off('uncaughtException', onError));
    const request = [
      'GET /feed HTTP/1.1',
      'Host: 127.0.0.1',
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      '',
      '',
    ].join('\r\n');
    const closed: Array<Promise<void>> = [];
    for (let i = 0; i < 40; i++) {
      await new Promise<void>((resolve) => {
        const s = connect(inspector.port, '127.0.0.1', () => {
          s.write(request);
          s.resetAndDestroy();
          resolve();
        });
        closed.push(new Promise<void>((r) => s.once('close', () => r())));
      });
    }
    await Promise.all(closed);
    // The refusals have been written (or have failed) by the time a later request is answered.
    expect(await refusal(inspector.feedUrl.replace(/\?token=.*/, ''))).toBe(401);
    expect(thrown).toEqual([]);
    expect((await fetch(inspector.url)).status).toBe(200);
  });

  it('allows the page to connect back only to this server, whatever Host header it was asked with', async () => {
    const { inspector } = await poolWithInspector(1);
    const res = await fetch(inspector.url, { headers: { Host: "evil.example; script-src 'unsafe-inline'" } });
    const csp = res.headers.get('content-security-policy') ?? '';
    const connect = /connect-src ([^;]*);/.exec(csp)?.[1]?.split(' ');
    expect(connect).toEqual(["'self'", `ws://127.0.0.1:${inspector.port}`, `ws://localhost:${inspector.port}`]);
    expect(csp).not.toContain('evil');
  });

  it('sends the current picture first, then live transitions with their reasons', async () => {
    const { relays, pool, inspector } = await poolWithInspector(2);
    const feed = await listen(inspector.feedUrl);
    await waitUntil(() => feed.messages.length > 0, 2000, 'init');
    const init = feed.messages[0]!;
    if (init.type !== 'init') throw new Error('first message is not init');
    expect(Object.keys(init.machines).sort()).toEqual(['pool', 'relay']);
    expect(init.pool).toBe('pool');
    expect(init.actors.map((a) => [a.machine, a.value])).toEqual([
      ['pool', { running: 'online' }],
      ['relay', { live: 'open' }],
      ['relay', { live: 'open' }],
    ]);
    expect(init.primary).toMatch(/^relay:ws:\/\/127\.0\.0\.1:\d+\/$/);
    expect(init.health).toHaveLength(2);
    expect(init.health[0]!.score).toBeGreaterThan(0);
    // No runtime leaks into the context.
    expect(Object.keys(init.actors[1]!.context)).not.toContain('rt');

    const victim = pool.status().relays[0]!.url;
    await relays[0]!.kill();
    await waitUntil(
      () => items(feed.messages).some((i) => i.type === 'log' && i.entry.to === 'reconnecting'),
      5000,
      'reconnecting in the log',
    );
    const entry = items(feed.messages).find((i) => i.type === 'log' && i.entry.to === 'reconnecting');
    expect(entry).toMatchObject({
      entry: {
        event: 'CONNECTION_LOST',
        from: 'live.open',
        reason: expect.stringMatching(/^close 1006 .*retry.*retry in \d+ ms/),
      },
    });
    expect(items(feed.messages)).toContainEqual(expect.objectContaining({ type: 'state', value: 'reconnecting' }));
    expect(items(feed.messages)).toContainEqual(
      expect.objectContaining({ type: 'health', health: expect.objectContaining({ url: victim }) }),
    );
    await relays[0]!.restart();
    await waitUntil(
      () =>
        items(feed.messages).some(
          (i) => i.type === 'log' && i.entry.to === 'live.open' && i.entry.actor.includes(new URL(victim).host),
        ),
      10_000,
      'open again',
    );
    // A new page gets the same picture as the first one has now.
    const second = await listen(inspector.feedUrl);
    await waitUntil(() => second.messages.length > 0, 2000, 'second init');
    const again = second.messages[0]!;
    if (again.type !== 'init') throw new Error('first message is not init');
    expect(again.actors.map((a) => a.value)).toEqual([{ running: 'online' }, { live: 'open' }, { live: 'open' }]);
    expect(again.log.some((e) => e.to === 'reconnecting')).toBe(true);
  });

  it('follows relays added and removed at run time', async () => {
    const { relays, pool, inspector } = await poolWithInspector(2);
    const feed = await listen(inspector.feedUrl);
    await waitUntil(() => feed.messages.length > 0, 2000, 'init');
    const url = pool.status().relays[1]!.url;
    await pool.removeRelay(url);
    await waitUntil(() => items(feed.messages).some((i) => i.type === 'gone'), 2000, 'gone');
    const gone = items(feed.messages).find((i) => i.type === 'gone');
    expect(gone).toEqual({ type: 'gone', actor: `relay:${new URL(url).href}` });
    const snapshot = async () =>
      (await (await fetch(inspector.url.replace('/?', '/snapshot.json?'))).json()) as Extract<
        FeedMessage,
        { type: 'init' }
      >;
    expect((await snapshot()).actors.map((a) => a.label)).toEqual(['pool', pool.status().relays[0]!.url]);
    expect((await snapshot()).health).toHaveLength(1);

    await pool.addRelay(relays[1]!.url).waitFor('open');
    await waitUntil(
      () =>
        items(feed.messages).some(
          (i) => i.type === 'log' && i.entry.to === 'live.open' && i.entry.actor === gone?.actor,
        ),
      5000,
      'open again',
    );
    const after = await snapshot();
    expect(after.actors.map((a) => [a.label, a.value])).toEqual([
      ['pool', { running: 'online' }],
      [pool.status().relays[0]!.url, { live: 'open' }],
      [relays[1]!.url, { live: 'open' }],
    ]);
  });

  it('a relay removed without waiting and added again at once stays on the page', async () => {
    const { relays, pool, inspector } = await poolWithInspector(2);
    const feed = await listen(inspector.feedUrl);
    await waitUntil(() => feed.messages.length > 0, 2000, 'init');
    const url = relays[1]!.url;
    const removed = pool.removeRelay(url);
    const again = pool.addRelay(url);
    await removed;
    await again.waitFor('open');
    const id = `relay:${new URL(url).href}`;
    await waitUntil(
      () => items(feed.messages).some((i) => i.type === 'log' && i.entry.to === 'live.open' && i.entry.actor === id),
      5000,
      'open again',
    );
    const snapshot = (await (await fetch(inspector.url.replace('/?', '/snapshot.json?'))).json()) as Extract<
      FeedMessage,
      { type: 'init' }
    >;
    expect(snapshot.actors.map((a) => [a.label, a.value])).toEqual([
      ['pool', { running: 'online' }],
      [relays[0]!.url, { live: 'open' }],
      [url, { live: 'open' }],
    ]);
    expect(snapshot.health.map((h) => h.actor)).toContain(id);
    expect(items(feed.messages).filter((i) => i.type === 'gone')).toEqual([]);
  });

  it('redacts credentials and query tokens in relay URLs everywhere it reports', async () => {
    const server = await startTestRelay();
    cleanups.push(() => server.close());
    const secretUrl = server.url.replace('ws://', 'ws://alice:hunter2@') + '?token=sekrit';
    const pool = createRelayPool({ relays: [secretUrl], ...FAST }).start();
    cleanups.push(() => pool.stop());
    await pool.waitFor('online');
    const inspector = await serveInspector(pool, { batchMs: 5 });
    cleanups.push(() => inspector.close());
    const feed = await listen(inspector.feedUrl);
    await server.kill();
    await waitUntil(
      () => items(feed.messages).some((i) => i.type === 'log' && i.entry.to === 'reconnecting'),
      5000,
      'reconnecting',
    );
    await server.restart();
    await waitUntil(
      () => items(feed.messages).some((i) => i.type === 'log' && i.entry.to === 'live.open'),
      10_000,
      'open',
    );
    const snapshot = await (await fetch(inspector.url.replace('/?', '/snapshot.json?'))).text();
    for (const text of [...feed.text, snapshot]) {
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('sekrit');
      expect(text).not.toContain('alice');
    }
    expect(snapshot).toContain('***@127.0.0.1');
  });

  it('inspects a standalone relay and a bare XState actor', async () => {
    const server = await startTestRelay();
    cleanups.push(() => server.close());
    const relay = createRelay(server.url, FAST).start();
    cleanups.push(() => relay.stop());
    await relay.waitFor('open');
    const inspector = await serveInspector(relay, { batchMs: 5 });
    cleanups.push(() => inspector.close());
    const feed = await listen(inspector.feedUrl);
    await waitUntil(() => feed.messages.length > 0, 2000, 'init');
    const init = feed.messages[0]!;
    expect(init.type === 'init' && init.actors.map((a) => [a.id, a.label, a.value])).toEqual([
      [`relay:${relay.url}`, relay.url, { live: 'open' }],
    ]);
    expect(init.type === 'init' && init.health.map((h) => h.actor)).toEqual([`relay:${relay.url}`]);

    const toggle = createActor(
      createMachine({
        id: 'toggle',
        initial: 'off',
        states: { off: { on: { FLIP: 'on' } }, on: { on: { FLIP: 'off' } } },
      }),
    ).start();
    cleanups.push(async () => toggle.stop());
    const bare = await serveInspector(toggle, { batchMs: 5 });
    cleanups.push(() => bare.close());
    const bareFeed = await listen(bare.feedUrl);
    await waitUntil(() => bareFeed.messages.length > 0, 2000, 'init');
    toggle.send({ type: 'FLIP' });
    await waitUntil(
      () => items(bareFeed.messages).some((i) => i.type === 'log' && i.entry.event === 'FLIP' && i.entry.to === 'on'),
      2000,
      'FLIP logged',
    );
  });

  it('throws a typed error naming a bad option', async () => {
    const toggle = createActor(createMachine({ id: 't' }));
    await expect(serveInspector(toggle, { port: -1 })).rejects.toMatchObject({ option: 'port' });
    await expect(serveInspector(toggle, { token: 'short' })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(serveInspector(toggle, { logSize: 0 })).rejects.toMatchObject({ option: 'logSize' });
  });

  it('close() drops pages, detaches from the target and leaves no handle', async () => {
    const baseline = handleCounts();
    const server = await startTestRelay();
    const pool = createRelayPool({ relays: [server.url], ...FAST }).start();
    await pool.waitFor('online');
    const inspector = await serveInspector(pool);
    const feed = await listen(inspector.feedUrl);
    const closed = new Promise<number>((resolve) => feed.ws.once('close', (code) => resolve(code)));
    await inspector.close();
    await inspector.close();
    expect(await closed).toBe(1006);
    await pool.stop();
    await server.close();
    await expectNoLeaks(baseline);
  });
});
