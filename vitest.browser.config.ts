import { defineConfig } from 'vitest/config';

// `npm run test:browser`: tests in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core).
// Kept out of `npm test` so that the main suite needs no browser.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.browser.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
