/**
 * The client side of the chaos run, in its own process on the host: a publisher pool and a subscriber pool
 * (`createRelayPool` + `nostrProtocol`, events signed with nostr-tools) over the relays behind the test's veth pairs.
 *
 *   node --import tsx test/chaos/client.ts '<ClientConfig as JSON>'
 *
 * It talks JSON lines: commands on stdin (`go`, `quiesce`, `stop`, `status`), reports on stdout ({@link Report}),
 * every one stamped with this machine's wall clock so the test can set them against the faults it applied. After
 * `stop` it releases stdin, awaits both pools' `stop()` and reports `stopped`; from then on nothing but the pools'
 * own leftovers could keep it alive, which is what the test checks by waiting for it to exit by itself.
 */
import { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure';
import {
  createRelayPool,
  nostrProtocol,
  RelayActorsError,
  wsTransport,
  type NostrEvent,
  type NostrFilter,
  type PoolEvent,
  type RelayPool,
  type Transport,
} from '../../index.ts';

/** What the test passes in. */
export interface ClientConfig {
  urls: string[];
  /** `t` tag of every event of this run. */
  tag: string;
  /** Publishes per second while publishing. */
  rateHz: number;
  /** Upper bound on publishes. */
  maxEvents: number;
  heartbeat: { interval: number; timeout: number; maxMissed: number };
  sessionTimeout: number;
  ackTimeout: number;
  connectTimeout: number;
  outboxTtl: number;
}

/** How one publish went out: `send` (primary, re-sent on failover until acked) or `publish` (best k relays). */
export type PublishMode = 'send' | 'publish';

/** One stdout line. `at` is `Date.now()` here. */
export type Report = { at: number } & (
  | { t: 'ready'; pk: string }
  | {
      t: 'ev';
      pool: 'pub' | 'sub';
      type: string;
      url: string | null;
      state?: string;
      previous?: string;
      detail?: unknown;
    }
  | { t: 'sent'; i: number; id: string; mode: PublishMode }
  | {
      t: 'settled';
      i: number;
      id: string;
      mode: PublishMode;
      ok: boolean;
      code?: string;
      message?: string;
      relays?: number;
      ms: number;
    }
  | { t: 'got'; id: string }
  | { t: 'quiesced'; sent: number }
  | { t: 'status'; pub: unknown; sub: unknown }
  | { t: 'stopped'; stopMs: number; unsettled: number; resources: string[] }
  | { t: 'unhandled'; error: string }
);

type Pool = RelayPool<NostrEvent, NostrEvent, NostrFilter>;

const cfg = JSON.parse(process.argv[2] ?? '{}') as ClientConfig;
const out = (report: Report extends infer R ? (R extends Report ? Omit<R, 'at'> : never) : never): void => {
  // Pipes are synchronous on Linux: a line is out before the next statement runs.
  process.stdout.write(`${JSON.stringify({ ...report, at: Date.now() })}\n`);
};
process.on('unhandledRejection', (error) => out({ t: 'unhandled', error: String((error as Error)?.stack ?? error) }));

const sk = generateSecretKey();
const pk = getPublicKey(sk);
const signer = (t: Parameters<typeof finalizeEvent>[0]): NostrEvent => finalizeEvent(t, sk);

/**
 * `wsTransport()` with a note of when each URL last received a frame (data, pong or ping), so a disconnect can say
 * how long the link had been silent: the documented detection bound runs from the last frame.
 */
function watched(inner: Transport, lastFrameAt: Map<string, number>): Transport {
  return {
    name: inner.name,
    supportsPing: inner.supportsPing,
    connect(url, handlers, options) {
      const alive = () => lastFrameAt.set(url, Date.now());
      return inner.connect(
        url,
        {
          onOpen: () => {
            // The heartbeat counts silence from the open too, before any frame.
            alive();
            handlers.onOpen();
          },
          onMessage: (data, isBinary) => {
            alive();
            handlers.onMessage(data, isBinary);
          },
          onPong: () => {
            alive();
            handlers.onPong();
          },
          ...(handlers.onPing
            ? {
                onPing: () => {
                  alive();
                  handlers.onPing!();
                },
              }
            : {}),
          onClose: (info) => handlers.onClose(info),
        },
        options,
      );
    },
  };
}

function pool(id: 'pub' | 'sub'): Pool {
  const lastFrameAt = new Map<string, number>();
  const p = createRelayPool<NostrEvent, NostrEvent, NostrFilter>({
    id,
    relays: cfg.urls,
    transport: watched(wsTransport(), lastFrameAt),
    protocol: nostrProtocol({ signer, verify: verifyEvent }),
    heartbeat: cfg.heartbeat,
    backoff: { base: 100, max: 1000, stableAfter: 1000 },
    connectTimeout: cfg.connectTimeout,
    ackTimeout: cfg.ackTimeout,
    closeTimeout: 300,
    sessionTimeout: cfg.sessionTimeout,
    outbox: { ttl: cfg.outboxTtl },
    selection: { k: cfg.urls.length },
    wake: false,
  });
  p.events$.subscribe((e: PoolEvent) => {
    switch (e.type) {
      case 'state':
        return out({ t: 'ev', pool: id, type: e.type, url: e.url, state: e.state, previous: e.previous });
      case 'disconnected':
        return out({
          t: 'ev',
          pool: id,
          type: e.type,
          url: e.url,
          detail: {
            code: e.info.code,
            errorCode: e.info.errorCode,
            local: e.info.local,
            verdict: e.verdict,
            lastFrameAt: lastFrameAt.get(e.url) ?? null,
          },
        });
      case 'failover':
        return out({
          t: 'ev',
          pool: id,
          type: e.type,
          url: null,
          detail: { from: e.from, to: e.to, reason: e.reason },
        });
      case 'pool-state':
        return out({ t: 'ev', pool: id, type: e.type, url: null, state: e.state });
      case 'session-expired':
      case 'resent':
      case 'replayed':
      case 'message-expired':
      case 'outbox-overflow':
      case 'subscribed':
      case 'subscription-closed':
      case 'heartbeat-off':
      case 'failed': {
        const { type, url, at: _at, ...detail } = e;
        return out({ t: 'ev', pool: id, type, url, detail });
      }
      default:
        return;
    }
  });
  return p.start();
}

const pub = pool('pub');
const sub = pool('sub');
sub.subscribe({ kinds: [1], authors: [pk], '#t': [cfg.tag] }).subscribe((e) => out({ t: 'got', id: e.id }));

let sent = 0;
let unsettled = 0;
let quiescing = false;
let timer: ReturnType<typeof setInterval> | undefined;

function publishOne(): void {
  if (sent >= cfg.maxEvents) return stopPublishing();
  const i = ++sent;
  const mode: PublishMode = i % 2 === 0 ? 'send' : 'publish';
  const event = signer({
    kind: 1,
    created_at: Math.floor(Date.now() / 1000),
    tags: [['t', cfg.tag]],
    content: `chaos ${cfg.tag} #${i}`,
  });
  const t0 = Date.now();
  unsettled++;
  out({ t: 'sent', i, id: event.id, mode });
  const done = (report: { ok: boolean; code?: string; message?: string; relays?: number }) => {
    unsettled--;
    out({ t: 'settled', i, id: event.id, mode, ms: Date.now() - t0, ...report });
    if (quiescing && unsettled === 0) out({ t: 'quiesced', sent });
  };
  const work = mode === 'send' ? pub.send(event).then(() => 1) : pub.publish(event).then((r) => r.relays.length);
  work.then(
    (relays) => done({ ok: true, relays }),
    (error: unknown) =>
      done({
        ok: false,
        code: error instanceof RelayActorsError ? error.code : `UNTYPED ${(error as Error)?.name}`,
        message: String((error as Error)?.message ?? error).slice(0, 300),
      }),
  );
}

function stopPublishing(): void {
  if (timer) clearInterval(timer);
  timer = undefined;
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  stopPublishing();
  // From here on only the pools could hold the process open.
  process.stdin.destroy();
  const t0 = Date.now();
  await Promise.all([pub.stop(), sub.stop()]);
  out({ t: 'stopped', stopMs: Date.now() - t0, unsettled, resources: process.getActiveResourcesInfo() });
}

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  let nl: number;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const command = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (command === 'go' && !timer) timer = setInterval(publishOne, Math.max(1, Math.round(1000 / cfg.rateHz)));
    else if (command === 'quiesce') {
      quiescing = true;
      stopPublishing();
      if (unsettled === 0) out({ t: 'quiesced', sent });
    } else if (command === 'status') out({ t: 'status', pub: pub.status(), sub: sub.status() });
    else if (command === 'stop') void stop();
  }
});
// The test went away without saying `stop` (it crashed): stop anyway, so nothing outlives it.
process.stdin.on('end', () => void stop());
out({ t: 'ready', pk });
