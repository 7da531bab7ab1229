/** Shared test helpers: bounded waits on conditions (never fixed sleeps) and a handle-leak check. */
import { afterEach, expect } from 'vitest';

/** Resolves when `predicate()` holds, checking on every event-loop turn; rejects after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}

const OURS = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'];

/** Counts of the handle kinds we could leak (sockets, servers, timers). */
export function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(OURS.map((k) => [k, 0]));
  for (const r of process.getActiveResourcesInfo()) if (r in counts) counts[r]!++;
  return counts;
}

/**
 * Asserts that the process holds no more sockets, servers or timers than `baseline`, waiting (bounded) for
 * closes already under way to finish.
 */
export async function expectNoLeaks(baseline: Record<string, number>, timeoutMs = 3000): Promise<void> {
  const settled = () => OURS.every((k) => (handleCounts()[k] ?? 0) <= (baseline[k] ?? 0));
  try {
    await waitUntil(settled, timeoutMs, 'handles to be released');
  } catch {
    // Fall through to a readable diff.
  }
  // The polling helper's own timer is gone by now; compare.
  const now = handleCounts();
  for (const k of OURS) expect(now[k], `${k} handles after stop`).toBeLessThanOrEqual(baseline[k] ?? 0);
}

/** Result of {@link runNode}. */
export interface NodeRun {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

/**
 * Runs `node <args>` in a child process and resolves when it exits by itself; kills it (by its pid, SIGKILL) and
 * rejects if it has not exited within `limitMs`.
 */
export async function runNode(args: string[], limitMs: number): Promise<NodeRun> {
  const { spawn } = await import('node:child_process');
  const t0 = Date.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not exit by itself within ${limitMs} ms\n${out}\n${err}`));
    }, limitMs);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * A list of clean-ups that runs after each test of the calling file, last registered first (so what a test built
 * on top goes before what it stands on). Push a function for every relay, pool, server or socket a test opens.
 */
export function cleanupAfterEach(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}
