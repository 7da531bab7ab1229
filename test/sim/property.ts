/** The simulator's property, shared by the `npm test` budget (pool.sim.test.ts) and the long runner (cli.ts). */
import fc from 'fast-check';
import { schedules } from './schedule.ts';
import { World } from './world.ts';

/** How a run is replayed or extended. */
export interface SimRunOptions {
  /** A pool of 1–5 relays, or one standalone relay. */
  kind: 'pool' | 'relay';
  runs: number;
  /** fast-check's seed, from a failure report, to replay it. */
  seed?: number;
  /** fast-check's path, from a failure report, to jump straight to the shrunk counterexample. */
  path?: string;
}

/** Checks `runs` generated schedules; rejects with fast-check's report (seed, path, shrunk schedule) on a failure. */
export function checkSchedules(options: SimRunOptions): Promise<void> {
  return fc.assert(
    fc.asyncProperty(schedules(25, options.kind === 'pool' ? 5 : 1), (schedule) =>
      new World(schedule, options.kind).run(),
    ),
    {
      numRuns: options.runs,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.path === undefined ? {} : { path: options.path, endOnFailure: true }),
    },
  );
}
