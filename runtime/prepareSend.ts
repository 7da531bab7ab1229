/**
 * Send preparation, shared by a relay's `send` and a pool's: the frame the protocol encodes, the message id it
 * reads, whether the send waits for an ack, and the errors when it cannot (`ENCODE`, `NO_ID`). One place, so both
 * paths refuse the same messages with the same words.
 */
import type { Frame, Protocol } from '../core/contract.ts';
import { ProtocolError, RelayActorsError, wrapError } from '../core/errors.ts';

/** What preparing a send reads of a protocol. */
type SendProtocol<Out> = Pick<Protocol<Out>, 'encode' | 'messageId' | 'acks'>;

/** A message ready to write: its frame, its id (if the protocol reads one) and whether the send waits for an ack. */
export interface PreparedSend {
  frame: Frame;
  id: string | undefined;
  wantAck: boolean;
}

/** Keeps a text as it is: for callers with no URL secrets to hide. */
const asIs = (text: string): string => text;

/**
 * Encodes `message` with `protocol`; an encoder that throws becomes a `ProtocolError` `ENCODE` (returned, not
 * thrown: callers reject a promise with it). `redact` hides a relay URL's secrets in the error.
 *
 * @example
 * const frame = encodeMessage(jsonProtocol(), { type: 'hello' }); // '{"type":"hello"}'
 * if (frame instanceof RelayActorsError) return Promise.reject(frame);
 */
export function encodeMessage<Out>(
  protocol: SendProtocol<Out>,
  message: Out,
  redact: (text: string) => string = asIs,
): Frame | RelayActorsError {
  try {
    return protocol.encode(message);
  } catch (error) {
    return wrapError(error, encodeError, redact);
  }
}

function encodeError(cause: unknown): RelayActorsError {
  const detail = String((cause as Error)?.message ?? cause);
  return new ProtocolError(`Could not encode the message: ${detail}`, 'ENCODE', { cause });
}

/**
 * Prepares one send: encodes `message`, reads its id and decides whether to wait for an ack (`ack`, or by default
 * when the protocol acks and the message has an id). Returns the error instead when the message cannot be encoded
 * (`ENCODE`) or an acked send has no id (`NO_ID`).
 *
 * @example
 * const prepared = prepareSend(jsonProtocol({ acks: true }), { type: 'post', id: 'm1' }, undefined);
 * // { frame: '{"type":"post","id":"m1"}', id: 'm1', wantAck: true }
 * prepareSend(jsonProtocol(), { type: 'post' }, true); // ProtocolError NO_ID
 */
export function prepareSend<Out>(
  protocol: SendProtocol<Out>,
  message: Out,
  ack: boolean | undefined,
  redact: (text: string) => string = asIs,
): PreparedSend | RelayActorsError {
  const frame = encodeMessage(protocol, message, redact);
  if (frame instanceof RelayActorsError) return frame;
  const id = protocol.messageId?.(message);
  const wantAck = ack ?? (protocol.acks === true && id !== undefined);
  if (wantAck && id === undefined)
    return new ProtocolError('An acknowledged send needs a message id (protocol.messageId returned none).', 'NO_ID');
  return { frame, id, wantAck };
}
