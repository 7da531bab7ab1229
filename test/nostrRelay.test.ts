/**
 * nostrProtocol against a real Nostr relay (`@nostr-relay/core` in the test kit) on 127.0.0.1: raw `ws` clients
 * for the wire, then `createRelay` for the runtime path. Waits are on frames and states, each bounded.
 */
import { finalizeEvent, generateSecretKey, getEventHash } from 'nostr-tools/pure';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { nostrProtocol, type NostrEvent, type NostrEventTemplate } from '../adapters/nostrProtocol.ts';
import type { Decoded, Transport } from '../core/contract.ts';
import { wsTransport } from '../adapters/wsTransport.ts';
import { createRelay } from '../index.ts';
import { NackError, ProtocolError } from '../core/errors.ts';
import type { Inbound } from '../runtime/relayRuntime.ts';
import type { RelayEvent } from '../core/telemetry.ts';
import { startNostrRelay, type NostrTestRelay, type NostrTestRelayOptions } from '../testkit/nostrRelay.ts';
import { expectNoLeaks, handleCounts, waitUntil } from './helpers.ts';

const protocol = nostrProtocol();
/** How the raw client reads frames: as sent, unverified, so the wire itself can be checked. */
const wire = nostrProtocol({ verify: false });
const secretKey = generateSecretKey();
/** Signs as plain data: nostr-tools marks its events with a symbol key that `toEqual` would compare. */
const signer = (t: NostrEventTemplate): NostrEvent => {
  const { id, pubkey, created_at, kind, tags, content, sig } = finalizeEvent(t, secretKey);
  return { id, pubkey, created_at, kind, tags, content, sig };
};
const nowS = (): number => Math.floor(Date.now() / 1000);
const WAIT_MS = 3000;

let seq = 0;
/** A freshly signed event, unique per call. */
function note(template: Partial<NostrEventTemplate> = {}): NostrEvent {
  return signer({ kind: 1, created_at: nowS(), tags: [], content: `note ${++seq}`, ...template });
}

/** `event` claimed by `pubkey`: its id recomputed (so only the signature gives it away). */
function claimedBy(event: NostrEvent, pubkey: string): NostrEvent {
  const claimed = { ...event, pubkey };
  return { ...claimed, id: getEventHash(claimed) };
}

const mallory = generateSecretKey();
/** An event Mallory signed and then claimed is ours: a forgery only the signature check catches. */
function forgery(template: Partial<NostrEventTemplate> = {}): NostrEvent {
  const { id, pubkey, created_at, kind, tags, content, sig } = finalizeEvent(
    { kind: 1, created_at: nowS(), tags: [], content: `forged ${++seq}`, ...template },
    mallory,
  );
  return claimedBy({ id, pubkey, created_at, kind, tags, content, sig }, note().pubkey);
}

/** A raw `ws` client that decodes every frame with our protocol, unverified (see `wire`). */
class RawClient {
  readonly frames: Decoded<NostrEvent>[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) =>
      this.frames.push(wire.decode(isBinary ? new Uint8Array(data as Buffer) : String(data), isBinary)),
    );
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
    });
  }

  static open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url);
    const client = new RawClient(ws);
    clients.add(client);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(message: unknown[] | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first frame matching `predicate` (seen already or arriving within the bound). */
  async next<K extends Decoded<NostrEvent>['kind']>(
    kind: K,
    predicate: (frame: Extract<Decoded<NostrEvent>, { kind: K }>) => boolean = () => true,
    what = kind as string,
  ): Promise<Extract<Decoded<NostrEvent>, { kind: K }>> {
    const find = () =>
      this.frames.find((f): f is Extract<Decoded<NostrEvent>, { kind: K }> => f.kind === kind && predicate(f as never));
    await waitUntil(() => find() !== undefined, WAIT_MS, what);
    return find()!;
  }

  ack(id: string): Promise<Extract<Decoded<NostrEvent>, { kind: 'ack' }>> {
    return this.next('ack', (f) => f.id === id, `OK for ${id.slice(0, 8)}`);
  }

  /** Sends a REQ and resolves with the events it returned before EOSE. */
  async req(
    sub: string,
    filters: Parameters<NonNullable<typeof protocol.subscribe>>[1],
    resume?: { since: number },
  ): Promise<NostrEvent[]> {
    const from = this.frames.length;
    this.send(protocol.subscribe!(sub, filters, resume) as string);
    await this.next('eose', (f) => f.subscription === sub, `EOSE of ${sub}`);
    const after = this.frames.slice(from);
    const eose = after.findIndex((f) => f.kind === 'eose' && f.subscription === sub);
    return after.slice(0, eose).flatMap((f) => (f.kind === 'message' && f.subscription === sub ? [f.message] : []));
  }

  async close(): Promise<void> {
    clients.delete(this);
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.terminate();
    await closed;
  }
}

const clients = new Set<RawClient>();
const cleanup: Array<() => Promise<void>> = [];
let baseline: Record<string, number>;

beforeAll(() => {
  baseline = handleCounts();
});

afterEach(async () => {
  for (const client of [...clients]) await client.close();
  for (const c of cleanup.splice(0).reverse()) await c();
});

afterAll(async () => {
  await expectNoLeaks(baseline);
});

async function nostrRelay(options: NostrTestRelayOptions = {}): Promise<NostrTestRelay> {
  const relay = await startNostrRelay(options);
  cleanup.push(() => relay.close());
  return relay;
}

describe('startNostrRelay: NIP-01 over a raw ws client', () => {
  it('answers a publish with OK, which decodes as an ack; a second publish is a duplicate (ok)', async () => {
    const relay = await nostrRelay();
    const client = await RawClient.open(relay.url);
    const event = note();
    client.send(protocol.encode(event) as string);
    expect(await client.ack(event.id)).toEqual({ kind: 'ack', id: event.id, ok: true, reason: '' });
    expect(relay.events()).toEqual([event]);

    client.frames.length = 0;
    client.send(protocol.encode(event) as string);
    const again = await client.ack(event.id);
    expect(again).toMatchObject({ ok: true, reason: expect.stringMatching(/^duplicate:/) });
    expect(protocol.classifyRejection!(again.reason!)).toBe('ok');
    expect(relay.events()).toHaveLength(1);
  });

  it('refuses a forged event with an invalid: OK false (fatal)', async () => {
    const relay = await nostrRelay();
    const client = await RawClient.open(relay.url);
    const forged = { ...note(), content: 'tampered' };
    client.send(['EVENT', forged]);
    const ack = await client.ack(forged.id);
    expect(ack).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid:/) });
    expect(protocol.classifyRejection!(ack.reason!)).toBe('fatal');
    expect(relay.events()).toEqual([]);
  });

  it('answers a REQ with stored events (newest first, limit, tag filters) then EOSE, then live events until CLOSE', async () => {
    const relay = await nostrRelay();
    const writer = await RawClient.open(relay.url);
    const t = nowS();
    const old = note({ created_at: t - 30, tags: [['t', 'nostr']] });
    const mid = note({ created_at: t - 20 });
    const recent = note({ created_at: t - 10, tags: [['t', 'nostr']] });
    const other = note({ kind: 7, created_at: t - 5 });
    for (const e of [old, mid, recent, other]) {
      writer.send(['EVENT', e]);
      await writer.ack(e.id);
    }

    const reader = await RawClient.open(relay.url);
    expect(await reader.req('latest', { kinds: [1], limit: 2 })).toEqual([recent, mid]);
    expect(await reader.req('tagged', { '#t': ['nostr'] })).toEqual([recent, old]);
    expect(await reader.req('either', [{ ids: [other.id] }, { authors: [old.pubkey], until: t - 25 }])).toEqual([
      other,
      old,
    ]);
    const stored = reader.frames.find((f) => f.kind === 'message' && f.subscription === 'latest');
    expect(stored).toEqual({
      kind: 'message',
      message: recent,
      id: recent.id,
      subscription: 'latest',
      timestamp: recent.created_at * 1000,
    });

    const live = note({ tags: [['t', 'nostr']] });
    writer.send(['EVENT', live]);
    await writer.ack(live.id);
    await reader.next('message', (f) => f.subscription === 'tagged' && f.id === live.id, 'live event');

    reader.send(protocol.unsubscribe!('tagged') as string);
    const after = note({ tags: [['t', 'nostr']] });
    writer.send(['EVENT', after]);
    await writer.ack(after.id);
    // The relay broadcasts before it answers OK and keeps order per socket: a probe's EOSE comes after any event.
    await reader.req('probe', { ids: ['0'.repeat(64)] });
    expect(reader.frames.some((f) => f.kind === 'message' && f.id === after.id && f.subscription === 'tagged')).toBe(
      false,
    );
  });

  it('resumes a subscription from `since` (minus the overlap) so a reconnect gets only what it missed', async () => {
    const relay = await nostrRelay();
    const client = await RawClient.open(relay.url);
    const t = nowS();
    const seen = note({ created_at: t - 100 });
    const skewed = note({ created_at: t - 53 });
    const missed = note({ created_at: t - 10 });
    for (const e of [seen, skewed, missed]) {
      client.send(['EVENT', e]);
      await client.ack(e.id);
    }
    // Newest seen before the drop: t - 50 (ms). The 5 s overlap also brings back the slightly older `skewed`.
    expect(await client.req('resumed', { kinds: [1] }, { since: (t - 50) * 1000 })).toEqual([missed, skewed]);
  });

  it('answers malformed frames with a NOTICE and keeps the connection', async () => {
    const relay = await nostrRelay();
    const client = await RawClient.open(relay.url);
    client.send('not json');
    client.send(['COUNT', 's', {}]);
    client.send(['EVENT']);
    await waitUntil(() => client.frames.filter((f) => f.kind === 'notice').length === 3, WAIT_MS, 'three notices');
    expect(await client.req('still-alive', { kinds: [1] })).toEqual([]);
  });
});

describe('startNostrRelay: injectEvent()', () => {
  it('delivers an event unchecked to the subscriptions it matches, live, without storing it', async () => {
    const relay = await nostrRelay();
    const reader = await RawClient.open(relay.url);
    expect(await reader.req('notes', { kinds: [1] })).toEqual([]);
    expect(await reader.req('reactions', { kinds: [7] })).toEqual([]);

    const tampered = { ...note(), content: 'tampered' };
    const forged = forgery();
    await relay.injectEvent(tampered);
    await relay.injectEvent(forged);
    const got = (id: string) => reader.next('message', (f) => f.id === id, `the injected ${id.slice(0, 8)}`);
    expect(await got(tampered.id)).toMatchObject({ subscription: 'notes', message: tampered });
    expect(await got(forged.id)).toMatchObject({ subscription: 'notes', message: forged });
    // Exactly as sent: the verifying decoder refuses both.
    const [t, f] = [tampered, forged].map((e) => protocol.decode(JSON.stringify(['EVENT', 'notes', e]), false));
    expect([t, f]).toMatchObject([
      { kind: 'invalid', code: 'BAD_ID' },
      { kind: 'invalid', code: 'BAD_SIGNATURE' },
    ]);

    // Only to matching subscriptions (the probe's EOSE comes after anything sent before it), and never stored.
    await reader.req('probe', { ids: ['0'.repeat(64)] });
    expect(
      reader.frames.filter((x) => x.kind === 'message').map((x) => (x as { subscription: string }).subscription),
    ).toEqual(['notes', 'notes']);
    expect(relay.events()).toEqual([]);
    const other = await RawClient.open(relay.url);
    expect(await other.req('later', { kinds: [1] })).toEqual([]);

    await relay.close();
    await expect(relay.injectEvent(note())).rejects.toThrow(/closed/);
  });
});

describe('startNostrRelay: faults', () => {
  it('kill() drops every client with 1006 and stops listening; restart() listens on the same port with the events kept', async () => {
    const relay = await nostrRelay();
    const port = relay.port;
    const a = await RawClient.open(relay.url);
    const b = await RawClient.open(relay.url);
    await relay.waitForConnections(2);
    const event = note();
    a.send(['EVENT', event]);
    await a.ack(event.id);

    await relay.kill();
    await waitUntil(() => a.closed !== undefined && b.closed !== undefined, WAIT_MS, 'both clients closed');
    expect([a.closed?.code, b.closed?.code]).toEqual([1006, 1006]);
    expect(relay.listening).toBe(false);
    await waitUntil(() => relay.connections === 0, WAIT_MS, 'no connections');
    await expect(RawClient.open(relay.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await relay.restart();
    expect(relay.port).toBe(port);
    expect(relay.listening).toBe(true);
    const c = await RawClient.open(relay.url);
    expect(await c.req('kept', { ids: [event.id] })).toEqual([event]);
    expect(relay.events()).toEqual([event]);
  });
});

describe('startNostrRelay({ auth: true }): NIP-42', () => {
  it('refuses EVENT and REQ with auth-required: until our authenticate() frame is accepted', async () => {
    const relay = await nostrRelay({ auth: true });
    const client = await RawClient.open(relay.url);
    const { challenge } = await client.next('auth');

    const event = note();
    client.send(['EVENT', event]);
    const refused = await client.ack(event.id);
    expect(refused).toMatchObject({ ok: false, reason: expect.stringMatching(/^auth-required:/) });
    expect(protocol.classifyRejection!(refused.reason!)).toBe('reauth');
    client.send(protocol.subscribe!('feed', { kinds: [1] }) as string);
    const closed = await client.next('closed', (f) => f.subscription === 'feed');
    expect(protocol.classifyRejection!(closed.reason)).toBe('reauth');
    expect(relay.events()).toEqual([]);

    const { frame, id } = await nostrProtocol({ signer }).authenticate!(challenge, relay.url);
    client.send(frame as string);
    expect(await client.ack(id)).toMatchObject({ ok: true });

    client.frames.length = 0;
    client.send(['EVENT', event]);
    expect(await client.ack(event.id)).toMatchObject({ ok: true, reason: '' });
    expect(await client.req('feed', { kinds: [1] })).toEqual([event]);
  });

  it('refuses an AUTH event for another challenge or another relay', async () => {
    const relay = await nostrRelay({ auth: true });
    const client = await RawClient.open(relay.url);
    const { challenge } = await client.next('auth');
    const auth = nostrProtocol({ signer });

    const wrongChallenge = await auth.authenticate!('not-the-challenge', relay.url);
    client.send(wrongChallenge.frame as string);
    expect(await client.ack(wrongChallenge.id)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/challenge/),
    });
    const wrongRelay = await auth.authenticate!(challenge, 'wss://elsewhere.example.com');
    client.send(wrongRelay.frame as string);
    expect(await client.ack(wrongRelay.id)).toMatchObject({ ok: false, reason: expect.stringMatching(/relay url/) });
  });
});

describe('createRelay with nostrProtocol against the real relay', () => {
  const FAST = {
    heartbeat: { interval: 200, timeout: 200 },
    backoff: { base: 20, factor: 2, max: 100, stableAfter: 200 },
    wake: false as const,
  };

  function relayTo(url: string, options: Partial<Parameters<typeof createRelay<NostrEvent, NostrEvent>>[1]> = {}) {
    const relay = createRelay<NostrEvent, NostrEvent>(url, {
      protocol: nostrProtocol({ signer }),
      ...FAST,
      ...options,
    });
    const seen = { events: [] as RelayEvent[], inbound: [] as Inbound<NostrEvent>[], messages: [] as NostrEvent[] };
    relay.events$.subscribe((e) => seen.events.push(e));
    relay.inbound$.subscribe((f) => seen.inbound.push(f));
    relay.messages$.subscribe((m) => seen.messages.push(m));
    cleanup.push(() => relay.stop());
    return { relay: relay.start(), seen };
  }

  it('send() resolves on OK; a REQ written through the relay delivers events and EOSE; pings are WebSocket pings', async () => {
    const server = await nostrRelay();
    const { relay, seen } = relayTo(server.url);
    await relay.waitFor('open');
    const event = note();
    await relay.send(event);
    expect(server.events()).toEqual([event]);
    await relay.send(event); // OK true "duplicate:": still a success

    relay.writeFrame(protocol.subscribe!('mine', { authors: [event.pubkey] }));
    await waitUntil(() => seen.inbound.some((f) => f.kind === 'eose' && f.subscription === 'mine'), WAIT_MS, 'EOSE');
    expect(seen.inbound.find((f) => f.kind === 'message')).toMatchObject({
      id: event.id,
      subscription: 'mine',
      timestamp: event.created_at * 1000,
    });
    expect(seen.messages).toEqual([event]);

    // No app-level ping in Nostr: over ws the heartbeat's protocol pings get answered, so RTT is measured.
    await waitUntil(() => typeof relay.status().rttMs === 'number', WAIT_MS, 'a pong');
    expect(relay.status().heartbeat).toBe('on');
  });

  it('verifies by default: forged and tampered events are dropped and reported as ProtocolErrors, never delivered', async () => {
    const server = await nostrRelay();
    const { relay, seen } = relayTo(server.url);
    const trusting = relayTo(server.url, { protocol: nostrProtocol({ verify: false }) });
    await Promise.all([relay.waitFor('open'), trusting.relay.waitFor('open')]);
    for (const r of [relay, trusting.relay]) r.writeFrame(protocol.subscribe!('feed', { kinds: [1] }));
    await waitUntil(
      () => [seen, trusting.seen].every((x) => x.inbound.some((f) => f.kind === 'eose')),
      WAIT_MS,
      'EOSE on both',
    );

    const genuine = note();
    await relay.send(genuine); // stored and broadcast: delivered live
    const tampered = { ...note(), content: 'tampered' };
    const forged = forgery();
    await server.injectEvent(tampered);
    await server.injectEvent(forged);
    const injected = note();
    await server.injectEvent(injected); // a genuine event over the same path is delivered
    // Frames arrive in order: once `injected` is here, the two before it have been decoded.
    await waitUntil(() => seen.messages.some((m) => m.id === injected.id), WAIT_MS, 'the genuine injected event');
    expect(seen.messages.map((m) => m.id)).toEqual([genuine.id, injected.id]);
    expect(seen.inbound.filter((f) => f.kind === 'message').map((f) => (f as { id: string }).id)).toEqual([
      genuine.id,
      injected.id,
    ]);

    const errors = seen.events.flatMap((e) => (e.type === 'error' ? [e.error] : []));
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => e instanceof ProtocolError && e.code === 'PROTOCOL_ERROR')).toBe(true);
    expect(errors.map((e) => (e as ProtocolError).detail)).toEqual(['BAD_ID', 'BAD_SIGNATURE']);
    expect(errors[0]!.message).toContain(tampered.id);
    expect(errors[1]!.message).toContain(`${forged.id} whose signature does not verify`);
    expect(relay.status().state).toBe('open'); // a bad event is the event's fault, not the connection's

    // verify: false trusts the relay: everything it sent is delivered.
    await waitUntil(() => trusting.seen.messages.some((m) => m.id === injected.id), WAIT_MS, 'the trusting relay');
    expect(trusting.seen.messages.map((m) => m.id)).toEqual([genuine.id, tampered.id, forged.id, injected.id]);
  });

  it('turns the heartbeat off (and says so) on a transport without ping frames, as in browsers', async () => {
    const server = await nostrRelay();
    const ws = wsTransport();
    const noPings: Transport = {
      name: 'no-ping',
      supportsPing: false,
      connect: (url, handlers, options) => ws.connect(url, handlers, options),
    };
    const { relay, seen } = relayTo(server.url, { transport: noPings });
    await relay.waitFor('open');
    await waitUntil(() => relay.status().heartbeat === 'off', WAIT_MS, 'heartbeat off');
    expect(seen.events.find((e) => e.type === 'heartbeat-off')).toMatchObject({
      reason: expect.stringContaining('no app-level ping'),
    });
    await relay.send(note());
  });

  it('on auth-required: the nack classifies as reauth; relay.authenticate() answers the challenge and the send succeeds', async () => {
    const server = await nostrRelay({ auth: true });
    const { relay } = relayTo(server.url);
    await relay.waitFor('open');
    const event = note();
    const error = await relay.send(event).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NackError);
    expect(protocol.classifyRejection!((error as NackError).reason)).toBe('reauth');
    await relay.authenticate();
    await relay.send(event);
    expect(server.events()).toEqual([event]);
  });

  it('reconnects after kill() once restart() brings the relay back, with its events', async () => {
    const server = await nostrRelay();
    const { relay } = relayTo(server.url);
    await relay.waitFor('open');
    const first = note();
    await relay.send(first);
    await server.kill();
    await relay.waitFor('reconnecting');
    await server.restart();
    await relay.waitFor('open');
    const second = note();
    await relay.send(second);
    expect(server.events()).toEqual([first, second]);
  });
});
