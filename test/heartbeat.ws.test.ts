/**
 * The heartbeat over real sockets: what counts as life (data, pongs, the server's pings) and what is a dead link
 * (silence, before the first pong included). Waits on counters and states, never on fixed sleeps.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from './helpers.ts';
import { relayTo, server } from './wsRig.ts';

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
