/**
 * A relay over real sockets for tests: `wsTransport()` against the test kit's loopback relay (127.0.0.1, port 0),
 * short configured delays, and a record of its states, events and messages. Everything made here is stopped after
 * each test.
 */
import { afterEach } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { wsTransport } from '../adapters/wsTransport.ts';
import { createRelay, type Relay } from '../facades/createRelay.ts';
import type { RelayOptions } from '../runtime/options.ts';
import type { RelayEvent, RelayState } from '../core/telemetry.ts';
import { startTestRelay, type TestRelay } from '../testkit/testRelay.ts';
import { waitUntil } from './helpers.ts';

export type Msg = Record<string, unknown>;
export const FAST = {
  heartbeat: { interval: 100, timeout: 100, maxMissed: 2 },
  backoff: { base: 50, factor: 2, max: 400, stableAfter: 300 },
  connectTimeout: 1000,
  handshakeTimeout: 300,
  closeTimeout: 500,
  wake: false as const,
};

export const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

export async function server(): Promise<TestRelay> {
  const s = await startTestRelay();
  cleanup.push(() => s.close());
  return s;
}

export interface Watched {
  relay: Relay<Msg, Msg>;
  states: RelayState[];
  events: RelayEvent[];
  messages: Msg[];
}

export function relayTo(url: string, options: Partial<RelayOptions<Msg, Msg>> = {}): Watched {
  const relay = createRelay<Msg, Msg>(url, { transport: wsTransport(), protocol: jsonProtocol(), ...FAST, ...options });
  const w: Watched = { relay, states: [], events: [], messages: [] };
  relay.events$.subscribe((e) => {
    w.events.push(e);
    if (e.type === 'state') w.states.push(e.state);
  });
  relay.messages$.subscribe((m) => w.messages.push(m));
  cleanup.push(() => relay.stop());
  return w;
}

export const delays = (w: Watched) => w.events.flatMap((e) => (e.type === 'reconnect-scheduled' ? [e.delayMs] : []));

export async function roundTrip(w: Watched, n: number): Promise<void> {
  await w.relay.send({ type: 'echo', n });
  await waitUntil(() => w.messages.some((m) => m.n === n), 3000, `echo ${n}`);
}
