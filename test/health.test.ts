import { describe, expect, it } from 'vitest';
import {
  ewma,
  initialHealth,
  OUTCOME_WINDOW,
  recordAlive,
  recordFlap,
  recordMissedPong,
  recordOutcome,
  recordRtt,
  successRatio,
} from '../policies/health.ts';

describe('health', () => {
  it('averages RTT with an EWMA', () => {
    expect(ewma(null, 10)).toBe(10);
    expect(ewma(10, 20)).toBe(12);
    let h = recordRtt(initialHealth(), 100);
    h = recordRtt(h, 200);
    expect(h.rttMs).toBe(200);
    expect(h.rttEwmaMs).toBe(120);
  });

  it('counts missed pongs and forgives them on any sign of life', () => {
    let h = recordMissedPong(recordMissedPong(initialHealth()));
    expect(h.missedPongs).toBe(2);
    h = recordAlive(h);
    expect(h.missedPongs).toBe(0);
    expect(recordRtt(recordMissedPong(initialHealth()), 5).missedPongs).toBe(0);
  });

  it('keeps a bounded success ratio, 1 when nothing is known', () => {
    expect(successRatio(initialHealth())).toBe(1);
    let h = initialHealth();
    for (const ok of [true, false, true, true]) h = recordOutcome(h, ok);
    expect(successRatio(h)).toBe(0.75);
    for (let i = 0; i < 100; i++) h = recordOutcome(h, false);
    expect(h.outcomes).toHaveLength(OUTCOME_WINDOW);
    expect(successRatio(h)).toBe(0);
  });

  it('counts flaps', () => {
    expect(recordFlap(recordFlap(initialHealth())).flaps).toBe(2);
  });
});
