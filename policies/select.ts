/**
 * Relay selection: ranks scored relays and picks the primary with hysteresis, so traffic does not flap between
 * two relays of nearly equal health. Pure functions; the coordinator calls them whenever a relay's state or
 * health changes.
 */
import type { RelayScore } from './score.ts';

/** One candidate, in configuration order. */
export interface Candidate {
  key: string;
  usable: boolean;
  score: RelayScore;
}

/** How traffic is spread. */
export interface SelectionOptions {
  /** `primary`: `send` goes through the best relay (with hysteresis). `broadcast`: `send` publishes to the best `k`. Default `primary`. */
  strategy: 'primary' | 'broadcast';
  /** A challenger must beat the primary's score by more than this to take over. Default 0.1. */
  margin: number;
  /** Relays `publish` (and `send` under `broadcast`) writes to. Default 3. */
  k: number;
}

/** Selection defaults. */
export const DEFAULT_SELECTION: Readonly<SelectionOptions> = Object.freeze({ strategy: 'primary', margin: 0.1, k: 3 });

/** Why the primary is what it is. */
export type PrimaryReason =
  'first-usable' | 'primary-unusable' | 'better-by-margin' | 'kept' | 'none-usable' | 'primary-removed';

/**
 * Usable candidates, best first; ties keep configuration order (a stable sort), so equal relays do not swap.
 *
 * @example
 * rankUsable([{ key: 'a', usable: true, score: { score: 0.5, parts } }, { key: 'b', usable: true, score: { score: 0.9, parts } }])
 * // [b, a]
 */
export function rankUsable(candidates: readonly Candidate[]): Candidate[] {
  return candidates.filter((c) => c.usable).sort((a, b) => b.score.score - a.score.score);
}

/**
 * Picks the primary: the current one while it is usable and no usable challenger beats it by more than `margin`;
 * else the best usable relay; `null` when none is usable.
 *
 * @example
 * choosePrimary('a', [a(0.80), b(0.85)], 0.1) // { key: 'a', reason: 'kept' }
 * choosePrimary('a', [a(0.30), b(0.85)], 0.1) // { key: 'b', reason: 'better-by-margin' }
 */
export function choosePrimary(
  current: string | null,
  candidates: readonly Candidate[],
  margin: number,
): { key: string | null; reason: PrimaryReason } {
  // One pass, no allocation: pools call this on every health sample of every relay.
  let best: Candidate | undefined;
  let incumbent: Candidate | undefined;
  for (const c of candidates) {
    if (c.key === current) incumbent = c;
    if (c.usable && (best === undefined || c.score.score > best.score.score)) best = c;
  }
  if (!best) return { key: null, reason: current === null ? 'kept' : 'none-usable' };
  if (current === null) return { key: best.key, reason: 'first-usable' };
  if (!incumbent) return { key: best.key, reason: 'primary-removed' };
  if (!incumbent.usable) return { key: best.key, reason: 'primary-unusable' };
  if (best.key !== current && best.score.score > incumbent.score.score + margin)
    return { key: best.key, reason: 'better-by-margin' };
  return { key: current, reason: 'kept' };
}
