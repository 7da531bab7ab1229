/**
 * Model-based tests. An abstract model of the relay (timers and faults as events) is walked by `xstate/graph`:
 * for every transition of the model, the shortest path that reaches it and takes it is executed against the real
 * relay (memory transport, SimulatedClock), checking the relay's state after every step.
 */
import { SimulatedClock, createMachine, type SnapshotFrom } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { memoryTransport, type MemoryServer } from '../testkit/memoryTransport.ts';
import { createRelay, type Relay } from '../facades/createRelay.ts';
import type { RelayState } from '../core/telemetry.ts';
import { advance } from '../testkit/simulated.ts';

type ModelEvent = { type: ModelEventType };
type ModelEventType =
  | 'START'
  | 'ACCEPT'
  | 'REFUSE_RETRYABLE'
  | 'REFUSE_FATAL'
  | 'DIAL_TIMEOUT'
  | 'MISS_PONG'
  | 'RECOVER'
  | 'DROP'
  | 'CLOSE_FATAL'
  | 'BACKOFF_ELAPSED'
  | 'RETRY'
  | 'WAKE'
  | 'STOP';

/** The relay as the user sees it: public states, with faults and elapsed timers as events. maxMissed = 2. */
export const relayModel = createMachine({
  types: {} as { events: ModelEvent },
  id: 'model',
  initial: 'idle',
  states: {
    idle: { on: { START: 'connecting', STOP: 'closed' } },
    connecting: {
      on: {
        ACCEPT: 'open',
        REFUSE_RETRYABLE: 'reconnecting',
        REFUSE_FATAL: 'failed',
        DIAL_TIMEOUT: 'reconnecting',
        WAKE: 'connecting',
        STOP: 'closed',
      },
    },
    open: {
      on: { MISS_PONG: 'degraded', DROP: 'reconnecting', CLOSE_FATAL: 'failed', RETRY: 'open', STOP: 'closed' },
    },
    degraded: {
      on: { RECOVER: 'open', MISS_PONG: 'reconnecting', DROP: 'reconnecting', CLOSE_FATAL: 'failed', STOP: 'closed' },
    },
    reconnecting: { on: { BACKOFF_ELAPSED: 'connecting', RETRY: 'connecting', WAKE: 'connecting', STOP: 'closed' } },
    failed: { on: { RETRY: 'connecting', WAKE: 'failed', STOP: 'closed' } },
    closed: { type: 'final' },
  },
});

const ALL: ModelEvent[] = (
  [
    'START',
    'ACCEPT',
    'REFUSE_RETRYABLE',
    'REFUSE_FATAL',
    'DIAL_TIMEOUT',
    'MISS_PONG',
    'RECOVER',
    'DROP',
    'CLOSE_FATAL',
    'BACKOFF_ELAPSED',
    'RETRY',
    'WAKE',
    'STOP',
  ] as const
).map((type) => ({ type }));

type ModelSnapshot = SnapshotFrom<typeof relayModel>;
interface PlannedPath {
  name: string;
  steps: Array<{ event: ModelEvent; expected: RelayState }>;
}

/** One path per model transition: the shortest way to its source state, then the transition itself. */
export function transitionPaths(): PlannedPath[] {
  const key = (s: ModelSnapshot) => JSON.stringify(s.value);
  const toState = new Map<string, Array<{ event: ModelEvent; state: ModelSnapshot }>>();
  for (const p of getShortestPaths(relayModel, { events: ALL })) toState.set(key(p.state), p.steps);
  const edges = adjacencyMapToArray(getAdjacencyMap(relayModel, { events: ALL }));
  return (
    edges
      // Only transitions the model defines: an unhandled event is not a transition to test here.
      .filter((e) => e.state.status !== 'done' && e.state.can(e.event))
      .map((edge) => {
        const prefix = toState.get(key(edge.state)) ?? [];
        const steps = [
          ...prefix.filter((s) => (s.event.type as string) !== 'xstate.init'),
          { event: edge.event, state: edge.nextState },
        ].map((s) => ({
          event: s.event,
          expected: s.state.value as RelayState,
        }));
        return { name: `${key(edge.state)} --${edge.event.type}--> ${key(edge.nextState)}`, steps };
      })
  );
}

const URL = 'ws://model.test';
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The system under test: a real relay over the memory transport, with dials held until the model decides them. */
class Sut {
  readonly clock = new SimulatedClock();
  readonly mem = memoryTransport({ clock: this.clock });
  readonly server: MemoryServer = this.mem.server(URL).holdDials();
  readonly relay: Relay<Record<string, unknown>, Record<string, unknown>> = createRelay(URL, {
    transport: this.mem,
    protocol: jsonProtocol(),
    clock: this.clock,
    wake: false,
    random: () => 0.5,
    closeTimeout: 0,
    connectTimeout: 2000,
    heartbeat: { interval: 1000, timeout: 500, maxMissed: 2 },
    backoff: { base: 1000, factor: 2, max: 8000, stableAfter: 60_000 },
  });

  get state(): RelayState {
    return this.relay.status().state;
  }

  /** Advances simulated time in 10 ms steps until `done()` holds; bounded by `maxMs`. */
  async until(done: () => boolean, maxMs: number): Promise<void> {
    for (let t = 0; t < maxMs && !done(); t += 10) {
      advance(this.clock, 10);
      await settle();
    }
  }

  private async settleDial(how: () => void): Promise<void> {
    how();
    this.server.releaseDials();
    this.server.holdDials();
    await settle();
  }

  async exec(event: ModelEventType): Promise<void> {
    const s = this.server;
    switch (event) {
      case 'START':
        this.relay.start();
        break;
      case 'ACCEPT':
        s.pongs(true);
        await this.settleDial(() => s.accept());
        // The first ping is answered, so a later silence counts as missed pongs, not as a relay without pings.
        await this.until(() => this.relay.status().rttMs !== null, 1200);
        break;
      case 'REFUSE_RETRYABLE':
        await this.settleDial(() => s.refuse({ errorCode: 'ECONNREFUSED' }));
        break;
      case 'REFUSE_FATAL':
        await this.settleDial(() => s.refuse({ status: 401 }));
        break;
      case 'DIAL_TIMEOUT':
        await this.until(() => this.state !== 'connecting', 2500);
        break;
      case 'MISS_PONG': {
        s.pongs(false);
        const missed = this.relay.status().missedPongs;
        const from = this.state;
        await this.until(() => this.relay.status().missedPongs > missed || this.state !== from, 3000);
        break;
      }
      case 'RECOVER':
        s.pongs(true);
        await this.until(() => this.state === 'open', 3000);
        break;
      case 'DROP':
        s.drop();
        await settle();
        break;
      case 'CLOSE_FATAL':
        s.closeAll(1008, 'policy');
        await settle();
        break;
      case 'BACKOFF_ELAPSED':
        await this.until(() => this.state !== 'reconnecting', 9000);
        break;
      case 'RETRY':
        this.relay.retry();
        await settle();
        break;
      case 'WAKE':
        this.relay.actor.send({ type: 'WAKE', sleptMs: 60_000 });
        await settle();
        break;
      case 'STOP':
        await this.relay.stop();
        break;
    }
  }
}

describe('model-based: every transition of the relay model holds on the real relay', () => {
  const paths = transitionPaths();

  it('covers every state and every transition of the model', () => {
    const states = new Set(paths.flatMap((p) => p.steps.map((s) => s.expected)));
    expect([...states].sort()).toEqual(['closed', 'connecting', 'degraded', 'failed', 'open', 'reconnecting']);
    const defined = Object.values(relayModel.root.states).reduce(
      (n, node) => n + Object.keys(node.config.on ?? {}).length,
      0,
    );
    expect(paths.length).toBe(defined);
  });

  it.each(paths.map((p) => [p.name, p] as const))('%s', async (_name, path) => {
    const sut = new Sut();
    try {
      const trail: string[] = [];
      for (const step of path.steps) {
        await sut.exec(step.event.type);
        trail.push(`${step.event.type}→${sut.state}`);
        expect(sut.state, `after ${trail.join(', ')}`).toBe(step.expected);
      }
    } finally {
      await sut.relay.stop();
    }
  });
});
