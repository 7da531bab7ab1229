/**
 * Secrets of the dial URL (`ws://user:secret@127.0.0.1:<port>/?token=abc`) never reach an error or an event:
 * not the message, the stack, the cause, nor what `console.error` prints (`util.inspect`), for a relay and a pool
 * over real sockets (the test kit's loopback relay).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { memoryTransport } from '../testkit/memoryTransport.ts';
import type { Transport, TransportSocket } from '../core/contract.ts';
import { wsTransport } from '../adapters/wsTransport.ts';
import { createRelay } from '../facades/createRelay.ts';
import { createRelayPool } from '../facades/createRelayPool.ts';
import { PublishFailedError, redactError, RelayActorsError } from '../core/errors.ts';
import { redactUrl, resolveRelayOptions, urlRedactor } from '../runtime/options.ts';
import { RelayRuntime } from '../runtime/relayRuntime.ts';
import type { PoolEvent, RelayEvent } from '../core/telemetry.ts';
import { startTestRelay } from '../testkit/testRelay.ts';
import { cleanupAfterEach, waitUntil } from './helpers.ts';

type Msg = Record<string, unknown>;
const SECRETS = ['secret', 'abc', 'p%2Fss', 'p/ss'];
const FAST = {
  heartbeat: false as const,
  backoff: { base: 20, factor: 2, max: 100, stableAfter: 50 },
  closeTimeout: 200,
  wake: false as const,
};
const cleanups = cleanupAfterEach();

/** The loopback relay's URL with credentials and a token in the query. */
async function secretRelay(): Promise<string> {
  const s = await startTestRelay();
  cleanups.push(() => s.close());
  const u = new URL(s.url);
  u.username = 'user';
  u.password = 'secret';
  u.pathname = '/';
  u.search = '?token=abc';
  return u.href;
}

/**
 * `wsTransport()` whose sockets, once `broken.writes` is set, close themselves just before each write: the write
 * then fails inside the real transport, the way it does when a socket dies between two event-loop turns.
 */
function breakableTransport(broken: { writes: boolean; dial?: boolean }): Transport {
  const inner = wsTransport();
  return {
    name: 'breakable',
    supportsPing: inner.supportsPing,
    connect(url, handlers, options): TransportSocket {
      // A platform that refuses the URL names it, as browsers' WebSocket constructor does.
      if (broken.dial) throw new SyntaxError(`Failed to construct 'WebSocket': The URL '${url}' is invalid.`);
      const socket = inner.connect(url, handlers, options);
      return {
        get bufferedAmount() {
          return socket.bufferedAmount;
        },
        send(frame) {
          if (broken.writes) socket.close(4000, 'test');
          socket.send(frame);
        },
        close: (code, reason) => socket.close(code, reason),
        terminate: () => socket.terminate(),
        ping: socket.ping && (() => socket.ping!()),
      };
    },
  };
}

/** Every way an error is shown: `String(err)`, message, stack, and what `console.error` prints. */
function shown(error: unknown): string[] {
  const e = error as Error;
  return [String(e), e.message, e.stack ?? '', inspect(e, { depth: 5 })];
}

function expectNoSecrets(texts: string[], what: string): void {
  for (const text of texts)
    for (const secret of SECRETS) expect(text, `${what} shows "${secret}"`).not.toContain(secret);
}

async function rejection(p: Promise<unknown>): Promise<RelayActorsError> {
  const result = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(result, 'expected a rejection').toBeInstanceOf(RelayActorsError);
  return result as RelayActorsError;
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('secrets of the dial URL stay out of errors and events (relay)', () => {
  it('SendFailedError from send() and writeFrame(): our message and the transport cause are redacted, class and text kept', async () => {
    const url = await secretRelay();
    const broken = { writes: false };
    const relay = createRelay<Msg, Msg>(url, {
      transport: breakableTransport(broken),
      protocol: jsonProtocol(),
      ...FAST,
    });
    const events: RelayEvent[] = [];
    relay.events$.subscribe((e) => events.push(e));
    cleanups.push(() => relay.stop());
    relay.start();
    await relay.waitFor('open');
    broken.writes = true;

    const error = await rejection(relay.send({ type: 'echo' }));
    expect(error.code).toBe('SEND_FAILED');
    expectNoSecrets(shown(error), 'SendFailedError from send()');
    const cause = error.cause as Error;
    expect(cause).toBeInstanceOf(Error);
    expect(cause.name).toBe('Error');
    expect(cause.message).toBe(`Cannot send: the socket to ${redactUrl(url)} is not open`);

    await waitUntil(() => relay.status().state === 'open', 3000, 'the relay to reopen');
    const frameError = thrownBy(() => relay.writeFrame('{"type":"echo"}')) as RelayActorsError;
    expect(frameError.code).toBe('SEND_FAILED');
    expectNoSecrets(shown(frameError), 'SendFailedError from writeFrame()');
    expectNoSecrets(
      events.map((e) => inspect(e, { depth: 5 })),
      'events$',
    );
  });

  it('NotOpenError and the relay events of a refused dial; a failed relay whose reason echoes the URL', async () => {
    const url = await secretRelay();
    const broken = { writes: false, dial: true };
    const relay = createRelay<Msg, Msg>(url, {
      transport: breakableTransport(broken),
      protocol: jsonProtocol(),
      ...FAST,
      // A classifier that quotes the transport's message in its verdict.
      classify: (info) =>
        info.errorCode === 'DIAL_FAILED' ? { action: 'fatal', reason: `dial refused: ${info.message}` } : undefined,
    });
    const events: RelayEvent[] = [];
    relay.events$.subscribe((e) => events.push(e));
    // What the inspector and the Stately bridge see: the machine's events and the reason it keeps in its context.
    const inspected: string[] = [];
    // (xstate.init carries the runtime itself, which holds the dial URL to dial it; the inspector strips it.)
    relay.inspection$.subscribe(
      (e) =>
        e.type === '@xstate.event' && e.event.type !== 'xstate.init' && inspected.push(inspect(e.event, { depth: 5 })),
    );
    cleanups.push(() => relay.stop());

    const notOpen = await rejection(relay.send({ type: 'echo' }));
    expect(notOpen.code).toBe('NOT_OPEN');
    expectNoSecrets(shown(notOpen), 'NotOpenError');

    relay.start();
    await relay.waitFor('failed');
    const failed = await rejection(relay.send({ type: 'echo' }));
    expect(failed.code).toBe('RELAY_FAILED');
    expect(failed.message).toContain(redactUrl(url));
    expectNoSecrets(shown(failed), 'RelayFailedError');
    expect(events.some((e) => e.type === 'disconnected')).toBe(true);
    expectNoSecrets(
      events.map((e) => inspect(e, { depth: 5 })),
      'events$',
    );
    expect(inspected.some((e) => e.includes('CONNECTION_LOST'))).toBe(true);
    expectNoSecrets(inspected, 'machine events on inspection$');
    const context = relay.actor.getSnapshot().context;
    expectNoSecrets([inspect(context, { depth: 5 })], 'the relay machine context');
  });
});

describe('secrets of the dial URL stay out of errors and events (pool)', () => {
  it('send, publish and subscribe through a relay whose writes fail', async () => {
    const url = await secretRelay();
    const broken = { writes: false };
    const pool = createRelayPool<Msg, Msg, Msg>({
      relays: [url],
      transport: breakableTransport(broken),
      protocol: jsonProtocol(),
      ...FAST,
    });
    const events: PoolEvent[] = [];
    pool.events$.subscribe((e) => events.push(e));
    cleanups.push(() => pool.stop());
    pool.start();
    await pool.waitFor('online');
    broken.writes = true;

    const sendError = await rejection(pool.send({ type: 'echo' }));
    expect(sendError.code).toBe('SEND_FAILED');
    expectNoSecrets(shown(sendError), 'pool send error');

    await pool.waitFor('online', 3000);
    const publishError = await rejection(pool.publish({ type: 'echo' }));
    expect(publishError).toBeInstanceOf(PublishFailedError);
    expectNoSecrets(shown(publishError), 'PublishFailedError');
    for (const { error } of (publishError as PublishFailedError).errors)
      expectNoSecrets(shown(error), 'PublishFailedError.errors[]');

    await pool.waitFor('online', 3000);
    const sub = pool.subscribe({ topic: 'x' }).subscribe();
    cleanups.push(() => sub.unsubscribe());
    await waitUntil(() => events.some((e) => e.type === 'error'), 3000, 'the subscribe error on events$');
    expectNoSecrets(
      events.map((e) => inspect(e, { depth: 5 })),
      'pool events$',
    );
  });
});

describe('urlRedactor and redactError', () => {
  const url = 'wss://us%40er:p%2Fss@relay.example:8443/path?token=abc123&sig=a%2Bb';
  const redact = urlRedactor(url);

  it('hides the URL as written and as normalised, and its userinfo and query values standing alone', () => {
    expect(redact(`dial ${url} failed`)).toBe(`dial ${redactUrl(url)} failed`);
    expect(redact(`dial ${new URL(url).href} failed`)).toBe(`dial ${redactUrl(url)} failed`);
    expect(redact('auth us%40er:p%2Fss refused')).toBe('auth *** refused');
    expect(redact('password p/ss, user us@er')).toBe('password ***, user ***');
    expect(redact('token "abc123" expired; sig a+b')).toBe('token "***" expired; sig ***');
    // Only whole values: a longer word that merely contains one stays readable.
    expect(redact('abc1234 is not the token')).toBe('abc1234 is not the token');
  });

  it('a URL without secrets changes nothing', () => {
    const plain = urlRedactor('ws://127.0.0.1:7000/feed');
    expect(plain('dial ws://127.0.0.1:7000/feed failed')).toBe('dial ws://127.0.0.1:7000/feed failed');
    expect(urlRedactor('ws://127.0.0.1:7000')('dial ws://127.0.0.1:7000/ failed')).toBe(
      'dial ws://127.0.0.1:7000/ failed',
    );
  });

  it('values too short to hide alone are still hidden inside the URL', () => {
    const short = urlRedactor('ws://127.0.0.1:7000/?v=1');
    expect(short('dial ws://127.0.0.1:7000/?v=1 failed after 1 try')).toBe(
      'dial ws://127.0.0.1:7000/?v=*** failed after 1 try',
    );
  });

  it("a nack quoting the URL's token (the server saw it at upgrade) is redacted", async () => {
    const rt = new RelayRuntime(
      url,
      redactUrl(url),
      resolveRelayOptions(url, { transport: memoryTransport(), protocol: jsonProtocol() }),
    );
    const acked = rt.awaitAck('m1');
    rt.settleAck('m1', false, 'token abc123 is revoked');
    const error = await rejection(acked);
    expect(error).toMatchObject({ code: 'NACK', reason: 'token *** is revoked' });
    expectNoSecrets(shown(error), 'NackError');
  });

  it('redactError: a copy with the same class, name and code; the original is untouched; clean errors are returned as they are', () => {
    class TransportError extends Error {
      readonly code = 'EPIPE';
      readonly address = url;
    }
    const original = new TransportError(`write to ${url} failed`, { cause: new Error(`token abc123 rejected`) });
    const copy = redactError(original, redact);
    expect(copy).not.toBe(original);
    expect(copy).toBeInstanceOf(TransportError);
    expect(copy).toMatchObject({
      name: 'Error',
      code: 'EPIPE',
      address: redactUrl(url),
      message: `write to ${redactUrl(url)} failed`,
    });
    expect(copy.stack).toContain(`write to ${redactUrl(url)} failed`);
    expect((copy.cause as Error).message).toBe('token *** rejected');
    expect(inspect(copy, { depth: 5 })).not.toMatch(/abc123|p%2Fss/);
    expect(original.message).toBe(`write to ${url} failed`);
    const clean = new Error('nothing to hide');
    expect(redactError(clean, redact)).toBe(clean);
  });
});
