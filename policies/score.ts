/**
 * Health score of one relay, in [0, 1], from its state, RTT, success ratio and recent flaps. A pure function: the
 * coordinator ranks relays with it, and telemetry shows its parts so a person can see why a relay was chosen.
 *
 * score = state × (w.rtt·rtt + w.success·success + w.stability·stability) / (w.rtt + w.success + w.stability)
 *
 * | part      | meaning                                                        | range          |
 * |-----------|----------------------------------------------------------------|----------------|
 * | state     | `open` 1, `degraded` `degradedFactor`, anything else 0          | 0 … 1          |
 * | rtt       | `rttReferenceMs / (rttReferenceMs + rttEwma)`; unknown → `unknownRtt` | 0 … 1    |
 * | success   | success ratio of recent attempts and operations                | 0 … 1          |
 * | stability | `1 − flapPenalty × flaps in the last flapWindowMs`, floored at 0 | 0 … 1        |
 */
import type { RelayState } from '../core/telemetry.ts';

/** What the score reads of a relay. */
export interface ScoreInput {
  state: RelayState;
  rttEwmaMs: number | null;
  successRatio: number;
  /** Flaps within `flapWindowMs` (see `recentFlaps` in health.ts). */
  recentFlaps: number;
}

/** Tuning of {@link scoreRelay}. */
export interface ScoreOptions {
  /** Relative weights of the parts. Default rtt 0.4, success 0.4, stability 0.2. */
  weights: { rtt: number; success: number; stability: number };
  /** RTT at which the rtt part is 0.5, ms. Default 250. */
  rttReferenceMs: number;
  /** rtt part before the first RTT sample. Default 0.75 (a new relay ranks below a proven fast one). */
  unknownRtt: number;
  /** Multiplier of a `degraded` relay: usable, ranked lower. Default 0.4. */
  degradedFactor: number;
  /** Stability lost per recent flap. Default 0.25 (four flaps in the window → 0). */
  flapPenalty: number;
  /** Window in which flaps count, ms. Default 300000 (5 min). */
  flapWindowMs: number;
}

/** Score defaults. */
export const DEFAULT_SCORE: Readonly<ScoreOptions> = Object.freeze({
  weights: Object.freeze({ rtt: 0.4, success: 0.4, stability: 0.2 }),
  rttReferenceMs: 250,
  unknownRtt: 0.75,
  degradedFactor: 0.4,
  flapPenalty: 0.25,
  flapWindowMs: 300_000,
});

/** The parts of a score, each in [0, 1]. */
export interface ScoreParts {
  state: number;
  rtt: number;
  success: number;
  stability: number;
}

/** A score and why. */
export interface RelayScore {
  score: number;
  parts: ScoreParts;
}

/**
 * States in which a relay can take traffic: `open` and `degraded`.
 *
 * @example
 * isUsable('degraded')     // true
 * isUsable('reconnecting') // false
 */
export function isUsable(state: RelayState): boolean {
  return state === 'open' || state === 'degraded';
}

const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : Number.isFinite(x) ? x : 0);

/**
 * Scores one relay in [0, 1]: its state factor times the weighted RTT, success and stability parts. `options`
 * defaults to {@link DEFAULT_SCORE}.
 *
 * @example
 * scoreRelay({ state: 'open', rttEwmaMs: 0, successRatio: 1, recentFlaps: 0 }).score       // 1
 * scoreRelay({ state: 'degraded', rttEwmaMs: 0, successRatio: 1, recentFlaps: 0 }).score   // 0.4
 * scoreRelay({ state: 'reconnecting', rttEwmaMs: 5, successRatio: 1, recentFlaps: 0 }).score // 0
 */
export function scoreRelay(input: ScoreInput, options: ScoreOptions = DEFAULT_SCORE): RelayScore {
  const state = input.state === 'open' ? 1 : input.state === 'degraded' ? clamp01(options.degradedFactor) : 0;
  const rtt =
    input.rttEwmaMs === null
      ? clamp01(options.unknownRtt)
      : clamp01(options.rttReferenceMs / (options.rttReferenceMs + Math.max(0, input.rttEwmaMs)));
  const success = clamp01(input.successRatio);
  const stability = clamp01(1 - options.flapPenalty * input.recentFlaps);
  const w = options.weights;
  const total = w.rtt + w.success + w.stability;
  const quality = total > 0 ? (w.rtt * rtt + w.success * success + w.stability * stability) / total : 1;
  return {
    score: round(state * quality),
    parts: { state: round(state), rtt: round(rtt), success: round(success), stability: round(stability) },
  };
}

/** Scores are for ranking and display: four decimals keep telemetry readable and comparisons stable. */
function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
