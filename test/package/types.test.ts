/**
 * The tarball's types in strict TypeScript consumers: every TypeScript block of the README, extracted verbatim, plus
 * a file that names the public types, must compile under `nodenext` (Node: no DOM lib) and `bundler` (browser: DOM
 * lib, the root entry's `browser` condition) with `strict`, `skipLibCheck: false`, `exactOptionalPropertyTypes` and
 * `noPropertyAccessFromIndexSignature`, with the TypeScript this project builds with and with the latest TypeScript 6.
 *
 * Errors inside xstate's own declarations (`node_modules/xstate/`, which does not type-check under
 * `exactOptionalPropertyTypes` with `skipLibCheck: false`; see statelyai/xstate#4613) are printed and not counted:
 * every consumer of xstate sees them, with or without relay-actors. Any other error fails.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createConsumer, readmeBlocks, ROOT, run, type Consumer } from './consumer.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
/** Optional peers the README's examples use (`relay-actors/stately`, `relay-actors/testing/nostr`). */
const PEERS = ['@statelyai/inspect', '@nostr-relay/core', '@nostr-relay/common'].map(
  (name) => `${name}@${pkg.devDependencies[name]}`,
);

const STRICT = {
  strict: true,
  skipLibCheck: false,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noUncheckedIndexedAccess: true,
  noEmit: true,
  target: 'ES2022',
};

const CONFIGS = {
  nodenext: { ...STRICT, module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'], types: ['node'] },
  bundler: { ...STRICT, module: 'esnext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'] },
} as const;

/** Names every type the issue asked to be importable, from the entry a user would use. */
const TYPES_COMMON = `import type { BrowserTransportOptions, JsonProtocolOptions, NetworkMonitor, NostrProtocolOptions, Relay, RelayOptions, RelayPool,
  RelayPoolOptions, Transport, Protocol } from 'relay-actors';
import type { TestRelay, TestRelayOptions } from 'relay-actors/testing';
import type { InspectorOptions, InspectorServer } from 'relay-actors/inspector';
export type Named = [BrowserTransportOptions, JsonProtocolOptions, NetworkMonitor, NostrProtocolOptions, Relay, RelayOptions, RelayPool,
  RelayPoolOptions, Transport, Protocol, TestRelay, TestRelayOptions, InspectorOptions, InspectorServer];
`;
const TYPES_NODE = `import { wsTransport, type WsTransportOptions } from 'relay-actors';
const options: WsTransportOptions = { closeTimeout: 1000 };
export const transport = wsTransport(options);
`;

let consumer: Consumer;
let ts6Dir: string;
const blocks = readmeBlocks();

beforeAll(async () => {
  consumer = await createConsumer(inject('tarball'), { type: 'module' }, PEERS);
  const files: Record<string, string> = { 'types-common.ts': TYPES_COMMON, 'node/types-node.ts': TYPES_NODE };
  blocks.forEach((code, i) => (files[`readme/block-${i + 1}.ts`] = code));
  for (const [name, options] of Object.entries(CONFIGS)) {
    const include = ['readme', 'types-common.ts', ...(name === 'nodenext' ? ['node'] : [])];
    files[`tsconfig.${name}.json`] = JSON.stringify({ compilerOptions: options, include }, null, 2);
  }
  consumer.write(files);
  ts6Dir = mkdtempSync(join(tmpdir(), 'relay-actors-ts6-'));
  const installed = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--prefix', ts6Dir, 'typescript@6'],
    { cwd: ts6Dir, limitMs: 180_000 },
  );
  if (installed.code !== 0) throw new Error(`installing TypeScript 6 failed:\n${installed.err}`);
});

afterAll(() => {
  consumer?.remove();
  if (ts6Dir) rmSync(ts6Dir, { recursive: true, force: true });
});

const COMPILERS: Record<string, () => string> = {
  'the project’s TypeScript': () => createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc'),
  'TypeScript 6': () => join(ts6Dir, 'node_modules', 'typescript', 'bin', 'tsc'),
};

/** tsc's diagnostics split into ours and xstate's own. */
function diagnostics(output: string): { ours: string[]; upstream: number } {
  const errors = output.split('\n').filter((line) => / error TS\d+:/.test(line));
  const upstream = errors.filter((line) => line.includes('node_modules/xstate/'));
  return { ours: errors.filter((line) => !upstream.includes(line)), upstream: upstream.length };
}

describe('strict TypeScript consumers of the tarball', () => {
  it('the README has TypeScript blocks to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  for (const [compiler, tscPath] of Object.entries(COMPILERS)) {
    for (const config of Object.keys(CONFIGS)) {
      it(`${config} with ${compiler}: the README blocks and the public types compile`, async () => {
        const version = await run(process.execPath, [tscPath(), '--version'], { cwd: consumer.dir, limitMs: 30_000 });
        const r = await run(process.execPath, [tscPath(), '-p', `tsconfig.${config}.json`], {
          cwd: consumer.dir,
          limitMs: 180_000,
        });
        const { ours, upstream } = diagnostics(r.out + r.err);
        console.log(
          `${config}, ${version.out.trim()}: ${ours.length} error(s) of ours, ${upstream} inside xstate's declarations (not counted)`,
        );
        expect(ours).toEqual([]);
        expect(r.code === 0 || upstream > 0, `tsc exited ${r.code} with no error listed:\n${r.out}${r.err}`).toBe(true);
      });
    }
  }
});
