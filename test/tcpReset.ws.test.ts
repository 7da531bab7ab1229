/**
 * A TCP reset (RST) from the server after the connection opened, through the whole stack: the test kit's
 * `reset()` on a real loopback relay, `wsTransport()`, and the relay's close record and telemetry.
 */
import { describe, expect, it } from 'vitest';
import type { RelayEvent } from '../core/telemetry.ts';
import { waitUntil } from './helpers.ts';
import { relayTo, roundTrip, server } from './wsRig.ts';

describe('relay over real sockets: a TCP reset', () => {
  it('is reported as 1006 with errorCode ECONNRESET in lastClose and the disconnected event, then retried', async () => {
    const s = await server();
    const w = relayTo(s.url);
    w.relay.start();
    await w.relay.waitFor('open');
    await roundTrip(w, 1);
    expect(s.reset()).toBe(1);
    await waitUntil(() => w.events.some((e) => e.type === 'disconnected'), 3000, 'the disconnected event');
    const disconnected = w.events.find(
      (e): e is Extract<RelayEvent, { type: 'disconnected' }> => e.type === 'disconnected',
    )!;
    expect(disconnected.info).toMatchObject({ code: 1006, wasClean: false, errorCode: 'ECONNRESET' });
    expect(disconnected.verdict).toMatchObject({ action: 'retry', reason: 'ECONNRESET' });
    expect(w.relay.status().lastClose).toMatchObject({
      code: 1006,
      errorCode: 'ECONNRESET',
      verdict: { action: 'retry' },
    });
    // The relay kept listening: the reconnect succeeds.
    await waitUntil(() => w.states.filter((st) => st === 'open').length >= 2, 5000, 'open again');
    await roundTrip(w, 2);
  });
});
