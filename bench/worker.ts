/**
 * Measures one client kind in a fresh process (run with --expose-gc): heap per idle connection, or idle CPU with
 * a 1 s heartbeat. Prints one JSON line and exits. Arguments: <heap|cpu> <kind> <url> <n> [seconds].
 *
 * The CPU baseline `ws+setInterval` is what people hand-roll: one `setInterval` per socket sending a protocol ping
 * every second and checking the pong.
 */
import { WebSocket } from 'ws';
import { openClient, type BenchClient, type Kind } from './clients.ts';

const [mode, kind, url, nText, secondsText] = process.argv.slice(2) as [
  string,
  Kind | 'ws+setInterval' | 'pool',
  string,
  string,
  string | undefined,
];
const n = Number(nText);
const gc = (globalThis as { gc?: () => void }).gc;

function collect(): number {
  for (let i = 0; i < 4; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

async function openAll(): Promise<{ clients: BenchClient[]; stop: () => Promise<void> }> {
  const clients: BenchClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < n; i++) {
    if (kind === 'ws+setInterval') {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('error', () => {});
      let awaiting = false;
      ws.on('pong', () => (awaiting = false));
      timers.push(
        setInterval(() => {
          if (awaiting) return; // a real client would count a miss here
          awaiting = true;
          ws.ping();
        }, 1000),
      );
      clients.push({
        opened: new Promise((resolve) => ws.once('open', () => resolve())),
        send: () => {},
        onMessage: () => {},
        buffered: () => 0,
        close: async () => ws.terminate(),
      });
    } else {
      clients.push(openClient(kind as Kind, url, mode === 'cpu' ? { heartbeat: 1000 } : {}));
    }
    // Dial in batches so the server's accept queue is not overrun.
    if (i % 100 === 99) await Promise.all(clients.slice(-100).map((c) => c.opened));
  }
  await Promise.all(clients.map((c) => c.opened));
  return {
    clients,
    stop: async () => {
      for (const t of timers) clearInterval(t);
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

if (mode === 'poolheap') {
  // One pool of n relays (distinct paths on one server, so each is its own relay).
  const { createRelayPool } = await import('../index.ts');
  const urls = Array.from({ length: n }, (_, i) => `${url}/r${i}`);
  const warm = createRelayPool({ relays: urls.slice(0, 50), wake: false, closeTimeout: 0 }).start();
  await warm.waitFor('online', 30_000);
  await warm.stop();
  const before = collect();
  const pool = createRelayPool({ relays: urls, wake: false, closeTimeout: 0 }).start();
  const deadline = Date.now() + 60_000;
  while (pool.status().relays.some((r) => r.state !== 'open') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const after = collect();
  process.stdout.write(JSON.stringify({ bytesPerConnection: (after - before) / n }) + '\n');
  await pool.stop();
} else if (mode === 'heap') {
  // Load the code paths once, so the measurement is of connections, not of module loading.
  const warm = await openAll();
  await warm.stop();
  const before = collect();
  const { stop } = await openAll();
  await new Promise((r) => setTimeout(r, 200));
  const after = collect();
  process.stdout.write(JSON.stringify({ bytesPerConnection: (after - before) / n }) + '\n');
  await stop();
} else {
  const seconds = Number(secondsText ?? 10);
  const { stop } = await openAll();
  await new Promise((r) => setTimeout(r, 1500)); // let every heartbeat settle into its rhythm
  const start = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const used = process.cpuUsage(start);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ cpuMs: (used.user + used.system) / 1000, wallMs }) + '\n');
  await stop();
}
process.exit(0);
