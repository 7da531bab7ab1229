import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, isStableConnection } from '../policies/backoff.ts';

describe('backoff', () => {
  it('grows the ceiling exponentially and caps it', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffCeiling(a, DEFAULT_BACKOFF))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    expect(backoffCeiling(10_000, DEFAULT_BACKOFF)).toBe(30000);
  });

  it('applies full jitter per attempt: uniform below the ceiling', () => {
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0)).toBe(0);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(2000);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.999)).toBeLessThan(4000);
    const samples = Array.from({ length: 200 }, () => backoffDelay(2, DEFAULT_BACKOFF));
    expect(new Set(samples).size).toBeGreaterThan(50);
    expect(Math.max(...samples)).toBeLessThan(2000);
  });

  it('never goes below a floor such as Retry-After', () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0, 5000)).toBe(5000);
  });

  it('resets only after a connection stayed up stableAfter', () => {
    expect(isStableConnection(undefined, 10_000, DEFAULT_BACKOFF)).toBe(false);
    expect(isStableConnection(0, 4999, DEFAULT_BACKOFF)).toBe(false);
    expect(isStableConnection(0, 5000, DEFAULT_BACKOFF)).toBe(true);
  });
});
