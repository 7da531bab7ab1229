/**
 * Close classifier: one place that decides whether a socket's end is worth retrying. It reads a
 * {@link DisconnectInfo} (close code, upgrade status, error code, local cause) and returns retry / fatal / reauth.
 * The protocol adapter and the user can each override it; the defaults below are the design's table.
 */
import type {
  ClassifierVerdict,
  CloseVerdict,
  DisconnectInfo,
  LocalCloseCause,
  Protocol,
  VerdictCode,
} from '../core/contract.ts';
import { isVerdictCode, TLS_CERT_ERRORS } from '../core/why.ts';

/** Upgrade statuses that mean "this will not work by retrying". */
export const FATAL_UPGRADE_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404, 426]);
/** Close codes that mean "this will not work by retrying". */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([1002, 1003, 1007, 1008, 1010]);

/**
 * A user classifier: return a verdict to decide, or `undefined` to fall through to the protocol and defaults. The
 * verdict's `code` may be left out: it is then `user`.
 */
export type Classifier = (info: DisconnectInfo) => ClassifierVerdict | undefined;

/** Local causes that are our own timers (the rest of the local causes are our own decisions). */
const LOCAL_TIMEOUTS: ReadonlySet<LocalCloseCause> = new Set<LocalCloseCause>([
  'connect-timeout',
  'handshake-timeout',
  'heartbeat-timeout',
  'stale',
]);

/** Inputs of {@link classifyClose} beyond the disconnect itself. */
export interface ClassifyContext {
  /** The user's classifier, consulted first. */
  user?: Classifier | undefined;
  /** The protocol adapter, consulted second. */
  protocol?: Pick<Protocol, 'classify'> | undefined;
  /** Application close codes (4000–4999) the user declares fatal. */
  fatalCloseCodes?: readonly number[] | undefined;
}

/**
 * The default classification, after the user and the protocol had their say. Every verdict carries a `code`
 * from the closed list of {@link VerdictCode}s (a user's or protocol's verdict without one gets `user` /
 * `protocol`); `explain()` words it.
 *
 * - upgrade 400/401/403/404/426 → fatal; 429 and 5xx → retry, honouring `Retry-After`; other statuses → fatal
 * - close 1002, 1003, 1007, 1008, 1010 → fatal; 1000/1001 (remote normal close) → retry; 1006, 1011–1014 → retry
 * - 4000–4999 → retry unless declared fatal
 * - a hello the server rejected → fatal (a terminal answer; retrying would loop)
 * - a refused TLS certificate (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID, ...) → fatal
 * - errors (ECONNREFUSED, ETIMEDOUT, ENOTFOUND, ...) and our own timeouts → retry
 *
 * @example
 * classifyClose({ code: 1006, reason: '', wasClean: false, status: 401 })
 * // { action: 'fatal', reason: 'upgrade 401', code: 'upgrade-refused' }
 */
export function classifyClose(info: DisconnectInfo, context: ClassifyContext = {}): CloseVerdict {
  const byUser = context.user?.(info);
  if (byUser) return withCode(byUser, 'user');
  const byProtocol = context.protocol?.classify?.(info);
  if (byProtocol) return withCode(byProtocol, 'protocol');

  if (info.status !== undefined) {
    const status = info.status;
    const retryAfter = info.retryAfterMs !== undefined ? { delayMs: info.retryAfterMs } : {};
    if (status === 429 || (status >= 500 && status <= 599)) {
      return { action: 'retry', reason: `upgrade ${status}`, ...retryAfter, code: 'server-busy' };
    }
    return { action: 'fatal', reason: `upgrade ${status}`, code: 'upgrade-refused' };
  }

  if (info.local === 'handshake-rejected')
    return {
      action: 'fatal',
      reason: `hello rejected${info.reason ? `: ${info.reason}` : ''}`,
      code: 'hello-rejected',
    };
  if (info.local)
    return {
      action: 'retry',
      reason: info.local,
      code: LOCAL_TIMEOUTS.has(info.local) ? 'local-timeout' : 'local-close',
    };

  const code = info.code;
  if (FATAL_CLOSE_CODES.has(code)) return { action: 'fatal', reason: `close ${code}`, code: 'fatal-close' };
  if (code >= 4000 && code <= 4999 && context.fatalCloseCodes?.includes(code)) {
    return { action: 'fatal', reason: `close ${code} declared fatal`, code: 'declared-fatal' };
  }
  if (info.errorCode && TLS_CERT_ERRORS.has(info.errorCode))
    return { action: 'fatal', reason: info.errorCode, code: 'tls-refused' };
  if (info.errorCode) return { action: 'retry', reason: info.errorCode, code: 'network-error' };
  return { action: 'retry', reason: `close ${code}`, code: 'transient-close' };
}

/** A classifier's verdict with its `code` filled in: its own when it named a known one, else who decided. */
function withCode(verdict: ClassifierVerdict, decidedBy: VerdictCode): CloseVerdict {
  return { ...verdict, code: isVerdictCode(verdict.code) ? verdict.code : decidedBy };
}
