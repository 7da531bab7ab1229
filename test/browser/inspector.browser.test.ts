/**
 * The offline inspector in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
 * the page draws every state of the relay and coordinator statecharts, lights `reconnecting` then `open` when a
 * test relay is killed and restarted, logs the close, survives a reload and 50 relays, and refuses tokenless
 * connections. A screenshot is kept in `artifacts/` (set RELAY_ACTORS_SCREENSHOT to write it elsewhere too, as
 * the README's `inspector/screenshot.png` is made).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRelayPool, poolMachine, relayMachine, type RelayPool } from '../../index.ts';
import { machineGraph, serveInspector, stateIds, type InspectorServer } from '../../inspector/index.ts';
import { startTestRelay, type TestRelay } from '../../testkit/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const FAST = {
  heartbeat: { interval: 200, timeout: 200, maxMissed: 2 },
  backoff: { base: 50, max: 300, stableAfter: 200 },
  closeTimeout: 300,
};

let browser: Browser;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium); .ci/run does`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  mkdirSync('artifacts', { recursive: true });
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function livePool(
  n: number,
  sharedServer = false,
): Promise<{ relays: TestRelay[]; pool: RelayPool<any, any, any>; inspector: InspectorServer; urls: string[] }> {
  const relays = await Promise.all(Array.from({ length: sharedServer ? 1 : n }, () => startTestRelay()));
  cleanups.push(() => Promise.all(relays.map((r) => r.close())));
  const urls = sharedServer
    ? Array.from({ length: n }, (_, i) => new URL(`/r${i}`, relays[0]!.url).href)
    : relays.map((r) => r.url);
  const pool = createRelayPool({ relays: urls, ...FAST }).start();
  cleanups.push(() => pool.stop());
  await pool.waitFor('online');
  const inspector = await serveInspector(pool);
  cleanups.push(() => inspector.close());
  return { relays, pool, inspector, urls };
}

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  cleanups.push(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    // Refused connections (the tokenless test, restarts) are logged by Chromium itself; anything else is ours.
    if (m.type() === 'error' && !/WebSocket connection to .* failed/.test(m.text())) errors.push(m.text());
  });
  cleanups.push(async () => expect(errors, 'page errors').toEqual([]));
  await page.goto(url);
  await page.waitForSelector('body[data-connected="true"]');
  return page;
}

/** A card by actor id (`pool`) or, for relays, by the relay's URL as `status()` shows it. */
const card = (idOrUrl: string) =>
  idOrUrl.includes('://') ? `article.card[data-url="${idOrUrl}"]` : `article.card[data-actor="${idOrUrl}"]`;
const lit = (idOrUrl: string, state: string) => `${card(idOrUrl)} g.box.active[data-state="${state}"]`;

describe('offline inspector in Chromium', () => {
  it('draws every state, lights reconnecting then open on a kill and restart, logs the close, keeps a screenshot', async () => {
    const { relays, pool, inspector } = await livePool(3);
    const page = await openPage(inspector.url);
    const relayIds = pool.status().relays.map((r) => r.url);
    await page.waitForSelector(card('pool'));
    for (const id of relayIds) await page.waitForSelector(card(id));

    // Every state of each machine is drawn, as a box of its own, on every card of that machine.
    const relayStates = stateIds(machineGraph(relayMachine));
    const poolStates = stateIds(machineGraph(poolMachine));
    for (const id of relayIds) {
      const drawn = await page.$$eval(`${card(id)} g.box`, (gs) => gs.map((g) => g.getAttribute('data-state')));
      expect(drawn.sort()).toEqual([...relayStates].sort());
    }
    const poolDrawn = await page.$$eval(`${card('pool')} g.box`, (gs) => gs.map((g) => g.getAttribute('data-state')));
    expect(poolDrawn.sort()).toEqual([...poolStates].sort());
    // Transitions are drawn as labelled arrows (e.g. live → reconnecting on CONNECTION_LOST).
    const edge = await page.$eval(
      `${card(relayIds[0]!)} g.edge[data-edge="relay.live->relay.reconnecting"] text`,
      (t) => t.textContent,
    );
    expect(edge).toContain('CONNECTION_LOST');
    for (const id of relayIds) await page.waitForSelector(lit(id, 'relay.live.open'));
    await page.waitForSelector(lit('pool', 'pool.running.online'));

    // Kill the first relay's server: the page lights reconnecting, then open again after the restart.
    const victim = pool.status().relays[0]!.url;
    const primaryBefore = pool.status().primary;
    await relays[0]!.kill();
    await page.waitForSelector(lit(victim, 'relay.reconnecting'), { timeout: 10_000 });
    await page.waitForSelector(`${card(victim)} .badge[data-role="state"]:text-matches("reconnecting|connecting")`);
    await relays[0]!.restart();
    await page.waitForSelector(lit(victim, 'relay.live.open'), { timeout: 15_000 });

    // The log shows the close with its code and verdict.
    const closeRow = page
      .locator('#log tbody tr', { hasText: 'live.open → reconnecting' })
      .filter({ hasText: 'close 1006' })
      .first();
    await closeRow.waitFor();
    expect(await closeRow.textContent()).toMatch(/CONNECTION_LOST.*retry/);
    if (primaryBefore === victim) await page.locator('#log tbody tr', { hasText: 'failover' }).first().waitFor();
    // Sparklines and the primary badge are live.
    await page.waitForFunction(
      () => document.querySelectorAll('.card.primary .primary-badge:not([hidden])').length === 1,
    );
    const points = await page.$eval(`${card(victim)} .metric polyline`, (p) => p.getAttribute('points') ?? '');
    expect(points.split(' ').length).toBeGreaterThan(1);
    // Live sparklines step as the server's series do, so a reload shows the same curve (±1 point in flight).
    const snapshotUrl = inspector.url.replace('/?', '/snapshot.json?');
    const serverPoints = async () =>
      (
        (await (await fetch(snapshotUrl)).json()) as { health: Array<{ url: string; series: { score: number[] } }> }
      ).health.find((h) => h.url === victim)!.series.score.length;
    const before = await serverPoints();
    const onPage = Number(await page.$eval(`${card(victim)} .metric polyline`, (p) => p.getAttribute('data-count')));
    const after = await serverPoints();
    expect(onPage).toBeGreaterThanOrEqual(before - 1);
    expect(onPage).toBeLessThanOrEqual(after + 1);

    const shot = await page.screenshot({ fullPage: true, path: 'artifacts/inspector.png' });
    expect(shot.byteLength).toBeGreaterThan(10_000);
    if (process.env.RELAY_ACTORS_SCREENSHOT)
      await page.screenshot({ fullPage: false, path: process.env.RELAY_ACTORS_SCREENSHOT });

    // A reload gets the current snapshot first: everything is lit again with no new transition.
    await page.reload();
    await page.waitForSelector('body[data-connected="true"]');
    for (const id of relayIds) await page.waitForSelector(lit(id, 'relay.live.open'));
    expect(await page.locator('#log tbody tr', { hasText: 'close 1006' }).count()).toBeGreaterThan(0);

    // Relays removed and added at run time: the card goes, and comes back lit.
    const last = relayIds[2]!;
    await pool.removeRelay(last);
    await page.waitForSelector(card(last), { state: 'detached' });
    pool.addRelay(relays[2]!.url);
    await page.waitForSelector(lit(last, 'relay.live.open'), { timeout: 10_000 });
  });

  it('refuses tokenless page loads and feed connections', async () => {
    const { inspector } = await livePool(1);
    const page = await openPage(inspector.url);
    const origin = new URL(inspector.url).origin;
    const result = await page.evaluate(async (o) => {
      const feed = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`${o.replace('http', 'ws')}/feed`);
        ws.onopen = () => resolve('open');
        ws.onerror = () => resolve('refused');
      });
      const wrong = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`${o.replace('http', 'ws')}/feed?token=${'0'.repeat(48)}`);
        ws.onopen = () => resolve('open');
        ws.onerror = () => resolve('refused');
      });
      return { feed, wrong };
    }, origin);
    expect(result).toEqual({ feed: 'refused', wrong: 'refused' });
    const tokenless = await browser.newPage();
    cleanups.push(() => tokenless.close());
    const response = await tokenless.goto(`${origin}/`);
    expect(response?.status()).toBe(401);
  });

  it('stays responsive with 50 relays, all going down and coming back', async () => {
    const { relays, pool, inspector } = await livePool(50, true);
    const t0 = Date.now();
    const page = await openPage(inspector.url);
    await page.waitForFunction(() => document.querySelectorAll('article.card.relay').length === 50, undefined, {
      timeout: 20_000,
    });
    const drawnMs = Date.now() - t0;
    await page.waitForFunction(
      () => document.querySelectorAll('article.card.relay g.box.active[data-state="relay.live.open"]').length === 50,
    );
    await relays[0]!.kill();
    await page.waitForFunction(
      () => document.querySelectorAll('article.card.relay g.box.active[data-state="relay.live.open"]').length === 0,
      undefined,
      { timeout: 20_000 },
    );
    // The page answers promptly while 50 relays churn through reconnect.
    const t1 = Date.now();
    await page.evaluate(() => document.querySelectorAll('#log tbody tr').length);
    const evalMs = Date.now() - t1;
    await relays[0]!.restart();
    await pool.waitFor('online', 20_000);
    await page.waitForFunction(
      () => document.querySelectorAll('article.card.relay g.box.active[data-state="relay.live.open"]').length === 50,
      undefined,
      { timeout: 30_000 },
    );
    console.log(`50 relays: page drawn in ${drawnMs} ms; evaluate during churn answered in ${evalMs} ms`);
    expect(evalMs).toBeLessThan(2000);
    await page.screenshot({ fullPage: false, path: 'artifacts/inspector-50.png' });
  });
});
