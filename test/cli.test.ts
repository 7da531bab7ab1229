/**
 * The CLI in a child process, from its sources (test/package runs the compiled bin from the tarball): the demo for 20 s with its scripted faults
 * must lose nothing and duplicate nothing; `watch` prints health and exits 0 / 1 / 2 as documented.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { startTestRelay } from '../testkit/index.ts';
import { cleanupAfterEach, freePort, runNode } from './helpers.ts';
import { startNostrRelay } from '../testkit/nostrRelay.ts';

const cleanups = cleanupAfterEach();

/** Runs `relay-actors <args>` from the sources. */
const run = (args: string[], limitMs: number) => runNode(['--import', 'tsx', 'cli/main.ts', ...args], limitMs);

describe('relay-actors demo', () => {
  it('runs the fault script for 20 s, prints the inspector URL, and exits 0 with lost 0 and duplicates 0', async () => {
    const r = await run(['demo', '--duration', '20'], 60_000);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/inspector: http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/);
    for (const fault of ['crashes', 'half-open', 'slow link', 'HTTP 401', 'retries it by hand'])
      expect(r.out).toContain(fault);
    expect(r.out).toMatch(/relay A failed: upgrade 401/);
    expect(r.out).toMatch(/relay A connecting → failed/);
    expect(r.out).toMatch(/relay A failed → connecting/);
    const sent = Number(/sent \(acked\)\s+(\d+)/.exec(r.out)?.[1]);
    const published = Number(/messages published\s+(\d+)/.exec(r.out)?.[1]);
    const rejected = Number(/rejected \(typed\)\s+(\d+)/.exec(r.out)?.[1]);
    expect(sent + rejected).toBe(published);
    const delivered = Number(/delivered\s+(\d+)/.exec(r.out)?.[1]);
    expect(sent).toBeGreaterThan(500);
    expect(delivered).toBe(sent);
    expect(r.out).toMatch(/duplicates\s+0\n/);
    expect(r.out).toMatch(/lost\s+0\n/);
    expect(Number(/failovers\s+(\d+)/.exec(r.out)?.[1])).toBeGreaterThan(0);
    expect(Number(/reconnects\s+(\d+)/.exec(r.out)?.[1])).toBeGreaterThan(0);
    expect(r.out).toContain('stopped cleanly');
  }, 70_000);
});

describe('relay-actors demo --json', () => {
  it('prints only the summary on stdout, as one JSON line whose counts add up', async () => {
    const r = await run(['demo', '--duration', '3', '--json', '--rate', '100'], 40_000);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!) as Record<string, number>;
    expect(s.published).toBeGreaterThan(100);
    // Every publish was settled: sent (acked) or rejected with a typed error; what was sent arrived, once.
    expect(s.sent! + s.rejected! + s.unsettled!).toBe(s.published);
    expect(s.unsettled).toBe(0);
    expect(s.delivered).toBe(s.sent);
    expect(s.lost).toBe(0);
    expect(s.duplicates).toBe(0);
    // The log and the inspector URL went to stderr.
    expect(r.err).toMatch(/inspector: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(r.err).toContain('relay A crashes');
  }, 50_000);

  it('exits 2 for a bad --port', async () => {
    const r = await run(['demo', '--port=1.5'], 20_000);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--port must be an integer from 0 to 65535');
  });
});

describe('relay-actors --version', () => {
  it('prints the version of package.json', async () => {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const r = await run(['--version'], 15_000);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${version}\n`);
  });
});

describe('relay-actors watch', () => {
  it('prints health lines for live relays and exits 0', async () => {
    const a = await startTestRelay();
    const b = await startTestRelay();
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const r = await run(['watch', a.url, b.url, '--json', '--timeout', '1.5', '--interval', '0.4'], 20_000);
    expect(r.code).toBe(0);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const health = lines.filter((l) => l.kind === 'health');
    expect(health.some((l) => l.url === a.url && l.state === 'open')).toBe(true);
    expect(health.some((l) => l.url === b.url && l.state === 'open')).toBe(true);
    expect(lines.at(-1)).toMatchObject({ kind: 'exit', code: 0, reason: 'timeout' });
  });

  it('prints a readable table and the inspector URL without --json', async () => {
    const a = await startTestRelay();
    cleanups.push(() => a.close());
    const r = await run(['watch', a.url, '--inspect', '--timeout', '1', '--interval', '0.3'], 20_000);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/inspector: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(r.out).toMatch(new RegExp(`${a.url.replace(/[.]/g, '\\.')}\\s+open\\s+score`));
    expect(r.out).toMatch(/1 of 1 relays usable; exit 0/);
  });

  it('watches a real Nostr relay implementation with --protocol nostr', async () => {
    const relay = await startNostrRelay();
    cleanups.push(() => relay.close());
    const r = await run(
      ['watch', relay.url, '--protocol', 'nostr', '--json', '--timeout', '1.5', '--interval', '0.5'],
      20_000,
    );
    expect(r.code).toBe(0);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.kind === 'health' && l.url === relay.url && l.state === 'open')).toBe(true);
  });

  it('exits 1 after --timeout when every relay is unreachable, saying why', async () => {
    const url = `ws://127.0.0.1:${await freePort()}`;
    const r = await run(['watch', url, '--timeout', '1', '--interval', '5'], 20_000);
    expect(r.code).toBe(1);
    expect(r.out).toContain('unreachable: ECONNREFUSED');
    expect(r.out).toMatch(/no relay usable after 1 s/);
  });

  it('exits 1 at once when every relay has failed (401), without waiting for --timeout', async () => {
    const a = await startTestRelay();
    cleanups.push(() => a.close());
    a.rejectUpgrade(401);
    const r = await run(['watch', a.url, '--timeout', '30'], 20_000);
    expect(r.code).toBe(1);
    expect(r.out).toContain('upgrade refused with HTTP 401');
    expect(r.out).toContain('every relay failed');
    expect(r.ms).toBeLessThan(15_000);
  });

  it('exits 2 with a clear message for bad URLs and options', async () => {
    const bad = await run(['watch', 'http://example.invalid'], 20_000);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('bad relay URL');
    expect(bad.err).toContain('must use ws:// or wss://');
    const none = await run(['watch'], 20_000);
    expect(none.code).toBe(2);
    expect(none.err).toContain('give at least one relay URL');
    const proto = await run(['watch', 'ws://127.0.0.1:1', '--protocol', 'mqtt'], 20_000);
    expect(proto.code).toBe(2);
    expect(proto.err).toContain('--protocol must be json or nostr');
    const unknown = await run(['frobnicate'], 20_000);
    expect(unknown.code).toBe(2);
    for (const port of ['70000', '-1', '1.5', 'http']) {
      const r = await run(['watch', 'ws://127.0.0.1:1', '--inspect', `--port=${port}`], 20_000);
      expect(r.code, `--port ${port}`).toBe(2);
      expect(r.err).toContain('--port must be an integer from 0 to 65535');
    }
  });

  it('exits 2, saying why, when the inspector cannot listen on --port (and leaves nothing running)', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const { port } = taken.address() as { port: number };
    const r = await run(['watch', 'ws://127.0.0.1:1', '--inspect', '--port', String(port), '--timeout', '30'], 20_000);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot serve the inspector on port ${port}`);
    expect(r.err).toContain('EADDRINUSE');
    expect(r.ms).toBeLessThan(15_000);
  });
});
