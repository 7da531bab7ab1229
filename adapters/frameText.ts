/**
 * Reading a text protocol's frame: both protocols speak text frames only, and a text frame may arrive as bytes.
 */
import type { Decoded, Frame } from '../core/contract.ts';

/**
 * The frame's text, or the `invalid` verdict for frames that carry none: a binary frame (`BINARY`, with
 * `binaryReason`) or bytes that are not UTF-8 (`MALFORMED`).
 *
 * @example
 * frameText('["EOSE","s"]', false, 'text only'); // '["EOSE","s"]'
 * frameText(new Uint8Array([0xff]), false, 'text only'); // { kind: 'invalid', code: 'MALFORMED', ... }
 */
export function frameText(data: Frame, isBinary: boolean, binaryReason: string): string | Decoded<never> {
  if (isBinary) return { kind: 'invalid', code: 'BINARY', reason: binaryReason };
  if (typeof data === 'string') return data;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return { kind: 'invalid', code: 'MALFORMED', reason: 'text frame is not valid UTF-8' };
  }
}
