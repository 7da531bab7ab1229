/**
 * The simulator in `npm test`: a fixed budget of generated fault schedules over pools of 1–5 relays and over a
 * standalone relay (memory transports, SimulatedClock), each checked against the invariants in world.ts. A failure prints fast-check's seed
 * and path and the shrunk schedule; replay it with `npm run sim -- --seed <seed> --path <path>`, and run longer
 * with `npm run sim -- --runs N`.
 */
import { describe, it } from 'vitest';
import { checkSchedules } from './property.ts';

/** Schedules per `npm test` run (about 10 ms each on this machine); SIM_RUNS overrides. */
const RUNS = Number(process.env.SIM_RUNS ?? 500);

describe('simulator: generated fault schedules', () => {
  it(
    `a pool of 1–5 relays keeps every invariant over ${RUNS} schedules`,
    () => checkSchedules({ kind: 'pool', runs: RUNS }),
    120_000,
  );
  it(
    `a standalone relay keeps every invariant over ${RUNS} schedules`,
    () => checkSchedules({ kind: 'relay', runs: RUNS }),
    120_000,
  );
});
