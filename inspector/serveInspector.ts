/**
 * `serveInspector(target, options)`: an HTTP + WebSocket server on 127.0.0.1 that serves the offline inspector page
 * and feeds it live. The page is self-contained (its script and style are inlined, nothing is fetched from anywhere
 * else); every request needs the random token of the URL; WebSocket connections from other origins are refused.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { InvalidOptionError } from '../core/errors.ts';
import { InspectorFeed, type FeedItem, type InspectTarget } from './feed.ts';

/** Options of `serveInspector`. */
export interface InspectorOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`; anything else exposes the page (token-protected) beyond this machine. */
  host?: string;
  /** The access token; default 24 random bytes, hex. At least 16 characters. */
  token?: string;
  /** Extra origins allowed to open the live feed (the server's own are always allowed). */
  allowedOrigins?: string[];
  /** Transition log entries kept for new pages. Default 500. */
  logSize?: number;
  /** Page title. Default `relay-actors inspector`. */
  title?: string;
  /** Live updates are sent in batches at most this often, ms. Default 50. */
  batchMs?: number;
}

/** A running inspector. */
export interface InspectorServer {
  /** The page's URL, token included: open it in a browser. */
  readonly url: string;
  /** The live feed's URL, token included (for tools). */
  readonly feedUrl: string;
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** Pages connected now. */
  readonly clients: number;
  /** Closes the server and every page connection; detaches from the target. Idempotent. */
  close(): Promise<void>;
}

/** A page connection that falls this far behind is closed (the page reconnects and gets a fresh snapshot). */
const MAX_CLIENT_BUFFER = 8 * 1024 * 1024;

let pageTemplate: string | undefined;

/** The page with its script and style inlined, `%NONCE%` and `%TITLE%` left to fill. */
function template(): string {
  if (pageTemplate) return pageTemplate;
  const read = (name: string) => readFileSync(new URL(`./page/${name}`, import.meta.url), 'utf8');
  pageTemplate = read('index.html')
    .replace('/*%STYLE%*/', () => read('style.css'))
    .replace('/*%SCRIPT%*/', () => read('app.js'));
  return pageTemplate;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sameToken(given: string | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function validate(options: InspectorOptions): void {
  const { port, token, logSize, batchMs } = options;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    throw new InvalidOptionError('port', `must be an integer from 0 to 65535, got ${String(port)}`);
  if (token !== undefined && (typeof token !== 'string' || token.length < 16 || !/^[A-Za-z0-9_-]+$/.test(token)))
    throw new InvalidOptionError('token', 'must be at least 16 characters of [A-Za-z0-9_-]');
  if (logSize !== undefined && (!Number.isInteger(logSize) || logSize < 1))
    throw new InvalidOptionError('logSize', `must be a positive integer, got ${String(logSize)}`);
  if (batchMs !== undefined && (!Number.isFinite(batchMs) || batchMs < 0))
    throw new InvalidOptionError('batchMs', `must be a number ≥ 0, got ${String(batchMs)}`);
}

/**
 * Serves the offline inspector for a pool, a relay or any XState actor.
 *
 * @param options - see {@link InspectorOptions}; default: a free port on 127.0.0.1, a random token, 500 log
 *   entries, updates batched every 50 ms.
 * @returns The running server; open its `url` (token included) in a browser.
 * @example
 * const inspector = await serveInspector(pool);
 * console.log(`inspector: ${inspector.url}`);
 * // …
 * await inspector.close();
 */
export async function serveInspector(target: InspectTarget, options: InspectorOptions = {}): Promise<InspectorServer> {
  validate(options);
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(24).toString('hex');
  const batchMs = options.batchMs ?? 50;
  const title = options.title ?? 'relay-actors inspector';
  const feed = new InspectorFeed(target, { logSize: options.logSize ?? 500, title }).attach();

  let origins = new Set<string>();
  let feedSources = '';
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const server = createServer((req, res) => handle(req, res));
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 1024,
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://inspector');
    const common = {
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...common, Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (!sameToken(url.searchParams.get('token'), token)) {
      res
        .writeHead(401, { ...common, 'Content-Type': 'text/plain' })
        .end('relay-actors inspector: open the URL with its token (it was printed when the inspector started)\n');
      return;
    }
    if (url.pathname === '/' || url.pathname === '/index.html') {
      const nonce = randomBytes(16).toString('base64');
      const body = template().replaceAll('%NONCE%', nonce).replaceAll('%TITLE%', escapeHtml(title));
      res
        .writeHead(200, {
          ...common,
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src data:; connect-src ${feedSources}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        })
        .end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (url.pathname === '/snapshot.json') {
      res
        .writeHead(200, { ...common, 'Content-Type': 'application/json' })
        .end(req.method === 'HEAD' ? undefined : JSON.stringify(feed.init()));
      return;
    }
    res.writeHead(404, { ...common, 'Content-Type': 'text/plain' }).end('not found\n');
  }

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://inspector');
    const refuse = (status: number, text: string) => {
      // As ws's abortHandshake: Node removed its own error listener from an upgraded socket, so a peer that resets
      // the connection while we answer would otherwise throw ECONNRESET/EPIPE out of the host process.
      socket.on('error', () => {});
      socket.once('finish', () => socket.destroy());
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== '/feed') return refuse(404, 'Not Found');
    if (!sameToken(url.searchParams.get('token'), token)) return refuse(401, 'Unauthorized');
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin)) return refuse(403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => connected(ws));
  });

  const clients = new Set<WebSocket>();
  let queue: FeedItem[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  function flush(): void {
    timer = undefined;
    if (queue.length === 0) return;
    const text = JSON.stringify({ type: 'batch', items: queue });
    queue = [];
    for (const ws of clients) {
      if (ws.bufferedAmount > MAX_CLIENT_BUFFER) {
        ws.close(1013, 'too far behind; reload');
        continue;
      }
      ws.send(text);
    }
  }

  const detachFeed = feed.onItem((item) => {
    if (clients.size === 0) return;
    queue.push(item);
    if (!timer) {
      timer = setTimeout(flush, batchMs);
      timer.unref?.();
    }
  });

  function connected(ws: WebSocket): void {
    // Anything queued predates this page's snapshot: deliver it to the others first.
    if (timer) {
      clearTimeout(timer);
      flush();
    }
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => clients.delete(ws));
    ws.on('message', () => {});
    ws.send(JSON.stringify(feed.init()));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const local = [...new Set([`${urlHost}:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`])];
  origins = new Set([...local.map((h) => `http://${h}`), ...(options.allowedOrigins ?? [])]);
  // The page may connect back only to this server, under the names it answers to (never the Host header). CSP
  // source lists cannot hold IPv6 literals; 'self' (which CSP 3 browsers match for ws: too) covers `[::1]`.
  feedSources = ["'self'", ...local.filter((h) => !h.startsWith('[')).map((h) => `ws://${h}`)].join(' ');

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}/?token=${token}`,
    feedUrl: `ws://${urlHost}:${port}/feed?token=${token}`,
    host,
    port,
    token,
    get clients() {
      return clients.size;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        detachFeed();
        feed.detach();
        if (timer) clearTimeout(timer);
        timer = undefined;
        for (const ws of clients) ws.terminate();
        clients.clear();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
