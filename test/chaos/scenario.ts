/**
 * The chaos run itself: relays as processes inside a network namespace, the client pools as a process on the host,
 * a scripted sequence of kernel- and process-level faults (one relay at a time, then all of them), and what came of
 * it — gathered as plain data for chaos.chaos.ts to assert on and print.
 *
 * Every wait is on a state and bounded; the only fixed waits are how long a fault is held. Whatever happens, the
 * processes started here are ended by their pid and the namespace is deleted: on return, on a throw, on SIGINT /
 * SIGTERM and on exit (see {@link runChaos}).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { ClientConfig, PublishMode, Report } from './client.ts';
import { createNetwork, removeStale, type ChaosNetwork } from './netns.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RELAY_SCRIPT = fileURLToPath(new URL('./relay.ts', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('./client.ts', import.meta.url));
const PORT = 7000;
const USABLE = new Set(['open', 'degraded']);

/** Settings of the run; the defaults are what `npm run test:chaos` uses. */
export interface ChaosSettings extends Omit<ClientConfig, 'urls' | 'tag'> {
  relays: number;
  /** How long each single-relay fault is held. */
  holdMs: number;
  /** Rate of the slow link. */
  slowRate: string;
  slowHoldMs: number;
  /** Bound on the client's exit after `stop()`. */
  exitBoundMs: number;
  /** Bound on the whole script: every wait is cut to what is left of it (a normal run takes about 30 s). */
  budgetMs: number;
}

export const DEFAULT_SETTINGS: ChaosSettings = {
  relays: 3,
  rateHz: 20,
  maxEvents: 2000,
  heartbeat: { interval: 500, timeout: 500, maxMissed: 2 },
  sessionTimeout: 3000,
  ackTimeout: 3000,
  connectTimeout: 2000,
  outboxTtl: 10_000,
  holdMs: 3000,
  slowRate: '16kbit',
  slowHoldMs: 5000,
  exitBoundMs: 5000,
  budgetMs: 140_000,
};

/** The documented bound on finding a dead link: `maxMissed × interval + timeout` after its last frame. */
export function detectionBound(s: ChaosSettings): number {
  return s.heartbeat.maxMissed * s.heartbeat.interval + s.heartbeat.timeout;
}

/** One applied fault and what the pools did about it. */
export interface FaultRecord {
  name: string;
  relays: number[];
  /** Whether the fault must take the relay out of `open`/`degraded` (a slow link need not). */
  kills: boolean;
  /** Clock time just before the fault was applied (detection is measured from here), and how long applying took. */
  appliedAt: number;
  applyMs: number;
  healedAt: number | null;
  /** Per pool: ms from applying the fault to the (last) affected relay leaving `open`/`degraded`, or null. */
  detectMs: { pub: number | null; sub: number | null };
  /** Per pool: how long the (most silent) affected link had received no frame when it was given up, or null. */
  silentMs: { pub: number | null; sub: number | null };
  /** ms from healing to every affected relay `open` again in both pools, or null. */
  recoverMs: number | null;
  /** Whether an affected relay was the publisher's primary when the fault was applied. */
  wasPrimary: boolean;
  /** ms from applying the fault to the publisher's primary moving off the affected relays, or null. */
  primaryMovedMs: number | null;
  /** What the pools saw: states entered by the affected relays, disconnect causes, primary changes. */
  notes: string[];
}

export interface PublishRecord {
  i: number;
  id: string;
  mode: PublishMode;
  sentAt: number;
  settled?: { ok: boolean; code?: string; message?: string; relays?: number; ms: number; at: number };
}

export interface ChaosResult {
  settings: ChaosSettings;
  network: { name: string; addresses: string[] };
  faults: FaultRecord[];
  publishes: PublishRecord[];
  /** Event id → times the subscriber got it. */
  delivered: Map<string, number>;
  /** Everything the client pools reported on `events$` (the kinds client.ts forwards), in order. */
  events: Array<Extract<Report, { t: 'ev' }>>;
  /** Ids found by querying every relay at the end, per relay. */
  stored: Array<Set<string>>;
  /** Publisher pool states seen during the all-down fault. */
  expired: boolean;
  unsettledBeforeStop: number;
  client: {
    stopMs: number | null;
    exitMs: number | null;
    exitCode: number | null;
    signal: string | null;
    killed: boolean;
    resources: string[];
    unhandled: string[];
    stderr: string;
  };
  totalMs: number;
  /** A step of the script that threw (the rest of the result is what was gathered until then). */
  error: string | null;
  stale: string[];
}

/** A child process speaking lines, ended by its pid. */
class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr = '';
  #buffer = '';
  exitedAt: number | null = null;

  constructor(argv: string[], onLine: (line: string) => void) {
    this.proc = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        onLine(line);
      }
    });
    this.proc.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString();
    });
    this.proc.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitedAt = Date.now();
        resolve({ code, signal, at: this.exitedAt });
      });
    });
  }

  get running(): boolean {
    return this.exitedAt === null;
  }

  write(line: string): void {
    if (this.running && this.proc.stdin.writable) this.proc.stdin.write(`${line}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running && this.proc.pid !== undefined) {
      try {
        process.kill(this.proc.pid, signal);
      } catch {
        // Exited meanwhile.
      }
    }
  }

  /** Ends it: stdin closed (it exits by itself), then SIGKILL by pid after `graceMs`. */
  async end(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGCONT');
    this.proc.stdin.end();
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Polls `predicate` every 5 ms up to `timeoutMs`; `broken()` returning a reason ends the wait at once. */
async function waitUntil(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
  broken: () => string | null = () => null,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    const reason = broken();
    if (reason) throw new Error(`${reason} (while waiting for ${what})`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Asks one relay for `ids` with a plain `ws` client (REQ by ids, until EOSE); bounded by `timeoutMs`. */
export function queryIds(url: string, ids: string[], timeoutMs = 10_000): Promise<Set<string>> {
  const found = new Set<string>();
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += 200) chunks.push(ids.slice(i, i + 200));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let waiting = chunks.length;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(
        new Error(`query of ${url} timed out after ${timeoutMs} ms (${waiting} of ${chunks.length} REQs unanswered)`),
      );
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      ws.close();
      resolve(found);
    };
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.on('open', () => {
      if (chunks.length === 0) return finish();
      chunks.forEach((chunk, n) => ws.send(JSON.stringify(['REQ', `q${n}`, { ids: chunk, limit: chunk.length }])));
    });
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as unknown[];
      if (msg[0] === 'EVENT') found.add((msg[2] as { id: string }).id);
      else if (msg[0] === 'EOSE' || msg[0] === 'CLOSED') {
        ws.send(JSON.stringify(['CLOSE', msg[1]]));
        if (--waiting === 0) finish();
      }
    });
  });
}

/** Runs the whole script. Never throws: a failed step is `error`, with everything gathered until then. */
export async function runChaos(
  settings: ChaosSettings = DEFAULT_SETTINGS,
  log: (line: string) => void = () => {},
): Promise<ChaosResult> {
  const t0 = Date.now();
  const result: ChaosResult = {
    settings,
    network: { name: '', addresses: [] },
    faults: [],
    publishes: [],
    delivered: new Map(),
    events: [],
    stored: [],
    expired: false,
    unsettledBeforeStop: -1,
    client: {
      stopMs: null,
      exitMs: null,
      exitCode: null,
      signal: null,
      killed: false,
      resources: [],
      unhandled: [],
      stderr: '',
    },
    totalMs: 0,
    error: null,
    stale: [],
  };
  const relays: Array<Child | null> = [];
  let client: Child | null = null;
  let network: ChaosNetwork | null = null;
  removeStaleJournals();
  const journals = mkdtempSync(join(tmpdir(), `${JOURNAL_PREFIX}${process.pid}-`));

  // Exit paths: everything started here is ended by pid, the namespace deleted. Synchronous where it must be.
  let cleaned = false;
  const cleanupSync = () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of [client, ...relays]) {
      if (c?.running && c.proc.pid !== undefined) {
        try {
          process.kill(c.proc.pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
    network?.destroy();
    rmSync(journals, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cleanupSync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanupSync);

  // ---- what the client reports ----
  const states = { pub: new Map<string, string>(), sub: new Map<string, string>() };
  const evs = result.events;
  const byIndex = new Map<number, PublishRecord>();
  let quiesced = false;
  let stopped: Extract<Report, { t: 'stopped' }> | null = null;
  let ready = false;
  let stopRequested = false;
  let primary: string | null = null;
  let poolStates = { pub: 'idle', sub: 'idle' };

  const onClientLine = (line: string) => {
    let r: Report;
    try {
      r = JSON.parse(line) as Report;
    } catch {
      log(`client: ${line}`);
      return;
    }
    switch (r.t) {
      case 'ready':
        ready = true;
        return;
      case 'ev':
        evs.push(r);
        if (r.type === 'state' && r.url) states[r.pool].set(r.url, r.state!);
        if (r.type === 'pool-state') poolStates = { ...poolStates, [r.pool]: r.state! };
        if (r.type === 'pool-state' && r.pool === 'pub' && r.state === 'expired') result.expired = true;
        if (r.type === 'failover' && r.pool === 'pub') primary = (r.detail as { to: string | null }).to;
        return;
      case 'sent': {
        const p: PublishRecord = { i: r.i, id: r.id, mode: r.mode, sentAt: r.at };
        byIndex.set(r.i, p);
        result.publishes.push(p);
        return;
      }
      case 'settled': {
        const p = byIndex.get(r.i);
        if (p)
          p.settled = {
            ok: r.ok,
            ms: r.ms,
            at: r.at,
            ...(r.code ? { code: r.code } : {}),
            ...(r.message ? { message: r.message } : {}),
            ...(r.relays !== undefined ? { relays: r.relays } : {}),
          };
        return;
      }
      case 'got':
        result.delivered.set(r.id, (result.delivered.get(r.id) ?? 0) + 1);
        return;
      case 'quiesced':
        quiesced = true;
        return;
      case 'stopped':
        stopped = r;
        return;
      case 'unhandled':
        result.client.unhandled.push(r.error);
        return;
      case 'status':
        log(`status: ${JSON.stringify(r)}`);
        return;
    }
  };

  const allOpen = (indices: number[], urls: string[]) =>
    indices.every((i) => states.pub.get(urls[i]!) === 'open' && states.sub.get(urls[i]!) === 'open');

  try {
    result.stale = removeStale();
    if (result.stale.length) log(`removed leftovers of an earlier run: ${result.stale.join(', ')}`);
    network = await createNetwork(settings.relays);
    const net = network;
    result.network = { name: net.name, addresses: net.links.map((l) => l.relayAddress) };
    const urls = net.links.map((l) => `ws://${l.relayAddress}:${PORT}`);
    log(`namespace ${net.name}; relays ${urls.join(' ')}`);

    const startRelay = async (i: number) => {
      let up = false;
      const child = new Child(
        net.exec([
          process.execPath,
          '--import',
          'tsx',
          RELAY_SCRIPT,
          net.links[i]!.relayAddress,
          String(PORT),
          join(journals, `relay${i}.jsonl`),
        ]),
        (line) => {
          if (line.startsWith('ready ')) up = true;
        },
      );
      relays[i] = child;
      await waitUntil(() => up || !child.running, 15_000, `relay ${i} to listen`);
      if (!up) throw new Error(`relay ${i} exited before listening: ${child.stderr.trim()}`);
    };
    await Promise.all(net.links.map((_, i) => startRelay(i)));

    const config: ClientConfig = {
      urls,
      tag: net.name,
      rateHz: settings.rateHz,
      maxEvents: settings.maxEvents,
      heartbeat: settings.heartbeat,
      sessionTimeout: settings.sessionTimeout,
      ackTimeout: settings.ackTimeout,
      connectTimeout: settings.connectTimeout,
      outboxTtl: settings.outboxTtl,
    };
    const c = new Child([process.execPath, '--import', 'tsx', CLIENT_SCRIPT, JSON.stringify(config)], onClientLine);
    client = c;
    // From here on, a client that dies (a crash, an uncaught error) ends the run at once, with its stderr.
    const clientDied = () =>
      c.running || stopRequested ? null : `the client process exited unexpectedly: ${c.stderr.trim().slice(0, 2000)}`;
    const deadline = t0 + settings.budgetMs;
    const wait = (predicate: () => boolean, timeoutMs: number, what: string) =>
      waitUntil(
        predicate,
        Math.max(0, Math.min(timeoutMs, deadline - Date.now())),
        what,
        () => clientDied() ?? (Date.now() > deadline ? `the run's budget of ${settings.budgetMs} ms is spent` : null),
      );
    await wait(() => ready, 15_000, 'the client to start');
    const every = urls.map((_, i) => i);
    await wait(() => allOpen(every, urls), 10_000, 'every relay open in both pools');
    await wait(
      () => evs.filter((e) => e.pool === 'sub' && e.type === 'subscribed').length >= urls.length,
      5000,
      'the subscription on every relay',
    );
    c.write('go');
    await sleep(1000);

    /** Applies a fault, records detection, holds it, heals it, waits for recovery. */
    const fault = async (
      name: string,
      indices: number[],
      kills: boolean,
      holdMs: number,
      apply: () => Promise<void>,
      heal: () => Promise<void>,
    ) => {
      await wait(() => allOpen(every, urls), 15_000, `every relay open before "${name}"`);
      const affected = new Set(indices.map((i) => urls[i]!));
      const record: FaultRecord = {
        name,
        relays: indices,
        kills,
        appliedAt: Date.now(),
        applyMs: 0,
        healedAt: null,
        detectMs: { pub: null, sub: null },
        silentMs: { pub: null, sub: null },
        recoverMs: null,
        wasPrimary: primary !== null && affected.has(primary),
        primaryMovedMs: null,
        notes: [],
      };
      result.faults.push(record);
      const first = evs.length;
      log(`fault: ${name} on relay ${indices.join(', ')}`);
      await apply();
      record.applyMs = Date.now() - record.appliedAt;
      // When the last affected relay left `open`/`degraded` in `pool` (every one must have), or undefined.
      const left = (pool: 'pub' | 'sub'): number | undefined => {
        let last = -Infinity;
        for (const url of affected) {
          const e = evs
            .slice(first)
            .find(
              (x) =>
                x.pool === pool &&
                x.type === 'state' &&
                x.url === url &&
                USABLE.has(x.previous!) &&
                !USABLE.has(x.state!),
            );
          if (!e) return undefined;
          last = Math.max(last, e.at);
        }
        return last;
      };
      const holdUntil = record.appliedAt + holdMs;
      if (kills) {
        // Bounded by the hold: a fault not detected while held is recorded as not detected.
        await wait(
          () => (left('pub') !== undefined && left('sub') !== undefined) || Date.now() >= holdUntil,
          holdMs + 1000,
          `"${name}" to be detected`,
        );
      }
      await sleep(Math.max(0, holdUntil - Date.now()));
      for (const pool of ['pub', 'sub'] as const) {
        const at = left(pool);
        record.detectMs[pool] = at === undefined ? null : at - record.appliedAt;
        // How long each link had been silent when it was given up (its first disconnect in this fault).
        let silent: number | null = null;
        for (const url of affected) {
          const d = evs.slice(first).find((x) => x.pool === pool && x.type === 'disconnected' && x.url === url);
          const last = (d?.detail as { lastFrameAt?: number | null } | undefined)?.lastFrameAt;
          if (d && typeof last === 'number') silent = Math.max(silent ?? 0, d.at - last);
        }
        record.silentMs[pool] = silent;
      }
      const moved = evs
        .slice(first)
        .find(
          (e) =>
            e.pool === 'pub' && e.type === 'failover' && affected.has((e.detail as { from: string | null }).from ?? ''),
        );
      record.primaryMovedMs = moved ? moved.at - record.appliedAt : null;
      record.healedAt = Date.now();
      await heal();
      try {
        await wait(() => allOpen(indices, urls), 15_000, `relay ${indices.join(', ')} open again after "${name}"`);
        record.recoverMs = Date.now() - record.healedAt;
      } finally {
        record.notes = describe(evs.slice(first), affected);
      }
    };

    // 1. A crash: SIGKILL, then a new process on the same address and port (journal reloaded).
    await fault(
      'SIGKILL, restart on the same port',
      [0],
      true,
      1500,
      async () => {
        relays[0]!.signal('SIGKILL');
        await relays[0]!.exited;
      },
      () => startRelay(0),
    );
    // 2. A frozen process: the kernel keeps TCP up and buffers, nothing is answered.
    await fault(
      'SIGSTOP, then SIGCONT',
      [1],
      true,
      settings.holdMs,
      async () => relays[1]!.signal('SIGSTOP'),
      async () => relays[1]!.signal('SIGCONT'),
    );
    // 3. A black hole: every packet dropped both ways; no FIN, no RST, dials hang.
    await fault(
      'iptables DROP both ways',
      [2],
      true,
      settings.holdMs,
      () => net.blackhole(2),
      () => net.heal(2),
    );
    // 4. A reset link: every segment to the relay answered with a RST; dials refused.
    await fault(
      'iptables REJECT tcp-reset',
      [0],
      true,
      settings.holdMs,
      () => net.reset(0),
      () => net.heal(0),
    );
    // 5. A slow link on the publisher's primary (both directions).
    const slow = Math.max(0, primary ? urls.indexOf(primary) : 1);
    await fault(
      `tc tbf ${settings.slowRate} (primary)`,
      [slow],
      false,
      settings.slowHoldMs,
      () => net.slow(slow, settings.slowRate),
      () => net.heal(slow),
    );
    // 6. Everything black-holed for longer than sessionTimeout, then back.
    await fault(
      `all DROP > sessionTimeout`,
      every,
      true,
      settings.sessionTimeout + 2000,
      () => net.blackhole(...every),
      () => net.heal(...every),
    );
    await wait(() => poolStates.pub === 'online' && poolStates.sub === 'online', 10_000, 'both pools online again');
    await sleep(1000);

    // Quiesce: no new publishes; every one must settle on its own (bounded by the ack timeout and outbox TTL).
    c.write('quiesce');
    try {
      await wait(() => quiesced, settings.outboxTtl + settings.ackTimeout + 5000, 'every publish to settle');
    } catch (error) {
      c.write('status');
      await sleep(200);
      throw error;
    } finally {
      result.unsettledBeforeStop = result.publishes.filter((p) => !p.settled).length;
    }
    // Every acked event should reach the subscriber (live, or through the re-subscription with since).
    const acked = result.publishes.filter((p) => p.settled?.ok).map((p) => p.id);
    await wait(
      () => acked.every((id) => result.delivered.has(id)),
      10_000,
      'every acked event at the subscriber',
    ).catch(() => {});

    // What the relays hold, asked over a plain ws client (before the client stops, so nothing waits on it).
    result.stored = await Promise.all(
      urls.map((url) =>
        queryIds(
          url,
          result.publishes.map((p) => p.id),
        ),
      ),
    );

    // Stop, then the client must exit by itself.
    const stopAt = Date.now();
    stopRequested = true;
    c.write('stop');
    const limit = new Promise<'limit'>((resolve) => {
      const timer = setTimeout(() => resolve('limit'), settings.exitBoundMs);
      void c.exited.then(() => clearTimeout(timer));
    });
    const exit = await Promise.race([c.exited, limit]);
    if (exit === 'limit') {
      result.client.killed = true;
      c.signal('SIGKILL');
      await c.exited;
    } else {
      result.client.exitMs = exit.at - stopAt;
      result.client.exitCode = exit.code;
      result.client.signal = exit.signal;
    }
    const s = stopped as Extract<Report, { t: 'stopped' }> | null;
    result.client.stopMs = s?.stopMs ?? null;
    result.client.resources = s?.resources ?? [];
  } catch (error) {
    result.error = String((error as Error)?.stack ?? error);
  } finally {
    result.client.stderr = client?.stderr ?? '';
    await Promise.all([client, ...relays].map((c) => Promise.resolve(c?.end())));
    cleanupSync();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', cleanupSync);
    result.totalMs = Date.now() - t0;
  }
  return result;
}

const JOURNAL_PREFIX = 'relay-actors-chaos-';

/** Removes the relay journals of earlier runs whose process is gone (named after its pid). */
function removeStaleJournals(): void {
  for (const entry of readdirSync(tmpdir())) {
    const pid = entry.startsWith(JOURNAL_PREFIX) ? Number(entry.slice(JOURNAL_PREFIX.length).split('-')[0]) : NaN;
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH')
        rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    }
  }
}

/** A short account of what the pools did to the affected relays during a fault. */
function describe(evs: Array<Extract<Report, { t: 'ev' }>>, affected: Set<string>): string[] {
  const notes = new Set<string>();
  for (const e of evs) {
    if (e.type === 'disconnected' && affected.has(e.url!)) {
      const d = e.detail as { code: number; errorCode?: string; local?: string };
      notes.add(`${e.pool}: ${d.local ?? d.errorCode ?? `close ${d.code}`}`);
    } else if (e.type === 'state' && affected.has(e.url!) && e.state === 'degraded') notes.add(`${e.pool}: degraded`);
    else if (e.type === 'failover' && e.pool === 'pub')
      notes.add(`pub: primary changed (${(e.detail as { reason: string }).reason})`);
    else if (e.type === 'session-expired') notes.add(`${e.pool}: session expired`);
  }
  return [...notes];
}
