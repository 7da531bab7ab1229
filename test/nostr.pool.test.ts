/**
 * The pool with `nostrProtocol()` against a real Nostr relay implementation (`@nostr-relay/core` on 127.0.0.1,
 * from the test kit), events signed with `nostr-tools`: resume with `since` after a relay outage, dedupe across
 * relays, and NIP-42 auth as the reauth path for publishing and subscribing.
 */
import { finalizeEvent, generateSecretKey, getEventHash, getPublicKey } from 'nostr-tools/pure';
import { afterEach, describe, expect, it } from 'vitest';
import { nostrProtocol, type NostrEvent, type NostrFilter } from '../adapters/nostrProtocol.ts';
import { wsTransport } from '../adapters/wsTransport.ts';
import { createRelayPool, type RelayPool, type RelayPoolOptions } from '../facades/createRelayPool.ts';
import { ProtocolError } from '../core/errors.ts';
import type { PoolEvent } from '../core/telemetry.ts';
import { startNostrRelay, type NostrTestRelay } from '../testkit/nostrRelay.ts';
import { waitUntil } from './helpers.ts';

const sk = generateSecretKey();
const pk = getPublicKey(sk);
const signer = (t: Parameters<typeof finalizeEvent>[0]) => finalizeEvent(t, sk) as NostrEvent;
let n = 0;
const note = (content: string): NostrEvent =>
  signer({
    kind: 1,
    created_at: Math.floor(Date.now() / 1000),
    tags: [['t', 'relay-actors-test']],
    content: `${content} #${++n}`,
  });

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function nostrRelays(count: number, auth = false): Promise<NostrTestRelay[]> {
  const relays = await Promise.all(Array.from({ length: count }, () => startNostrRelay({ auth })));
  for (const r of relays) cleanup.push(() => r.close());
  return relays;
}

type NostrPool = RelayPool<NostrEvent, NostrEvent, NostrFilter | NostrFilter[]>;
function nostrPool(
  urls: string[],
  options: Partial<RelayPoolOptions<NostrEvent, NostrEvent, NostrFilter | NostrFilter[]>> = {},
): { pool: NostrPool; events: PoolEvent[] } {
  const pool = createRelayPool<NostrEvent, NostrEvent, NostrFilter | NostrFilter[]>({
    relays: urls,
    transport: wsTransport(),
    protocol: nostrProtocol({ signer }), // inbound events verified: the default
    heartbeat: { interval: 200, timeout: 200 },
    backoff: { base: 30, max: 200, stableAfter: 200 },
    closeTimeout: 300,
    wake: false,
    ...options,
  });
  const events: PoolEvent[] = [];
  pool.events$.subscribe((e) => events.push(e));
  cleanup.push(() => pool.stop());
  return { pool: pool.start(), events };
}

const FILTER: NostrFilter = { kinds: [1], authors: [pk], '#t': ['relay-actors-test'] };

describe('pool over a real Nostr relay', () => {
  it('events published while our subscriber was cut off arrive after it returns, through REQ with since, once', async () => {
    const [relay] = await nostrRelays(1);
    // The subscriber reconnects after a fixed 400 ms; the publisher at once.
    const sub = nostrPool([relay!.url], { backoff: { base: 400, max: 400, stableAfter: 200 }, random: () => 1 });
    const pub = nostrPool([relay!.url]);
    const got: NostrEvent[] = [];
    sub.pool.subscribe(FILTER).subscribe((e) => got.push(e));
    await waitUntil(() => sub.events.some((e) => e.type === 'eose'), 3000, 'the first EOSE');

    const before = note('before');
    await pub.pool.send(before); // resolves on OK true
    await waitUntil(() => got.length === 1, 3000, 'the live event');

    await relay!.kill();
    await relay!.restart();
    const during = note('during');
    await pub.pool.send(during); // queued until the publisher is back, then OK
    expect(sub.pool.status().relays[0]!.state).not.toBe('open'); // the subscriber is still away

    await waitUntil(() => got.length === 2, 5000, 'the missed event after the re-subscription');
    const resubscribed = sub.events.filter(
      (e): e is Extract<PoolEvent, { type: 'subscribed' }> => e.type === 'subscribed',
    );
    expect(resubscribed).toHaveLength(2);
    expect(resubscribed[1]!.since).toBe(before.created_at * 1000);
    expect(got.map((e) => e.id)).toEqual([before.id, during.id]); // `before` came back too (since overlap): dropped by id
  });

  it('an event on two relays is delivered once, to the subscription and to messages$', async () => {
    const relays = await nostrRelays(2);
    const sub = nostrPool(relays.map((r) => r.url));
    const pub = nostrPool(
      relays.map((r) => r.url),
      { selection: { k: 2 } },
    );
    const got: NostrEvent[] = [];
    const all: NostrEvent[] = [];
    sub.pool.subscribe(FILTER).subscribe((e) => got.push(e));
    sub.pool.messages$.subscribe((e) => all.push(e));
    await waitUntil(() => sub.events.filter((e) => e.type === 'eose').length === 2, 3000, 'EOSE from both relays');
    await waitUntil(() => pub.pool.status().relays.every((r) => r.state === 'open'), 3000, 'publisher on both');

    const event = note('twice');
    const result = await pub.pool.publish(event);
    expect(result.relays).toHaveLength(2);
    expect(relays.every((r) => r.events().some((e) => e.id === event.id))).toBe(true);
    // Both relays deliver it; wait until the second copy must have been seen (EVENTs arrive before later frames).
    await waitUntil(() => got.length >= 1, 3000, 'the event');
    const marker = note('marker');
    await pub.pool.publish(marker);
    await waitUntil(() => got.some((e) => e.id === marker.id), 3000, 'the marker');
    expect(got.filter((e) => e.id === event.id)).toHaveLength(1);
    expect(all.filter((e) => e.id === event.id)).toHaveLength(1);
  });

  it('forged and tampered events from the relays never reach a subscription or messages$; each is reported', async () => {
    const relays = await nostrRelays(2);
    const sub = nostrPool(relays.map((r) => r.url));
    const got: NostrEvent[] = [];
    const all: NostrEvent[] = [];
    sub.pool.subscribe(FILTER).subscribe((e) => got.push(e));
    sub.pool.messages$.subscribe((e) => all.push(e));
    await waitUntil(() => sub.events.filter((e) => e.type === 'eose').length === 2, 3000, 'EOSE from both relays');

    // Mallory signs a note with our tag and claims it is ours (the id matches, the signature is hers); a genuine
    // note of ours has its content changed on the way (the id no longer matches).
    const mallory = finalizeEvent(
      {
        kind: 1,
        created_at: Math.floor(Date.now() / 1000),
        tags: [['t', 'relay-actors-test']],
        content: 'send sats to mallory',
      },
      generateSecretKey(),
    );
    const claimed = { ...mallory, pubkey: pk };
    const forged: NostrEvent = { ...claimed, id: getEventHash(claimed) };
    const tampered: NostrEvent = { ...note('genuine'), content: 'tampered' };
    const marker = note('marker');
    for (const relay of relays) {
      await relay.injectEvent(forged);
      await relay.injectEvent(tampered);
      await relay.injectEvent(marker);
    }
    // Both relays' markers seen: everything injected before them has been decoded.
    const errors = () => sub.events.flatMap((e) => (e.type === 'error' ? [e] : []));
    await waitUntil(
      () => got.some((e) => e.id === marker.id) && errors().length === 4,
      3000,
      'the markers and four errors',
    );
    expect(got.map((e) => e.id)).toEqual([marker.id]);
    expect(all.map((e) => e.id)).toEqual([marker.id]);
    const reported = errors().map((e) => ({
      url: e.url,
      detail: (e.error as ProtocolError).detail,
      code: e.error.code,
    }));
    expect(reported).toEqual(
      expect.arrayContaining(
        relays.flatMap((r) => [
          { url: r.url, detail: 'BAD_SIGNATURE', code: 'PROTOCOL_ERROR' },
          { url: r.url, detail: 'BAD_ID', code: 'PROTOCOL_ERROR' },
        ]),
      ),
    );
    expect(sub.pool.status().relays.every((r) => r.state === 'open')).toBe(true);
  });

  it('NIP-42: an auth-required OK makes the pool sign the challenge and publish again; an auth-required CLOSED re-subscribes after auth', async () => {
    const [relay] = await nostrRelays(1, true);
    const pub = nostrPool([relay!.url]);
    const event = note('needs auth');
    await pub.pool.send(event);
    expect(relay!.events().some((e) => e.id === event.id)).toBe(true);
    expect(pub.events.some((e) => e.type === 'reauth' && e.ok)).toBe(true);

    const sub = nostrPool([relay!.url]);
    const got: NostrEvent[] = [];
    sub.pool.subscribe(FILTER).subscribe((e) => got.push(e));
    await waitUntil(() => got.some((e) => e.id === event.id), 3000, 'the stored event after auth');
    expect(sub.events.some((e) => e.type === 'subscription-closed' && e.reason.startsWith('auth-required:'))).toBe(
      true,
    );
    expect(sub.events.filter((e) => e.type === 'subscribed')).toHaveLength(2);
  });

  it('without a signer, an auth-required publish rejects with the relay reason', async () => {
    const [relay] = await nostrRelays(1, true);
    const pool = createRelayPool<NostrEvent, NostrEvent, NostrFilter>({
      relays: [relay!.url],
      transport: wsTransport(),
      protocol: nostrProtocol(),
      wake: false,
      closeTimeout: 100,
    }).start();
    cleanup.push(() => pool.stop());
    await expect(pool.send(note('no signer'))).rejects.toMatchObject({
      code: 'NACK',
      reason: expect.stringMatching(/^auth-required:/),
    });
  });
});

describe('a hostile Nostr relay that refuses every subscription after authentication', () => {
  it('gets one reauth and one re-subscription per connection; the subscription ends with AUTH_REFUSED', async () => {
    const [relay] = await nostrRelays(1, true);
    relay!.refuseSubscriptions('auth-required: members only');
    const { pool } = nostrPool([relay!.url]);
    const ended = new Promise<unknown>((resolve) => pool.subscribe({ kinds: [1] }).subscribe({ error: resolve }));
    await expect(ended).resolves.toMatchObject({ code: 'PROTOCOL_ERROR', detail: 'AUTH_REFUSED' });
    expect(relay!.reqsRefused).toBe(2);
  });
});

describe('two subscriptions on a relay that requires authentication', () => {
  it('authenticate once for both (one AUTH in flight per challenge) and both receive events', async () => {
    const [relay] = await nostrRelays(1, true);
    const { pool, events } = nostrPool([relay!.url]);
    const a: NostrEvent[] = [];
    const b: NostrEvent[] = [];
    const errors: unknown[] = [];
    pool
      .subscribe({ kinds: [1], '#t': ['relay-actors-test'] })
      .subscribe({ next: (e) => a.push(e), error: (e) => errors.push(e) });
    pool
      .subscribe({ kinds: [1], '#t': ['relay-actors-test'] })
      .subscribe({ next: (e) => b.push(e), error: (e) => errors.push(e) });
    await waitUntil(
      () => events.filter((e) => e.type === 'subscribed').length >= 4,
      5000,
      'both re-subscribed after auth',
    );
    const event = note('for both');
    await pool.send(event);
    await waitUntil(() => a.length > 0 && b.length > 0, 5000, 'the event on both subscriptions');
    expect(errors).toEqual([]);
    expect(events.filter((e) => e.type === 'reauth' && e.ok).length).toBeGreaterThan(0);
  });
});
