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
  | 'SESSION_TIMEOUT';

/** Base class of every error relay-actors raises. */
export class RelayActorsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option was missing, of the wrong type or out of range. `option` names it (dotted path). */
export class InvalidOptionError extends RelayActorsError {
  readonly option: string;
  constructor(option: string, problem: string) {
    super('INVALID_OPTION', `Invalid option "${option}": ${problem}`);
    this.option = option;
  }
}

/** A send was attempted while the relay could not take it. `state` is the relay state at the time. */
export class NotOpenError extends RelayActorsError {
  readonly state: string;
  constructor(url: string, state: string) {
    super('NOT_OPEN', `Relay ${url} is ${state}, not open: the message was not sent. Wait for "open" or use a pool, which queues.`);
    this.state = state;
  }
}

/** The relay or pool was stopped; it takes no more work. */
export class StoppedError extends RelayActorsError {
  constructor(what: string) {
    super('STOPPED', `${what} has been stopped and takes no more work. Create a new one.`);
  }
}

/** A relay gave up: a fatal close or its attempts ran out. `retry()` starts it again. */
export class RelayFailedError extends RelayActorsError {
  readonly reason: string;
  constructor(url: string, reason: string) {
    super('RELAY_FAILED', `Relay ${url} failed (${reason}); call retry() to try again.`);
    this.reason = reason;
  }
}

/** A frame could not be encoded or decoded. `detail` says which rule it broke. */
export class ProtocolError extends RelayActorsError {
  readonly detail: string;
  constructor(message: string, detail = 'MALFORMED', options?: { cause?: unknown }) {
    super('PROTOCOL_ERROR', message, options);
    this.detail = detail;
  }
}

/** An inbound frame was larger than `maxPayload`; the socket was closed with 1009 and will reconnect. */
export class FrameTooLargeError extends RelayActorsError {
  constructor(url: string, maxPayload: number) {
    super('FRAME_TOO_LARGE', `Relay ${url} sent a frame over maxPayload (${maxPayload} bytes); the connection was closed (1009).`);
  }
}

/** The socket refused the write. */
export class SendFailedError extends RelayActorsError {
  constructor(url: string, options?: { cause?: unknown }) {
    super('SEND_FAILED', `Writing to relay ${url} failed.`, options);
  }
}

/** An acknowledged send saw no ack in time. */
export class AckTimeoutError extends RelayActorsError {
  constructor(id: string, ms: number) {
    super('ACK_TIMEOUT', `No ack for message ${id} within ${ms} ms.`);
  }
}

/** The relay answered a send with a negative ack. */
export class NackError extends RelayActorsError {
  readonly reason: string;
  constructor(id: string, reason: string) {
    super('NACK', `Message ${id} was rejected by the relay: ${reason}`);
    this.reason = reason;
  }
}

/** The connection ended before an acknowledged send was acknowledged. It may or may not have arrived. */
export class ConnectionLostError extends RelayActorsError {
  constructor(url: string, id: string) {
    super('CONNECTION_LOST', `The connection to ${url} ended before message ${id} was acknowledged; it may not have arrived.`);
  }
}
