/**
 * `npm run sim -- [--kind pool|relay] [--runs N] [--seed S --path P]`: the simulator outside the test budget. Long runs look for rare
 * schedules; `--seed` and `--path` (from a failure report) replay one and show its shrunk schedule. Exit 1 on a
 * violated invariant.
 */
import { parseArgs } from 'node:util';
import { checkSchedules } from './property.ts';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'pool' },
    runs: { type: 'string', default: '5000' },
    seed: { type: 'string' },
    path: { type: 'string' },
  },
});
const runs = Number(values.runs);
const kind = values.kind;
if (!Number.isInteger(runs) || runs < 1 || (kind !== 'pool' && kind !== 'relay')) {
  process.stderr.write('sim: --runs must be a positive integer and --kind pool or relay\n');
  process.exit(2);
}
const t0 = Date.now();
try {
  await checkSchedules({
    kind,
    runs,
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    ...(values.path ? { path: values.path } : {}),
  });
  process.stdout.write(
    `sim: ${runs} ${kind} schedules, every invariant kept (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${String((error as Error).cause ?? '')}\n`);
  process.exitCode = 1;
}
