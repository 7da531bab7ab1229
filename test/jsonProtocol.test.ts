import { describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { InvalidOptionError, ProtocolError } from '../core/errors.ts';

const enc = new TextEncoder();

describe('jsonProtocol: decode', () => {
  const p = jsonProtocol();

  it('decodes application messages, with a string id when present', () => {
    expect(p.decode('{"type":"event","id":"e1","n":1}', false)).toEqual({
      kind: 'message',
      message: { type: 'event', id: 'e1', n: 1 },
      id: 'e1',
    });
    expect(p.decode('{"n":1}', false)).toEqual({ kind: 'message', message: { n: 1 } });
    expect(p.decode('{"id":42}', false)).toEqual({ kind: 'message', message: { id: 42 } });
  });

  it('decodes pong, hello-ack and ack control frames', () => {
    expect(p.decode('{"type":"pong","id":"7"}', false)).toEqual({ kind: 'pong', id: '7' });
    expect(p.decode('{"type":"pong","id":7}', false)).toEqual({ kind: 'pong', id: '7' });
    expect(p.decode('{"type":"pong"}', false)).toEqual({ kind: 'pong' });
    expect(p.decode('{"type":"hello-ack","ok":true}', false)).toEqual({ kind: 'hello-ack', ok: true });
    expect(p.decode('{"type":"hello-ack","ok":false,"reason":"bad token"}', false)).toEqual({
      kind: 'hello-ack',
      ok: false,
      reason: 'bad token',
    });
    expect(p.decode('{"type":"ack","id":"e1","ok":true}', false)).toEqual({ kind: 'ack', id: 'e1', ok: true });
    expect(p.decode('{"type":"ack","id":"e1","ok":false,"reason":"rate limited"}', false)).toEqual({
      kind: 'ack',
      id: 'e1',
      ok: false,
      reason: 'rate limited',
    });
  });

  it('ignores a server app-level ping', () => {
    expect(p.decode('{"type":"ping","id":"s1"}', false)).toEqual({ kind: 'ignore' });
  });

  it('rejects control frames with missing fields as MALFORMED', () => {
    expect(p.decode('{"type":"hello-ack"}', false)).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
    expect(p.decode('{"type":"ack","ok":true}', false)).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
    expect(p.decode('{"type":"ack","id":"x","ok":"yes"}', false)).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
  });

  it('never throws: malformed JSON and non-objects are MALFORMED', () => {
    const malformed = p.decode('{"type":', false);
    expect(malformed).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
    expect((malformed as { reason: string }).reason).toMatch(/invalid JSON/);
    for (const text of ['42', '"str"', '[1,2]', 'null', 'true', '']) {
      expect(p.decode(text, false)).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
    }
    expect((p.decode('[1]', false) as { reason: string }).reason).toBe('expected a JSON object, got an array');
  });

  it('rejects binary frames as BINARY', () => {
    expect(p.decode(enc.encode('{"a":1}'), true)).toMatchObject({ kind: 'invalid', code: 'BINARY' });
    expect(p.decode('{"a":1}', true)).toMatchObject({ kind: 'invalid', code: 'BINARY' });
  });

  it('reads a text frame handed over as bytes, and rejects invalid UTF-8', () => {
    expect(p.decode(enc.encode('{"a":1}'), false)).toEqual({ kind: 'message', message: { a: 1 } });
    expect(p.decode(new Uint8Array([0x7b, 0xff, 0x7d]), false)).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
  });

  it('with `types`, rejects unlisted or missing types as UNKNOWN_TYPE but keeps control frames', () => {
    const typed = jsonProtocol({ types: ['event'] });
    expect(typed.decode('{"type":"event"}', false)).toEqual({ kind: 'message', message: { type: 'event' } });
    expect(typed.decode('{"type":"other"}', false)).toEqual({
      kind: 'invalid',
      code: 'UNKNOWN_TYPE',
      reason: 'unknown message type "other"',
    });
    expect(typed.decode('{"n":1}', false)).toMatchObject({ kind: 'invalid', code: 'UNKNOWN_TYPE' });
    expect(typed.decode('{"type":"pong","id":"1"}', false)).toEqual({ kind: 'pong', id: '1' });
    expect(typed.decode('{"type":"ack","id":"1","ok":true}', false)).toMatchObject({ kind: 'ack' });
  });
});

describe('jsonProtocol: encode', () => {
  const p = jsonProtocol();

  it('encodes objects as JSON text', () => {
    expect(p.encode({ type: 'event', id: 'e1', body: 'hi' })).toBe('{"type":"event","id":"e1","body":"hi"}');
  });

  it('throws ProtocolError for non-objects', () => {
    for (const bad of [42, 'text', null, undefined, [1, 2], true]) {
      const error = captureError(() => p.encode(bad as never));
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).detail).toBe('NOT_AN_OBJECT');
      expect((error as ProtocolError).code).toBe('PROTOCOL_ERROR');
    }
    // An object whose toJSON turns it into something else.
    expect(captureError(() => p.encode(new Date(0) as never))).toBeInstanceOf(ProtocolError);
  });

  it('throws ProtocolError for cycles and BigInt, with the cause', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cycle = captureError(() => p.encode(cyclic));
    expect(cycle).toBeInstanceOf(ProtocolError);
    expect((cycle as ProtocolError).detail).toBe('UNENCODABLE');
    expect((cycle as ProtocolError).cause).toBeInstanceOf(TypeError);

    const big = captureError(() => p.encode({ n: 10n }));
    expect(big).toBeInstanceOf(ProtocolError);
    expect((big as ProtocolError).message).toMatch(/BigInt/);
  });

  it('reads message ids', () => {
    expect(p.messageId!({ id: 'm1' })).toBe('m1');
    expect(p.messageId!({ id: 1 })).toBeUndefined();
    expect(p.messageId!({})).toBeUndefined();
  });

  it('builds app-level pings', () => {
    expect(p.ping!('3')).toBe('{"type":"ping","id":"3"}');
    expect(p.decode('{"type":"pong","id":"3"}', false)).toEqual({ kind: 'pong', id: '3' });
  });
});

describe('jsonProtocol: hello, acks, name', () => {
  it('has no hello unless configured; acks default false', () => {
    const p = jsonProtocol();
    expect(p.hello).toBeUndefined();
    expect(p.acks).toBe(false);
    expect(p.name).toBe('json');
    expect(jsonProtocol({ acks: true, name: 'custom' })).toMatchObject({ acks: true, name: 'custom' });
  });

  it('sends a static hello payload', () => {
    const p = jsonProtocol({ hello: { token: 't' } });
    expect(p.hello!()).toBe('{"type":"hello","token":"t"}');
  });

  it('calls a hello function per connection; undefined skips the hello', () => {
    let n = 0;
    const p = jsonProtocol({ hello: () => ({ token: `t${++n}` }) });
    expect(p.hello!()).toBe('{"type":"hello","token":"t1"}');
    expect(p.hello!()).toBe('{"type":"hello","token":"t2"}');
    expect(jsonProtocol({ hello: () => undefined }).hello!()).toBeUndefined();
  });

  it('throws ProtocolError for an unencodable hello', () => {
    const p = jsonProtocol({ hello: () => ({ n: 1n }) });
    expect(captureError(() => p.hello!())).toBeInstanceOf(ProtocolError);
    const q = jsonProtocol({ hello: () => 'nope' as never });
    expect(captureError(() => q.hello!())).toBeInstanceOf(ProtocolError);
  });
});

describe('jsonProtocol: classify', () => {
  it('declares listed close codes fatal and defers everything else', () => {
    const p = jsonProtocol({ fatalCloseCodes: [4001, 4003] });
    expect(p.classify!({ code: 4001, reason: '', wasClean: true })).toEqual({
      action: 'fatal',
      reason: 'close 4001 declared fatal by protocol',
    });
    expect(p.classify!({ code: 4002, reason: '', wasClean: true })).toBeUndefined();
    expect(p.classify!({ code: 1006, reason: '', wasClean: false })).toBeUndefined();
  });

  it('ignores upgrade refusals and closes our runtime decided', () => {
    const p = jsonProtocol({ fatalCloseCodes: [1006] });
    expect(p.classify!({ code: 1006, reason: '', wasClean: false, status: 503 })).toBeUndefined();
    expect(p.classify!({ code: 1006, reason: '', wasClean: false, local: 'heartbeat-timeout' })).toBeUndefined();
    expect(p.classify!({ code: 1006, reason: '', wasClean: false })).toMatchObject({ action: 'fatal' });
  });

  it('defers everything without fatalCloseCodes', () => {
    expect(jsonProtocol().classify!({ code: 4001, reason: '', wasClean: true })).toBeUndefined();
  });
});

describe('jsonProtocol: options', () => {
  it('validates its options with InvalidOptionError', () => {
    expect(() => jsonProtocol({ hello: 5 as never })).toThrow(InvalidOptionError);
    expect(() => jsonProtocol({ acks: 'yes' as never })).toThrow(InvalidOptionError);
    expect(() => jsonProtocol({ types: 'event' as never })).toThrow(InvalidOptionError);
    expect(() => jsonProtocol({ types: [1] as never })).toThrow(InvalidOptionError);
    expect(() => jsonProtocol({ fatalCloseCodes: [99] })).toThrow(InvalidOptionError);
    expect(() => jsonProtocol({ name: '' })).toThrow(InvalidOptionError);
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
