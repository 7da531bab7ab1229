/**
 * The default wire protocol: one JSON object per text frame. A handful of `type`s are reserved for control
 * frames (app-level ping/pong, the hello handshake, acks); everything else is application data.
 *
 * | direction | frame                                              | meaning                         |
 * |-----------|----------------------------------------------------|---------------------------------|
 * | out       | `{"type":"ping","id":ID}`                          | app-level ping                  |
 * | in        | `{"type":"pong","id":ID}`                          | its answer → `pong`             |
 * | out       | `{"type":"hello",...payload}`                      | hello, when configured          |
 * | in        | `{"type":"hello-ack","ok":bool,"reason"?:string}`  | its answer → `hello-ack`        |
 * | in        | `{"type":"ack","id":ID,"ok":bool,"reason"?:string}`| ack of message ID → `ack`       |
 * | in        | `{"type":"ping","id":ID}`                          | server app-ping → `ignore`      |
 * | out       | `{"type":"subscribe","id":S,"filter":F,"since"?:ms}`| subscription S (pool)          |
 * | out       | `{"type":"unsubscribe","id":S}`                    | its end                         |
 * | in        | `{...message,"sub":S,"ts"?:ms}`                    | message for subscription S      |
 * | in        | `{"type":"eose","sub":S}`                          | stored messages sent → `eose`   |
 * | in        | `{"type":"closed","sub":S,"reason":R}`             | server ended S → `closed`       |
 * | in        | `{"type":"notice","text":T}`                       | server notice → `notice`        |
 */
import { InvalidOptionError, ProtocolError } from '../core/errors.ts';
import type { ClassifierVerdict, Decoded, DisconnectInfo, Frame, Protocol } from '../core/contract.ts';
import { frameText } from './frameText.ts';

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object: what this protocol sends and receives. */
export type JsonObject = { [key: string]: unknown };

/** Options of {@link jsonProtocol}. */
export interface JsonProtocolOptions {
  /**
   * Hello payload sent on every open, as `{"type":"hello",...payload}` (a `type` in the payload wins). A function
   * is called per connection (fresh tokens); returning `undefined` skips the hello for that connection. When set,
   * the relay is `open` only after a `hello-ack`. Default: no hello.
   */
  hello?: JsonObject | (() => JsonObject | undefined);
  /** Whether the peer acks messages that carry a string `id` (`{"type":"ack","id","ok"}`). Default `false`. */
  acks?: boolean;
  /**
   * Accepted application message types. When set, inbound messages whose `type` is not listed (or missing)
   * decode as `{ kind: 'invalid', code: 'UNKNOWN_TYPE' }`. Control frames are always understood. Default: any.
   */
  types?: readonly string[];
  /** Close codes that end the relay for good (`classify` answers `fatal`). Default none. */
  fatalCloseCodes?: readonly number[];
  /** Protocol name for telemetry. Default `'json'`. */
  name?: string;
}

const RESERVED = new Set(['ping', 'pong', 'hello-ack', 'ack', 'eose', 'closed', 'notice']);

/**
 * A {@link Protocol} of JSON objects in text frames.
 *
 * - `decode` never throws: malformed JSON, JSON that is not an object (number, string, array, `null`) →
 *   `invalid`/`MALFORMED`; binary frames → `invalid`/`BINARY`; control frames with missing fields (a `hello-ack`
 *   or `ack` without a boolean `ok`, an `ack` without an `id`) → `invalid`/`MALFORMED`. A server's own app-level
 *   `ping` decodes as `ignore`: this version does not answer it.
 * - Message ids for dedupe and acks come from a string `id` field; a string `sub` names the subscription a message
 *   answers and a numeric `ts` (ms since the epoch) is its time, used to resume with `since` after a reconnect.
 * - `encode` accepts objects only and throws a `ProtocolError` (`detail` `NOT_AN_OBJECT` or `UNENCODABLE`) for
 *   anything else, for cycles and for `BigInt`s.
 *
 * @param options - see {@link JsonProtocolOptions}; default: no hello, no acks, any type, no fatal codes.
 * @returns A protocol named `json`.
 * @example
 * const protocol = jsonProtocol({ hello: () => ({ token: getToken() }), acks: true, types: ['event', 'notice'] });
 * protocol.encode({ type: 'event', id: 'e1', body: 'hi' }); // '{"type":"event","id":"e1","body":"hi"}'
 * protocol.decode('{"type":"ack","id":"e1","ok":true}', false); // { kind: 'ack', id: 'e1', ok: true }
 */
export function jsonProtocol<Out extends object = JsonObject, In extends object = JsonObject>(
  options: JsonProtocolOptions = {},
): Protocol<Out, In> {
  validate(options);
  const types = options.types ? new Set(options.types) : undefined;
  const fatal = new Set(options.fatalCloseCodes ?? []);
  const helloOption = options.hello;

  const protocol: Protocol<Out, In> = {
    name: options.name ?? 'json',
    acks: options.acks ?? false,

    encode(message: Out): Frame {
      return encodeObject(message, 'message');
    },

    decode(data: Frame, isBinary: boolean): Decoded<In> {
      return decodeFrame<In>(data, isBinary, types);
    },

    subscribe(id: string, request: unknown, resume?: { since: number }): Frame {
      return encodeObject(
        { type: 'subscribe', id, filter: request ?? {}, ...(resume ? { since: resume.since } : {}) },
        'subscription',
      );
    },

    unsubscribe(id: string): Frame {
      return JSON.stringify({ type: 'unsubscribe', id });
    },

    messageId(message: Out): string | undefined {
      const id = isObject(message) ? message.id : undefined;
      return typeof id === 'string' ? id : undefined;
    },

    ping(id: string): Frame {
      return JSON.stringify({ type: 'ping', id });
    },

    classify(info: DisconnectInfo): ClassifierVerdict | undefined {
      return classifyClose(info, fatal);
    },
  };

  if (helloOption !== undefined) protocol.hello = (): Frame | undefined => helloFrame(helloOption);
  return protocol;
}

/** Builds the hello frame of one connection, or `undefined` when the hello function skips it. */
function helloFrame(hello: NonNullable<JsonProtocolOptions['hello']>): Frame | undefined {
  const payload = typeof hello === 'function' ? hello() : hello;
  if (payload === undefined) return undefined;
  if (!isObject(payload))
    throw new ProtocolError(`jsonProtocol: hello must be an object, got ${kindOf(payload)}`, 'NOT_AN_OBJECT');
  return encodeObject({ type: 'hello', ...payload }, 'hello');
}

/** `fatal` for a code declared fatal, when the peer chose the close: not an upgrade refusal, not our runtime's close. */
function classifyClose(info: DisconnectInfo, fatal: ReadonlySet<number>): ClassifierVerdict | undefined {
  if (info.status !== undefined || info.local !== undefined) return undefined;
  if (fatal.has(info.code)) return { action: 'fatal', reason: `close ${info.code} declared fatal by protocol` };
  return undefined;
}

/** One inbound frame: a control frame by its reserved `type`, anything else an application message. Never throws. */
function decodeFrame<In>(data: Frame, isBinary: boolean, types: ReadonlySet<string> | undefined): Decoded<In> {
  const text = frameText(data, isBinary, 'binary frame: jsonProtocol reads text frames only');
  if (typeof text !== 'string') return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'invalid', code: 'MALFORMED', reason: `invalid JSON: ${(error as Error).message}` };
  }
  if (!isObject(value))
    return { kind: 'invalid', code: 'MALFORMED', reason: `expected a JSON object, got ${kindOf(value)}` };

  const type = value.type;
  if (typeof type === 'string' && RESERVED.has(type)) return decodeControl(type, value);
  if (types && (typeof type !== 'string' || !types.has(type))) {
    return {
      kind: 'invalid',
      code: 'UNKNOWN_TYPE',
      reason: typeof type === 'string' ? `unknown message type "${type}"` : 'message has no string "type"',
    };
  }
  return decodeMessage<In>(value);
}

/** An application message, with the id, subscription and time it names (see {@link jsonProtocol}). */
function decodeMessage<In>(value: JsonObject): Decoded<In> {
  const decoded: Decoded<In> = { kind: 'message', message: value as In };
  if (typeof value.id === 'string') decoded.id = value.id;
  if (typeof value.sub === 'string') decoded.subscription = value.sub;
  if (typeof value.ts === 'number' && Number.isFinite(value.ts)) decoded.timestamp = value.ts;
  return decoded;
}

function decodeControl<In>(type: string, value: JsonObject): Decoded<In> {
  const reason = typeof value.reason === 'string' ? value.reason : undefined;
  switch (type) {
    case 'pong': {
      const id = idOf(value.id);
      return id === undefined ? { kind: 'pong' } : { kind: 'pong', id };
    }
    case 'hello-ack':
      if (typeof value.ok !== 'boolean')
        return { kind: 'invalid', code: 'MALFORMED', reason: 'hello-ack without a boolean "ok"' };
      return reason === undefined ? { kind: 'hello-ack', ok: value.ok } : { kind: 'hello-ack', ok: value.ok, reason };
    case 'ack': {
      const id = idOf(value.id);
      if (id === undefined) return { kind: 'invalid', code: 'MALFORMED', reason: 'ack without an "id"' };
      if (typeof value.ok !== 'boolean')
        return { kind: 'invalid', code: 'MALFORMED', reason: 'ack without a boolean "ok"' };
      return reason === undefined ? { kind: 'ack', id, ok: value.ok } : { kind: 'ack', id, ok: value.ok, reason };
    }
    case 'eose':
    case 'closed': {
      if (typeof value.sub !== 'string')
        return { kind: 'invalid', code: 'MALFORMED', reason: `${type} without a string "sub"` };
      return type === 'eose'
        ? { kind: 'eose', subscription: value.sub }
        : { kind: 'closed', subscription: value.sub, reason: reason ?? '' };
    }
    case 'notice':
      return { kind: 'notice', text: typeof value.text === 'string' ? value.text : JSON.stringify(value) };
    default:
      // 'ping' from the server: understood, not answered in this version.
      return { kind: 'ignore' };
  }
}

/** Ids are strings on our side; a peer that echoes a numeric id still matches. */
function idOf(id: unknown): string | undefined {
  if (typeof id === 'string') return id;
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return undefined;
}

function encodeObject(message: unknown, what: string): string {
  if (!isObject(message)) {
    throw new ProtocolError(
      `jsonProtocol can only encode JSON objects; the ${what} is ${kindOf(message)}`,
      'NOT_AN_OBJECT',
    );
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(message);
  } catch (error) {
    const why = (error as Error)?.message ?? String(error);
    throw new ProtocolError(`jsonProtocol could not encode the ${what}: ${why}`, 'UNENCODABLE', { cause: error });
  }
  // A toJSON() may turn an object into something else (a Date becomes a string).
  if (typeof text !== 'string' || !text.startsWith('{')) {
    throw new ProtocolError(
      `jsonProtocol can only encode JSON objects; the ${what} serialises to ${text === undefined ? 'nothing' : 'a non-object'}`,
      'NOT_AN_OBJECT',
    );
  }
  return text;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function validate(options: JsonProtocolOptions): void {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('protocol', 'jsonProtocol options must be an object');
  const { hello, acks, types, fatalCloseCodes, name } = options;
  if (hello !== undefined && typeof hello !== 'function' && !isObject(hello)) {
    throw new InvalidOptionError('protocol.hello', 'expected an object or a function returning one');
  }
  if (acks !== undefined && typeof acks !== 'boolean')
    throw new InvalidOptionError('protocol.acks', 'expected a boolean');
  if (types !== undefined && (!Array.isArray(types) || types.some((t) => typeof t !== 'string'))) {
    throw new InvalidOptionError('protocol.types', 'expected an array of strings');
  }
  if (
    fatalCloseCodes !== undefined &&
    (!Array.isArray(fatalCloseCodes) || fatalCloseCodes.some((c) => !Number.isInteger(c) || c < 1000 || c > 4999))
  ) {
    throw new InvalidOptionError('protocol.fatalCloseCodes', 'expected an array of close codes (integers 1000–4999)');
  }
  if (name !== undefined && (typeof name !== 'string' || name === ''))
    throw new InvalidOptionError('protocol.name', 'expected a non-empty string');
}
