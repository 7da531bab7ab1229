/** nostrProtocol as pure functions: encode, decode, subscribe with `since`, classifyRejection, authenticate. */
import { finalizeEvent, generateSecretKey, getEventHash, getPublicKey, verifyEvent } from 'nostr-tools/pure';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nostrProtocol, type NostrEvent, type NostrEventTemplate } from '../adapters/nostrProtocol.ts';
import { InvalidOptionError, ProtocolError } from '../core/errors.ts';

const secretKey = generateSecretKey();
const enc = new TextEncoder();

/** A signed event as plain data: nostr-tools marks its events with a symbol key that `toEqual` would compare. */
function signed(template: Partial<NostrEventTemplate> = {}): NostrEvent {
  const { id, pubkey, created_at, kind, tags, content, sig } = finalizeEvent(
    { kind: 1, created_at: 1_700_000_000, tags: [], content: 'hello', ...template },
    secretKey,
  );
  return { id, pubkey, created_at, kind, tags, content, sig };
}

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('nostrProtocol: options', () => {
  it('has the Nostr shape: acks, no ping, no hello, authenticate only with a signer', () => {
    const p = nostrProtocol();
    expect(p.name).toBe('nostr');
    expect(p.acks).toBe(true);
    expect(p.ping).toBeUndefined();
    expect(p.hello).toBeUndefined();
    expect(p.authenticate).toBeUndefined();
    expect(nostrProtocol({ signer: (t) => finalizeEvent(t, secretKey) }).authenticate).toBeTypeOf('function');
    expect(nostrProtocol({ name: 'damus' }).name).toBe('damus');
  });

  it('rejects bad options with InvalidOptionError naming the option', () => {
    const bad: Array<[unknown, string]> = [
      [null, 'protocol'],
      [{ signer: 'key' }, 'protocol.signer'],
      [{ verify: 'yes' }, 'protocol.verify'],
      [{ resumeOverlap: -1 }, 'protocol.resumeOverlap'],
      [{ resumeOverlap: Number.NaN }, 'protocol.resumeOverlap'],
      [{ name: '' }, 'protocol.name'],
    ];
    for (const [options, option] of bad) {
      const error = captureError(() => nostrProtocol(options as never));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe(option);
    }
  });
});

describe('nostrProtocol: encode', () => {
  const p = nostrProtocol();

  it('sends ["EVENT", event] with the seven NIP-01 fields only; the message id is the event id', () => {
    const event = signed();
    expect(JSON.parse(p.encode(event) as string)).toEqual(['EVENT', event]);
    const extra = { ...event, seenOn: ['wss://x'] } as NostrEvent;
    expect(JSON.parse(p.encode(extra) as string)).toEqual(['EVENT', event]);
    expect(p.messageId?.(event)).toBe(event.id);
  });

  it('throws ProtocolError NOT_AN_EVENT for anything but a well-formed signed event', () => {
    const event = signed();
    const bad: unknown[] = [
      null,
      'text',
      [event],
      { kind: 1, created_at: 1, tags: [], content: 'unsigned' },
      { ...event, id: 'abc' },
      { ...event, id: event.id.toUpperCase() },
      { ...event, sig: event.sig.slice(2) },
      { ...event, created_at: 1.5 },
      { ...event, kind: -1 },
      { ...event, tags: [['e', 1]] },
      { ...event, content: 42 },
    ];
    for (const value of bad) {
      const error = captureError(() => p.encode(value as NostrEvent));
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).detail).toBe('NOT_AN_EVENT');
      expect((error as ProtocolError).code).toBe('PROTOCOL_ERROR');
    }
  });
});

describe('nostrProtocol: decode', () => {
  const p = nostrProtocol();
  const event = signed({ created_at: 1_700_000_123 });

  it('reads EVENT as a message with id, subscription and timestamp in ms', () => {
    expect(p.decode(JSON.stringify(['EVENT', 'sub1', event]), false)).toEqual({
      kind: 'message',
      message: event,
      id: event.id,
      subscription: 'sub1',
      timestamp: 1_700_000_123_000,
    });
  });

  it('reads OK, EOSE, CLOSED, NOTICE and AUTH', () => {
    expect(p.decode(JSON.stringify(['OK', event.id, true, '']), false)).toEqual({
      kind: 'ack',
      id: event.id,
      ok: true,
      reason: '',
    });
    expect(p.decode(JSON.stringify(['OK', event.id, false, 'blocked: no']), false)).toEqual({
      kind: 'ack',
      id: event.id,
      ok: false,
      reason: 'blocked: no',
    });
    expect(p.decode('["EOSE","sub1"]', false)).toEqual({ kind: 'eose', subscription: 'sub1' });
    expect(p.decode('["CLOSED","sub1","auth-required: log in"]', false)).toEqual({
      kind: 'closed',
      subscription: 'sub1',
      reason: 'auth-required: log in',
    });
    expect(p.decode('["NOTICE","slow down"]', false)).toEqual({ kind: 'notice', text: 'slow down' });
    expect(p.decode('["AUTH","challenge-1"]', false)).toEqual({ kind: 'auth', challenge: 'challenge-1' });
  });

  it('reads a text frame handed over as bytes', () => {
    expect(p.decode(enc.encode('["EOSE","s"]'), false)).toEqual({ kind: 'eose', subscription: 's' });
    expect(p.decode(new Uint8Array([0x5b, 0xff, 0x5d]), false)).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
  });

  it('never throws: bad JSON, non-arrays, wrong arity and wrong field types are MALFORMED', () => {
    const frames = [
      '["EVENT",',
      '',
      '{"type":"EVENT"}',
      '42',
      'null',
      '[]',
      '[1,"x"]',
      '["EOSE"]',
      '["EOSE","s","extra"]',
      '["OK","id",true]',
      '["OK","id","yes",""]',
      '["OK",1,true,""]',
      '["CLOSED","s"]',
      '["CLOSED","s",7]',
      '["NOTICE"]',
      '["NOTICE",{"text":"x"}]',
      '["AUTH",{"id":"x"}]',
      '["EVENT","s"]',
      '["EVENT",1,{}]',
      JSON.stringify(['EVENT', 'sub1', { ...event, id: 'short' }]),
      JSON.stringify(['EVENT', 'sub1', { ...event, tags: 'none' }]),
      JSON.stringify(['EVENT', 'sub1', event, 'extra']),
    ];
    for (const frame of frames) {
      expect(p.decode(frame, false), frame).toMatchObject({ kind: 'invalid', code: 'MALFORMED' });
    }
  });

  it('rejects binary frames as BINARY and unknown verbs as UNKNOWN_TYPE', () => {
    expect(p.decode(enc.encode('["EOSE","s"]'), true)).toMatchObject({ kind: 'invalid', code: 'BINARY' });
    expect(p.decode('["COUNT","s",{"count":1}]', false)).toEqual({
      kind: 'invalid',
      code: 'UNKNOWN_TYPE',
      reason: 'unknown message type "COUNT"',
    });
  });
});

/** `event` claimed by `pubkey`: its id recomputed (so the id check passes), its signature left as it was. */
function claimedBy(event: NostrEvent, pubkey: string): NostrEvent {
  const claimed = { ...event, pubkey };
  return { ...claimed, id: getEventHash(claimed) };
}

const frame = (event: unknown, sub = 's') => JSON.stringify(['EVENT', sub, event]);

describe('nostrProtocol: verification (default on)', () => {
  const p = nostrProtocol();
  const event = signed({ content: 'genuine' });
  const mallory = generateSecretKey();

  it('delivers an event whose id and signature verify', () => {
    expect(p.decode(frame(event), false)).toMatchObject({ kind: 'message', id: event.id, message: event });
  });

  it('drops a tampered event (its id is not the hash of its content) as BAD_ID', () => {
    const tampered = { ...event, content: 'changed' };
    const decoded = p.decode(frame(tampered, 'feed'), false);
    expect(decoded).toMatchObject({ kind: 'invalid', code: 'BAD_ID' });
    expect((decoded as { reason: string }).reason).toContain(
      `"feed" carries event ${event.id} whose id is not the sha256`,
    );
    expect(p.decode(frame({ ...event, created_at: event.created_at + 1 }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_ID',
    });
    expect(p.decode(frame({ ...event, tags: [['p', event.pubkey]] }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_ID',
    });
  });

  it('drops a forged event (its signature is not by its pubkey) as BAD_SIGNATURE', () => {
    // Mallory signs a note, then claims it is ours: the id matches the content, the signature is hers.
    const forged = claimedBy(
      finalizeEvent({ kind: 1, created_at: 1_700_000_000, tags: [], content: 'I owe Mallory 1 BTC' }, mallory),
      event.pubkey,
    );
    const decoded = p.decode(frame(forged), false);
    expect(decoded).toMatchObject({ kind: 'invalid', code: 'BAD_SIGNATURE' });
    expect((decoded as { reason: string }).reason).toContain('whose signature does not verify for its pubkey (forged)');
    // Another event's signature, and a signature of the right length that is no signature at all.
    expect(p.decode(frame({ ...event, sig: signed({ content: 'other' }).sig }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_SIGNATURE',
    });
    expect(p.decode(frame({ ...event, sig: 'f'.repeat(128) }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_SIGNATURE',
    });
    // A pubkey that is not a point of the curve: the check fails, decode does not throw.
    expect(p.decode(frame(claimedBy(event, 'f'.repeat(64))), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_SIGNATURE',
    });
  });

  it('an event seen before is still checked: the same id with another signature or content is dropped', () => {
    const fresh = nostrProtocol();
    const seen = signed({ content: 'seen twice' });
    expect(fresh.decode(frame(seen), false)).toMatchObject({ kind: 'message' });
    expect(fresh.decode(frame(seen, 'other-relay'), false)).toMatchObject({ kind: 'message', id: seen.id });
    expect(fresh.decode(frame({ ...seen, sig: signed({ content: 'x' }).sig }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_SIGNATURE',
    });
    expect(fresh.decode(frame({ ...seen, content: 'seen thrice' }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_ID',
    });
  });

  it('verify: false trusts the relay: a forged event with a valid shape is delivered', () => {
    const trusting = nostrProtocol({ verify: false });
    expect(trusting.decode(frame({ ...event, content: 'changed' }), false)).toMatchObject({ kind: 'message' });
    expect(trusting.decode(frame({ ...event, sig: 'f'.repeat(128) }), false)).toMatchObject({ kind: 'message' });
    expect(trusting.decode(frame({ ...event, sig: 'F'.repeat(128) }), false)).toMatchObject({
      kind: 'invalid',
      code: 'MALFORMED',
    });
    expect(nostrProtocol({ verify: true }).decode(frame({ ...event, content: 'changed' }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_ID',
    });
  });

  it('a custom verify decides instead; what it rejects, or what makes it throw, is dropped as BAD_SIGNATURE', () => {
    const withNostrTools = nostrProtocol({ verify: verifyEvent });
    expect(withNostrTools.decode(frame(event), false)).toMatchObject({ kind: 'message', id: event.id });
    expect(withNostrTools.decode(frame({ ...event, content: 'changed' }), false)).toMatchObject({
      kind: 'invalid',
      code: 'BAD_SIGNATURE',
    });
    const seen: NostrEvent[] = [];
    const allowAll = nostrProtocol({ verify: (e) => (seen.push(e), true) });
    expect(allowAll.decode(frame({ ...event, content: 'changed' }), false)).toMatchObject({ kind: 'message' });
    expect(seen.map((e) => e.content)).toEqual(['changed']);
    const throwing = nostrProtocol({
      verify: () => {
        throw new Error('boom');
      },
    });
    expect(throwing.decode(frame(event), false)).toMatchObject({ kind: 'invalid', code: 'BAD_SIGNATURE' });
  });
});

describe('nostrProtocol: subscriptions', () => {
  const p = nostrProtocol();

  it('opens with ["REQ", id, ...filters] and closes with ["CLOSE", id]', () => {
    expect(JSON.parse(p.subscribe!('s1', { kinds: [1], limit: 5 }) as string)).toEqual([
      'REQ',
      's1',
      { kinds: [1], limit: 5 },
    ]);
    expect(JSON.parse(p.subscribe!('s2', [{ kinds: [1] }, { '#e': ['x'] }]) as string)).toEqual([
      'REQ',
      's2',
      { kinds: [1] },
      { '#e': ['x'] },
    ]);
    expect(JSON.parse(p.unsubscribe!('s1') as string)).toEqual(['CLOSE', 's1']);
  });

  it('resumes with since = max(filter.since, floor(resume.since / 1000) - overlap), without touching the filters', () => {
    const filters = [{ kinds: [1] }, { kinds: [7], since: 1_700_000_100 }, { kinds: [0], since: 1_600_000_000 }];
    const frame = p.subscribe!('s', filters, { since: 1_700_000_050_999 });
    expect(JSON.parse(frame as string)).toEqual([
      'REQ',
      's',
      { kinds: [1], since: 1_700_000_045 },
      { kinds: [7], since: 1_700_000_100 },
      { kinds: [0], since: 1_700_000_045 },
    ]);
    expect(filters[0]).toEqual({ kinds: [1] });
    const exact = nostrProtocol({ resumeOverlap: 0 }).subscribe!('s', { kinds: [1] }, { since: 1_700_000_050_999 });
    expect(JSON.parse(exact as string)).toEqual(['REQ', 's', { kinds: [1], since: 1_700_000_050 }]);
    // Nothing datable seen: subscribe afresh rather than fail the reconnect.
    expect(JSON.parse(p.subscribe!('s', { kinds: [1] }, { since: Number.NaN }) as string)).toEqual([
      'REQ',
      's',
      { kinds: [1] },
    ]);
  });

  it('throws ProtocolError for a bad id, no filter or a non-object filter', () => {
    expect((captureError(() => p.subscribe!('', {})) as ProtocolError).detail).toBe('BAD_SUBSCRIPTION_ID');
    expect((captureError(() => p.subscribe!('s', [])) as ProtocolError).detail).toBe('NO_FILTER');
    expect((captureError(() => p.subscribe!('s', [{}, 3 as never])) as ProtocolError).detail).toBe('NOT_A_FILTER');
  });
});

describe('nostrProtocol: classifyRejection', () => {
  const p = nostrProtocol();
  const cases: Array<[string, string]> = [
    ['auth-required: we only accept events from registered users', 'reauth'],
    ['duplicate: already have this event', 'ok'],
    ['mute: no one was listening', 'ok'],
    ['blocked: you are banned', 'fatal'],
    ['invalid: event creation date is too far off', 'fatal'],
    ['pow: difficulty 26 is less than 30', 'fatal'],
    ['restricted: not allowed to write', 'fatal'],
    ['unsupported: filter contains unknown elements', 'fatal'],
    ['rate-limited: slow down', 'retry'],
    ['error: could not connect to the database', 'retry'],
    ['something went wrong', 'retry'],
    ['', 'retry'],
    ['  Auth-Required: case and spaces', 'reauth'],
  ];
  it.each(cases)('%j → %s', (reason, action) => {
    expect(p.classifyRejection?.(reason)).toBe(action);
  });
});

describe('nostrProtocol: authenticate (NIP-42)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('signs the kind-22242 template and returns the AUTH frame and the event id', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_500, toFake: ['Date'] });
    const templates: NostrEventTemplate[] = [];
    const p = nostrProtocol({
      signer: async (t) => {
        // finalizeEvent completes the template in place: keep what we were given.
        templates.push({ ...t });
        return finalizeEvent(t, secretKey);
      },
    });
    const answer = await p.authenticate!('chal-1', 'wss://relay.example.com');
    expect(templates).toEqual([
      {
        kind: 22242,
        created_at: 1_700_000_000,
        tags: [
          ['relay', 'wss://relay.example.com'],
          ['challenge', 'chal-1'],
        ],
        content: '',
      },
    ]);
    const [verb, event] = JSON.parse(answer.frame as string) as [string, NostrEvent];
    expect(verb).toBe('AUTH');
    expect(event.id).toBe(answer.id);
    expect(event.pubkey).toBe(getPublicKey(secretKey));
    expect(verifyEvent(event)).toBe(true);
  });

  it('accepts a synchronous signer and keeps credentials out of the signed relay tag', async () => {
    const p = nostrProtocol({ signer: (t) => finalizeEvent(t, secretKey) });
    const answer = await p.authenticate!('c', 'wss://user:secret@relay.example.com/path?x=1');
    const [, event] = JSON.parse(answer.frame as string) as [string, NostrEvent];
    expect(event.tags).toEqual([
      ['relay', 'wss://relay.example.com/path?x=1'],
      ['challenge', 'c'],
    ]);
  });

  it('rejects with a typed error when the signer fails or returns something unsigned', async () => {
    const failing = nostrProtocol({
      signer: () => {
        throw new Error('user declined');
      },
    });
    await expect(failing.authenticate!('c', 'wss://r')).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      detail: 'SIGNER_FAILED',
    });
    const unsigned = nostrProtocol({ signer: (t) => t as NostrEvent });
    await expect(unsigned.authenticate!('c', 'wss://r')).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      detail: 'NOT_AN_EVENT',
    });
  });
});
