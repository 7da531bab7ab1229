/**
 * Real-fault chaos (`npm run test:chaos`, not part of `npm test`): a publisher and a subscriber pool on the host,
 * three Nostr relay processes (`@nostr-relay/core`) inside a network namespace behind veth pairs, and a scripted
 * fault sequence applied to one relay at a time while the publisher publishes a steady stream of signed events:
 * SIGKILL + restart, SIGSTOP / SIGCONT, iptables DROP both ways, iptables REJECT with tcp-reset, a tc tbf slow link
 * on the primary, then every relay black-holed for longer than `sessionTimeout`. See scenario.ts for the script.
 *
 * The run happens once, in beforeAll; each `it` checks one promise of the library against what it gathered, and
 * the table of what happened is printed either way.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, detectionBound, runChaos, type ChaosResult, type FaultRecord } from './scenario.ts';
import { NETNS_PREFIX } from './netns.ts';

/** Timer and scheduling slack on top of the documented detection bound. */
const DETECTION_SLACK_MS = 1000;
const settings = DEFAULT_SETTINGS;
const bound = detectionBound(settings);
const ARTIFACTS = fileURLToPath(new URL('../../artifacts/chaos', import.meta.url));

let r: ChaosResult;

function acked(): string[] {
  return r.publishes.filter((p) => p.settled?.ok).map((p) => p.id);
}

function lost(): string[] {
  const stored = new Set(r.stored.flatMap((s) => [...s]));
  return acked().filter((id) => !stored.has(id));
}

function duplicates(): string[] {
  return [...r.delivered].filter(([, n]) => n > 1).map(([id]) => id);
}

function fault(prefix: string): FaultRecord | undefined {
  return r.faults.find((f) => f.name.startsWith(prefix));
}

const ms = (v: number | null): string => (v === null ? '—' : `${v}`);

function table(): string {
  const lines: string[] = [];
  lines.push(
    `chaos run: ${r.network.name} (relays ${r.network.addresses.join(', ')}), ${(r.totalMs / 1000).toFixed(1)} s`,
  );
  lines.push(
    `settings: heartbeat ${settings.heartbeat.interval}/${settings.heartbeat.timeout} ×${settings.heartbeat.maxMissed} (detection bound ${bound} ms + ${DETECTION_SLACK_MS} slack), sessionTimeout ${settings.sessionTimeout}, ackTimeout ${settings.ackTimeout}, ${settings.rateHz} publishes/s (odd: publish to k=${settings.relays}, even: send via primary)`,
  );
  lines.push('');
  lines.push(
    '| fault | relay | detected pub / sub ms | silent when given up pub / sub ms | primary moved off ms | back open ms | what the pools saw |',
  );
  lines.push('|---|---|---|---|---|---|---|');
  for (const f of r.faults) {
    const moved = f.wasPrimary ? ms(f.primaryMovedMs) : 'not primary';
    lines.push(
      `| ${f.name} | ${f.relays.join(',')} | ${ms(f.detectMs.pub)} / ${ms(f.detectMs.sub)} | ${ms(f.silentMs.pub)} / ${ms(f.silentMs.sub)} | ${moved} | ${ms(f.recoverMs)} | ${f.notes.join('; ')} |`,
    );
  }
  lines.push('');
  const settled = r.publishes.filter((p) => p.settled);
  const byCode = new Map<string, number>();
  for (const p of settled)
    if (!p.settled!.ok) byCode.set(p.settled!.code ?? '?', (byCode.get(p.settled!.code ?? '?') ?? 0) + 1);
  const mode = (m: string, ok: boolean) => settled.filter((p) => p.mode === m && p.settled!.ok === ok).length;
  const ackedIds = acked();
  const deliveredAcked = ackedIds.filter((id) => r.delivered.has(id)).length;
  lines.push('| publishes | count |');
  lines.push('|---|---|');
  lines.push(
    `| sent | ${r.publishes.length} (send ${r.publishes.filter((p) => p.mode === 'send').length}, publish ${r.publishes.filter((p) => p.mode === 'publish').length}) |`,
  );
  lines.push(`| acked | ${ackedIds.length} (send ${mode('send', true)}, publish ${mode('publish', true)}) |`);
  lines.push(
    `| rejected | ${settled.length - ackedIds.length}${byCode.size ? ` (${[...byCode].map(([c, n]) => `${c} ${n}`).join(', ')})` : ''} |`,
  );
  lines.push(`| unsettled before stop | ${r.unsettledBeforeStop} |`);
  lines.push(
    `| acked delivered to the subscriber | ${deliveredAcked} of ${ackedIds.length} (all delivered ids: ${r.delivered.size}) |`,
  );
  lines.push(`| duplicates delivered | ${duplicates().length} |`);
  lines.push(`| acked lost (on no relay) | ${lost().length} |`);
  lines.push(`| stored per relay | ${r.stored.map((s) => s.size).join(' / ')} |`);
  const p = (q: number) => {
    const sorted = settled
      .filter((x) => x.settled!.ok)
      .map((x) => x.settled!.ms)
      .sort((a, b) => a - b);
    return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
  };
  lines.push(
    `| ack latency p50 / p99 / max ms | ${ms(p(0.5) ?? null)} / ${ms(p(0.99) ?? null)} / ${ms(p(1) ?? null)} |`,
  );
  lines.push(`| session expired during all-down | ${r.expired ? 'yes' : 'no'} |`);
  lines.push(
    `| client: stop() ms / exit after stop ms | ${ms(r.client.stopMs)} / ${r.client.killed ? `not within ${settings.exitBoundMs} (killed)` : ms(r.client.exitMs)} |`,
  );
  if (r.error) lines.push('', `error: ${r.error}`);
  if (r.client.unhandled.length) lines.push('', `client unhandled rejections: ${r.client.unhandled.join('\n')}`);
  if (r.client.stderr.trim()) lines.push('', `client stderr: ${r.client.stderr.trim().slice(0, 2000)}`);
  return lines.join('\n');
}

describe('real faults between the pools (host) and Nostr relays (network namespace)', () => {
  beforeAll(async () => {
    r = await runChaos(settings, (line) => console.log(line));
    console.log(table());
    // The whole run as data, for a look after a failure (artifacts/ is git-ignored).
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(
      join(ARTIFACTS, 'last-run.json'),
      JSON.stringify(
        { ...r, delivered: Object.fromEntries(r.delivered), stored: r.stored.map((s) => [...s]) },
        null,
        1,
      ),
    );
  });

  it('runs the whole fault script: every relay back open in both pools after every fault', () => {
    expect(r.error).toBeNull();
    expect(r.faults.map((f) => f.recoverMs !== null)).toEqual(r.faults.map(() => true));
  });

  it('loses no acked event: every event whose publish resolved is stored on some relay', () => {
    expect(acked().length).toBeGreaterThan(0);
    expect(r.stored, 'every relay was queried at the end').toHaveLength(settings.relays);
    const missing = lost();
    expect(missing.length, `acked but on no relay: ${missing.slice(0, 10).join(', ')}`).toBe(0);
  });

  it('delivers no event twice to the subscriber', () => {
    expect(r.delivered.size).toBeGreaterThan(0);
    const twice = duplicates();
    expect(twice.length, `delivered more than once: ${twice.slice(0, 10).join(', ')}`).toBe(0);
  });

  it('settles every publish, each rejection a RelayActorsError with a code', () => {
    expect(r.publishes.length).toBeGreaterThan(0);
    expect(r.unsettledBeforeStop).toBe(0);
    const untyped = r.publishes.filter(
      (p) => p.settled && !p.settled.ok && (!p.settled.code || p.settled.code.startsWith('UNTYPED')),
    );
    expect(untyped.map((p) => p.settled)).toEqual([]);
  });

  it('delivers every acked event to the subscriber (live or through the re-subscription with since)', () => {
    const missing = acked().filter((id) => !r.delivered.has(id));
    expect(missing.length, `acked, never delivered: ${missing.slice(0, 10).join(', ')}`).toBe(0);
  });

  it(`finds a black-holed link (DROP both ways) within maxMissed × interval + timeout = ${bound} ms (+ ${DETECTION_SLACK_MS} ms)`, () => {
    const f = fault('iptables DROP');
    expect(f?.detectMs.pub).not.toBeNull();
    expect(f?.detectMs.sub).not.toBeNull();
    expect(f!.detectMs.pub!).toBeLessThanOrEqual(bound + DETECTION_SLACK_MS);
    expect(f!.detectMs.sub!).toBeLessThanOrEqual(bound + DETECTION_SLACK_MS);
  });

  it('finds a frozen relay (SIGSTOP: TCP up, nothing answered) within the same bound', () => {
    const f = fault('SIGSTOP');
    expect(f?.detectMs.pub).not.toBeNull();
    expect(f?.detectMs.sub).not.toBeNull();
    expect(f!.detectMs.pub!).toBeLessThanOrEqual(bound + DETECTION_SLACK_MS);
    expect(f!.detectMs.sub!).toBeLessThanOrEqual(bound + DETECTION_SLACK_MS);
  });

  it('finds every relay gone when all are black-holed, expires the session after sessionTimeout, and comes back', () => {
    const f = fault('all DROP');
    expect(f?.detectMs.pub).not.toBeNull();
    expect(f!.detectMs.pub!).toBeLessThanOrEqual(bound + DETECTION_SLACK_MS);
    expect(r.expired).toBe(true);
    expect(f?.recoverMs).not.toBeNull();
  });

  it('moves traffic off a slow primary (tc tbf) while the link is slow', () => {
    const f = fault('tc tbf');
    expect(f?.wasPrimary).toBe(true);
    expect(f?.primaryMovedMs).not.toBeNull();
  });

  it(`lets the client process exit by itself within ${settings.exitBoundMs} ms of stop()`, () => {
    expect(r.client.killed).toBe(false);
    expect(r.client.exitCode).toBe(0);
    expect(r.client.exitMs).not.toBeNull();
    expect(r.client.unhandled).toEqual([]);
  });

  it('leaves no namespace of this run behind', () => {
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(r.network.name.startsWith(NETNS_PREFIX)).toBe(true);
    expect(left).not.toContain(r.network.name);
  });
});
