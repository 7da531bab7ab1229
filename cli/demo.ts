/**
 * `relay-actors demo` (and `npm start`): three embedded test relays on 127.0.0.1, a publisher pool that publishes
 * numbered messages to them and a subscriber pool that receives them, through a scripted sequence of faults: a
 * crash and restart, a half-open link, a slow link, and a fatal 401 followed by a manual retry. The offline
 * inspector shows the publisher's statecharts live; the terminal shows every relay's state, score and the
 * primary. Runs until Ctrl-C or `--duration`, then stops cleanly and prints what was sent, delivered, duplicated
 * and lost.
 */
import { parseArgs } from 'node:util';
import { createRelayPool, jsonProtocol, type RelayPool } from '../index.ts';
import { serveInspector, type InspectorServer } from '../inspector/index.ts';
import { startTestRelay, type TestRelay } from '../testkit/index.ts';
import type { PoolEvent, PoolStatus } from '../core/telemetry.ts';

const USAGE = `usage: relay-actors demo [--duration <seconds>] [--rate <messages/s>] [--no-inspector] [--port <inspector port>] [--json]

  --duration <s>   stop after this many seconds (default: run until Ctrl-C); the fault script takes 20 s and repeats
  --rate <n>       messages published per second (default 50)
  --no-inspector   do not serve the inspector page
  --port <n>       inspector port (default: a free one)
  --json           print only the summary on stdout, as one JSON line (the log goes to stderr)`;

interface Summary {
  /** Messages handed to the publisher pool. */
  published: number;
  /** Of those, taken (acked) by at least one relay. */
  sent: number;
  /** Of the sent ones, received by the subscriber. */
  delivered: number;
  duplicates: number;
  /** Sent but never delivered. */
  lost: number;
  /** Publishes rejected with a typed error (the publisher knows they failed). */
  rejected: number;
  /** Publishes neither sent nor rejected when the demo stopped (none, unless a relay never came back). */
  unsettled: number;
  failovers: number;
  reconnects: number;
  durationS: number;
}

type Post = { type: 'post'; id: string; topic: string; seq: number };

function fail(message: string): never {
  process.stderr.write(`relay-actors demo: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parse(argv: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        rate: { type: 'string' },
        'no-inspector': { type: 'boolean', default: false },
        port: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const num = (name: string, raw: string | undefined, min: number, max: number): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      fail(`--${name} must be a number from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const port = (raw: string | undefined): number => {
    if (raw === undefined) return 0;
    if (!/^\d+$/.test(raw) || Number(raw) > 65535) fail(`--port must be an integer from 0 to 65535, got "${raw}"`);
    return Number(raw);
  };
  return {
    durationS: num('duration', values.duration, 1, 86_400),
    rate: num('rate', values.rate, 1, 5000) ?? 50,
    inspector: !values['no-inspector'],
    port: port(values.port),
    json: values.json,
  };
}

/** One step of the fault script: at `at` seconds into each 20 s cycle. */
interface Step {
  at: number;
  say: string;
  run(relays: TestRelay[], pub: RelayPool<Post, Post>, sub: RelayPool<Post, Post>): Promise<void> | void;
}

const CYCLE_S = 20;
const SCRIPT: Step[] = [
  { at: 2, say: 'fault: relay A crashes (TCP dropped, no close frame)', run: (r) => r[0]!.kill() },
  { at: 4.5, say: 'relay A restarts on the same port', run: (r) => r[0]!.restart() },
  { at: 6.5, say: 'fault: relay B goes half-open (TCP up, nothing answered)', run: (r) => r[1]!.pause() },
  { at: 9.5, say: 'relay B heals', run: (r) => r[1]!.resume() },
  { at: 10.5, say: 'fault: relay C becomes a slow link (+250 ms on every answer)', run: (r) => r[2]!.delay(250) },
  { at: 13, say: 'relay C is fast again', run: (r) => r[2]!.delay(0) },
  {
    at: 13.5,
    say: 'fault: relay A starts refusing us with HTTP 401 (fatal: no retries)',
    run: (r) => {
      r[0]!.rejectUpgrade(401);
      r[0]!.closeAll(1012, 'restarting with new credentials');
    },
  },
  {
    at: 16.5,
    say: 'relay A accepts us again; the app retries it by hand (RETRY overrides failed)',
    run: (r, pub, sub) => {
      r[0]!.acceptUpgrades();
      pub.retry(r[0]!.url);
      sub.retry(r[0]!.url);
    },
  },
];

const RESET = '\x1b[0m';
const COLORS: Record<string, string> = {
  open: '\x1b[32m',
  degraded: '\x1b[33m',
  connecting: '\x1b[36m',
  reconnecting: '\x1b[35m',
  failed: '\x1b[31m',
  closed: '\x1b[90m',
  idle: '\x1b[90m',
};

export async function runDemo(argv: string[]): Promise<Summary> {
  const opts = parse(argv);
  const tty = process.stdout.isTTY === true && !opts.json;
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  // With --json, stdout carries only the summary; everything else is for people, on stderr.
  const human = opts.json ? process.stderr : process.stdout;
  const log = (text: string): void => void human.write(`${elapsed().toFixed(1).padStart(6)} s  ${text}\n`);

  const relays = await Promise.all(['A', 'B', 'C'].map(() => startTestRelay({ echo: false, ack: true, pubsub: true })));
  const names = new Map(relays.map((r, i) => [r.url, 'ABC'[i]!]));
  const nameOf = (url: string | null) => (url ? (names.get(url) ?? names.get(url.replace(/\/$/, '')) ?? url) : '—');
  const common = {
    relays: relays.map((r) => r.url),
    protocol: jsonProtocol<Post, Post>({ acks: true }),
    heartbeat: { interval: 500, timeout: 500, maxMissed: 2 },
    backoff: { base: 150, max: 1500, stableAfter: 1000 },
    connectTimeout: 2000,
    closeTimeout: 500,
  };
  const pub = createRelayPool<Post, Post>({ ...common, id: 'publisher', selection: { strategy: 'broadcast', k: 3 } });
  const sub = createRelayPool<Post, Post>({ ...common, id: 'subscriber' });

  let failovers = 0;
  let reconnects = 0;
  const onEvent = (who: string) => (e: PoolEvent) => {
    if (e.type === 'failover') {
      failovers++;
      if (!tty) log(`${who}: failover ${nameOf(e.from)} → ${nameOf(e.to)} (${e.reason})`);
    } else if (e.type === 'reconnect-scheduled') {
      reconnects++;
    } else if (e.type === 'state' && !tty) {
      log(`${who}: relay ${nameOf(e.url)} ${e.previous} → ${e.state}`);
    } else if (e.type === 'failed' && !tty) {
      log(`${who}: relay ${nameOf(e.url)} failed: ${e.reason}`);
    }
  };
  pub.events$.subscribe(onEvent('publisher'));
  sub.events$.subscribe(onEvent('subscriber'));

  // Receive: every message once, whichever relays carried it.
  const seen = new Set<number>();
  let duplicates = 0;
  sub.subscribe({ topic: 'demo' }).subscribe((m) => {
    if (seen.has(m.seq)) duplicates++;
    else seen.add(m.seq);
  });

  // The inspector first: a port it cannot listen on ends the demo before anything was dialled.
  let inspector: InspectorServer | undefined;
  if (opts.inspector) {
    try {
      inspector = await serveInspector(pub, { port: opts.port, title: 'relay-actors demo: publisher pool' });
    } catch (e) {
      await Promise.all([pub.stop(), sub.stop()]);
      await Promise.all(relays.map((r) => r.close()));
      const code = (e as { code?: string }).code;
      fail(`cannot serve the inspector on port ${opts.port}: ${code ? `${code} ` : ''}${(e as Error).message}`);
    }
    human.write(
      `inspector: ${inspector.url}\n  (open it in a browser on this machine; it shows the publisher pool and its three relays live)\n`,
    );
  }
  pub.start();
  sub.start();
  await Promise.all([pub.waitFor('online', 10_000), sub.waitFor('online', 10_000)]);
  log(`relays A ${relays[0]!.url}, B ${relays[1]!.url}, C ${relays[2]!.url}; publishing ${opts.rate} messages/s`);

  // Publish: each message to every usable relay (broadcast, k = 3), acked by the relays.
  let seq = 0;
  const acked = new Set<number>();
  let rejected = 0;
  const inflight = new Set<Promise<void>>();
  let publishing = true;
  const publishTimer = setInterval(() => {
    if (!publishing) return;
    const n = ++seq;
    const p = pub
      .publish({ type: 'post', id: `m${n}`, topic: 'demo', seq: n })
      .then(
        () => void acked.add(n),
        (e: Error) => {
          rejected++;
          if (!tty) log(`publish m${n} rejected: ${e.name}: ${e.message}`);
        },
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }, 1000 / opts.rate);

  // The fault script, repeating every 20 s.
  let cycle = 0;
  let stepIndex = 0;
  let scriptRunning = Promise.resolve();
  const scriptTimer = setInterval(() => {
    const step = SCRIPT[stepIndex];
    if (!step || elapsed() < cycle * CYCLE_S + step.at) return;
    stepIndex++;
    if (stepIndex >= SCRIPT.length) {
      stepIndex = 0;
      cycle++;
    }
    if (!tty) log(`--- ${step.say}`);
    else lastSay = step.say;
    scriptRunning = scriptRunning
      .then(() => step.run(relays, pub, sub))
      .catch((e: Error) => {
        log(`script step failed: ${e.message}`);
      });
  }, 50);

  // The live view.
  let lastSay = 'all relays up';
  let drawn = 0;
  const row = (s: PoolStatus['relays'][number]) => {
    const c = COLORS[s.state] ?? '';
    return `  ${nameOf(s.url)}  ${c}${s.state.padEnd(12)}${RESET} score ${s.score.toFixed(2)}  rtt ${s.rttEwmaMs === null ? '   —  ' : `${s.rttEwmaMs.toFixed(1).padStart(6)}`} ms  attempts ${String(s.attempts).padStart(2)}${s.primary ? '  ◀ primary' : ''}`;
  };
  const draw = () => {
    const ps = pub.status();
    const ss = sub.status();
    const lines = [
      `relay-actors demo  ${elapsed().toFixed(1)} s${opts.durationS ? ` / ${opts.durationS} s` : '  (Ctrl-C to stop)'}   ${lastSay}`,
      `publisher pool: ${ps.state}   primary ${nameOf(ps.primary)}   outbox ${ps.outbox.messages}   inflight ${ps.inflight}`,
      ...ps.relays.map(row),
      `subscriber pool: ${ss.state}`,
      ...ss.relays.map(row),
      `published ${seq}  sent ${acked.size}  received ${seen.size}  duplicates ${duplicates}  rejected ${rejected}  failovers ${failovers}  reconnects ${reconnects}`,
    ];
    process.stdout.write(`${drawn ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    drawn = lines.length;
  };
  const viewTimer = tty ? setInterval(draw, 250) : undefined;

  // Run until Ctrl-C or --duration.
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      clearTimeout(durationTimer);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    const durationTimer = opts.durationS ? setTimeout(done, opts.durationS * 1000) : undefined;
  });

  // Wind down: stop publishing and faults, heal every relay, let what was sent arrive.
  publishing = false;
  clearInterval(publishTimer);
  clearInterval(scriptTimer);
  await scriptRunning;
  for (const r of relays) {
    r.resume();
    r.delay(0);
    r.acceptUpgrades();
    if (!r.listening) await r.restart();
  }
  pub.retry();
  sub.retry();
  const deadline = Date.now() + 10_000;
  while (inflight.size > 0 && Date.now() < deadline)
    await Promise.race([...inflight, new Promise((r) => setTimeout(r, 100))]);
  const missing = () => [...acked].filter((n) => !seen.has(n)).length;
  while (missing() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (viewTimer) {
    clearInterval(viewTimer);
    draw();
  }

  await inspector?.close();
  await Promise.all([pub.stop(), sub.stop()]);
  await Promise.all(relays.map((r) => r.close()));

  // Lost: taken by a relay (the publisher was told it was sent) but never delivered. Rejected sends were
  // reported to the publisher as failed, so they are not lost, whether or not they arrived; delivered counts
  // only sent messages, so sent = delivered + lost.
  const lost = missing();
  const sent = acked.size;
  const delivered = sent - lost;
  const summary: Summary = {
    published: seq,
    sent,
    delivered,
    duplicates,
    lost,
    rejected,
    unsettled: seq - sent - rejected,
    failovers,
    reconnects,
    durationS: Math.round(elapsed() * 10) / 10,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stdout.write(
      [
        'summary',
        `  messages published  ${summary.published}`,
        `  sent (acked)        ${sent}`,
        `  delivered           ${summary.delivered}`,
        `  duplicates          ${duplicates}`,
        `  lost                ${lost}`,
        `  rejected (typed)    ${rejected}`,
        ...(summary.unsettled > 0 ? [`  unsettled           ${summary.unsettled}`] : []),
        `  failovers           ${failovers}`,
        `  reconnects          ${reconnects}`,
        `stopped cleanly after ${summary.durationS} s`,
      ].join('\n') + '\n',
    );
  }
  if (lost > 0 || duplicates > 0 || summary.unsettled > 0) process.exitCode = 1;
  return summary;
}
