/**
 * Package linters on the tarball: publint (exports, files, fields) and arethetypeswrong (types per resolution mode).
 * Both miss `.ts` targets and never run the code, so they complement the consumer tests, not replace them.
 *
 * attw runs with the `esm-only` profile: relay-actors ships ESM only by design. The profile leaves out `node10`
 * resolution (no `exports` support) and the "CJS resolves to ESM" warning; `require('relay-actors')` on Node ≥ 20.19
 * (require of ESM) is proven by the CommonJS consumer in node.test.ts.
 */
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ROOT, run } from './consumer.ts';

/** A CLI script of a devDependency, by its path in the package. */
const resolveBin = (pkg: string, bin: string) => join(ROOT, 'node_modules', pkg, bin);

describe('package linters on the tarball', () => {
  it('publint --strict: no errors or warnings', async () => {
    const r = await run(process.execPath, [resolveBin('publint', 'src/cli.js'), 'run', inject('tarball'), '--strict'], {
      cwd: ROOT,
      limitMs: 60_000,
    });
    console.log(r.out.trim());
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).not.toMatch(/warning|error/i);
  });

  it('arethetypeswrong (esm-only profile): no problems in any entry', async () => {
    const attw = resolveBin('@arethetypeswrong/cli', 'dist/index.js');
    const r = await run(process.execPath, [attw, inject('tarball'), '--profile', 'esm-only', '--format', 'table'], {
      cwd: ROOT,
      limitMs: 120_000,
    });
    console.log(r.out.trim());
    expect(r.code, 'attw exits non-zero on any problem the profile does not ignore').toBe(0);
  });
});
