/** Selection: ranking of usable relays and the primary with hysteresis. */
import { describe, expect, it } from 'vitest';
import { scoreRelay } from '../policies/score.ts';
import { choosePrimary, rankUsable, type Candidate } from '../policies/select.ts';

const c = (key: string, score: number, usable = true): Candidate => ({
  key,
  usable,
  score: { score, parts: scoreRelay({ state: 'open', rttEwmaMs: 0, successRatio: 1, recentFlaps: 0 }).parts },
});

describe('rankUsable', () => {
  it('keeps usable relays, best first, ties in configuration order', () => {
    expect(rankUsable([c('a', 0.5), c('b', 0.9), c('c', 0.9), c('d', 1, false)]).map((x) => x.key)).toEqual([
      'b',
      'c',
      'a',
    ]);
  });
});

describe('choosePrimary', () => {
  it('first-usable: the best relay when there is no primary yet', () => {
    expect(choosePrimary(null, [c('a', 0.5), c('b', 0.9)], 0.1)).toEqual({ key: 'b', reason: 'first-usable' });
  });

  it('kept: a challenger within the margin does not take over (hysteresis)', () => {
    expect(choosePrimary('a', [c('a', 0.8), c('b', 0.89)], 0.1)).toEqual({ key: 'a', reason: 'kept' });
    expect(choosePrimary('a', [c('a', 0.8), c('b', 0.9)], 0.1)).toEqual({ key: 'a', reason: 'kept' });
  });

  it('better-by-margin: a challenger beyond the margin takes over', () => {
    expect(choosePrimary('a', [c('a', 0.3), c('b', 0.85)], 0.1)).toEqual({ key: 'b', reason: 'better-by-margin' });
  });

  it('primary-unusable: the best usable relay, however close the scores', () => {
    expect(choosePrimary('a', [c('a', 0.9, false), c('b', 0.2), c('c', 0.3)], 0.1)).toEqual({
      key: 'c',
      reason: 'primary-unusable',
    });
  });

  it('none-usable: no primary; kept (null) when there was none', () => {
    expect(choosePrimary('a', [c('a', 0, false), c('b', 0, false)], 0.1)).toEqual({ key: null, reason: 'none-usable' });
    expect(choosePrimary(null, [c('a', 0, false)], 0.1)).toEqual({ key: null, reason: 'kept' });
  });

  it('primary-removed: the primary is no longer a candidate', () => {
    expect(choosePrimary('gone', [c('a', 0.4), c('b', 0.6)], 0.1)).toEqual({ key: 'b', reason: 'primary-removed' });
  });

  it('ties go to configuration order', () => {
    expect(choosePrimary(null, [c('a', 0.7), c('b', 0.7)], 0.1).key).toBe('a');
  });
});
