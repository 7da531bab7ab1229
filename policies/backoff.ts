/**
 * Reconnect policy: exponential backoff with full jitter, capped, reset only after a connection stayed up.
 * Pure functions; the relay machine calls them and keeps the attempt count in its context.
 */

/**
 * How the delay is drawn under its ceiling: uniform in `[0, ceiling)` (`full`, the default: retries of many
 * clients spread out), in `[ceiling/2, ceiling)` (`equal`), or the ceiling itself (`none`).
 */
export type JitterMode = 'full' | 'equal' | 'none';

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
  /**
   * A table of ceilings instead of `base × factor^n`: retry n waits up to `delays[n − 1]` ms, the last entry for
   * every retry after (e.g. `[1000, 2000, 4000, 8000, 16000, 30000]`); `base`, `factor` and `max` are then unused.
   * Default null (the exponential ceilings).
   */
  delays?: readonly number[] | null;
  /** How the delay is drawn under its ceiling. Default `full`. */
  jitter?: JitterMode;
}

/** The defaults, written once. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  base: 1000,
  factor: 2,
  max: 30_000,
  stableAfter: 5000,
  delays: null,
  jitter: 'full',
});

/**
 * Ceiling of the delay before retry number `attempt` (1-based): `delays[attempt − 1]` (the last entry past the end)
 * when a table is given, else `min(max, base × factor^(attempt−1))`.
 *
 * @example
 * backoffCeiling(3, DEFAULT_BACKOFF) // 4000
 * backoffCeiling(9, { ...DEFAULT_BACKOFF, delays: [1000, 2000, 30_000] }) // 30000
 */
export function backoffCeiling(attempt: number, options: BackoffOptions): number {
  const { delays } = options;
  if (delays && delays.length > 0) return delays[Math.min(Math.max(1, attempt), delays.length) - 1]!;
  const exponent = Math.max(0, attempt - 1);
  // Guard against Infinity/NaN for very large attempt numbers.
  const raw = options.base * Math.pow(options.factor, exponent);
  return Number.isFinite(raw) ? Math.min(options.max, raw) : options.max;
}

/**
 * Delay before retry number `attempt`, drawn under its ceiling by the `jitter` mode (full: uniform in
 * `[0, ceiling)`), never below `floorMs` (a server's `Retry-After`, say). `random` defaults to `Math.random`,
 * `floorMs` to 0.
 *
 * @example
 * backoffDelay(1, DEFAULT_BACKOFF, () => 0.5) // 500
 * backoffDelay(1, { ...DEFAULT_BACKOFF, jitter: 'equal' }, () => 0.5) // 750
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
  floorMs = 0,
): number {
  const ceiling = backoffCeiling(attempt, options);
  const jitter = options.jitter ?? 'full';
  const drawn =
    jitter === 'none' ? ceiling : jitter === 'equal' ? ceiling / 2 + random() * (ceiling / 2) : random() * ceiling;
  return Math.max(floorMs, Math.floor(drawn));
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
