/**
 * A refused TLS certificate is fatal (issue 12): a real `wss` server on 127.0.0.1 with a self-signed certificate
 * (test/fixtures/self-signed-*.pem, made once with `openssl req -x509 -days 36500`, a key for tests only). The relay fails at once, names the certificate error, and never dials again; a
 * `classify` option can still choose to retry.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { causeOf, explain } from '../core/why.ts';
import { delays, FAST, relayTo } from './wsRig.ts';
import { waitUntil } from './helpers.ts';

let https: Server;
let url: string;
/** TLS handshakes the server saw fail: one per dial. */
let refusedHandshakes = 0;

beforeAll(async () => {
  const fixture = (name: string) => readFileSync(new URL(`./fixtures/self-signed-${name}.pem`, import.meta.url));
  https = createServer({ key: fixture('key'), cert: fixture('cert') });
  https.on('tlsClientError', () => refusedHandshakes++);
  new WebSocketServer({ server: https });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  url = `wss://127.0.0.1:${(https.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => https.close(() => resolve()));
});

describe('TLS certificates', () => {
  it('a self-signed certificate fails the relay at once, named, and it never dials again', async () => {
    const w = relayTo(url, FAST);
    w.relay.start();
    await w.relay.waitFor('failed', 3000);
    const { lastClose, failure } = w.relay.status();
    expect(lastClose).toMatchObject({
      errorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      verdict: { action: 'fatal', code: 'tls-refused' },
    });
    expect(failure).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    const lost = w.events.find((e) => e.type === 'disconnected');
    expect(lost?.type === 'disconnected' && explain(causeOf(lost.info), lost.verdict)).toBe(
      'TLS certificate refused: DEPTH_ZERO_SELF_SIGNED_CERT; giving up',
    );
    // The server hears of the refused handshake a moment after the client gave up.
    await waitUntil(() => refusedHandshakes > 0, 2000, 'the server to see the refused handshake');
    const seen = refusedHandshakes;
    // Four backoff ceilings of FAST (50..400 ms) pass: a retrying relay would have dialled again.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(refusedHandshakes).toBe(seen);
    expect(delays(w)).toEqual([]);
  });

  it('a classify option may still retry it', async () => {
    const w = relayTo(url, {
      ...FAST,
      classify: (info) =>
        info.errorCode === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? { action: 'retry', reason: 'dev cert' } : undefined,
    });
    w.relay.start();
    await waitUntil(() => delays(w).length >= 2, 3000, 'two reconnects scheduled');
    expect(w.relay.status().lastClose?.verdict).toMatchObject({ action: 'retry', code: 'user' });
  });
});
