/** The health score: a pure function of state, RTT, success ratio and recent flaps, in [0, 1], with visible parts. */
import { describe, expect, it } from 'vitest';
import { initialHealth, recentFlaps, recordFlap } from '../policies/health.ts';
import { DEFAULT_SCORE, isUsable, scoreRelay, type ScoreInput } from '../policies/score.ts';

const base: ScoreInput = { state: 'open', rttEwmaMs: 0, successRatio: 1, recentFlaps: 0 };

describe('scoreRelay', () => {
  it('is 1 for a perfect open relay and 0 for any unusable state', () => {
    expect(scoreRelay(base).score).toBe(1);
    for (const state of ['idle', 'connecting', 'reconnecting', 'failed', 'closed'] as const) {
      expect(scoreRelay({ ...base, state }).score, state).toBe(0);
      expect(isUsable(state), state).toBe(false);
    }
    expect(isUsable('open') && isUsable('degraded')).toBe(true);
  });

  it('ranks a degraded relay at degradedFactor of its quality: usable, but lower', () => {
    const s = scoreRelay({ ...base, state: 'degraded' });
    expect(s.score).toBe(DEFAULT_SCORE.degradedFactor);
    expect(s.parts.state).toBe(DEFAULT_SCORE.degradedFactor);
  });

  it('halves the rtt part at rttReferenceMs, and gives an unknown RTT the configured part', () => {
    expect(scoreRelay({ ...base, rttEwmaMs: 250 }).parts.rtt).toBe(0.5);
    expect(scoreRelay({ ...base, rttEwmaMs: null }).parts.rtt).toBe(DEFAULT_SCORE.unknownRtt);
    expect(scoreRelay({ ...base, rttEwmaMs: 10 }).score).toBeGreaterThan(scoreRelay({ ...base, rttEwmaMs: 100 }).score);
  });

  it('weights the parts: rtt 0.4, success 0.4, stability 0.2', () => {
    const s = scoreRelay({ state: 'open', rttEwmaMs: 250, successRatio: 0.5, recentFlaps: 2 });
    expect(s.parts).toEqual({ state: 1, rtt: 0.5, success: 0.5, stability: 0.5 });
    expect(s.score).toBeCloseTo(0.4 * 0.5 + 0.4 * 0.5 + 0.2 * 0.5, 4);
  });

  it('stays in [0, 1] for out-of-range inputs', () => {
    for (const input of [
      { ...base, rttEwmaMs: -5 },
      { ...base, successRatio: 7 },
      { ...base, successRatio: -1 },
      { ...base, recentFlaps: 100 },
      { ...base, rttEwmaMs: Number.POSITIVE_INFINITY },
    ]) {
      const s = scoreRelay(input);
      expect(s.score).toBeGreaterThanOrEqual(0);
      expect(s.score).toBeLessThanOrEqual(1);
      for (const part of Object.values(s.parts)) expect(part >= 0 && part <= 1).toBe(true);
    }
  });

  it('penalises recent flaps, and the penalty decays out of the window', () => {
    let h = initialHealth();
    h = recordFlap(h, 1_000);
    h = recordFlap(h, 2_000);
    expect(recentFlaps(h, 3_000, DEFAULT_SCORE.flapWindowMs)).toBe(2);
    expect(recentFlaps(h, 1_000 + DEFAULT_SCORE.flapWindowMs + 1, DEFAULT_SCORE.flapWindowMs)).toBe(1);
    expect(recentFlaps(h, 10_000_000, DEFAULT_SCORE.flapWindowMs)).toBe(0);
    expect(scoreRelay({ ...base, recentFlaps: 2 }).parts.stability).toBe(0.5);
    expect(scoreRelay({ ...base, recentFlaps: 4 }).parts.stability).toBe(0);
  });

  it('takes tuned options', () => {
    const s = scoreRelay(
      { ...base, state: 'degraded', rttEwmaMs: 100 },
      { ...DEFAULT_SCORE, degradedFactor: 0.8, rttReferenceMs: 100, weights: { rtt: 1, success: 0, stability: 0 } },
    );
    expect(s.score).toBe(0.4);
  });
});
