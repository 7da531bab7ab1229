/**
 * `npm run bench [-- --quick]`: raw `ws`, relay-actors (`createRelay`, `createRelayPool`), `partysocket` and
 * `reconnecting-websocket` side by side in ONE run on loopback, printed as figures and ratios to raw `ws`.
 * The server runs in a child process; heap and idle-CPU figures come from a fresh child process per client kind.
 * Every loop is bounded in count and time; every child is ended by its pid.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createRelayPool, jsonProtocol } from '../index.ts';
import { startTestRelay } from '../testkit/testRelay.ts';
import { KINDS, openClient, type BenchClient, type Kind } from './clients.ts';
import { eventFrames, verifyRates } from './nostrVerify.ts';

const quick = process.argv.includes('--quick');
const SIZES = quick
  ? { messages: 50_000, rounds: 3, roundTrips: 1000, idle: 1000, cpuSeconds: 5, failovers: 10, nostrEvents: 500 }
  : { messages: 200_000, rounds: 7, roundTrips: 7000, idle: 1000, cpuSeconds: 10, failovers: 30, nostrEvents: 1000 };
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const children = new Set<ChildProcess>();

// ---- helpers -----------------------------------------------------------------------------------------------

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface Server {
  url: string;
  count(): Promise<number>;
  stop(): void;
}

async function startServer(): Promise<Server> {
  const child = fork(here('./server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const port = await bounded(
    new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port))),
    20_000,
    'server start',
  );
  return {
    url: `ws://127.0.0.1:${port}`,
    count: () =>
      new Promise<number>((resolve) => {
        child.once('message', (m: { count: number }) => resolve(m.count));
        child.send('count');
      }),
    stop: () => {
      child.send('exit');
      children.delete(child);
    },
  };
}

function runWorker(args: string[], timeoutMs: number): Promise<Record<string, number>> {
  return bounded(
    new Promise((resolve, reject) => {
      const child = fork(here('./worker.ts'), args, {
        execArgv: ['--expose-gc', '--import', 'tsx'],
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      });
      children.add(child);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => {
        children.delete(child);
        const line = out.trim().split('\n').pop() ?? '';
        if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as Record<string, number>);
        else reject(new Error(`worker ${args.join(' ')} exited ${code}: ${out}`));
      });
    }),
    timeoutMs,
    `worker ${args[0]} ${args[1]}`,
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** A 64-byte JSON text frame: {"t":"m","i":N,"p":"xx…"} padded to 64 bytes. */
function message64(i: number, t = 'm'): Record<string, unknown> {
  const head = JSON.stringify({ t, i, p: '' });
  return { t, i, p: 'x'.repeat(64 - head.length) };
}

// ---- measurements ------------------------------------------------------------------------------------------

/** One-way 64-byte messages/s, counted at the server, with the same batching and backpressure for every client. */
async function throughput(server: Server, client: BenchClient, n: number): Promise<number> {
  const start = await server.count();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    client.send(message64(i));
    if (i % 1000 === 999) {
      await turn();
      for (let spins = 0; client.buffered() > 1 << 20 && spins < 10_000; spins++) await turn();
    }
  }
  const deadline = Date.now() + 60_000;
  while ((await server.count()) < start + n && Date.now() < deadline) await turn();
  return n / ((performance.now() - t0) / 1000);
}

/** Sequential round trips of 64-byte frames through the echo server; returns RTTs in µs. */
async function roundTrips(client: BenchClient, n: number): Promise<number[]> {
  const rtts: number[] = [];
  let waiting: (() => void) | undefined;
  client.onMessage((m) => {
    if (m.t === 'e') waiting?.();
  });
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await bounded(
      new Promise<void>((resolve) => {
        waiting = resolve;
        client.send(message64(i, 'e'));
      }),
      5000,
      'echo',
    );
    rtts.push((performance.now() - t0) * 1000);
  }
  return rtts;
}

type PoolClient = BenchClient & { pool: ReturnType<typeof createRelayPool> };
function openPool(urls: string[]): PoolClient {
  const pool = createRelayPool({ relays: urls, wake: false, closeTimeout: 0, protocol: jsonProtocol() }).start();
  return {
    pool,
    opened: pool.waitFor('online', 30_000).then(async () => {
      // Ranking needs RTTs only for the primary choice; the data path does not wait for them.
      for (let i = 0; i < 200 && pool.status().relays.some((r) => r.state !== 'open'); i++)
        await new Promise((r) => setTimeout(r, 10));
    }),
    send: (m) => void pool.send(m).catch(() => {}),
    onMessage: (l) => pool.messages$.subscribe(l),
    buffered: () => {
      const primary = pool.status().primary;
      return primary ? (pool.relay(primary)?.bufferedAmount ?? 0) : 0;
    },
    close: () => pool.stop(),
  };
}

/** Time from the primary's death to the next message delivered (echoed) through another relay, ms. */
async function failoverGaps(iterations: number): Promise<number[]> {
  const relays = await Promise.all([0, 1, 2].map(() => startTestRelay({ pubsub: false, ack: false })));
  const pool = createRelayPool({
    relays: relays.map((r) => r.url),
    wake: false,
    closeTimeout: 0,
    heartbeat: { interval: 1000, timeout: 500 },
    backoff: { base: 20, max: 100 },
  }).start();
  await pool.waitFor('online', 10_000);
  const gaps: number[] = [];
  let seq = 0;
  try {
    for (let k = 0; k < iterations; k++) {
      for (let i = 0; i < 200 && pool.status().relays.some((r) => r.state !== 'open'); i++)
        await new Promise((r) => setTimeout(r, 10));
      const primaryUrl = pool.status().primary!;
      const victim = relays.find((r) => r.url === primaryUrl)!;
      let delivered: ((at: number) => void) | undefined;
      const firstSeq = seq;
      // Only an echo of a message sent after the kill, through another relay, counts.
      const subs = relays
        .filter((r) => r !== victim)
        .map((r) =>
          pool
            .relay(r.url)!
            .messages$.subscribe((m) => (m as { n?: number }).n! >= firstSeq && delivered?.(performance.now())),
        );
      const gotEcho = new Promise<number>((resolve) => (delivered = resolve));
      const t0 = performance.now();
      const killing = victim.kill();
      // Keep a steady stream going (every event-loop turn) until one message comes back through another relay.
      let answered: number | undefined;
      void gotEcho.then((t) => (answered = t));
      for (let spins = 0; answered === undefined && spins < 100_000; spins++) {
        pool.send({ type: 'echo', n: seq++ }).catch(() => {});
        await turn();
      }
      for (const sub of subs) sub.unsubscribe();
      await killing;
      if (answered !== undefined) gaps.push(answered - t0);
      await victim.restart();
    }
  } finally {
    await pool.stop();
    await Promise.all(relays.map((r) => r.close()));
  }
  return gaps;
}

// ---- the run -----------------------------------------------------------------------------------------------

interface Row {
  metric: string;
  values: Partial<Record<string, number>>;
  unit: string;
  /** Ratio of relay-actors (or the pool) to raw ws, and the target. */
  ratio?: { of: string; value: number; target: string; pass: boolean; range?: [number, number] };
}

/** Median, min and max of the per-round ratios a[i] / b[i]: rounds are paired, so slow drifts of the machine cancel. */
function pairedRatio(a: number[], b: number[]): { value: number; range: [number, number] } {
  const r = a.map((x, i) => x / b[i]!);
  return { value: median(r), range: [Math.min(...r), Math.max(...r)] };
}

async function main(): Promise<void> {
  const started = Date.now();
  const rows: Row[] = [];
  const server = await startServer();
  try {
    // Throughput and RTT: every client kind, rounds interleaved; figures are medians of the rounds, ratios the
    // median of the per-round ratios (with their range).
    const kinds: Array<Kind | 'pool'> = [...KINDS, 'pool'];
    const rates: Record<string, number[]> = {};
    for (let round = 0; round < SIZES.rounds; round++) {
      for (const kind of kinds) {
        const client =
          kind === 'pool'
            ? openPool([server.url + '/a', server.url + '/b', server.url + '/c'])
            : openClient(kind, server.url);
        await bounded(client.opened, 30_000, `${kind} open`);
        (rates[kind] ??= []).push(await throughput(server, client, SIZES.messages));
        await client.close();
      }
    }
    // RTT: rounds interleaved too (order effects and background load hit every kind alike); samples pooled for the
    // figures, and per-round p50s paired for the ratios.
    const rtt: Record<string, number[]> = {};
    const rttP50: Record<string, number[]> = {};
    for (let round = 0; round < SIZES.rounds; round++) {
      for (const kind of kinds) {
        const client =
          kind === 'pool'
            ? openPool([server.url + '/a', server.url + '/b', server.url + '/c'])
            : openClient(kind, server.url);
        await bounded(client.opened, 30_000, `${kind} open`);
        await roundTrips(client, 200); // warm-up
        const samples = await roundTrips(client, Math.ceil(SIZES.roundTrips / SIZES.rounds));
        (rtt[kind] ??= []).push(...samples);
        (rttP50[kind] ??= []).push(pct(samples, 50));
        await client.close();
      }
    }
    const perKind = (f: (k: string) => number) => Object.fromEntries(kinds.map((k) => [k, f(k)]));
    const msgs = perKind((k) => median(rates[k]!));
    const p50 = perKind((k) => pct(rtt[k]!, 50));
    const p99 = perKind((k) => pct(rtt[k]!, 99));
    const ours = pairedRatio(rates['relay-actors']!, rates.ws!);
    const poolRate = pairedRatio(rates.pool!, rates.ws!);
    const oursP50 = pairedRatio(rttP50['relay-actors']!, rttP50.ws!);
    const poolP50 = pairedRatio(rttP50.pool!, rttP50.ws!);
    rows.push({
      metric: 'one-way 64 B messages/s',
      values: msgs,
      unit: 'msg/s',
      ratio: { of: 'relay-actors', ...ours, target: '≥ 0.97', pass: ours.value >= 0.97 },
    });
    rows.push({
      metric: '  pool of 3 relays',
      values: { pool: msgs.pool! },
      unit: 'msg/s',
      ratio: { of: 'pool', ...poolRate, target: '≥ 0.95', pass: poolRate.value >= 0.95 },
    });
    rows.push({
      metric: 'RTT p50',
      values: p50,
      unit: 'µs',
      ratio: { of: 'relay-actors', ...oursP50, target: '≤ 1.1', pass: oursP50.value <= 1.1 },
    });
    rows.push({
      metric: 'RTT p99',
      values: p99,
      unit: 'µs',
      ratio: {
        of: 'relay-actors',
        value: p99['relay-actors']! / p99.ws!,
        target: '≤ 1.1',
        pass: p99['relay-actors']! / p99.ws! <= 1.1,
      },
    });
    rows.push({
      metric: '  pool RTT p50 / p99',
      values: { pool: p50.pool!, 'pool p99': p99.pool! },
      unit: 'µs',
      ratio: { of: 'pool', ...poolP50, target: '≤ 1.1 (p50)', pass: poolP50.value <= 1.1 },
    });

    // Heap per idle connection at 1,000: a fresh process per kind.
    const heap: Record<string, number> = {};
    for (const kind of KINDS)
      heap[kind] =
        (await runWorker(['heap', kind, server.url, String(SIZES.idle)], 180_000)).bytesPerConnection! / 1024;
    heap.pool =
      (await runWorker(['poolheap', 'pool', server.url, String(SIZES.idle)], 180_000)).bytesPerConnection! / 1024;
    rows.push({
      metric: `heap per idle connection (${SIZES.idle})`,
      values: heap,
      unit: 'KiB',
      ratio: {
        of: 'relay-actors',
        value: heap['relay-actors']! / heap.ws!,
        target: '≤ 6 KiB',
        pass: heap['relay-actors']! <= 6,
      },
    });

    // Idle CPU at 1,000 with a 1 s heartbeat vs hand-rolled setInterval pings.
    // Three interleaved runs of each, median of the CPU share.
    const cpuPct = (r: Record<string, number>) => (100 * r.cpuMs!) / r.wallMs!;
    const cpuRuns: Record<string, number[]> = { 'ws+setInterval': [], 'relay-actors': [] };
    for (let i = 0; i < 3; i++) {
      for (const kind of Object.keys(cpuRuns))
        cpuRuns[kind]!.push(
          cpuPct(await runWorker(['cpu', kind, server.url, String(SIZES.idle), String(SIZES.cpuSeconds)], 180_000)),
        );
    }
    const cpuBase = median(cpuRuns['ws+setInterval']!);
    const cpuOurs = median(cpuRuns['relay-actors']!);
    const cpuRatio = pairedRatio(cpuRuns['relay-actors']!, cpuRuns['ws+setInterval']!);
    rows.push({
      metric: `idle CPU, ${SIZES.idle} conns, 1 s heartbeat (median of 3)`,
      values: { 'ws+setInterval': cpuBase, 'relay-actors': cpuOurs },
      unit: '% of a core',
      ratio: { of: 'relay-actors', ...cpuRatio, target: '≤ 1.2', pass: cpuRatio.value <= 1.2 },
    });
  } finally {
    server.stop();
  }

  const gaps = await failoverGaps(SIZES.failovers);
  rows.push({
    metric: `failover gap (${gaps.length} kills)`,
    values: { p50: pct(gaps, 50), p99: pct(gaps, 99) },
    unit: 'ms',
  });

  // Nostr: inbound EVENT frames decoded per second with and without signature verification (CPU, in-process).
  const verify = verifyRates(eventFrames(SIZES.nostrEvents), 3);
  rows.push({
    metric: `Nostr EVENT decode, ${SIZES.nostrEvents} signed events (median of 3)`,
    values: verify,
    unit: 'events/s',
  });

  print(rows, Date.now() - started);
}

function print(rows: Row[], elapsedMs: number): void {
  const fmt = (x: number | undefined) =>
    x === undefined ? '' : x >= 1000 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  const lines: string[] = [];
  lines.push(
    `relay-actors benchmark (${quick ? 'quick' : 'full'}) — node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, ${new Date().toISOString().slice(0, 10)}`,
  );
  lines.push(
    `command: npm run bench${quick ? ' -- --quick' : ''}; loopback, server in a child process; ${Math.round(elapsedMs / 1000)} s`,
  );
  lines.push('');
  lines.push('| metric | unit | figures | ratio to raw ws | target | |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of rows) {
    const figures = Object.entries(r.values)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(' · ');
    const range = r.ratio?.range ? ` (rounds ${r.ratio.range[0].toFixed(2)}–${r.ratio.range[1].toFixed(2)})` : '';
    const ratio = r.ratio ? `${r.ratio.of} ${r.ratio.value.toFixed(2)}×${range}` : '';
    lines.push(
      `| ${r.metric} | ${r.unit} | ${figures} | ${ratio} | ${r.ratio?.target ?? ''} | ${r.ratio ? (r.ratio.pass ? 'PASS' : 'MISS') : ''} |`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

try {
  await main();
} finally {
  for (const child of children) child.kill();
}
