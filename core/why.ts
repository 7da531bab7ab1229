/**
 * "Why did it reconnect?": the one vocabulary. A {@link Cause} says what happened (close frame, refused upgrade,
 * transport error, our own timeout, the protocol's answer), a {@link CloseVerdict} what the classifier decided
 * (with a {@link VerdictCode} from a closed list), and {@link explain} words the two as one short line. The
 * inspector (feed and page), the CLI and the README all show this wording; nothing else words a loss.
 *
 * Core vocabulary: it imports nothing but the types of `contract.ts`, so adapters and machines can use it.
 */
import type {
  Cause,
  ClassifierVerdict,
  DisconnectInfo,
  LocalCloseCause,
  ProtocolCloseCause,
  VerdictCode,
} from './contract.ts';

/** Every {@link VerdictCode} with what it means: the closed list, in a form code can check against. */
export const VERDICT_CODES: Readonly<Record<VerdictCode, string>> = {
  'transient-close': 'a close code worth retrying (1000, 1001, 1006, 1011–1014, 4000–4999 not declared fatal)',
  'fatal-close': 'a close code that retrying will not fix (1002, 1003, 1007, 1008, 1010)',
  'declared-fatal': 'an application close code (4000–4999) the options declare fatal',
  'server-busy': 'upgrade refused with 429 or 5xx: retried, not before Retry-After',
  'upgrade-refused': 'upgrade refused with any other status (400, 401, 403, 404, 426, ...)',
  'tls-refused': "the server's TLS certificate was refused (expired, self-signed, untrusted, wrong host, ...)",
  'network-error': 'a transport error code (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ECONNRESET, ...)',
  'local-timeout': 'our own timer: connect, handshake or heartbeat timeout, a stale link',
  'local-close': 'our own decision: stop, superseded, protocol-error',
  'hello-rejected': 'the server rejected the hello handshake',
  user: "the user's classify option decided",
  protocol: "the protocol adapter's classify decided",
};

/**
 * True when `code` is one of the closed list of {@link VerdictCode}s.
 *
 * @example
 * isVerdictCode('server-busy') // true
 * isVerdictCode('busy')        // false
 */
export function isVerdictCode(code: unknown): code is VerdictCode {
  return typeof code === 'string' && CODES.has(code);
}

/**
 * The codes alone, for {@link isVerdictCode}: the classifier runs in every bundle, the descriptions need not
 * (a test holds this list and {@link VERDICT_CODES} to the same codes).
 */
const CODES: ReadonlySet<string> = new Set<VerdictCode>([
  'transient-close',
  'fatal-close',
  'declared-fatal',
  'server-busy',
  'upgrade-refused',
  'tls-refused',
  'network-error',
  'local-timeout',
  'local-close',
  'hello-rejected',
  'user',
  'protocol',
]);

const PROTOCOL_CAUSES: ReadonlySet<LocalCloseCause> = new Set<ProtocolCloseCause>([
  'handshake-rejected',
  'protocol-error',
]);

/**
 * What happened, from the record a transport (or our runtime) reports: a refused upgrade first, then a close our
 * runtime or the protocol decided, then a transport error, else the close frame (or its absence, 1006).
 *
 * @example
 * causeOf({ code: 1006, reason: '', wasClean: false, status: 503, retryAfterMs: 2000 })
 * // { kind: 'upgrade', status: 503, retryAfterMs: 2000 }
 * causeOf({ code: 1006, reason: '', wasClean: false, errorCode: 'ECONNREFUSED' })
 * // { kind: 'error', errorCode: 'ECONNREFUSED', code: 1006 }
 * causeOf({ code: 1008, reason: 'bad token', wasClean: true }) // { kind: 'close', code: 1008, reason: 'bad token' }
 */
export function causeOf(info: DisconnectInfo): Cause {
  if (info.status !== undefined)
    return {
      kind: 'upgrade',
      status: info.status,
      ...(info.retryAfterMs !== undefined ? { retryAfterMs: info.retryAfterMs } : {}),
    };
  if (info.local !== undefined) {
    if (PROTOCOL_CAUSES.has(info.local))
      return { kind: 'protocol', local: info.local as ProtocolCloseCause, reason: info.reason };
    return { kind: 'local', local: info.local as Exclude<LocalCloseCause, ProtocolCloseCause> };
  }
  if (info.errorCode !== undefined)
    return {
      kind: 'error',
      errorCode: info.errorCode,
      code: info.code,
      ...(info.message !== undefined ? { message: info.message } : {}),
    };
  return { kind: 'close', code: info.code, reason: info.reason };
}

/** What the close codes mean, in a few words. */
const CLOSE_MEANINGS: Readonly<Record<number, string>> = {
  1000: 'normal',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status',
  1006: 'no close frame',
  1007: 'invalid payload',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'extension required',
  1011: 'server error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS failure',
};

/** The upgrade statuses a relay refuses with, in a few words (no `node:http`: this runs in browsers too). */
const STATUS_TEXTS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * Error codes of a TLS certificate the client refused (Node's, from OpenSSL): retrying cannot fix them, someone has
 * to renew, trust or correct the certificate.
 */
export const TLS_CERT_ERRORS: ReadonlySet<string> = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Error codes that mean the relay could not be reached at all (no socket was ever open). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'DIAL_FAILED',
]);

const LOCAL_TEXTS: Readonly<Record<Exclude<LocalCloseCause, ProtocolCloseCause>, string>> = {
  'connect-timeout': 'connect timeout (no open in time)',
  'handshake-timeout': 'handshake timeout (no hello ack in time)',
  'heartbeat-timeout': 'heartbeat timeout (pings unanswered)',
  stale: 'stale link (silent too long)',
  stop: 'stopped',
  superseded: 'superseded by a newer connection',
};

/** Longest piece of peer- or transport-supplied text kept in the wording. */
const MAX_TEXT = 80;

function cut(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

function closeMeaning(code: number): string | undefined {
  return CLOSE_MEANINGS[code] ?? (code >= 4000 && code <= 4999 ? 'application code' : undefined);
}

function what(cause: Cause): string {
  switch (cause.kind) {
    case 'close': {
      const meaning = closeMeaning(cause.code);
      return `close ${cause.code}${meaning ? ` (${meaning})` : ''}${cause.reason ? `: "${cut(cause.reason)}"` : ''}`;
    }
    case 'upgrade': {
      const text = STATUS_TEXTS[cause.status];
      return `upgrade refused with HTTP ${cause.status}${text ? ` (${text})` : ''}`;
    }
    case 'error': {
      // A message that only repeats the code (`connect ECONNREFUSED 127.0.0.1:7000`) adds nothing to the line.
      const detail = cause.message && !cause.message.includes(cause.errorCode) ? cut(cause.message) : '';
      if (UNREACHABLE.has(cause.errorCode)) return `unreachable: ${cause.errorCode}${detail ? ` (${detail})` : ''}`;
      if (TLS_CERT_ERRORS.has(cause.errorCode)) return `TLS certificate refused: ${cause.errorCode}`;
      const meaning = closeMeaning(cause.code);
      return `close ${cause.code} (${meaning ? `${meaning}, ` : ''}${cause.errorCode}${detail ? `: ${detail}` : ''})`;
    }
    case 'local':
      return LOCAL_TEXTS[cause.local];
    case 'protocol': {
      const head = cause.local === 'handshake-rejected' ? 'hello rejected' : 'protocol error';
      return `${head}${cause.reason ? `: "${cut(cause.reason)}"` : ''}`;
    }
  }
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`;
}

function decision(verdict: ClassifierVerdict): string {
  const action =
    verdict.action === 'retry'
      ? `retrying${verdict.delayMs ? ` after at least ${duration(verdict.delayMs)}` : ''}`
      : verdict.action === 'fatal'
        ? 'giving up'
        : 're-authenticating';
  switch (verdict.code) {
    case 'user':
      return `${action} (your classifier: ${cut(verdict.reason)})`;
    case 'protocol':
      return `${action} (protocol: ${cut(verdict.reason)})`;
    case 'declared-fatal':
      return `${action} (declared fatal)`;
    default:
      return action;
  }
}

/**
 * The one wording of "why": what happened and what the relay does about it, as one short line. Texts the peer or
 * the transport supplied are quoted and cut to 80 characters; redact URLs before showing it where the cause came
 * from an unredacted source (the relay's own events and context are redacted already).
 *
 * A verdict without `code` (from a user or protocol classifier, before `classifyClose()` filled it in) is worded
 * from its action alone.
 *
 * @example
 * const info = { code: 1006, reason: '', wasClean: false, status: 401 };
 * explain(causeOf(info), classifyClose(info));  // 'upgrade refused with HTTP 401 (Unauthorized); giving up'
 * explain({ kind: 'error', errorCode: 'ECONNREFUSED', code: 1006 }, { action: 'retry', reason: 'ECONNREFUSED', code: 'network-error' });
 * // 'unreachable: ECONNREFUSED; retrying'
 * explain({ kind: 'close', code: 1006, reason: '' }, { action: 'retry', reason: 'close 1006', code: 'transient-close' });
 * // 'close 1006 (no close frame); retrying'
 */
export function explain(cause: Cause, verdict: ClassifierVerdict): string {
  return `${what(cause)}; ${decision(verdict)}`;
}
