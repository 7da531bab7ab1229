import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:chaos`: real faults (process kills, iptables, tc) between the client pools on the host and Nostr
// relay processes inside a network namespace the run creates. Needs root, `ip`, `tc` and `iptables` (.ci/run installs
// iptables). The file is `*.chaos.ts` so that the root config's `test/**/*.test.ts` never picks it up.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    testTimeout: 30_000,
    // The whole fault script runs in beforeAll: about 30 s, cut at its own 140 s budget (scenario.ts), so under this.
    hookTimeout: 170_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
