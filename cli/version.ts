/** The package's own version, read from its package.json (found from here upwards: `cli/` or `dist/cli/`). */
import { readFileSync } from 'node:fs';

/** The version in relay-actors' package.json, or `'unknown'` when it cannot be found (a copied file). */
export function packageVersion(): string {
  let dir = new URL('.', import.meta.url);
  for (let depth = 0; depth < 4; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'relay-actors' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json at this level: look one up.
    }
    dir = new URL('..', dir);
  }
  return 'unknown';
}
