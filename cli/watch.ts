/**
 * `relay-actors watch <url…>`: connects a pool to real relays and prints their health live: a line per state
 * change and a health table every `--interval` seconds (or JSON lines with `--json`), optionally with the
 * inspector (`--inspect`).
 *
 * Exit codes: 0 when at least one relay is usable at the end (Ctrl-C or `--timeout`); 1 when none is (every relay
 * failed or unreachable), or at once when every relay is `failed` (nothing will retry); 2 for bad arguments.
 */
import { parseArgs } from 'node:util';
import { createRelayPool, jsonProtocol, nostrProtocol, type RelayPool } from '../index.ts';
import { redactUrl, validateUrl } from '../runtime/options.ts';
import { serveInspector, type InspectorServer } from '../inspector/index.ts';
import type { DisconnectInfo, Protocol } from '../core/contract.ts';
import type { LastClose, PoolEvent, PoolStatus } from '../core/telemetry.ts';
import { causeOf, explain } from '../core/why.ts';

const USAGE = `usage: relay-actors watch <ws-url…> [--protocol json|nostr] [--json] [--inspect] [--port <n>] [--timeout <s>] [--interval <s>]

  --protocol <p>   json (default): JSON frames; nostr: NIP-01 frames (heartbeat by WebSocket ping)
  --json           machine-readable output: one JSON object per line
  --inspect        serve the inspector page and print its URL
  --port <n>       inspector port (default: a free one)
  --timeout <s>    stop after this many seconds; exit 1 if no relay is usable then
  --interval <s>   seconds between health reports (default 2)

exit codes: 0 at least one relay usable at the end; 1 none usable (every relay failed or unreachable); 2 bad arguments`;

function usage(message: string): never {
  process.stderr.write(`relay-actors watch: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const USABLE = new Set(['open', 'degraded']);

/** The `explain()` wording of a relay's last close (its status keeps the loss and the verdict together). */
function lastCloseWhy(last: LastClose): string {
  const { verdict, at: _at, ...info } = last;
  return explain(causeOf({ ...info, wasClean: false } as DisconnectInfo), verdict);
}

export async function runWatch(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        protocol: { type: 'string', default: 'json' },
        json: { type: 'boolean', default: false },
        inspect: { type: 'boolean', default: false },
        port: { type: 'string' },
        timeout: { type: 'string' },
        interval: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
  } catch (e) {
    usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length === 0) usage('give at least one relay URL');
  const urls: string[] = [];
  for (const url of positionals) {
    try {
      urls.push(validateUrl(url));
    } catch (e) {
      usage(`bad relay URL: ${(e as Error).message}`);
    }
  }
  if (values.protocol !== 'json' && values.protocol !== 'nostr')
    usage(`--protocol must be json or nostr, got "${values.protocol}"`);
  const seconds = (name: string, raw: string | undefined, min: number): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) usage(`--${name} must be a number ≥ ${min}, got "${raw}"`);
    return n;
  };
  const timeoutS = seconds('timeout', values.timeout, 0.1);
  const intervalS = seconds('interval', values.interval, 0.1) ?? 2;
  let port = 0;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535)
      usage(`--port must be an integer from 0 to 65535, got "${values.port}"`);
  }
  const json = values.json;

  const out = (line: string) => process.stdout.write(`${line}\n`);
  const stamp = () => new Date().toISOString().slice(11, 23);
  const protocol: Protocol<unknown, unknown, unknown> = values.protocol === 'nostr' ? nostrProtocol() : jsonProtocol();
  const pool: RelayPool = createRelayPool({ relays: urls, protocol });

  // Clear words for what goes wrong, once per relay and cause (not on every retry).
  const told = new Map<string, string>();
  let quiet = false;
  pool.events$.subscribe((e: PoolEvent) => {
    if (quiet) return;
    if (json) {
      if (e.type === 'disconnected')
        out(JSON.stringify({ kind: 'event', ...e, why: explain(causeOf(e.info), e.verdict) }));
      else if (e.type === 'state' || e.type === 'failed' || e.type === 'failover' || e.type === 'heartbeat-off')
        out(JSON.stringify({ kind: 'event', ...e }));
      return;
    }
    if (e.type === 'state') out(`${stamp()}  ${e.url}  ${e.previous} → ${e.state}`);
    else if (e.type === 'failed') out(`${stamp()}  ${e.url}  FAILED: ${e.reason} (no more retries)`);
    else if (e.type === 'heartbeat-off') out(`${stamp()}  ${e.url}  heartbeat off: ${e.reason}`);
    else if (e.type === 'failover') out(`${stamp()}  primary ${e.from ?? '—'} → ${e.to ?? '—'} (${e.reason})`);
    else if (e.type === 'disconnected') {
      const why = explain(causeOf(e.info), e.verdict);
      if (told.get(e.url) === why) return;
      told.set(e.url, why);
      out(`${stamp()}  ${e.url}  ${why}`);
    }
  });
  pool.events$.subscribe((e: PoolEvent) => {
    if (e.type === 'state' && e.state === 'open') told.delete(e.url);
  });

  const report = (s: PoolStatus) => {
    if (json) {
      for (const r of s.relays)
        out(
          JSON.stringify({
            kind: 'health',
            at: Date.now(),
            url: r.url,
            state: r.state,
            score: Math.round(r.score * 1000) / 1000,
            rttMs: r.rttEwmaMs,
            attempts: r.attempts,
            heartbeat: r.heartbeat,
            lastClose: r.lastClose
              ? {
                  code: r.lastClose.code,
                  reason: r.lastClose.reason,
                  verdict: r.lastClose.verdict.action,
                  why: lastCloseWhy(r.lastClose),
                }
              : null,
            primary: r.primary,
          }),
        );
      return;
    }
    out(`${stamp()}  pool ${s.state}, primary ${s.primary ?? '—'}`);
    for (const r of s.relays)
      out(
        `  ${r.url.padEnd(40)} ${r.state.padEnd(12)} score ${r.score.toFixed(2)}  rtt ${r.rttEwmaMs === null ? '—' : `${r.rttEwmaMs.toFixed(1)} ms`}  attempts ${r.attempts}  heartbeat ${r.heartbeat}${r.lastClose ? `  last close: ${lastCloseWhy(r.lastClose)}` : ''}`,
      );
  };

  // The inspector first: if it cannot listen, say so and leave before any relay was dialled.
  let inspector: InspectorServer | undefined;
  if (values.inspect) {
    try {
      inspector = await serveInspector(pool, { port, title: `relay-actors watch: ${urls.map(redactUrl).join(', ')}` });
    } catch (e) {
      quiet = true;
      await pool.stop();
      const code = (e as { code?: string }).code;
      process.stderr.write(
        `relay-actors watch: cannot serve the inspector on port ${port}: ${code ?? ''}${code ? ' ' : ''}${(e as Error).message}\n`,
      );
      process.exitCode = 2;
      return 2;
    }
    if (json) out(JSON.stringify({ kind: 'inspector', url: inspector.url }));
    else out(`inspector: ${inspector.url}`);
  }
  pool.start();

  const reason = await new Promise<'signal' | 'timeout' | 'all-failed'>((resolve) => {
    const finish = (why: 'signal' | 'timeout' | 'all-failed') => {
      clearInterval(tick);
      clearTimeout(deadline);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      sub.unsubscribe();
      resolve(why);
    };
    const onSignal = () => finish('signal');
    const tick = setInterval(() => report(pool.status()), intervalS * 1000);
    const deadline = timeoutS !== undefined ? setTimeout(() => finish('timeout'), timeoutS * 1000) : undefined;
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const allFailed = () => pool.status().relays.every((r) => r.state === 'failed');
    const sub = pool.health$.subscribe(() => {
      if (allFailed()) finish('all-failed');
    });
    // Relays that failed before we listened send no further health sample.
    if (allFailed()) finish('all-failed');
  });

  const final = pool.status();
  report(final);
  const usable = final.relays.filter((r) => USABLE.has(r.state)).length;
  const code = usable > 0 ? 0 : 1;
  const verdict =
    reason === 'all-failed'
      ? 'every relay failed (no retries left)'
      : usable > 0
        ? `${usable} of ${final.relays.length} relays usable`
        : `no relay usable${reason === 'timeout' ? ` after ${timeoutS} s` : ''}: ${final.relays.map((r) => `${r.url} ${r.state}`).join(', ')}`;
  if (json) out(JSON.stringify({ kind: 'exit', code, reason, verdict }));
  else out(`${verdict}; exit ${code}`);
  quiet = true;
  await inspector?.close();
  await pool.stop();
  process.exitCode = code;
  return code;
}
