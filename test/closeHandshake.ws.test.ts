/**
 * A server that sends a close frame and never closes TCP (issue 10, item 3), over real sockets: `wsTransport()`
 * against the test kit's `closeFrameOnly()`. The relay must leave `open` when the close frame arrives (with the
 * server's code, so the classifier decides), never write to the closing socket, drop that socket `closeTimeout`
 * later, and leave nothing behind after `stop()`. Waits on states and socket states, never fixed sleeps.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { wsTransport } from '../adapters/wsTransport.ts';
import { NotOpenError, RelayFailedError } from '../core/errors.ts';
import { startTestRelay, type TestRelay } from '../testkit/testRelay.ts';
import { expectNoLeaks, handleCounts, waitUntil } from './helpers.ts';
import { cleanup, delays, relayTo, roundTrip } from './wsRig.ts';

/** The relay's closeTimeout here: long enough that "left open at once" cannot be the drop in disguise. */
const CLOSE_TIMEOUT = 800;
/** How soon after the close frame the relay must have left `open`. */
const LEAVE_OPEN_BOUND = 200;
/** A backoff long enough to send while `reconnecting` (full jitter at 0.99 of a 300 ms ceiling). */
const SLOW_FIRST_RETRY = { backoff: { base: 300, factor: 2, max: 400, stableAfter: 300 }, random: () => 0.99 };

/**
 * A `wsTransport()` whose `ws` sockets are kept, so a test can see when TCP really ends (`readyState` CLOSED),
 * and which records every write attempted on a socket that was not open.
 */
function capturingTransport() {
  const sockets: WebSocket[] = [];
  const writesNotOpen: unknown[] = [];
  class Capture extends WebSocket {
    constructor(address: string, protocols: string[], options: ClientOptions) {
      super(address, protocols, options);
      sockets.push(this);
    }
    override send(data: any, ...rest: any[]): void {
      if (this.readyState !== WebSocket.OPEN) writesNotOpen.push(data);
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }
  }
  return { transport: wsTransport({ WebSocket: Capture as typeof WebSocket }), sockets, writesNotOpen };
}

/** A test relay closed after the test (as wsRig's `server()`), started after the caller took its handle baseline. */
async function hostileServer(): Promise<TestRelay> {
  const s = await startTestRelay();
  cleanup.push(() => s.close());
  return s;
}

/**
 * The handle baseline, then a hostile test relay and an open relay to it over a capturing transport (closeTimeout
 * CLOSE_TIMEOUT, plus `options`).
 */
async function openRelay(options: Parameters<typeof relayTo>[1] = {}) {
  const base = handleCounts();
  const s = await hostileServer();
  const cap = capturingTransport();
  const w = relayTo(s.url, { transport: cap.transport, closeTimeout: CLOSE_TIMEOUT, ...options });
  w.relay.start();
  await w.relay.waitFor('open');
  return { base, s, cap, w };
}

const allClosed = (sockets: WebSocket[]) => sockets.every((ws) => ws.readyState === WebSocket.CLOSED);

describe('a close frame without a TCP close', () => {
  it.each([
    [1001, 'going away'],
    [1012, 'service restart'],
  ])(
    '%i: leaves open at once with the code, rejects sends, drops the socket after closeTimeout, reconnects',
    async (code, reason) => {
      const { base, s, cap, w } = await openRelay(SLOW_FIRST_RETRY);
      await roundTrip(w, 1);
      const first = cap.sockets[0]!;

      const sentAt = performance.now();
      const left = w.relay.waitFor('reconnecting', LEAVE_OPEN_BOUND);
      expect(s.closeFrameOnly(code, reason)).toBe(1);
      await left;
      const leftAfterMs = performance.now() - sentAt;
      // Left before TCP ended: the server still holds it, and we have not dropped it yet.
      expect(first.readyState).toBe(WebSocket.CLOSING);
      expect(w.relay.status().lastClose).toMatchObject({ code, reason, verdict: { action: 'retry' } });
      expect(delays(w)).toHaveLength(1);

      // A send now is refused as for any relay that is not open; nothing is written to the closing socket.
      await expect(w.relay.send({ type: 'echo', n: 2 })).rejects.toBeInstanceOf(NotOpenError);
      expect(cap.writesNotOpen).toEqual([]);

      await waitUntil(() => first.readyState === WebSocket.CLOSED, CLOSE_TIMEOUT + 1000, 'the socket to be dropped');
      const droppedAfterMs = performance.now() - sentAt;
      expect(droppedAfterMs).toBeGreaterThanOrEqual(CLOSE_TIMEOUT - 5);
      console.info(
        `close frame ${code}: left open after ${leftAfterMs.toFixed(1)} ms, socket dropped after ${droppedAfterMs.toFixed(0)} ms`,
      );

      await w.relay.waitFor('open', 3000);
      await roundTrip(w, 3);
      expect(cap.sockets).toHaveLength(2);

      await w.relay.stop();
      await waitUntil(() => allClosed(cap.sockets), CLOSE_TIMEOUT + 1000, 'every socket of ours to be gone');
      await s.close();
      await expectNoLeaks(base);
    },
  );

  it('1008: failed (fatal), no reconnect, and the socket is still dropped after closeTimeout', async () => {
    const { base, s, cap, w } = await openRelay();

    const left = w.relay.waitFor('failed', LEAVE_OPEN_BOUND);
    s.closeFrameOnly(1008, 'policy violation');
    await left;
    expect(w.relay.status().lastClose).toMatchObject({
      code: 1008,
      reason: 'policy violation',
      verdict: { action: 'fatal' },
    });
    await expect(w.relay.send({ type: 'echo', n: 1 })).rejects.toBeInstanceOf(RelayFailedError);
    expect(cap.writesNotOpen).toEqual([]);

    await waitUntil(() => allClosed(cap.sockets), CLOSE_TIMEOUT + 1000, 'the socket to be dropped');
    expect(delays(w)).toEqual([]);
    expect(cap.sockets).toHaveLength(1);
    expect(s.stats.connections).toBe(1);

    await w.relay.stop();
    await s.close();
    await expectNoLeaks(base);
  });

  it('stop() while the dropped socket still waits for TCP: nothing of ours outlives closeTimeout', async () => {
    const { base, s, cap, w } = await openRelay(SLOW_FIRST_RETRY);
    const left = w.relay.waitFor('reconnecting', LEAVE_OPEN_BOUND);
    s.closeFrameOnly(1001);
    await left;

    const stoppedAt = performance.now();
    await w.relay.stop();
    expect(w.relay.status().state).toBe('closed');
    // The server never closes TCP; stop() drops the socket itself instead of waiting out closeTimeout.
    await waitUntil(() => allClosed(cap.sockets), CLOSE_TIMEOUT + 1000, 'the socket to be dropped');
    expect(performance.now() - stoppedAt).toBeLessThan(CLOSE_TIMEOUT / 4);
    expect(cap.sockets).toHaveLength(1);
    await s.close();
    await expectNoLeaks(base);
  });
});
