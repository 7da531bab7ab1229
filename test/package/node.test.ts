/**
 * The tarball in plain Node: an ESM and a CommonJS consumer each make a real round trip (relay and pool) against a
 * loopback test relay from `relay-actors/testing` and must exit by themselves; the `relay-actors` bin runs with
 * plain `node`. Prints the install footprint of a project that depends on relay-actors alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestRelay } from '../../testkit/index.ts';
import { transformSync } from 'esbuild';
import { createConsumer, readmeBlocks, ROOT, run, treeBytes, type Consumer } from './consumer.ts';

const ESM = `import { createRelay, createRelayPool, RelayActorsError } from 'relay-actors';
import { startTestRelay } from 'relay-actors/testing';

const server = await startTestRelay();
const relay = createRelay(server.url, { heartbeat: { interval: 200, timeout: 200 } }).start();
await relay.waitFor('open');
const echoed = new Promise((resolve) => relay.messages$.subscribe(resolve));
await relay.send({ type: 'note', text: 'esm relay' });
const pool = createRelayPool({ relays: [server.url] }).start();
await pool.waitFor('online');
const pooled = new Promise((resolve) => pool.messages$.subscribe(resolve));
await pool.send({ type: 'note', text: 'esm pool' });
console.log(JSON.stringify({ relay: (await echoed).text, pool: (await pooled).text, typed: new RelayActorsError('STOPPED', 'x').code }));
await relay.stop();
await pool.stop();
await server.close();
`;

const CJS = `const { createRelay, createRelayPool, RelayActorsError } = require('relay-actors');
const { startTestRelay } = require('relay-actors/testing');

async function main() {
  const server = await startTestRelay();
  const relay = createRelay(server.url, { heartbeat: { interval: 200, timeout: 200 } }).start();
  await relay.waitFor('open');
  const echoed = new Promise((resolve) => relay.messages$.subscribe(resolve));
  await relay.send({ type: 'note', text: 'cjs relay' });
  const pool = createRelayPool({ relays: [server.url] }).start();
  await pool.waitFor('online');
  const pooled = new Promise((resolve) => pool.messages$.subscribe(resolve));
  await pool.send({ type: 'note', text: 'cjs pool' });
  console.log(JSON.stringify({ relay: (await echoed).text, pool: (await pooled).text, typed: new RelayActorsError('STOPPED', 'x').code }));
  await relay.stop();
  await pool.stop();
  await server.close();
}
main();
`;

let consumer: Consumer;

beforeAll(async () => {
  consumer = (await createConsumer(inject('tarball'), {})).write({ 'esm.mjs': ESM, 'cjs.cjs': CJS });
  const footprint = await treeBytes(join(consumer.dir, 'node_modules'));
  console.log(
    `install footprint (node_modules of a project with relay-actors alone): ${(footprint / 1024 / 1024).toFixed(1)} MiB`,
  );
});

afterAll(() => consumer?.remove());

describe('plain node consumers of the tarball', () => {
  it('ESM: import, round trip on a relay and a pool, and exit by itself', async () => {
    const r = await run(process.execPath, ['esm.mjs'], { cwd: consumer.dir, limitMs: 20_000 });
    expect(r.err).toBe('');
    expect(r.code, 'exited by itself with 0').toBe(0);
    expect(JSON.parse(r.out)).toEqual({ relay: 'esm relay', pool: 'esm pool', typed: 'STOPPED' });
  });

  it('CommonJS: require (Node ≥ 20.19 loads the ESM), round trip, and exit by itself', async () => {
    const r = await run(process.execPath, ['cjs.cjs'], { cwd: consumer.dir, limitMs: 20_000 });
    expect(r.code, `exited by itself with 0; stderr: ${r.err}`).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ relay: 'cjs relay', pool: 'cjs pool', typed: 'STOPPED' });
  });
});

describe('the README, run as written', () => {
  // Only the blocks that bring their own relays (the test kit) can run here: the others name example hosts.
  const runnable = readmeBlocks().filter((code) => code.includes("from 'relay-actors/testing'"));

  it('has a self-contained block to run', () => expect(runnable.length).toBeGreaterThan(0));

  runnable.forEach((code, i) => {
    it(`test kit block ${i + 1} runs against the tarball and exits by itself`, async () => {
      consumer.write({ [`readme-${i + 1}.mjs`]: transformSync(code, { loader: 'ts', format: 'esm' }).code });
      const r = await run(process.execPath, [`readme-${i + 1}.mjs`], { cwd: consumer.dir, limitMs: 20_000 });
      expect(r.err).toBe('');
      expect(r.code, 'exited by itself with 0').toBe(0);
    });
  });
});

describe('the relay-actors bin from the tarball', () => {
  const bin = () => join(consumer.dir, 'node_modules', '.bin', 'relay-actors');

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await run(bin(), ['--version'], { cwd: consumer.dir, limitMs: 10_000 });
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${version}\n`);
  });

  it('watch reports a live relay and exits 0', async () => {
    const server = await startTestRelay();
    try {
      const r = await run(bin(), ['watch', server.url, '--json', '--timeout', '1', '--interval', '0.3'], {
        cwd: consumer.dir,
        limitMs: 20_000,
      });
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain('"state":"open"');
    } finally {
      await server.close();
    }
  });
});
