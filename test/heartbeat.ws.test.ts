/**
 * The heartbeat over real sockets: what counts as life (data, pongs, the server's pings) and what is a dead link
 * (silence, before the first pong included). Waits on counters and states, never on fixed sleeps.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from './helpers.ts';
import { relayTo, roundTrip, server } from './wsRig.ts';

const QUIET = { heartbeat: { interval: 100, timeout: 100, maxMissed: 2, staleAfter: 250 } };

describe('staleAfter counts every inbound frame as life', () => {
  it('a quiet link that answers every ping is not killed as stale', async () => {
    const s = await server();
    const w = relayTo(s.url, QUIET);
    w.relay.start();
    await w.relay.waitFor('open');
    // Ten ping periods: four times staleAfter, with no data frame either way.
    await waitUntil(() => s.stats.pongsSent >= 10, 5000, 'ten pongs');
    expect(w.relay.status().state).toBe('open');
    expect(s.stats.connections).toBe(1);
    expect(w.events.filter((e) => e.type === 'disconnected')).toEqual([]);
  });

  it("the server's ping frames count as life when our heartbeat is off", async () => {
    const s = await server();
    const w = relayTo(s.url, { heartbeat: { enabled: false, staleAfter: 250 } });
    w.relay.start();
    await w.relay.waitFor('open');
    const [client] = await s.waitForConnections(1);
    // The server pings every 50 ms (a fifth of staleAfter), twenty times; nothing else crosses the link.
    let pings = 0;
    const pinger = setInterval(() => {
      if (pings < 20 && client!.readyState === client!.OPEN) client!.ping();
      pings++;
    }, 50);
    try {
      await waitUntil(() => pings >= 20, 5000, 'twenty server pings');
    } finally {
      clearInterval(pinger);
    }
    expect(w.relay.status().state).toBe('open');
    expect(s.stats.connections).toBe(1);
  });
});

describe('dead links and relays without ping support', () => {
  it('a link that goes silent right after open, before its first pong, is dead within maxMissed × interval + timeout', async () => {
    const s = await server();
    s.pause(); // upgrades still complete; nothing is answered afterwards (TCP stays up)
    const w = relayTo(s.url); // interval 100, timeout 100, maxMissed 2: bound 300 ms
    w.relay.start();
    await w.relay.waitFor('open');
    const openedAt = Date.now();
    await w.relay.waitFor('reconnecting', 2000);
    expect(Date.now() - openedAt).toBeLessThan(300 + 200); // the bound, plus scheduling slack on a loaded machine
    expect(w.relay.status().lastClose?.local).toBe('heartbeat-timeout');
    expect(w.events.some((e) => e.type === 'heartbeat-off')).toBe(false);
  });

  it('a server that never pongs but talks between pings keeps its one connection, heartbeat reported off', async () => {
    const s = await server();
    s.stopPongs();
    // Pings every 200 ms, each waited for 50 ms; the server talks 125 ms after each ping, between the windows.
    const w = relayTo(s.url, { heartbeat: { interval: 200, timeout: 50, maxMissed: 2 } });
    w.relay.start();
    const [client] = await s.waitForConnections(1);
    client!.on('ping', () => {
      const timer = setTimeout(
        () => client!.readyState === client!.OPEN && client!.send(JSON.stringify({ type: 'note' })),
        125,
      );
      client!.once('close', () => clearTimeout(timer));
    });
    await w.relay.waitFor('open');
    await waitUntil(() => w.relay.status().heartbeat === 'off', 3000, 'heartbeat off');
    expect(w.events.find((e) => e.type === 'heartbeat-off')).toBeDefined();
    // The first window is silence (the server only talks after pings), so it may count as one miss: degraded, then
    // open again on the next frame. Never torn down.
    expect(w.states.filter((state) => state !== 'degraded' && state !== 'open')).toEqual(['connecting']);
    await roundTrip(w, 4);
    expect(s.stats.connections).toBe(1);
  });
});
