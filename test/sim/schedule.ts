/**
 * Schedules for the simulator: what the world and the app do, step by step, generated (and shrunk) by fast-check.
 * Each step applies one action, then lets `waitMs` of simulated time pass.
 */
import fc from 'fast-check';

/** One thing that happens to the relays, the clock or the app. `relay` indexes the pool's relays. */
export type Action =
  | { kind: 'send'; ack: boolean }
  | { kind: 'publish' }
  | { kind: 'kill'; relay: number }
  | { kind: 'restart'; relay: number }
  | { kind: 'blackhole'; relay: number; on: boolean }
  | { kind: 'pongs'; relay: number; on: boolean }
  | { kind: 'slow'; relay: number; ms: number }
  | { kind: 'close'; relay: number; code: number }
  | { kind: 'refuse'; relay: number; status?: number; errorCode?: string }
  | { kind: 'clockJump'; ms: number }
  | { kind: 'retry'; relay: number };

/** An action and the simulated time that passes after it. */
export interface Step {
  action: Action;
  waitMs: number;
}

/** A whole run: how many relays the pool has, a seed for its jitter, and the steps. */
export interface Schedule {
  relays: number;
  seed: number;
  steps: Step[];
}

const relay = (n: number) => fc.integer({ min: 0, max: n - 1 });

/** Close codes a server may send: normal, going away, restarting, try later, and the fatal policy violation. */
const CLOSE_CODES = [1000, 1001, 1011, 1012, 1013, 1008];

function action(n: number): fc.Arbitrary<Action> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), ack: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('publish' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('kill' as const), relay: relay(n) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('restart' as const), relay: relay(n) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('blackhole' as const), relay: relay(n), on: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('pongs' as const), relay: relay(n), on: fc.boolean() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('slow' as const),
        relay: relay(n),
        ms: fc.constantFrom(0, 0, 300, 1200),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('close' as const),
        relay: relay(n),
        code: fc.constantFrom(...CLOSE_CODES),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record(
        {
          kind: fc.constant('refuse' as const),
          relay: relay(n),
          status: fc.constantFrom(undefined, 503, 401),
          errorCode: fc.constantFrom(undefined, 'ECONNREFUSED', 'ETIMEDOUT'),
        },
        { requiredKeys: ['kind', 'relay'] },
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('clockJump' as const), ms: fc.integer({ min: 1000, max: 40_000 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const), relay: relay(n) }) },
  );
}

/** Schedules of 1–`maxSteps` steps over 1–`maxRelays` relays. */
export function schedules(maxSteps = 25, maxRelays = 5): fc.Arbitrary<Schedule> {
  return fc.integer({ min: 1, max: maxRelays }).chain((n) =>
    fc.record({
      relays: fc.constant(n),
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      steps: fc.array(fc.record({ action: action(n), waitMs: fc.integer({ min: 0, max: 4000 }) }), {
        minLength: 1,
        maxLength: maxSteps,
      }),
    }),
  );
}
