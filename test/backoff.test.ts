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

  it('takes ceilings from a delays table, the last one for every retry past its end', () => {
    const table = { ...DEFAULT_BACKOFF, delays: [1000, 2000, 4000, 8000, 16000, 30000] };
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((a) => backoffCeiling(a, table))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
    expect(backoffCeiling(1, { ...DEFAULT_BACKOFF, delays: [0] })).toBe(0);
  });

  it('draws the delay by the jitter mode: full, equal or none', () => {
    const at = (jitter: 'full' | 'equal' | 'none', r: number) =>
      backoffDelay(3, { ...DEFAULT_BACKOFF, jitter }, () => r);
    expect([at('full', 0), at('full', 0.5), at('equal', 0), at('equal', 0.5), at('none', 0), at('none', 0.9)]).toEqual([
      0, 2000, 2000, 3000, 4000, 4000,
    ]);
    expect(backoffDelay(1, { ...DEFAULT_BACKOFF, jitter: 'none' }, () => 0, 5000)).toBe(5000);
  });
});
