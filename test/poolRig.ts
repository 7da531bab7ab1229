/**
 * A pool over memory transports under SimulatedClock, for the coordinator's machine and model tests. Servers ack
 * every JSON message with a string id (unless told not to) and answer pings; `settle()` lets one turn of
 * microtask deliveries happen (no simulated time passes).
 */
import { SimulatedClock } from 'xstate';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { memoryTransport, type MemoryServer } from '../testkit/memoryTransport.ts';
import { createRelayPool, type RelayPool, type RelayPoolOptions } from '../facades/createRelayPool.ts';
import type { PoolEvent } from '../core/telemetry.ts';
import { advance } from '../testkit/simulated.ts';

export type Msg = Record<string, unknown>;
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface PoolRig {
  clock: SimulatedClock;
  urls: string[];
  servers: MemoryServer[];
  /** Whether server i acks. */
  acking: boolean[];
  pool: RelayPool<Msg, Msg, Msg>;
  events: PoolEvent[];
  /** Advances simulated time in steps, letting deliveries settle between them. */
  tick(ms: number, step?: number): Promise<void>;
  /** Advances time until `done()` holds (bounded by `maxMs` of simulated time). */
  until(done: () => boolean, maxMs: number): Promise<void>;
  /** JSON messages server i received (control frames excluded). */
  received(i: number): Msg[];
}

export function poolRig(n: number, options: Partial<RelayPoolOptions<Msg, Msg, Msg>> = {}): PoolRig {
  const clock = new SimulatedClock();
  const mem = memoryTransport({ clock });
  const urls = Array.from({ length: n }, (_, i) => `ws://r${i}.test`);
  const acking = urls.map(() => true);
  const servers = urls.map((url, i) =>
    mem.server(url, {
      onMessage: (data, conn) => {
        if (typeof data !== 'string' || !acking[i]) return;
        const m = JSON.parse(data) as Msg;
        if (typeof m.id === 'string' && m.type !== 'ping')
          conn.send(JSON.stringify({ type: 'ack', id: m.id, ok: true }));
      },
    }),
  );
  const pool = createRelayPool<Msg, Msg, Msg>({
    relays: urls,
    transport: mem,
    protocol: jsonProtocol({ acks: true }),
    clock,
    wake: false,
    random: () => 0.5,
    closeTimeout: 0,
    heartbeat: { interval: 1000, timeout: 500, maxMissed: 2 },
    backoff: { base: 1000, factor: 2, max: 8000, stableAfter: 5000 },
    connectTimeout: 2000,
    sessionTimeout: 10_000,
    ...options,
  });
  const events: PoolEvent[] = [];
  pool.events$.subscribe((e) => events.push(e));
  const rig: PoolRig = {
    clock,
    urls,
    servers,
    acking,
    pool,
    events,
    async tick(ms, step = 10) {
      for (let t = 0; t < ms; t += step) {
        advance(clock, Math.min(step, ms - t), step);
        await settle();
      }
    },
    async until(done, maxMs) {
      for (let t = 0; t < maxMs && !done(); t += 10) {
        advance(clock, 10);
        await settle();
      }
    },
    received: (i) =>
      servers[i]!.received.flatMap((f) => {
        if (typeof f.data !== 'string') return [];
        const m = JSON.parse(f.data) as Msg;
        return m.type === 'ping' || m.type === 'subscribe' || m.type === 'unsubscribe' ? [] : [m];
      }),
  };
  return rig;
}
