import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:package`: the package as users get it. The global setup packs the tarball once (which runs the
// build); each file installs it into fresh consumer projects in a temp folder. Needs the npm registry (or its cache)
// for the tarball's dependencies and Chromium for the bundle test; CI runs it after `npm test`.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/package/**/*.test.ts'],
    globalSetup: ['test/package/globalSetup.ts'],
    testTimeout: 240_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
