/** Shared test helpers: bounded waits on conditions (never fixed sleeps) and a handle-leak check. */
import { expect } from 'vitest';

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
