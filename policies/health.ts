/**
 * Health of one relay, as plain data updated by pure functions: RTT EWMA, missed pongs, and the success ratio
 * of connection attempts and operations. The coordinator's score reads this record; the relay publishes it on
 * `health$` and in `status()`.
 */

/** Smoothing factor of the RTT moving average: weight of the newest sample. */
export const RTT_EWMA_ALPHA = 0.2;
/** How many recent outcomes the success ratio remembers. */
export const OUTCOME_WINDOW = 20;

/** Health record of one relay. Serialisable. */
export interface RelayHealth {
  /** Last measured round trip (ping → pong), ms, or null before the first. */
  rttMs: number | null;
  /** Exponentially weighted moving average of RTT, ms, or null before the first sample. */
  rttEwmaMs: number | null;
  /** Pings in a row without an answer on the current connection. */
  missedPongs: number;
  /** Recent outcomes, newest last: 1 for a success (connection opened, op acked), 0 for a failure. */
  outcomes: number[];
  /** Connections that ended within `stableAfter` of opening (flaps), lifetime count. */
  flaps: number;
  /** Clock times of the most recent flaps (at most {@link FLAP_MEMORY}), newest last: the score decays them. */
  flapTimes: number[];
}

/** How many flap times the record keeps. */
export const FLAP_MEMORY = 10;

/**
 * A fresh record.
 *
 * @example
 * let health = initialHealth(); // no RTT yet, no misses, no outcomes (success ratio 1), no flaps
 * health = recordRtt(health, 42);
 */
export function initialHealth(): RelayHealth {
  return { rttMs: null, rttEwmaMs: null, missedPongs: 0, outcomes: [], flaps: 0, flapTimes: [] };
}

/**
 * Folds one RTT sample into the average; `alpha` (the newest sample's weight) defaults to {@link RTT_EWMA_ALPHA}
 * (0.2).
 *
 * @example
 * ewma(null, 10) // 10
 * ewma(10, 20)   // 12
 */
export function ewma(previous: number | null, sample: number, alpha = RTT_EWMA_ALPHA): number {
  return previous === null ? sample : previous + alpha * (sample - previous);
}

/**
 * A pong (or any proof of life that carries a timing) arrived after `rttMs`: sets `rttMs`, folds it into
 * `rttEwmaMs` and clears missed pongs.
 *
 * @example
 * recordRtt(recordRtt(initialHealth(), 100), 200).rttEwmaMs // 120
 */
export function recordRtt(health: RelayHealth, rttMs: number): RelayHealth {
  return { ...health, rttMs, rttEwmaMs: ewma(health.rttEwmaMs, rttMs), missedPongs: 0 };
}

/**
 * A ping went unanswered.
 *
 * @example
 * recordMissedPong(recordMissedPong(initialHealth())).missedPongs // 2
 */
export function recordMissedPong(health: RelayHealth): RelayHealth {
  return { ...health, missedPongs: health.missedPongs + 1 };
}

/**
 * The link showed life (any inbound frame): misses are forgiven.
 *
 * @example
 * recordAlive({ ...initialHealth(), missedPongs: 2 }).missedPongs // 0
 */
export function recordAlive(health: RelayHealth): RelayHealth {
  return health.missedPongs === 0 ? health : { ...health, missedPongs: 0 };
}

/**
 * An attempt or operation ended; `ok` says how. Keeps the last {@link OUTCOME_WINDOW}.
 *
 * @example
 * successRatio(recordOutcome(recordOutcome(initialHealth(), true), false)) // 0.5
 */
export function recordOutcome(health: RelayHealth, ok: boolean): RelayHealth {
  const outcomes = [...health.outcomes, ok ? 1 : 0];
  if (outcomes.length > OUTCOME_WINDOW) outcomes.splice(0, outcomes.length - OUTCOME_WINDOW);
  return { ...health, outcomes };
}

/**
 * A connection died young (before `stableAfter`), at clock time `at` (default 0). Keeps the last
 * {@link FLAP_MEMORY} times.
 *
 * @example
 * const h = recordFlap(initialHealth(), 12_000);
 * h.flaps       // 1
 * h.flapTimes   // [12000]
 */
export function recordFlap(health: RelayHealth, at = 0): RelayHealth {
  const flapTimes = [...health.flapTimes, at];
  if (flapTimes.length > FLAP_MEMORY) flapTimes.splice(0, flapTimes.length - FLAP_MEMORY);
  return { ...health, flaps: health.flaps + 1, flapTimes };
}

/**
 * Flaps within the last `windowMs` before `now`.
 *
 * @example
 * recentFlaps({ ...initialHealth(), flapTimes: [1000, 50_000] }, 60_000, 30_000) // 1
 */
export function recentFlaps(health: RelayHealth, now: number, windowMs: number): number {
  let n = 0;
  for (const t of health.flapTimes) if (now - t <= windowMs) n++;
  return n;
}

/**
 * Share of recent outcomes that succeeded, in [0, 1]; 1 when nothing is known yet (a new relay is given the
 * benefit of the doubt).
 *
 * @example
 * successRatio({ ...initialHealth(), outcomes: [1, 0, 1, 1] }) // 0.75
 */
export function successRatio(health: RelayHealth): number {
  if (health.outcomes.length === 0) return 1;
  let sum = 0;
  for (const o of health.outcomes) sum += o;
  return sum / health.outcomes.length;
}
