/**
 * One vocabulary for "why": every default classification has its verdict code and its `explain()` wording (a table),
 * user and protocol verdicts get theirs, the README lists exactly the closed list of codes, and the CLI (`watch`),
 * the inspector's feed (log) and its relay rows word the same loss with the same `explain()` text.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Cause, DisconnectInfo, LocalCloseCause, VerdictCode } from '../core/contract.ts';
import { createRelayPool } from '../index.ts';
import { InspectorFeed, type FeedItem } from '../inspector/index.ts';
import { classifyClose } from '../policies/classify.ts';
import { causeOf, explain, isVerdictCode, VERDICT_CODES } from '../core/why.ts';
import { startTestRelay } from '../testkit/index.ts';
import { cleanupAfterEach, freePort, runNode, waitUntil } from './helpers.ts';

const cleanups = cleanupAfterEach();

const loss = (code: number, extra: Partial<DisconnectInfo> = {}): DisconnectInfo => ({
  code,
  reason: '',
  wasClean: code !== 1006,
  ...extra,
});

describe('the default classification, coded and explained', () => {
  // [case, info, action, verdict code, reason (as before this vocabulary), explain()]
  const table: Array<[string, DisconnectInfo, 'retry' | 'fatal', VerdictCode, string, string]> = [
    [
      'upgrade 401',
      loss(1006, { status: 401 }),
      'fatal',
      'upgrade-refused',
      'upgrade 401',
      'upgrade refused with HTTP 401 (Unauthorized); giving up',
    ],
    [
      'upgrade 429',
      loss(1006, { status: 429 }),
      'retry',
      'server-busy',
      'upgrade 429',
      'upgrade refused with HTTP 429 (Too Many Requests); retrying',
    ],
    [
      'upgrade 503 with Retry-After',
      loss(1006, { status: 503, retryAfterMs: 2000 }),
      'retry',
      'server-busy',
      'upgrade 503',
      'upgrade refused with HTTP 503 (Service Unavailable); retrying after at least 2 s',
    ],
    ['close 1000', loss(1000), 'retry', 'transient-close', 'close 1000', 'close 1000 (normal); retrying'],
    ['close 1006', loss(1006), 'retry', 'transient-close', 'close 1006', 'close 1006 (no close frame); retrying'],
    [
      'close 1008 with a reason',
      loss(1008, { reason: 'no such user' }),
      'fatal',
      'fatal-close',
      'close 1008',
      'close 1008 (policy violation): "no such user"; giving up',
    ],
    [
      'close 4001 declared fatal',
      loss(4001),
      'fatal',
      'declared-fatal',
      'close 4001 declared fatal',
      'close 4001 (application code); giving up (declared fatal)',
    ],
    [
      'close 4002 (not declared)',
      loss(4002),
      'retry',
      'transient-close',
      'close 4002',
      'close 4002 (application code); retrying',
    ],
    [
      'ECONNREFUSED',
      loss(1006, { errorCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:7000' }),
      'retry',
      'network-error',
      'ECONNREFUSED',
      'unreachable: ECONNREFUSED; retrying',
    ],
    [
      'an expired TLS certificate',
      loss(1006, { errorCode: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }),
      'fatal',
      'tls-refused',
      'CERT_HAS_EXPIRED',
      'TLS certificate refused: CERT_HAS_EXPIRED; giving up',
    ],
    [
      'a certificate for another host',
      loss(1006, { errorCode: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
      'fatal',
      'tls-refused',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'TLS certificate refused: ERR_TLS_CERT_ALTNAME_INVALID; giving up',
    ],
    [
      'ECONNRESET after open',
      loss(1006, { errorCode: 'ECONNRESET', message: 'read ECONNRESET' }),
      'retry',
      'network-error',
      'ECONNRESET',
      'close 1006 (no close frame, ECONNRESET); retrying',
    ],
    [
      'DIAL_FAILED with a message that says more',
      loss(1006, { errorCode: 'DIAL_FAILED', message: 'Invalid URL' }),
      'retry',
      'network-error',
      'DIAL_FAILED',
      'unreachable: DIAL_FAILED (Invalid URL); retrying',
    ],
    [
      'hello rejected',
      loss(1008, { wasClean: false, local: 'handshake-rejected', reason: 'bad token' }),
      'fatal',
      'hello-rejected',
      'hello rejected: bad token',
      'hello rejected: "bad token"; giving up',
    ],
  ];

  it.each(table)('%s', (_name, info, action, code, reason, text) => {
    const verdict = classifyClose(info, { fatalCloseCodes: [4001] });
    expect(verdict).toMatchObject({ action, code, reason });
    expect(explain(causeOf(info), verdict)).toBe(text);
  });

  const locals: Array<[LocalCloseCause, VerdictCode, string]> = [
    ['connect-timeout', 'local-timeout', 'connect timeout (no open in time); retrying'],
    ['handshake-timeout', 'local-timeout', 'handshake timeout (no hello ack in time); retrying'],
    ['heartbeat-timeout', 'local-timeout', 'heartbeat timeout (pings unanswered); retrying'],
    ['stale', 'local-timeout', 'stale link (silent too long); retrying'],
    ['stop', 'local-close', 'stopped; retrying'],
    ['superseded', 'local-close', 'superseded by a newer connection; retrying'],
    ['protocol-error', 'local-close', 'protocol error; retrying'],
  ];

  it.each(locals)('local cause %s', (local, code, text) => {
    const info = loss(1006, { local });
    const verdict = classifyClose(info);
    expect(verdict).toEqual({ action: 'retry', reason: local, code });
    expect(explain(causeOf(info), verdict)).toBe(text);
  });
});

describe('causeOf', () => {
  it('reads a refused upgrade first, then our own or the protocol’s close, then an error, else the close', () => {
    const cases: Array<[DisconnectInfo, Cause]> = [
      [loss(1006, { status: 503, retryAfterMs: 1500 }), { kind: 'upgrade', status: 503, retryAfterMs: 1500 }],
      [loss(1006, { status: 401, errorCode: 'X' }), { kind: 'upgrade', status: 401 }],
      [loss(1006, { local: 'stale', errorCode: 'ECONNRESET' }), { kind: 'local', local: 'stale' }],
      [
        loss(1008, { local: 'handshake-rejected', reason: 'no' }),
        { kind: 'protocol', local: 'handshake-rejected', reason: 'no' },
      ],
      [
        loss(1006, { errorCode: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' }),
        { kind: 'error', errorCode: 'ENOTFOUND', code: 1006, message: 'getaddrinfo ENOTFOUND x' },
      ],
      [loss(1001, { reason: 'bye' }), { kind: 'close', code: 1001, reason: 'bye' }],
    ];
    for (const [info, cause] of cases) expect(causeOf(info)).toEqual(cause);
  });
});

describe('user and protocol verdicts', () => {
  const protocol = {
    classify: (i: DisconnectInfo) => (i.code === 4100 ? ({ action: 'reauth', reason: 'auth' } as const) : undefined),
  };

  it('get the code of who decided unless they name one from the closed list, and are worded with their reason', () => {
    const user = (i: DisconnectInfo) =>
      i.code === 1008
        ? ({ action: 'retry', reason: 'user says retry' } as const)
        : i.code === 4200
          ? ({ action: 'fatal', reason: 'banned', code: 'fatal-close' } as const)
          : i.code === 4300
            ? { action: 'fatal' as const, reason: 'odd', code: 'not-a-code' as VerdictCode }
            : undefined;
    const v1008 = classifyClose(loss(1008), { user, protocol });
    expect(v1008).toEqual({ action: 'retry', reason: 'user says retry', code: 'user' });
    expect(explain(causeOf(loss(1008)), v1008)).toBe(
      'close 1008 (policy violation); retrying (your classifier: user says retry)',
    );
    const v4100 = classifyClose(loss(4100), { user, protocol });
    expect(v4100).toEqual({ action: 'reauth', reason: 'auth', code: 'protocol' });
    expect(explain(causeOf(loss(4100)), v4100)).toBe(
      'close 4100 (application code); re-authenticating (protocol: auth)',
    );
    expect(classifyClose(loss(4200), { user }).code).toBe('fatal-close');
    expect(classifyClose(loss(4300), { user }).code).toBe('user');
  });

  it('explain() words a verdict without a code from its action alone', () => {
    expect(explain({ kind: 'close', code: 1011, reason: '' }, { action: 'retry', reason: 'whatever' })).toBe(
      'close 1011 (server error); retrying',
    );
  });

  it('cuts long peer texts to 80 characters', () => {
    const long = 'x'.repeat(200);
    const text = explain(causeOf(loss(1011, { reason: long })), classifyClose(loss(1011, { reason: long })));
    expect(text).toBe(`close 1011 (server error): "${'x'.repeat(80)}…"; retrying`);
  });
});

describe('the closed list of verdict codes', () => {
  it('is what isVerdictCode() accepts and what the README’s table lists, each code once', () => {
    const codes = Object.keys(VERDICT_CODES);
    for (const code of codes) expect(isVerdictCode(code)).toBe(true);
    expect(isVerdictCode('busy')).toBe(false);
    expect(isVerdictCode('toString')).toBe(false);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = /### Why it reconnected[\s\S]*?(?=\n##)/.exec(readme)?.[0] ?? '';
    const listed = [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...codes].sort());
  });
});

describe('feed, watch and the inspector row word the same loss the same way', () => {
  /** The loss as the feed sees it: log entries, the relay row (actor view and live state items). */
  async function feedOf(url: string, until: 'failed' | 'reconnecting') {
    const pool = createRelayPool({ relays: [url], backoff: { base: 50, max: 200 } });
    cleanups.push(() => pool.stop());
    const feed = new InspectorFeed(pool, { logSize: 100, title: 'why' }).attach();
    cleanups.push(() => feed.detach());
    const live: FeedItem[] = [];
    feed.onItem((item) => live.push(item));
    pool.start();
    await waitUntil(
      () => feed.init().log.some((e) => e.event === 'CONNECTION_LOST' && e.to.startsWith(until)),
      10_000,
      `the loss in the feed's log (${until})`,
    );
    const init = feed.init();
    const entry = init.log.find((e) => e.event === 'CONNECTION_LOST')!;
    const row = init.actors.find((a) => a.machine === 'relay')!;
    const state = live.filter((i) => i.type === 'state' && i.actor === row.id).at(-1);
    return { pool, entry, row, state, lastClose: pool.status().relays[0]!.lastClose! };
  }

  const watch = (args: string[]) => runNode(['--import', 'tsx', 'cli/main.ts', 'watch', ...args], 20_000);

  it('an upgrade refused with 401', async () => {
    const relay = await startTestRelay();
    cleanups.push(() => relay.close());
    relay.rejectUpgrade(401);
    const expected = explain(causeOf(loss(1006, { status: 401 })), classifyClose(loss(1006, { status: 401 })));
    expect(expected).toBe('upgrade refused with HTTP 401 (Unauthorized); giving up');

    const { pool, entry, row, state, lastClose } = await feedOf(relay.url, 'failed');
    expect(lastClose.verdict.code).toBe('upgrade-refused');
    expect(entry.why).toBe(expected);
    expect(entry.reason).toContain(expected);
    expect(row.why).toBe(expected);
    expect(state).toMatchObject({ why: expected });
    // A page attached after the loss gets the same words, from the relay's lastClose.
    const late = new InspectorFeed(pool, { logSize: 100, title: 'late' }).attach();
    cleanups.push(() => late.detach());
    expect(late.init().actors.find((a) => a.machine === 'relay')?.why).toBe(expected);

    const r = await watch([relay.url, '--timeout', '10']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${relay.url}  ${expected}\n`);
    expect(r.out).toContain(`last close: ${expected}`);
    const json = await watch([relay.url, '--json', '--timeout', '10']);
    const lines = json.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.find((l) => l.kind === 'event' && l.type === 'disconnected')).toMatchObject({ why: expected });
    expect(lines.find((l) => l.kind === 'health')).toMatchObject({ lastClose: { why: expected } });
  });

  it('a relay that is not listening (ECONNREFUSED)', async () => {
    const url = `ws://127.0.0.1:${await freePort()}`;
    const info = loss(1006, { errorCode: 'ECONNREFUSED' });
    const expected = explain(causeOf(info), classifyClose(info));
    expect(expected).toBe('unreachable: ECONNREFUSED; retrying');

    const { entry, row, state } = await feedOf(url, 'reconnecting');
    expect(entry.why).toBe(expected);
    expect(entry.reason).toMatch(new RegExp(`^${expected} · retry in \\d+ ms \\(attempt \\d+\\)$`));
    expect(row.why).toBe(expected);
    expect(state).toMatchObject({ why: expected });

    const r = await watch([url, '--timeout', '1', '--interval', '0.5']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`  ${expected}\n`);
    expect(r.out).toContain(`last close: ${expected}`);
  });

  it('the inspector page has no wording of its own: it shows what the feed sends', () => {
    const page = readFileSync(new URL('../inspector/page/app.js', import.meta.url), 'utf8');
    expect(page).not.toMatch(/lastClose|verdict/);
    expect(page).toContain('a.why');
  });
});
