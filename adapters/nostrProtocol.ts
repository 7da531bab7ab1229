/**
 * The Nostr wire protocol (NIP-01, with NIP-42 authentication): JSON arrays in text frames, one verb first.
 *
 * | direction | frame                                  | meaning                                               |
 * |-----------|----------------------------------------|-------------------------------------------------------|
 * | out       | `["EVENT", event]`                     | publish a signed event (`encode`)                     |
 * | in        | `["OK", id, ok, message]`              | its answer → `ack` (acks by event id)                 |
 * | out       | `["REQ", sub, filter, ...]`            | open subscription `sub` (`subscribe`)                 |
 * | out       | `["CLOSE", sub]`                       | end it (`unsubscribe`)                                |
 * | in        | `["EVENT", sub, event]`                | an event for `sub` → `message`                        |
 * | in        | `["EOSE", sub]`                        | stored events sent → `eose`                           |
 * | in        | `["CLOSED", sub, message]`             | the relay ended `sub` → `closed`                      |
 * | in        | `["NOTICE", text]`                     | human-readable notice → `notice`                      |
 * | in        | `["AUTH", challenge]`                  | NIP-42 challenge → `auth`                             |
 * | out       | `["AUTH", event]`                      | its answer, a signed kind-22242 event (`authenticate`)|
 *
 * The adapter knows no socket and imports no Nostr library. Signing is the app's, passed in as a function.
 * Inbound events are verified by default (NIP-01 id and BIP-340 signature) with the audited `@noble/curves` and
 * `@noble/hashes`, the primitives nostr-tools itself is built on, so a forged event is never delivered.
 */
import { schnorr } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { InvalidOptionError, ProtocolError } from '../core/errors.ts';
import type { AuthFrame, Decoded, Frame, Protocol, RejectionAction } from '../core/contract.ts';
import { frameText } from './frameText.ts';

/** A signed Nostr event (NIP-01). Structurally the same as nostr-tools' `NostrEvent`. */
export interface NostrEvent {
  /** Lowercase hex sha256 of the serialised event (64 characters). */
  id: string;
  /** Lowercase hex x-only public key of the author (64 characters). */
  pubkey: string;
  /** Unix time in seconds. */
  created_at: number;
  kind: number;
  tags: string[][];
  content: string;
  /** Lowercase hex Schnorr signature of `id` (128 characters). */
  sig: string;
}

/** An event before signing, as a signer receives it. Structurally the same as nostr-tools' `EventTemplate`. */
export interface NostrEventTemplate {
  kind: number;
  /** Unix time in seconds. */
  created_at: number;
  tags: string[][];
  content: string;
}

/** A NIP-01 subscription filter. Times are Unix seconds; `#x` keys match single-letter tags. */
export interface NostrFilter {
  ids?: string[];
  authors?: string[];
  kinds?: number[];
  since?: number;
  until?: number;
  limit?: number;
  search?: string;
  [tag: `#${string}`]: string[] | undefined;
}

/** Signs an event template with the app's key (nostr-tools `finalizeEvent`, a NIP-07 extension, a remote signer). */
export type NostrSigner = (template: NostrEventTemplate) => Promise<NostrEvent> | NostrEvent;

/** Options of {@link nostrProtocol}. */
export interface NostrProtocolOptions {
  /**
   * Signs NIP-42 authentication events. When given, the protocol has `authenticate`, so `auth-required:`
   * rejections can be answered; without it they fail with their reason. Default: none.
   */
  signer?: NostrSigner;
  /**
   * How inbound events are checked before they are delivered. Default `true`.
   *
   * - `true`: the event's `id` must be the sha256 of its NIP-01 serialisation
   *   (`[0, pubkey, created_at, kind, tags, content]`), else it is dropped as `BAD_ID` (tampered or corrupted);
   *   its `sig` must be a valid BIP-340 Schnorr signature of `id` by `pubkey`, else it is dropped as
   *   `BAD_SIGNATURE` (forged). An event already verified (the same `id` and `sig`, e.g. the same event from
   *   another relay of the pool) is not checked twice: the last 4096 are remembered.
   * - a function, e.g. a faster verifier (`nostr-tools/wasm`'s `verifyEvent`): an event it rejects, or that
   *   makes it throw, is dropped as `BAD_SIGNATURE` (a function cannot say which of the two checks failed).
   * - `false`: no check; the relay is trusted to have verified (NIP-01 relays must). Only the shape is checked.
   *
   * A dropped event never reaches `messages$` or a subscription: the relay reports a `ProtocolError` (`code`
   * `'PROTOCOL_ERROR'`, `detail` `'BAD_ID'` or `'BAD_SIGNATURE'`) as an `error` event on `events$` and keeps the
   * connection. The shape of every event is always checked (`MALFORMED`).
   */
  verify?: boolean | ((event: NostrEvent) => boolean);
  /**
   * Seconds subtracted from `resume.since` when a subscription is re-sent after a reconnect, so that events
   * whose `created_at` is a little behind (author clock skew, second rounding) are not missed. Redelivered events
   * are dropped by id. Default `5`.
   */
  resumeOverlap?: number;
  /** The time in ms since the epoch, for the `created_at` of authentication events. Default `Date.now`. */
  now?: () => number;
  /** Protocol name for telemetry. Default `'nostr'`. */
  name?: string;
}

/** Kind of the NIP-42 authentication event. */
const AUTH_KIND = 22242;
const DEFAULT_RESUME_OVERLAP_S = 5;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
/** Verified events remembered (by id and signature) so that the same event from another relay costs no second check. */
const VERIFIED_CACHE = 4096;
const UTF8 = new TextEncoder();

/** Why an inbound event is dropped after its shape was found right (see {@link NostrProtocolOptions.verify}). */
type VerifyFault = 'BAD_ID' | 'BAD_SIGNATURE';
/** Checks one well-formed event; `undefined` when it may be delivered. */
type EventCheck = (event: NostrEvent) => VerifyFault | undefined;

/** NIP-01 / NIP-42 machine-readable prefixes of `OK` and `CLOSED` messages, and what each asks of us. */
const REJECTIONS: Readonly<Record<string, RejectionAction>> = {
  'auth-required': 'reauth',
  // The relay already has it: the publish is done.
  duplicate: 'ok',
  // "No one was listening to your ephemeral event": nothing is gained by sending it again.
  mute: 'ok',
  blocked: 'fatal',
  invalid: 'fatal',
  pow: 'fatal',
  restricted: 'fatal',
  unsupported: 'fatal',
  'rate-limited': 'retry',
  error: 'retry',
};

/** Arity of each inbound verb per NIP-01 / NIP-42, including the verb itself. */
const ARITY: Readonly<Record<string, number>> = { EVENT: 3, OK: 4, EOSE: 2, CLOSED: 3, NOTICE: 2, AUTH: 2 };

/**
 * A {@link Protocol} for Nostr relays (NIP-01 messages, NIP-42 authentication).
 *
 * - `encode` takes a signed event and sends only the seven NIP-01 fields as `["EVENT", event]`; anything that is
 *   not a well-formed event (hex `id`/`pubkey`/`sig` of the right length, integer `created_at` and `kind`, string
 *   `content`, `tags` as arrays of strings) throws a `ProtocolError` with `detail` `NOT_AN_EVENT`.
 * - `acks` is true: the relay's `["OK", id, ok, message]` settles the send of event `id`
 *   (`messageId(event)` is `event.id`), so `send` resolves on `OK true` and rejects on `OK false`.
 * - `decode` never throws. `["EVENT", sub, event]` → `message` with `id`, `subscription` and `timestamp`
 *   (`created_at` in ms, used to resume with `since`), once the event is verified (see `verify`: by default its
 *   id and signature; an event that fails → `invalid`/`BAD_ID` or `invalid`/`BAD_SIGNATURE`, never delivered);
 *   `EOSE`, `CLOSED`, `NOTICE`, `AUTH` → `eose`, `closed`, `notice`, `auth`. Invalid JSON, a non-array, a wrong
 *   arity or wrongly typed fields, a malformed event → `invalid`/`MALFORMED`; binary frames → `invalid`/`BINARY`;
 *   other verbs (`COUNT`, ...) → `invalid`/`UNKNOWN_TYPE`. The relay reports each `invalid` frame as a
 *   `ProtocolError` whose `detail` is that code, on `events$`.
 * - `subscribe(id, filters, resume?)` → `["REQ", id, ...filters]`. With `resume` (after a reconnect) each filter's
 *   `since` becomes `max(filter.since ?? 0, floor(resume.since / 1000) - resumeOverlap)`; filters are copied,
 *   never changed. `unsubscribe(id)` → `["CLOSE", id]`.
 * - `classifyRejection` reads the NIP-01 prefix of an `OK false` / `CLOSED` message: `auth-required:` → `reauth`;
 *   `duplicate:`, `mute:` → `ok`; `blocked:`, `invalid:`, `pow:`, `restricted:`, `unsupported:` → `fatal`;
 *   `rate-limited:`, `error:` and anything else → `retry`.
 * - `authenticate(challenge, relayUrl)` exists only with a `signer`: it signs the NIP-42 kind-22242 template
 *   `{ created_at: now, tags: [['relay', relayUrl], ['challenge', challenge]], content: '' }` and returns
 *   `{ frame: '["AUTH", signed]', id: signed.id }`; the relay's `OK` for that id says whether it was accepted.
 *   Credentials in `relayUrl` are left out of the signed tag. A signer that throws or returns a malformed event
 *   rejects with a `ProtocolError` (`SIGNER_FAILED`, `NOT_AN_EVENT`).
 *
 * **Heartbeat.** Nostr has no app-level ping, so this protocol has no `ping`. Over a transport with ping frames
 * (`wsTransport()` in Node) the heartbeat uses WebSocket pings, which every relay's WebSocket stack answers. Over
 * one without (`browserTransport()`), the connection finds neither ping frames nor `protocol.ping` when it opens
 * and turns the heartbeat off for that connection at once: the relay emits `heartbeat-off` (with the reason) and
 * reports `heartbeat: 'off'` in `status()`, so no pong is ever missed and the relay never turns `degraded` from
 * silence. Silence is then bounded only by `heartbeat.staleAfter` (default `0`: unbounded): in browsers set it
 * to a time your relays are never quiet for (for instance with a long-lived subscription on a busy feed), or a
 * dead link is found only when the browser itself reports the close.
 *
 * **Cost of verification.** A Schnorr check in JavaScript takes 1-3 ms, on the thread that reads the socket:
 * some hundreds of new events per second per core (`npm run bench` prints the figures, with and without). For
 * busier feeds pass a faster `verify`, e.g. `nostr-tools/wasm`'s `verifyEvent` after
 * `setNostrWasm(await initNostrWasm())` (several times faster), or `verify: false` for relays you trust.
 *
 * @param options - see {@link NostrProtocolOptions}; default: no signer, events verified (`verify: true`), 5 s
 *   resume overlap.
 * @returns A protocol named `nostr`.
 * @example
 * import { finalizeEvent } from 'nostr-tools/pure';
 * const protocol = nostrProtocol({ signer: (t) => finalizeEvent(t, secretKey) }); // inbound events verified
 * // nostrProtocol({ verify: false }) trusts the relay; nostrProtocol({ verify: myVerifier }) brings your own.
 * const relay = createRelay('wss://relay.example.com', { protocol }).start();
 * await relay.waitFor('open');
 * await relay.send(finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000), tags: [], content: 'hi' }, secretKey));
 * relay.writeFrame(protocol.subscribe!('feed', { kinds: [1], limit: 20 })); // ["REQ","feed",{"kinds":[1],"limit":20}]
 */
export function nostrProtocol(
  options: NostrProtocolOptions = {},
): Protocol<NostrEvent, NostrEvent, NostrFilter | NostrFilter[]> {
  validate(options);
  const check = eventCheck(options.verify ?? true);
  const overlapS = options.resumeOverlap ?? DEFAULT_RESUME_OVERLAP_S;
  const now = options.now ?? Date.now;
  const signer = options.signer;

  const protocol: Protocol<NostrEvent, NostrEvent, NostrFilter | NostrFilter[]> = {
    name: options.name ?? 'nostr',
    acks: true,

    encode(event: NostrEvent): Frame {
      return JSON.stringify(['EVENT', eventOrThrow(event, 'the message')]);
    },

    messageId(event: NostrEvent): string | undefined {
      return isObject(event) && typeof event.id === 'string' ? event.id : undefined;
    },

    decode(data: Frame, isBinary: boolean): Decoded<NostrEvent> {
      return decodeFrame(data, isBinary, check);
    },

    subscribe(id: string, request: NostrFilter | NostrFilter[], resume?: { since: number }): Frame {
      return reqFrame(id, request, resume, overlapS);
    },

    unsubscribe(id: string): Frame {
      return JSON.stringify(['CLOSE', id]);
    },

    classifyRejection(reason: string): RejectionAction {
      const prefix = /^\s*([a-z-]+):/i.exec(reason)?.[1]?.toLowerCase();
      return (prefix !== undefined ? REJECTIONS[prefix] : undefined) ?? 'retry';
    },
  };

  if (signer) {
    protocol.authenticate = (challenge: string, relayUrl: string): Promise<AuthFrame> =>
      authFrame(signer, now, challenge, relayUrl);
  }
  return protocol;
}

/** Decodes one inbound frame: a JSON array whose first element is a known verb, with that verb's arity. */
function decodeFrame(data: Frame, isBinary: boolean, check: EventCheck | undefined): Decoded<NostrEvent> {
  const text = frameText(data, isBinary, 'binary frame: Nostr relays speak text frames only');
  if (typeof text !== 'string') return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return malformed(`invalid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value) || value.length === 0) return malformed('expected a non-empty JSON array');
  const [verb] = value as unknown[];
  if (typeof verb !== 'string') return malformed('the first element is not a string verb');
  const arity = ARITY[verb];
  if (arity === undefined) return { kind: 'invalid', code: 'UNKNOWN_TYPE', reason: `unknown message type "${verb}"` };
  if (value.length !== arity) return malformed(`${verb} has ${value.length} elements, expected ${arity}`);
  return decodeVerb(verb, value, check);
}

/** `["REQ", id, ...filters]`; with `resume`, each filter's `since` moved up to the resume time less the overlap. */
function reqFrame(
  id: string,
  request: NostrFilter | NostrFilter[],
  resume: { since: number } | undefined,
  overlapS: number,
): Frame {
  if (typeof id !== 'string' || id === '')
    throw new ProtocolError('nostrProtocol: a subscription id must be a non-empty string', 'BAD_SUBSCRIPTION_ID');
  const filters = Array.isArray(request) ? request : [request];
  if (filters.length === 0) throw new ProtocolError(`nostrProtocol: subscription "${id}" has no filter`, 'NO_FILTER');
  for (const filter of filters) {
    if (!isObject(filter))
      throw new ProtocolError(
        `nostrProtocol: subscription "${id}" has a filter that is ${kindOf(filter)}, not an object`,
        'NOT_A_FILTER',
      );
  }
  // A pool that has seen nothing datable passes nothing usable: subscribe afresh rather than fail the reconnect.
  const resumeS = resume && Number.isFinite(resume.since) ? Math.floor(resume.since / 1000 - overlapS) : undefined;
  const sent =
    resumeS === undefined ? filters : filters.map((f) => ({ ...f, since: Math.max(f.since ?? 0, resumeS, 0) }));
  return JSON.stringify(['REQ', id, ...sent]);
}

/** The NIP-42 answer to `challenge`: a kind-22242 event for `relayUrl` (without credentials), signed by `signer`. */
async function authFrame(
  signer: NostrSigner,
  now: () => number,
  challenge: string,
  relayUrl: string,
): Promise<AuthFrame> {
  const template: NostrEventTemplate = {
    kind: AUTH_KIND,
    created_at: Math.floor(now() / 1000),
    tags: [
      ['relay', withoutCredentials(relayUrl)],
      ['challenge', challenge],
    ],
    content: '',
  };
  let signed: NostrEvent;
  try {
    signed = await signer(template);
  } catch (error) {
    const why = (error as Error)?.message ?? String(error);
    throw new ProtocolError(
      `nostrProtocol: the signer failed to sign the authentication event: ${why}`,
      'SIGNER_FAILED',
      {
        cause: error,
      },
    );
  }
  const event = eventOrThrow(signed, 'the signed authentication event');
  return { frame: JSON.stringify(['AUTH', event]), id: event.id };
}

/** Decodes one inbound message whose verb is known and whose arity is right. */
function decodeVerb(verb: string, value: unknown[], check: EventCheck | undefined): Decoded<NostrEvent> {
  const [, a, b, c] = value;
  switch (verb) {
    case 'EVENT': {
      if (typeof a !== 'string') return malformed('EVENT without a string subscription id');
      const event = asEvent(b);
      if (typeof event === 'string') return malformed(`EVENT for "${a}" carries a malformed event: ${event}`);
      const fault = check?.(event);
      if (fault)
        return unverified(fault, `EVENT for "${a}" carries event ${event.id} ${FAULTS[fault]}; it was dropped`);
      return { kind: 'message', message: event, id: event.id, subscription: a, timestamp: event.created_at * 1000 };
    }
    case 'OK':
      if (typeof a !== 'string') return malformed('OK without a string event id');
      if (typeof b !== 'boolean') return malformed('OK without a boolean status');
      if (typeof c !== 'string') return malformed('OK without a string message');
      return { kind: 'ack', id: a, ok: b, reason: c };
    case 'EOSE':
      return typeof a === 'string'
        ? { kind: 'eose', subscription: a }
        : malformed('EOSE without a string subscription id');
    case 'CLOSED':
      if (typeof a !== 'string') return malformed('CLOSED without a string subscription id');
      if (typeof b !== 'string') return malformed('CLOSED without a string message');
      return { kind: 'closed', subscription: a, reason: b };
    case 'NOTICE':
      return typeof a === 'string' ? { kind: 'notice', text: a } : malformed('NOTICE without a string message');
    default:
      // AUTH: relays send a challenge string (an event here would be a client's message echoed back).
      return typeof a === 'string' ? { kind: 'auth', challenge: a } : malformed('AUTH without a string challenge');
  }
}

const FAULTS: Readonly<Record<VerifyFault, string>> = {
  BAD_ID: 'whose id is not the sha256 of its content (tampered or corrupted)',
  BAD_SIGNATURE: 'whose signature does not verify for its pubkey (forged)',
};

/** The check that `verify` asks for; `undefined` for none. */
function eventCheck(verify: boolean | ((event: NostrEvent) => boolean)): EventCheck | undefined {
  if (verify === false) return undefined;
  if (verify === true) return builtInCheck();
  return (event) => {
    try {
      return verify(event) === true ? undefined : 'BAD_SIGNATURE';
    } catch {
      // decode must not throw: a checker that chokes on an event has not verified it.
      return 'BAD_SIGNATURE';
    }
  };
}

/**
 * NIP-01 verification: `id` = sha256 of `[0, pubkey, created_at, kind, tags, content]` as JSON, `sig` a BIP-340
 * signature of `id` by `pubkey`. Signatures already verified are remembered by id (the last `VERIFIED_CACHE`):
 * the hash is recomputed every time, the Schnorr check, some hundred times dearer, is not.
 */
function builtInCheck(): EventCheck {
  const verified = new Map<string, string>();
  return (event) => {
    const hash = sha256(
      UTF8.encode(JSON.stringify([0, event.pubkey, event.created_at, event.kind, event.tags, event.content])),
    );
    if (bytesToHex(hash) !== event.id) return 'BAD_ID';
    if (verified.get(event.id) === event.sig) return undefined;
    let ok: boolean;
    try {
      ok = schnorr.verify(hexToBytes(event.sig), hash, hexToBytes(event.pubkey));
    } catch {
      // A pubkey that is not a curve point, for instance.
      ok = false;
    }
    if (!ok) return 'BAD_SIGNATURE';
    verified.set(event.id, event.sig);
    // Maps iterate in insertion order: the first is the oldest.
    if (verified.size > VERIFIED_CACHE) verified.delete(verified.keys().next().value as string);
    return undefined;
  };
}

/**
 * The seven NIP-01 fields of a well-formed event, or why it is not one. Extra fields are dropped: strict relays
 * reject events with unknown keys.
 */
function asEvent(value: unknown): NostrEvent | string {
  if (!isObject(value)) return `expected an event object, got ${kindOf(value)}`;
  const { id, pubkey, created_at, kind, tags, content, sig } = value;
  if (typeof id !== 'string' || !HEX64.test(id)) return '"id" is not 64 lowercase hex characters';
  if (typeof pubkey !== 'string' || !HEX64.test(pubkey)) return '"pubkey" is not 64 lowercase hex characters';
  if (typeof sig !== 'string' || !HEX128.test(sig)) return '"sig" is not 128 lowercase hex characters';
  if (!Number.isSafeInteger(created_at) || (created_at as number) < 0)
    return '"created_at" is not a non-negative integer';
  if (!Number.isSafeInteger(kind) || (kind as number) < 0) return '"kind" is not a non-negative integer';
  if (typeof content !== 'string') return '"content" is not a string';
  if (!Array.isArray(tags) || !tags.every((t) => Array.isArray(t) && t.every((s) => typeof s === 'string'))) {
    return '"tags" is not an array of string arrays';
  }
  return { id, pubkey, created_at: created_at as number, kind: kind as number, tags: tags, content, sig };
}

function eventOrThrow(value: unknown, what: string): NostrEvent {
  const event = asEvent(value);
  if (typeof event === 'string')
    throw new ProtocolError(
      `nostrProtocol can only send signed Nostr events; ${what} is not one: ${event}`,
      'NOT_AN_EVENT',
    );
  return event;
}

/** Leaves user:password out of a URL that is about to be signed and handed to the relay. */
function withoutCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.username === '' && parsed.password === '') return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

function malformed(reason: string): Decoded<never> {
  return { kind: 'invalid', code: 'MALFORMED', reason };
}

/** An event dropped by verification: reported as a `ProtocolError` whose `detail` is `code`. */
function unverified(code: VerifyFault, reason: string): Decoded<never> {
  return { kind: 'invalid', code, reason };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function validate(options: NostrProtocolOptions): void {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('protocol', 'nostrProtocol options must be an object');
  const { signer, verify, resumeOverlap, now, name } = options;
  if (signer !== undefined && typeof signer !== 'function')
    throw new InvalidOptionError('protocol.signer', 'expected a function (template) => signed event');
  if (verify !== undefined && typeof verify !== 'boolean' && typeof verify !== 'function') {
    throw new InvalidOptionError(
      'protocol.verify',
      'expected true (the default: check ids and signatures), false (trust the relay) or a function (event) => boolean',
    );
  }
  if (
    resumeOverlap !== undefined &&
    (typeof resumeOverlap !== 'number' || !Number.isFinite(resumeOverlap) || resumeOverlap < 0)
  ) {
    throw new InvalidOptionError(
      'protocol.resumeOverlap',
      `expected a number of seconds >= 0, got ${String(resumeOverlap)}`,
    );
  }
  if (now !== undefined && typeof now !== 'function')
    throw new InvalidOptionError('protocol.now', 'expected a function returning ms since the epoch');
  if (name !== undefined && (typeof name !== 'string' || name === ''))
    throw new InvalidOptionError('protocol.name', 'expected a non-empty string');
}
