/**
 * Typed errors. Every error relay-actors raises or emits is a {@link RelayActorsError} with a stable `code`, so
 * callers can branch on `err.code` instead of parsing messages.
 */

/** Stable error codes. */
export type ErrorCode =
  | 'INVALID_OPTION'
  | 'NOT_OPEN'
  | 'STOPPED'
  | 'RELAY_FAILED'
  | 'PROTOCOL_ERROR'
  | 'FRAME_TOO_LARGE'
  | 'SEND_FAILED'
  | 'CONNECTION_LOST'
  | 'ACK_TIMEOUT'
  | 'NACK'
  | 'OUTBOX_FULL'
  | 'MESSAGE_EXPIRED'
  | 'SESSION_TIMEOUT'
  | 'PUBLISH_FAILED'
  | 'UNKNOWN_RELAY'
  | 'WAIT_TIMEOUT';

/**
 * Base class of every error relay-actors raises.
 *
 * @example
 * try {
 *   await pool.send({ type: 'post', text: 'hi' });
 * } catch (err) {
 *   if (!(err instanceof RelayActorsError)) throw err;
 *   console.warn(err.code, err.message); // e.g. 'OUTBOX_FULL', 'SESSION_TIMEOUT'
 * }
 */
export class RelayActorsError extends Error {
  readonly code: ErrorCode;
  /**
   * On an error that ends a send: `'not-sent'` when the message was never written to a socket (sending it again
   * cannot duplicate it), `'unknown'` when it was written and may have been delivered. Absent on other errors.
   */
  declare readonly delivery?: Delivery;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; delivery?: Delivery }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    if (options?.delivery !== undefined)
      Object.defineProperty(this, 'delivery', { value: options.delivery, enumerable: true, configurable: true });
  }
}

/**
 * What is known of a message whose send failed: never written to a socket (`'not-sent'`), or written and possibly
 * delivered (`'unknown'`). See {@link RelayActorsError.delivery}.
 */
export type Delivery = 'not-sent' | 'unknown';

/** How messages word a send's {@link Delivery}: one wording for every error that states it. */
const FATE: Readonly<Record<Delivery, string>> = {
  'not-sent': 'it was never sent.',
  unknown: 'it was written to a relay before, so it may have arrived.',
};

/**
 * An option was missing, of the wrong type or out of range. `option` names it (dotted path).
 *
 * @example
 * try {
 *   createRelayPool({ relays: ['wss://a.example'], selection: { k: 0 } });
 * } catch (err) {
 *   if (err instanceof InvalidOptionError) console.error(err.option); // 'selection.k'
 * }
 */
export class InvalidOptionError extends RelayActorsError {
  readonly option: string;
  constructor(option: string, problem: string) {
    super('INVALID_OPTION', `Invalid option "${option}": ${problem}`);
    this.option = option;
  }
}

/**
 * A send was attempted while the relay could not take it. `state` is the relay state at the time.
 *
 * @example
 * const relay = createRelay('wss://relay.example').start();
 * await relay.send({ type: 'ping' }).catch((err) => {
 *   if (err instanceof NotOpenError) console.log(`not sent: relay is ${err.state}`); // 'connecting'
 * });
 */
export class NotOpenError extends RelayActorsError {
  readonly state: string;
  constructor(url: string, state: string) {
    super(
      'NOT_OPEN',
      `Relay ${url} is ${state}, not open: the message was not sent. Wait for "open" or use a pool, which queues.`,
      { delivery: 'not-sent' },
    );
    this.state = state;
  }
}

/**
 * The relay or pool was stopped; it takes no more work.
 *
 * @example
 * await pool.stop();
 * await pool.send({ type: 'post' }).catch((err) => console.log(err instanceof StoppedError)); // true
 */
export class StoppedError extends RelayActorsError {
  constructor(what: string) {
    super('STOPPED', `${what} has been stopped and takes no more work. Create a new one.`);
  }
}

/**
 * A relay gave up: a fatal close or its attempts ran out. `retry()` starts it again.
 *
 * @example
 * await relay.send({ type: 'post' }).catch((err) => {
 *   if (err instanceof RelayFailedError) {
 *     console.warn(err.reason);
 *     relay.retry();
 *   }
 * });
 */
export class RelayFailedError extends RelayActorsError {
  readonly reason: string;
  constructor(url: string, reason: string) {
    super('RELAY_FAILED', `Relay ${url} failed (${reason}); call retry() to try again.`);
    this.reason = reason;
  }
}

/**
 * A frame could not be encoded or decoded. `detail` says which rule it broke.
 *
 * @example
 * await relay.authenticate().catch((err) => {
 *   if (err instanceof ProtocolError && err.detail === 'NO_CHALLENGE') return; // nothing to answer yet
 *   throw err;
 * });
 */
export class ProtocolError extends RelayActorsError {
  readonly detail: string;
  constructor(message: string, detail = 'MALFORMED', options?: { cause?: unknown }) {
    super('PROTOCOL_ERROR', message, options);
    this.detail = detail;
  }
}

/**
 * An inbound frame was larger than `maxPayload`; the socket was closed with 1009 and will reconnect. Reported on
 * `events$` (no call fails with it).
 *
 * @example
 * const relay = createRelay('wss://relay.example', { maxPayload: 64 * 1024 }).start();
 * relay.events$.subscribe((e) => {
 *   if (e.type === 'error' && e.error instanceof FrameTooLargeError) console.warn(e.error.message);
 * });
 */
export class FrameTooLargeError extends RelayActorsError {
  constructor(url: string, maxPayload: number) {
    super(
      'FRAME_TOO_LARGE',
      `Relay ${url} sent a frame over maxPayload (${maxPayload} bytes); the connection was closed (1009).`,
    );
  }
}

/**
 * The socket refused the write.
 *
 * @example
 * await relay.send({ type: 'post' }).catch((err) => {
 *   if (err instanceof SendFailedError) console.error('write failed', err.cause);
 * });
 */
export class SendFailedError extends RelayActorsError {
  constructor(url: string, options?: { cause?: unknown }) {
    super('SEND_FAILED', `Writing to relay ${url} failed.`, {
      ...options,
      delivery: 'not-sent',
    });
  }
}

/**
 * An acknowledged send saw no ack within `ackTimeout`.
 *
 * @example
 * const relay = createRelay('wss://relay.example', { protocol: jsonProtocol({ acks: true }), ackTimeout: 5000 }).start();
 * await relay.waitFor('open');
 * await relay.send({ type: 'post', id: 'm1' }).catch((err) => {
 *   if (err instanceof AckTimeoutError) console.warn('no ack within 5 s');
 * });
 */
export class AckTimeoutError extends RelayActorsError {
  constructor(id: string, ms: number) {
    super('ACK_TIMEOUT', `No ack for message ${id} within ${ms} ms; it was written and may have arrived.`, {
      delivery: 'unknown',
    });
  }
}

/**
 * The relay answered a send with a negative ack.
 *
 * @example
 * await relay.send({ type: 'post', id: 'm1' }, { ack: true }).catch((err) => {
 *   if (err instanceof NackError) console.warn('rejected:', err.reason);
 * });
 */
export class NackError extends RelayActorsError {
  readonly reason: string;
  constructor(id: string, reason: string) {
    super('NACK', `Message ${id} was rejected by the relay: ${reason}`, { delivery: 'unknown' });
    this.reason = reason;
  }
}

/**
 * The connection ended before an acknowledged send was acknowledged. It may or may not have arrived.
 *
 * @example
 * await relay.send({ type: 'post', id: 'm1' }, { ack: true }).catch((err) => {
 *   if (err instanceof ConnectionLostError) console.warn('unknown fate; a pool would re-send it');
 * });
 */
export class ConnectionLostError extends RelayActorsError {
  constructor(url: string, id: string) {
    super(
      'CONNECTION_LOST',
      `The connection to ${url} ended before message ${id} was acknowledged; it may or may not have arrived.`,
      { delivery: 'unknown' },
    );
  }
}

/**
 * The pool's outbox is at its `maxMessages` or `maxBytes` bound: this send was refused, nothing else dropped.
 *
 * @example
 * const pool = createRelayPool({ relays: ['wss://a.example'], outbox: { maxMessages: 100 } }).start();
 * await pool.send({ type: 'post' }).catch((err) => {
 *   if (err instanceof OutboxFullError) console.warn(`outbox full (${err.limit})`); // 'messages' or 'bytes'
 * });
 */
export class OutboxFullError extends RelayActorsError {
  readonly limit: 'messages' | 'bytes';
  constructor(limit: 'messages' | 'bytes', bound: number) {
    super(
      'OUTBOX_FULL',
      `No relay is usable and the outbox is full (${bound} ${limit}): this message was not queued. Retry later or raise outbox.${limit === 'messages' ? 'maxMessages' : 'maxBytes'}.`,
      {
        delivery: 'not-sent',
      },
    );
    this.limit = limit;
  }
}

/**
 * A queued message outlived its `ttl` (`outbox.ttl`) before any relay could take it.
 *
 * @example
 * const pool = createRelayPool({ relays: ['wss://a.example'], outbox: { ttl: 10_000 } }).start();
 * await pool.send({ type: 'post' }).catch((err) => {
 *   if (err instanceof MessageExpiredError) console.warn('no relay within 10 s; not sent');
 * });
 */
export class MessageExpiredError extends RelayActorsError {
  readonly ttlMs: number;
  /** @param delivery - `'unknown'` when it had been written to a relay before (it may have arrived). */
  constructor(ttlMs: number, delivery: Delivery = 'not-sent') {
    super('MESSAGE_EXPIRED', `No relay acknowledged the message within its ttl (${ttlMs} ms): ${FATE[delivery]}`, {
      delivery,
    });
    this.ttlMs = ttlMs;
  }
}

/**
 * No relay was usable for `sessionTimeout`: pending sends are rejected and new ones fail fast until a relay opens.
 *
 * @example
 * const pool = createRelayPool({ relays: ['wss://a.example'], sessionTimeout: 30_000 }).start();
 * await pool.send({ type: 'post' }).catch((err) => {
 *   if (err instanceof SessionTimeoutError) console.warn('no relay for 30 s; the pool keeps retrying');
 * });
 */
export class SessionTimeoutError extends RelayActorsError {
  readonly timeoutMs: number;
  /** @param delivery - `'unknown'` when it had been written to a relay before (it may have arrived). */
  constructor(timeoutMs: number, delivery: Delivery = 'not-sent') {
    super(
      'SESSION_TIMEOUT',
      `No relay has been usable for ${timeoutMs} ms (sessionTimeout): ${FATE[delivery]} The pool keeps retrying and recovers when a relay opens.`,
      { delivery },
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A publish reached no relay. `errors` has each relay's reason.
 *
 * @example
 * try {
 *   const { relays } = await pool.publish({ type: 'post', text: 'hi' });
 *   console.log('taken by', relays);
 * } catch (err) {
 *   if (err instanceof PublishFailedError) for (const { url, error } of err.errors) console.warn(url, error.code);
 * }
 */
export class PublishFailedError extends RelayActorsError {
  readonly errors: ReadonlyArray<{ url: string; error: RelayActorsError }>;
  constructor(errors: ReadonlyArray<{ url: string; error: RelayActorsError }>) {
    // Written to any relay: it may have been delivered there.
    const delivery: Delivery = errors.some((e) => e.error.delivery === 'unknown') ? 'unknown' : 'not-sent';
    super(
      'PUBLISH_FAILED',
      `The message reached no relay: ${errors.map((e) => `${e.url}: ${e.error.message}`).join('; ') || 'no relay was usable'}`,
      { delivery },
    );
    this.errors = errors;
  }
}

/**
 * `removeRelay` (or a per-relay call) named a relay the pool does not have.
 *
 * @example
 * await pool.removeRelay('wss://never-added.example').catch((err) => console.log(err instanceof UnknownRelayError)); // true
 */
export class UnknownRelayError extends RelayActorsError {
  constructor(url: string) {
    super('UNKNOWN_RELAY', `The pool has no relay ${url}.`);
  }
}

/**
 * `waitFor(state, timeoutMs)` gave up: the relay or pool did not reach `state` in time. `state` and `current` say
 * what was awaited and where it stood.
 *
 * @example
 * await relay.waitFor('open', 5000).catch((err) => {
 *   if (err instanceof WaitTimeoutError) console.warn(`still ${err.current} after 5 s`);
 * });
 */
export class WaitTimeoutError extends RelayActorsError {
  readonly state: string;
  readonly current: string;
  constructor(what: string, state: string, current: string, timeoutMs: number) {
    super('WAIT_TIMEOUT', `${what} did not reach "${state}" within ${timeoutMs} ms (it is "${current}").`);
    this.state = state;
    this.current = current;
  }
}

/**
 * `error` with every text `redact` changes replaced: its message, stack and other string properties, and the same
 * for its `cause` (and any errors it holds), recursively. Returns `error` itself when nothing changes; otherwise a
 * copy with the same class, `name` and `code`, leaving the original as it was. Anything that is not an `Error` is
 * returned as it is (strings are redacted).
 *
 * @example
 * const redact = (text: string) => text.replaceAll('hunter2', '***');
 * redactError(new Error('login hunter2 refused'), redact).message; // 'login *** refused'
 */
export function redactError<T>(error: T, redact: (text: string) => string): T {
  return redactValue(error, redact, new Map()) as T;
}

function redactValue(value: unknown, redact: (text: string) => string, seen: Map<object, unknown>): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value) && value.some((v) => v instanceof Error)) {
    const items = value.map((v) => redactValue(v, redact, seen));
    return items.some((v, i) => v !== value[i]) ? items : value;
  }
  if (!(value instanceof Error)) return value;
  if (seen.has(value)) return seen.get(value);
  seen.set(value, value);
  const descriptors = Object.getOwnPropertyDescriptors(value) as Record<PropertyKey, PropertyDescriptor>;
  let changed = false;
  for (const key of Reflect.ownKeys(descriptors)) {
    const d = descriptors[key]!;
    if (!('value' in d)) continue;
    const next = redactValue(d.value, redact, seen);
    if (next !== d.value) [d.value, changed] = [next, true];
  }
  if (!changed) return value;
  const copy: unknown = Object.create(Object.getPrototypeOf(value) as object | null, descriptors);
  seen.set(value, copy);
  return copy;
}

/**
 * The one place relay-actors wraps a failure: `error` itself when it is already a {@link RelayActorsError}, else
 * `wrap(error)` with the error as its `cause`; in both cases passed through {@link redactError} with `redact`, so
 * neither our message nor the cause can carry a secret `redact` knows of (a relay passes its dial URL's).
 *
 * @example
 * try {
 *   socket.send(frame);
 * } catch (error) {
 *   // Our message names the redacted URL; the transport's may name the real one.
 *   throw wrapError(error, (cause) => new SendFailedError(redactUrl(url), { cause }), (text) => text.replaceAll(url, redactUrl(url)));
 * }
 */
export function wrapError(
  error: unknown,
  wrap: (cause: unknown) => RelayActorsError,
  redact: (text: string) => string = (text) => text,
): RelayActorsError {
  return redactError(error instanceof RelayActorsError ? error : wrap(error), redact);
}
