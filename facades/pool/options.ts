/**
 * The pool's options: every default in one {@link DEFAULT_POOL}, and {@link resolvePoolOptions}, the one place that
 * validates them (with the pool's own names in errors).
 */
import { InvalidOptionError } from '../../core/errors.ts';
import {
  rejectUnknownKeys,
  RELAY_OPTION_KEYS,
  resolveRelayOptions,
  validateUrl,
  type RelayOptions,
  type ResolvedRelayOptions,
} from '../../runtime/options.ts';
import { DEFAULT_OUTBOX, resolveOutboxOptions, type OutboxOptions } from '../../runtime/outbox.ts';
import { DEFAULT_SCORE, type ScoreOptions } from '../../policies/score.ts';
import { DEFAULT_SELECTION, type SelectionOptions } from '../../policies/select.ts';
import type { Protocol } from '../../core/contract.ts';
import type { PoolSendOptions, PoolSubscribeOptions, RelayPoolOptions } from './types.ts';

/**
 * Every default of the pool's own options (beyond the relay options its relays share). Selection, score and outbox
 * defaults are written once, next to the policy they tune, and gathered here. Its keys are the known names;
 * `satisfies` holds them to {@link RelayPoolOptions}, one for one.
 */
export const DEFAULT_POOL = Object.freeze({
  /** Relay URLs to start with: none. */
  relays: Object.freeze([]) as readonly string[],
  /** `{ strategy: 'primary', margin: 0.1, k: 3 }`. */
  selection: DEFAULT_SELECTION,
  /** Weights rtt 0.4, success 0.4, stability 0.2; see score.ts. */
  score: DEFAULT_SCORE,
  /** 1000 messages, 1 MiB, ttl 60 s. */
  outbox: DEFAULT_OUTBOX,
  /** No usable relay for this long (ms) → pending sends reject with `SessionTimeoutError`. */
  sessionTimeout: 60_000,
  /** Inbound message ids remembered for dedupe across relays. */
  dedupeWindow: 10_000,
  /** System id of the coordinator actor. */
  id: 'pool',
  /** A saved pool snapshot to resume from: none. */
  snapshot: undefined,
}) satisfies { [K in Exclude<keyof RelayPoolOptions, keyof RelayOptions> | 'id']-?: unknown };

/** Every top-level option of a pool: its own and the shared relay options. */
const POOL_OPTION_KEYS: readonly string[] = Object.freeze([
  ...Object.keys(DEFAULT_POOL),
  ...RELAY_OPTION_KEYS.filter((k) => !(k in DEFAULT_POOL)),
]);

/** The options `send` and `publish` know. */
export const POOL_SEND_OPTION_KEYS: ReadonlyArray<keyof PoolSendOptions> = ['ack'];

/** The options `subscribe` knows. */
export const SUBSCRIBE_OPTION_KEYS: ReadonlyArray<keyof PoolSubscribeOptions> = ['relays', 'id'];

/** A pool's options, checked, with every default filled in. */
export interface ResolvedPoolOptions<Out, In, Req> {
  /** The URLs to start with, each checked. */
  relays: readonly string[];
  protocol: Protocol<Out, In, Req>;
  /** The options every relay is built from (the caller's, minus the pool's own). */
  relayOptions: RelayOptions<Out, In>;
  /** Those relay options resolved once: clock, wake, network and the machine config the pool reads. */
  shared: ResolvedRelayOptions<Out, In>;
  selection: SelectionOptions;
  score: ScoreOptions;
  outbox: OutboxOptions;
  sessionTimeout: number;
  dedupeWindow: number;
  /** System id of the coordinator actor. */
  id: string;
  /** A saved pool snapshot to resume from, as given (checked when the pool is built). */
  snapshot: unknown;
}

/**
 * Checks a pool's options and fills in {@link DEFAULT_POOL}; throws `InvalidOptionError` naming the first bad one
 * (unknown keys get the closest known name). Checks in a fixed order: unknown keys, `relays`, the shared relay
 * options, `selection`, `score`, `outbox`, `sessionTimeout`, `dedupeWindow`, then each relay URL.
 *
 * @example
 * const resolved = resolvePoolOptions({ relays: [url], transport, protocol: jsonProtocol() });
 * resolved.sessionTimeout; // 60000
 * resolvePoolOptions({ protocol, transport, sesionTimeout: 1 }); // throws: did you mean "sessionTimeout"?
 */
export function resolvePoolOptions<Out, In, Req>(
  options: RelayPoolOptions<Out, In, Req>,
): ResolvedPoolOptions<Out, In, Req> {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'expected an object');
  // Here and not only in resolveRelayOptions: a typo of a pool option is suggested its pool name.
  rejectUnknownKeys('', options, POOL_OPTION_KEYS);
  const {
    relays = DEFAULT_POOL.relays,
    selection,
    score,
    outbox,
    sessionTimeout,
    dedupeWindow,
    id = DEFAULT_POOL.id,
    snapshot,
    ...rest
  } = options;
  if (!Array.isArray(relays)) throw new InvalidOptionError('relays', 'expected an array of ws:// or wss:// URLs');
  const relayOptions = rest as RelayOptions<Out, In>;
  // Validates the shared relay options once, with the pool's own names in errors.
  const shared = resolveRelayOptions('ws://pool.invalid', relayOptions);
  const resolved: ResolvedPoolOptions<Out, In, Req> = {
    relays,
    protocol: options.protocol,
    relayOptions,
    shared,
    selection: resolveSelection(selection),
    score: resolveScore(score),
    outbox: resolveOutboxOptions(outbox),
    sessionTimeout: checkSessionTimeout(sessionTimeout ?? DEFAULT_POOL.sessionTimeout),
    dedupeWindow: checkDedupeWindow(dedupeWindow ?? DEFAULT_POOL.dedupeWindow),
    id,
    snapshot,
  };
  for (const url of relays) validateUrl(url);
  return resolved;
}

function checkSessionTimeout(sessionTimeout: unknown): number {
  if (typeof sessionTimeout !== 'number' || !(sessionTimeout > 0))
    throw new InvalidOptionError('sessionTimeout', `must be a number > 0, got ${String(sessionTimeout)}`);
  return sessionTimeout;
}

function checkDedupeWindow(dedupeWindow: unknown): number {
  if (!Number.isInteger(dedupeWindow) || (dedupeWindow as number) < 1)
    throw new InvalidOptionError('dedupeWindow', `must be an integer >= 1, got ${String(dedupeWindow)}`);
  return dedupeWindow as number;
}

function resolveScore(score: RelayPoolOptions['score']): ScoreOptions {
  const s = score ?? {};
  rejectUnknownKeys('score', s, Object.keys(DEFAULT_SCORE));
  if (s.weights !== undefined) rejectUnknownKeys('score.weights', s.weights, Object.keys(DEFAULT_SCORE.weights));
  const out: ScoreOptions = { ...DEFAULT_SCORE, ...s, weights: { ...DEFAULT_SCORE.weights, ...(s.weights ?? {}) } };
  for (const [k, v] of Object.entries(out.weights))
    if (typeof v !== 'number' || !(v >= 0))
      throw new InvalidOptionError(`score.weights.${k}`, `must be a number >= 0, got ${String(v)}`);
  for (const k of ['rttReferenceMs', 'flapWindowMs'] as const)
    if (typeof out[k] !== 'number' || !(out[k] > 0))
      throw new InvalidOptionError(`score.${k}`, `must be a number > 0, got ${String(out[k])}`);
  for (const k of ['unknownRtt', 'degradedFactor', 'flapPenalty'] as const)
    if (typeof out[k] !== 'number' || !(out[k] >= 0))
      throw new InvalidOptionError(`score.${k}`, `must be a number >= 0, got ${String(out[k])}`);
  return out;
}

function resolveSelection(selection: RelayPoolOptions['selection']): SelectionOptions {
  if (selection !== undefined) rejectUnknownKeys('selection', selection, Object.keys(DEFAULT_SELECTION));
  const s: SelectionOptions = { ...DEFAULT_SELECTION, ...(selection ?? {}) };
  if (s.strategy !== 'primary' && s.strategy !== 'broadcast')
    throw new InvalidOptionError('selection.strategy', `must be "primary" or "broadcast", got ${String(s.strategy)}`);
  if (typeof s.margin !== 'number' || !(s.margin >= 0 && s.margin <= 1))
    throw new InvalidOptionError('selection.margin', `must be a number in [0, 1], got ${String(s.margin)}`);
  if (!Number.isInteger(s.k) || s.k < 1)
    throw new InvalidOptionError('selection.k', `must be an integer >= 1, got ${String(s.k)}`);
  return s;
}
