/**
 * What the simulator drives: a pool of relays or one standalone relay, behind one small interface, so the same
 * schedules and invariants apply to both.
 */
import type { Observable } from 'rxjs';
import type { SimulatedClock } from 'xstate';
import { jsonProtocol } from '../../adapters/jsonProtocol.ts';
import type { MemoryTransport } from '../../testkit/memoryTransport.ts';
import { createRelay } from '../../facades/createRelay.ts';
import { createRelayPool } from '../../facades/createRelayPool.ts';
import type { PoolEvent, RelayState } from '../../core/telemetry.ts';

type Msg = Record<string, unknown>;

/** What a run needs from the thing under test. */
export interface SimTarget {
  readonly events$: Observable<PoolEvent>;
  readonly messages$: Observable<Msg>;
  start(): void;
  stop(): Promise<void>;
  /** State of relay `url`. */
  relayState(url: string): RelayState;
  /** The pool's state, or the relay's for a standalone relay. */
  overallState(): string;
  send(message: Msg, ack: boolean): Promise<unknown>;
  /** Publish to several relays; a standalone relay sends with an ack. */
  publish(message: Msg): Promise<unknown>;
  retry(url: string): void;
}

/** The settings every run shares: short, so that a schedule covers many cycles. */
export const HEARTBEAT = { interval: 1000, timeout: 500, maxMissed: 2 };

function shared(mem: MemoryTransport, clock: SimulatedClock, random: () => number) {
  return {
    transport: mem,
    protocol: jsonProtocol({ acks: true }),
    clock,
    random,
    closeTimeout: 0,
    heartbeat: HEARTBEAT,
    backoff: { base: 1000, factor: 2, max: 8000, stableAfter: 5000 },
    connectTimeout: 2000,
    ackTimeout: 3000,
  };
}

/** A pool over `urls` (session timeout 10 s, outbox TTL 20 s). */
export function poolTarget(
  urls: string[],
  mem: MemoryTransport,
  clock: SimulatedClock,
  random: () => number,
): SimTarget {
  const pool = createRelayPool<Msg, Msg, Msg>({
    ...shared(mem, clock, random),
    relays: urls,
    sessionTimeout: 10_000,
    outbox: { ttl: 20_000 },
  });
  return {
    events$: pool.events$,
    messages$: pool.messages$,
    start: () => void pool.start(),
    stop: () => pool.stop(),
    relayState: (url) => pool.status().relays.find((r) => r.url === url)!.state,
    overallState: () => pool.status().state,
    send: (message, ack) => pool.send(message, { ack }),
    publish: (message) => pool.publish(message),
    retry: (url) => pool.retry(url),
  };
}

/** One relay, no coordinator: sends reject while it is not open. */
export function relayTarget(url: string, mem: MemoryTransport, clock: SimulatedClock, random: () => number): SimTarget {
  const relay = createRelay<Msg, Msg>(url, shared(mem, clock, random));
  return {
    events$: relay.events$,
    messages$: relay.messages$,
    start: () => void relay.start(),
    stop: () => relay.stop(),
    relayState: () => relay.status().state,
    overallState: () => relay.status().state,
    send: (message, ack) => relay.send(message, { ack }),
    publish: (message) => relay.send(message, { ack: true }),
    retry: () => relay.retry(),
  };
}
