/**
 * Reconnect policy: exponential backoff with full jitter, capped, reset only after a connection stayed up.
 * Pure functions; the relay machine calls them and keeps the attempt count in its context.
 */

/** Backoff settings. Every field has a default in {@link DEFAULT_BACKOFF}. */
export interface BackoffOptions {
  /** Ceiling of the first retry delay, ms. Default 1000. */
  base: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor: number;
  /** Largest ceiling, ms. Default 30000. */
  max: number;
  /** A connection must stay up this long (ms) before the attempt count resets. Default 5000. */
  stableAfter: number;
}

/** The defaults, written once. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  base: 1000,
  factor: 2,
  max: 30_000,
  stableAfter: 5000,
});

/**
 * Ceiling of the delay before retry number `attempt` (1-based): `min(max, base × factor^(attempt−1))`.
 *
 * @example
 * backoffCeiling(3, DEFAULT_BACKOFF) // 4000
 */
export function backoffCeiling(attempt: number, options: BackoffOptions): number {
  const exponent = Math.max(0, attempt - 1);
  // Guard against Infinity/NaN for very large attempt numbers.
  const raw = options.base * Math.pow(options.factor, exponent);
  return Number.isFinite(raw) ? Math.min(options.max, raw) : options.max;
}

/**
 * Delay before retry number `attempt`, with full jitter: uniform in `[0, ceiling)`, never below `floorMs`
 * (a server's `Retry-After`, say). `random` defaults to `Math.random`, `floorMs` to 0.
 *
 * @example
 * backoffDelay(1, DEFAULT_BACKOFF, () => 0.5) // 500
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
  floorMs = 0,
): number {
  const jittered = Math.floor(random() * backoffCeiling(attempt, options));
  return Math.max(floorMs, jittered);
}

/**
 * Whether a connection that opened at `openedAt` and ended at `endedAt` lasted long enough to reset backoff.
 * A connection that never opened (`openedAt` undefined) never resets it.
 *
 * @example
 * isStableConnection(0, 6000, DEFAULT_BACKOFF) // true
 */
export function isStableConnection(openedAt: number | undefined, endedAt: number, options: BackoffOptions): boolean {
  return openedAt !== undefined && endedAt - openedAt >= options.stableAfter;
}
