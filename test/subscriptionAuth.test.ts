/**
 * A relay that answers every REQ with `CLOSED auth-required:` even after accepting our AUTH (issue 10, item 5):
 * re-subscribing is bounded (one reauth per connection, as for publishes) and the subscription ends with a typed
 * error once every relay it targets has refused it. A scripted Nostr relay on the memory transport, SimulatedClock.
 */
import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../testkit/memoryTransport.ts';
import { nostrProtocol, type NostrEvent, type NostrFilter } from '../adapters/nostrProtocol.ts';
import { createRelayPool } from '../facades/createRelayPool.ts';
import type { RelayActorsError } from '../core/errors.ts';
import { advance } from '../testkit/simulated.ts';

const sk = generateSecretKey();
const signer = (t: Parameters<typeof finalizeEvent>[0]) => finalizeEvent(t, sk) as NostrEvent;
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A relay that challenges on connect, accepts every AUTH, and closes every REQ as auth-required. */
function stubbornRelay(mem: ReturnType<typeof memoryTransport>, url: string) {
  const counts = { req: 0, auth: 0 };
  mem.server(url, {
    onConnection: (conn) => conn.send(JSON.stringify(['AUTH', 'challenge-1'])),
    onMessage: (data, conn) => {
      const frame = JSON.parse(String(data)) as [string, ...unknown[]];
      if (frame[0] === 'REQ') {
        // Bounded, so that a client that loops fails this test instead of hanging it.
        if (++counts.req > 50) return;
        conn.send(JSON.stringify(['CLOSED', frame[1], 'auth-required: we only serve members']));
      } else if (frame[0] === 'AUTH') {
        counts.auth++;
        conn.send(JSON.stringify(['OK', (frame[1] as { id: string }).id, true, '']));
      }
    },
  });
  return counts;
}

describe('subscriptions a relay keeps refusing after authentication', () => {
  it('re-subscribe at most once per connection, then end the subscription with a typed error', async () => {
    const clock = new SimulatedClock();
    const mem = memoryTransport({ clock });
    const counts = stubbornRelay(mem, 'ws://stubborn.test');
    const pool = createRelayPool<NostrEvent, NostrEvent, NostrFilter>({
      relays: ['ws://stubborn.test'],
      transport: mem,
      protocol: nostrProtocol({ signer }),
      clock,
      wake: false,
      closeTimeout: 0,
    }).start();
    let ended: RelayActorsError | undefined;
    pool.subscribe({ kinds: [1] }).subscribe({ error: (error: RelayActorsError) => (ended = error) });
    for (let t = 0; t < 5000; t += 10) {
      advance(clock, 10);
      await settle();
    }
    expect(counts.req).toBe(2); // the first REQ and one after authenticating
    expect(counts.auth).toBe(1);
    expect(ended).toMatchObject({ code: 'PROTOCOL_ERROR', detail: 'AUTH_REFUSED' });
    expect(ended!.message).toContain('auth-required');
    await pool.stop();
  });
});
