/**
 * Options of one relay, their defaults (written once, here) and their validation. Bad options throw an
 * {@link InvalidOptionError} naming the option.
 */
import type { CloseVerdict, DisconnectInfo, Protocol, Transport } from '../core/contract.ts';
import { DEFAULT_BACKOFF, type BackoffOptions } from '../policies/backoff.ts';
import type { Classifier } from '../policies/classify.ts';
import { InvalidOptionError } from '../core/errors.ts';
import type { Clock } from './scheduler.ts';
import type { InspectionEvent, Snapshot } from 'xstate';

/** Heartbeat settings. */
export interface HeartbeatOptions {
  /** Turn the heartbeat off entirely. Default true (on). */
  enabled: boolean;
  /** Time between pings, ms. Default 30000. */
  interval: number;
  /** Time a ping may go unanswered before it counts as missed, ms. Default 10000. */
  timeout: number;
  /** Missed pings in a row that end the connection (1 miss already makes it `degraded`). Default 2. */
  maxMissed: number;
  /**
   * No inbound frame at all (data, pong, the server's ping) for this long (ms) ends the connection; 0 leaves it to
   * the heartbeat's own bound (`maxMissed × interval + timeout`). While pings are sent it is at least
   * `interval + timeout`, since pongs come once per interval. Default 0.
   */
  staleAfter: number;
  /** RTT (ms) above which an open relay is `degraded`. Default 2000. */
  degradedRtt: number;
  /**
   * When a relay has never answered a single ping, its first connection turns the heartbeat off after `maxMissed`
   * silent pings instead of tearing the link down (reported as `heartbeat-off`). Default true.
   */
  negotiate: boolean;
}

/** Wake-from-sleep detection. */
export interface WakeOptions {
  /** Default true. */
  enabled: boolean;
  /** A timer firing this much later than due (ms) means the machine slept. Default 15000. */
  gap: number;
  /** How often the detector looks, ms. Default 5000. */
  checkEvery: number;
}

/** Reported to {@link RelayOptions.beforeReconnect} before each reconnect is scheduled. */
export interface ReconnectInfo {
  url: string;
  /** Failed dials since the last stable connection. */
  attempt: number;
  /** Delay before the next dial, ms. */
  delayMs: number;
  /** What ended the connection. */
  cause: DisconnectInfo;
  /** What the classifier made of it. */
  verdict: CloseVerdict;
}

/** Online/offline signal source, e.g. `browserNetwork()`. */
export interface NetworkSignal {
  /** Calls `listener` with `true` when the network comes back, `false` when it goes; returns the unsubscribe function. */
  subscribe(listener: (online: boolean) => void): () => void;
}

/** Options of `createRelay`. Only `transport` is required in core; entry points bind a default. */
export interface RelayOptions<Out = unknown, In = unknown> {
  /** How sockets are opened. Required here; `relay-actors` (Node) defaults it to `wsTransport()`. */
  transport: Transport;
  /** How frames are read and written. Default `jsonProtocol()` (bound by the entry point). */
  protocol: Protocol<Out, In>;
  /** Heartbeat. */
  heartbeat?: Partial<HeartbeatOptions> | false;
  /** Reconnect backoff. */
  backoff?: Partial<BackoffOptions>;
  /** Dials since the last stable connection before `failed`. Default Infinity. */
  maxAttempts?: number;
  /** A dial that has not opened by then is abandoned and retried, ms. Default 10000. */
  connectTimeout?: number;
  /** A hello that has not been acknowledged by then ends the connection, ms. Default 5000. */
  handshakeTimeout?: number;
  /**
   * `stop()` waits this long (real time: it is network I/O) for the close handshake, then drops the socket; 0 drops
   * at once. It also bounds a close the server started: a socket whose server sent a close frame but keeps TCP open
   * is dropped this long after the frame. ms. Default 1000.
   */
  closeTimeout?: number;
  /** An acknowledged `send` waits this long for its ack, ms. Default 10000. */
  ackTimeout?: number;
  /** Largest inbound frame, bytes. Default 1 MiB (1048576). */
  maxPayload?: number;
  /** Extra upgrade headers (Node only). */
  headers?: Record<string, string>;
  /** Sub-protocols to offer. */
  protocols?: string[];
  /** Your close classifier, consulted before the protocol's and the defaults. */
  classify?: Classifier;
  /** Application close codes (4000–4999) that must not be retried. Default none. */
  fatalCloseCodes?: number[];
  /** Runs before each reconnect is scheduled, e.g. to fail in-flight requests. Errors are reported, not thrown. */
  beforeReconnect?: (info: ReconnectInfo) => void;
  /** Wake-from-sleep detection, or false. */
  wake?: Partial<WakeOptions> | false;
  /** Online/offline signals (browser: `browserNetwork()`). Going online reconnects at once. Default none. */
  network?: NetworkSignal;
  /** Clock for every timer (`SimulatedClock` in tests). Default the real one. */
  clock?: Clock;
  /** Source of jitter. Default Math.random. */
  random?: () => number;
  /** Actor system id, for inspection and for a parent. Default `relay:<url>`. */
  id?: string;
  /** XState inspection observer (the inspector passes one). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * A snapshot saved with `relay.actor.getPersistedSnapshot()` (JSON round trips welcome) to resume from: the
   * relay keeps its attempts, session count and last close, and on `start()` dials again (or waits out its
   * backoff, or stays `failed`). Default none.
   */
  snapshot?: Snapshot<unknown>;
}

/** Options with every default filled in. */
export interface ResolvedRelayOptions<Out = unknown, In = unknown> {
  transport: Transport;
  protocol: Protocol<Out, In>;
  heartbeat: HeartbeatOptions;
  backoff: BackoffOptions;
  maxAttempts: number;
  connectTimeout: number;
  handshakeTimeout: number;
  closeTimeout: number;
  ackTimeout: number;
  maxPayload: number;
  headers: Record<string, string> | undefined;
  protocols: string[] | undefined;
  classify: Classifier | undefined;
  fatalCloseCodes: number[];
  /** See {@link RelayOptions.beforeReconnect}. */
  beforeReconnect: ((info: ReconnectInfo) => void) | undefined;
  wake: WakeOptions;
  network: NetworkSignal | undefined;
  clock: Clock;
  /** Source of jitter in [0, 1). */
  random: () => number;
  id: string;
}

/** Heartbeat defaults. */
export const DEFAULT_HEARTBEAT: Readonly<HeartbeatOptions> = Object.freeze({
  enabled: true,
  interval: 30_000,
  timeout: 10_000,
  maxMissed: 2,
  staleAfter: 0,
  degradedRtt: 2000,
  negotiate: true,
});

/** Wake defaults. */
export const DEFAULT_WAKE: Readonly<WakeOptions> = Object.freeze({ enabled: true, gap: 15_000, checkEvery: 5000 });

/** Scalar defaults of {@link RelayOptions}. */
export const DEFAULT_RELAY_OPTIONS = Object.freeze({
  maxAttempts: Infinity,
  connectTimeout: 10_000,
  handshakeTimeout: 5000,
  closeTimeout: 1000,
  ackTimeout: 10_000,
  maxPayload: 1024 * 1024,
});

/** The real clock, as XState's `Clock`. */
export const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Every option of {@link RelayOptions} with its default (`undefined`: none, or bound by the entry point). Its keys
 * are the known option names; `satisfies` makes the compiler hold them to the interface, one for one.
 */
const RELAY_OPTION_DEFAULTS = {
  transport: undefined,
  protocol: undefined,
  heartbeat: DEFAULT_HEARTBEAT,
  backoff: DEFAULT_BACKOFF,
  ...DEFAULT_RELAY_OPTIONS,
  headers: undefined,
  protocols: undefined,
  classify: undefined,
  fatalCloseCodes: undefined,
  beforeReconnect: undefined,
  wake: DEFAULT_WAKE,
  network: undefined,
  clock: realClock,
  random: Math.random,
  id: undefined,
  inspect: undefined,
  snapshot: undefined,
} satisfies { [K in keyof RelayOptions]-?: unknown };

/** Names of the options of {@link RelayOptions}, top level. */
export const RELAY_OPTION_KEYS: readonly string[] = Object.freeze(Object.keys(RELAY_OPTION_DEFAULTS));

/** Top-level names we know but do not support yet, with what to do instead. */
const NOT_YET_SUPPORTED: Readonly<Record<string, string>> = Object.freeze({
  signal: 'AbortSignal is not supported yet; end the relay or pool with stop() instead',
});

/**
 * Throws {@link InvalidOptionError} when `value` is not an object, or for its first key not in `known`, named by
 * its dotted path under `path` ('' for the top level), with the closest known name when one is near.
 */
export function rejectUnknownKeys(path: string, value: unknown, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidOptionError(path || 'options', `expected an object, got ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const at = (name: string) => (path ? `${path}.${name}` : name);
    const later = path === '' ? NOT_YET_SUPPORTED[key] : undefined;
    if (later) throw new InvalidOptionError(key, later);
    const near = closest(key, known);
    const hint = near === undefined ? ` (known: ${known.join(', ')})` : `; did you mean "${at(near)}"?`;
    throw new InvalidOptionError(at(key), `unknown option${hint}`);
  }
}

/**
 * Checks a per-call options object (`send`'s, `subscribe`'s): `undefined` is fine, unknown keys are an
 * {@link InvalidOptionError} named `<call>.<key>`, returned rather than thrown so callers can reject with it.
 */
export function checkCallOptions(
  call: string,
  options: object | undefined,
  known: readonly string[],
): InvalidOptionError | undefined {
  if (options === undefined) return undefined;
  try {
    rejectUnknownKeys(call, options, known);
    return undefined;
  } catch (error) {
    return error as InvalidOptionError;
  }
}

/** The known name nearest to `name` (case-insensitive edit distance), if it is near enough to be a typo. */
function closest(name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 4));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

function positive(name: string, value: unknown, allowZero = false, allowInfinity = false): number {
  if (typeof value !== 'number' || Number.isNaN(value))
    throw new InvalidOptionError(name, `expected a number, got ${describe(value)}`);
  if (!allowInfinity && !Number.isFinite(value)) throw new InvalidOptionError(name, 'must be finite');
  if (allowZero ? value < 0 : value <= 0)
    throw new InvalidOptionError(name, `must be ${allowZero ? '>= 0' : '> 0'}, got ${value}`);
  return value;
}

function describe(value: unknown): string {
  return value === null
    ? 'null'
    : Array.isArray(value)
      ? 'an array'
      : typeof value === 'string'
        ? `"${value}"`
        : typeof value;
}

function fn<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function')
    throw new InvalidOptionError(name, `expected a function, got ${describe(value)}`);
  return value;
}

function section<T extends object>(
  name: string,
  value: Partial<T> | false | undefined,
  defaults: Readonly<T>,
): T & { off: boolean } {
  if (value === false) return { ...defaults, off: true };
  if (value === undefined) return { ...defaults, off: false };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidOptionError(name, `expected an object or false, got ${describe(value)}`);
  rejectUnknownKeys(name, value, Object.keys(defaults));
  const merged = { ...defaults } as T;
  for (const [key, v] of Object.entries(value)) if (v !== undefined) (merged as Record<string, unknown>)[key] = v;
  return { ...merged, off: false };
}

/**
 * Checks a relay URL: `ws:` or `wss:` (the memory transport also takes `memory:`). Throws InvalidOptionError('url').
 */
export function validateUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length === 0)
    throw new InvalidOptionError('url', `expected a ws:// or wss:// URL string, got ${describe(url)}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError('url', `"${redactUrl(url)}" is not a valid URL`);
  }
  if (!['ws:', 'wss:', 'memory:'].includes(parsed.protocol)) {
    throw new InvalidOptionError('url', `"${redactUrl(url)}" must use ws:// or wss://, not ${parsed.protocol}`);
  }
  return url;
}

/**
 * A URL fit for logs and telemetry: user info and query values are replaced by `***`.
 *
 * @example
 * redactUrl('wss://me:pw@relay.example/x?token=abc') // 'wss://***@relay.example/x?token=***'
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const auth = u.username || u.password ? '***@' : '';
    let query = '';
    if (u.search) query = '?' + [...u.searchParams.keys()].map((k) => `${k}=***`).join('&');
    // Keep the path as written: `ws://h` stays without the slash that URL adds, `ws://h/?q` keeps it.
    const wroteSlash = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*\//i.test(url);
    return `${u.protocol}//${auth}${u.host}${u.pathname === '/' && !wroteSlash ? '' : u.pathname}${query}`;
  } catch {
    // Unparsable: still hide what looks like credentials and query values, and keep the rest readable.
    return String(url)
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@')
      .replace(/([?&][^=&#]*)=[^&#]*/g, '$1=***');
  }
}

/** Secrets shorter than this are not hidden where they stand alone: they would blank out ordinary words and digits. */
const MIN_SECRET_LENGTH = 3;

/** One shared identity, so relays without secrets in their URL carry no closure of their own. */
const unchanged = (text: string): string => text;

/**
 * A function that hides what is secret in `url` wherever it appears in a text: the URL itself (as written and as
 * `URL` normalises it) becomes {@link redactUrl}'s form, and its user info, user name, password and query values
 * standing alone (raw or percent-decoded, not inside a longer word) become `***`. A URL with nothing secret gives
 * the identity.
 *
 * @example
 * const redact = urlRedactor('ws://me:pw1@relay.example/?token=abc');
 * redact('cannot send to ws://me:pw1@relay.example/?token=abc') // 'cannot send to ws://***@relay.example/?token=***'
 * redact('token abc expired')                                  // 'token *** expired'
 */
export function urlRedactor(url: string): (text: string) => string {
  const shown = redactUrl(url);
  const parts = urlSecrets(url);
  if (shown === url && parts.length === 0) return unchanged;
  const forms = [...new Set([url, normalised(url)])].filter((form) => form !== shown);
  const escaped = parts.sort((a, b) => b.length - a.length).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const alone = escaped.length > 0 ? new RegExp(`(?<![A-Za-z0-9])(?:${escaped.join('|')})(?![A-Za-z0-9])`, 'g') : null;
  return (text) => {
    let out = text;
    for (const form of forms) out = out.split(form).join(shown);
    return alone ? out.replace(alone, '***') : out;
  };
}

function normalised(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

/** User info, user name, password and query values of `url`, raw and decoded, long enough to hide. */
function urlSecrets(url: string): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [];
  }
  const raw = [u.password ? `${u.username}:${u.password}` : '', u.username, u.password];
  for (const pair of u.search.slice(1).split('&')) raw.push(pair.slice(pair.indexOf('=') + 1 || pair.length));
  const all = raw.flatMap((part) => [part, decoded(part)]);
  for (const value of u.searchParams.values()) all.push(value);
  return [...new Set(all)].filter((part) => part.length >= MIN_SECRET_LENGTH);
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * Fills defaults ({@link DEFAULT_RELAY_OPTIONS}, {@link DEFAULT_HEARTBEAT}, {@link DEFAULT_WAKE},
 * {@link DEFAULT_BACKOFF}; `id` defaults to `relay:<redacted url>`) and validates. Throws
 * {@link InvalidOptionError} naming the first bad option.
 *
 * @example
 * const o = resolveRelayOptions('wss://relay.example', { transport: wsTransport(), protocol: jsonProtocol() });
 * o.heartbeat.interval // 30000
 * o.id                 // 'relay:wss://relay.example'
 */
export function resolveRelayOptions<Out, In>(
  url: string,
  options: RelayOptions<Out, In>,
): ResolvedRelayOptions<Out, In> {
  // With several bad options, the error names the first in this order.
  const { transport, protocol } = checkTransportAndProtocol(options);
  const heartbeat = resolveHeartbeat(options.heartbeat);
  const backoff = resolveBackoff(options.backoff);
  const wake = resolveWake(options.wake);
  const maxAttempts = resolveMaxAttempts(options.maxAttempts);
  const fatalCloseCodes = resolveFatalCloseCodes(options.fatalCloseCodes);
  checkNetwork(options.network);
  const clock = resolveClock(options.clock);
  checkId(options.id);
  const defaults = RELAY_OPTION_DEFAULTS;
  return {
    transport,
    protocol,
    heartbeat,
    backoff,
    maxAttempts,
    connectTimeout: positive('connectTimeout', options.connectTimeout ?? defaults.connectTimeout),
    handshakeTimeout: positive('handshakeTimeout', options.handshakeTimeout ?? defaults.handshakeTimeout),
    closeTimeout: positive('closeTimeout', options.closeTimeout ?? defaults.closeTimeout, true),
    ackTimeout: positive('ackTimeout', options.ackTimeout ?? defaults.ackTimeout),
    maxPayload: positive('maxPayload', options.maxPayload ?? defaults.maxPayload),
    headers: options.headers,
    protocols: options.protocols,
    classify: fn('classify', options.classify),
    fatalCloseCodes,
    beforeReconnect: fn('beforeReconnect', options.beforeReconnect),
    wake,
    network: options.network,
    clock,
    random: fn('random', options.random) ?? defaults.random,
    id: options.id ?? `relay:${redactUrl(url)}`,
  };
}

/** The options object itself, its keys, and the two parts without a default in core: transport and protocol. */
function checkTransportAndProtocol<Out, In>(
  options: RelayOptions<Out, In>,
): Pick<ResolvedRelayOptions<Out, In>, 'transport' | 'protocol'> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', `expected an object, got ${describe(options)}`);
  rejectUnknownKeys('', options, RELAY_OPTION_KEYS);
  const t = options.transport;
  if (!t || typeof t.connect !== 'function')
    throw new InvalidOptionError(
      'transport',
      'expected a Transport (wsTransport(), browserTransport(), memoryTransport())',
    );
  const p = options.protocol;
  if (!p || typeof p.encode !== 'function' || typeof p.decode !== 'function')
    throw new InvalidOptionError('protocol', 'expected a Protocol (jsonProtocol(), nostrProtocol())');
  return { transport: t, protocol: p };
}

/** `heartbeat` over {@link DEFAULT_HEARTBEAT}; `false` keeps the settings and turns it off. */
function resolveHeartbeat(value: RelayOptions['heartbeat']): HeartbeatOptions {
  const hb = section('heartbeat', value, DEFAULT_HEARTBEAT);
  positive('heartbeat.interval', hb.interval);
  positive('heartbeat.timeout', hb.timeout);
  positive('heartbeat.staleAfter', hb.staleAfter, true);
  positive('heartbeat.degradedRtt', hb.degradedRtt, false, true);
  if (!Number.isInteger(hb.maxMissed) || hb.maxMissed < 1)
    throw new InvalidOptionError('heartbeat.maxMissed', `must be an integer >= 1, got ${hb.maxMissed}`);
  const { off, ...heartbeat } = hb;
  if (off) heartbeat.enabled = false;
  return heartbeat;
}

/** A backoff table: null, or a non-empty array of delays (ms, finite, >= 0). */
function checkDelays(delays: unknown): void {
  if (delays === null) return;
  const ok =
    Array.isArray(delays) &&
    delays.length > 0 &&
    delays.every((d) => typeof d === 'number' && Number.isFinite(d) && d >= 0);
  if (!ok)
    throw new InvalidOptionError(
      'backoff.delays',
      `must be null or a non-empty array of ms >= 0, got ${describe(delays)}`,
    );
}

/** `backoff` over {@link DEFAULT_BACKOFF}. */
function resolveBackoff(value: RelayOptions['backoff']): BackoffOptions {
  const bo = section('backoff', value, DEFAULT_BACKOFF);
  positive('backoff.base', bo.base);
  positive('backoff.max', bo.max);
  positive('backoff.stableAfter', bo.stableAfter, true);
  if (typeof bo.factor !== 'number' || !(bo.factor >= 1))
    throw new InvalidOptionError('backoff.factor', `must be a number >= 1, got ${describe(bo.factor)}`);
  if (bo.max < bo.base)
    throw new InvalidOptionError('backoff.max', `must be >= backoff.base (${bo.base}), got ${bo.max}`);
  checkDelays(bo.delays ?? null);
  if (bo.jitter !== 'full' && bo.jitter !== 'equal' && bo.jitter !== 'none')
    throw new InvalidOptionError('backoff.jitter', `must be "full", "equal" or "none", got ${describe(bo.jitter)}`);
  const { off: _off, ...backoff } = bo;
  return { ...backoff, delays: bo.delays ? Object.freeze([...bo.delays]) : null };
}

/** `wake` over {@link DEFAULT_WAKE}; `false` keeps the settings and turns it off. */
function resolveWake(value: RelayOptions['wake']): WakeOptions {
  const wk = section('wake', value, DEFAULT_WAKE);
  positive('wake.gap', wk.gap);
  positive('wake.checkEvery', wk.checkEvery);
  const { off, ...wake } = wk;
  if (off) wake.enabled = false;
  return wake;
}

function resolveMaxAttempts(value: number | undefined): number {
  const maxAttempts = value ?? RELAY_OPTION_DEFAULTS.maxAttempts;
  if (!(maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 1))) {
    throw new InvalidOptionError('maxAttempts', `must be an integer >= 1 or Infinity, got ${maxAttempts}`);
  }
  return maxAttempts;
}

function resolveFatalCloseCodes(value: number[] | undefined): number[] {
  const fatalCloseCodes = value ?? [];
  if (!Array.isArray(fatalCloseCodes) || fatalCloseCodes.some((c) => !Number.isInteger(c) || c < 1000 || c > 4999)) {
    throw new InvalidOptionError('fatalCloseCodes', 'expected an array of close codes (1000–4999)');
  }
  return fatalCloseCodes;
}

function checkNetwork(network: NetworkSignal | undefined): void {
  if (network !== undefined && typeof network?.subscribe !== 'function') {
    throw new InvalidOptionError('network', 'expected { subscribe(listener) } such as browserNetwork()');
  }
}

function resolveClock(value: Clock | undefined): Clock {
  const clock = value ?? RELAY_OPTION_DEFAULTS.clock;
  if (typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function')
    throw new InvalidOptionError('clock', 'expected { setTimeout, clearTimeout }');
  return clock;
}

function checkId(id: string | undefined): void {
  if (id !== undefined && (typeof id !== 'string' || id === ''))
    throw new InvalidOptionError('id', 'expected a non-empty string');
}

/** The settings the machine's guards and delays read: plain numbers, shared by reference between relays. */
export interface RelayMachineConfig {
  connectTimeout: number;
  handshakeTimeout: number;
  /** Dials since the last stable connection before giving up; null: never. */
  maxAttempts: number | null;
  backoff: BackoffOptions;
  heartbeat: { enabled: boolean; maxMissed: number };
}

/**
 * The plain settings the relay machine reads (timeouts, attempts, backoff, heartbeat switches), taken from resolved
 * options. Relays of one pool share one such object.
 *
 * @example
 * const config = relayMachineConfig(resolveRelayOptions(url, { transport, protocol }));
 * createActor(relayMachine, { input: { id: 'r', url: redactUrl(url), config } });
 */
export function relayMachineConfig(options: ResolvedRelayOptions<unknown, unknown>): RelayMachineConfig {
  const { connectTimeout, handshakeTimeout, maxAttempts, backoff, heartbeat } = options;
  const config: RelayMachineConfig = {
    connectTimeout,
    handshakeTimeout,
    // JSON has no Infinity: null is "no limit", so a saved snapshot restores the same limit.
    maxAttempts: maxAttempts === Infinity ? null : maxAttempts,
    backoff: {
      base: backoff.base,
      factor: backoff.factor,
      max: backoff.max,
      stableAfter: backoff.stableAfter,
      delays: backoff.delays ? [...backoff.delays] : null,
      jitter: backoff.jitter ?? 'full',
    },
    heartbeat: { enabled: heartbeat.enabled, maxMissed: heartbeat.maxMissed },
  };
  return internConfig(config);
}

/**
 * Relays created with the same settings share one config object (heap per relay counts); at most
 * {@link CONFIG_CACHE} distinct settings are remembered, the oldest forgotten first.
 */
const configs = new Map<string, RelayMachineConfig>();
const CONFIG_CACHE = 32;

function internConfig(config: RelayMachineConfig): RelayMachineConfig {
  const key = JSON.stringify(config);
  const known = configs.get(key);
  if (known) return known;
  configs.set(key, Object.freeze(config));
  if (configs.size > CONFIG_CACHE) configs.delete(configs.keys().next().value as string);
  return config;
}
