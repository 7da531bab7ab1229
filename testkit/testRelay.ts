/**
 * A real loopback WebSocket relay for tests: a `ws` server on an `http.Server` bound to 127.0.0.1 that speaks
 * the generic JSON relay protocol (hello / ping / ack / echo, plus subscribe / unsubscribe as a small pub/sub hub
 * that stores what it received and replays it from `since`) and can inject faults on demand: hard kills,
 * restarts on the same port, silent hangs, missing pongs, clean closes with a code, refused upgrades and latency.
 *
 * @example
 * await using relay = await startTestRelay();
 * const ws = new WebSocket(relay.url);
 * await relay.waitForConnections(1);
 * relay.stopPongs();       // heartbeats now go unanswered
 * await relay.kill();      // connection drops with 1006, new dials get ECONNREFUSED
 * await relay.restart();   // same port accepts again
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { listenForUpgrades, noop, relisten, Sleeps } from './listen.ts';
import type { RawData } from 'ws';

/** How the relay answers a `{"type":"hello", ...}` frame. */
export type HelloAckMode =
  /** Answer `{"type":"hello-ack","ok":true}`. */
  | 'ok'
  /** Answer `{"type":"hello-ack","ok":false,"reason":"rejected by test relay"}` (the connection stays open). */
  | 'reject'
  /** Send nothing at all. */
  | 'never';

/** A raw frame the relay can push: a string goes out as a text frame, bytes as a binary frame. */
export type TestRelayFrame = string | Uint8Array | ArrayBuffer;

/**
 * Observer / override for inbound data frames (never protocol pings or pongs).
 *
 * @param data - Text frames as a UTF-8 string, binary frames as a `Buffer`.
 * @param isBinary - Whether the frame was a binary frame.
 * @param client - The server-side socket the frame arrived on (reply with `client.send(...)`).
 * @returns `'handled'` to skip the relay's default behaviour (echo / ack / pong / hello-ack) for this frame.
 */
export type TestRelayMessageHandler = (data: string | Buffer, isBinary: boolean, client: WebSocket) => void | 'handled';

/** Options of {@link startTestRelay}. */
export interface TestRelayOptions {
  /** TCP port to listen on, on 127.0.0.1. Default `0` (an ephemeral port picked by the OS, kept across restarts). */
  port?: number;
  /** Echo every frame that is not a ping or hello back verbatim. Default `true`. */
  echo?: boolean;
  /** Answer JSON frames carrying a string `id` with `{"type":"ack","id":<id>,"ok":true}`. Default `true`. */
  ack?: boolean;
  /** Initial answer to hello frames, see {@link TestRelay.helloAck}. Default `'ok'`. */
  helloAck?: HelloAckMode;
  /** Largest accepted inbound message in bytes; bigger ones close the connection with 1009. Default: ws's (100 MiB). */
  maxPayload?: number;
  /**
   * Store application messages (across restarts) and deliver them to matching subscriptions: a subscribe frame
   * `{"type":"subscribe","id":S,"filter":{k:v},"since"?:ms}` gets stored matches (with `ts >= since`) then
   * `{"type":"eose","sub":S}`, and every later match live, as `{...message,"sub":S,"ts":ms}`. Default `true`.
   */
  pubsub?: boolean;
  /** How many messages the store keeps (oldest dropped first). Default `10000`. */
  maxStored?: number;
  /** How many times {@link TestRelay.restart} tries to bind the port while it is still in use. Default `20`. */
  restartAttempts?: number;
  /** Wait between two such attempts, in ms. Default `50`. */
  restartRetryDelayMs?: number;
}

/** Counters of a {@link TestRelay}, as a plain snapshot object. */
export interface TestRelayStats {
  /** WebSocket connections accepted since the relay started (across restarts). */
  connections: number;
  /** Connections currently open. */
  open: number;
  /** Upgrade requests refused because of {@link TestRelay.rejectUpgrade}. */
  upgradesRejected: number;
  /** Inbound data frames processed (text and binary, app-level pings and hellos included, protocol pings not). */
  messagesReceived: number;
  /** Data frames sent: echoes, acks, app-level pongs, hello-acks and frames pushed with `send` / `broadcast`. */
  messagesSent: number;
  /** Pings processed: protocol ping frames plus app-level `{"type":"ping"}` frames. */
  pingsReceived: number;
  /** Pongs sent: protocol pong frames plus app-level `{"type":"pong"}` frames. */
  pongsSent: number;
}

/**
 * A running test relay. Fault settings (pause, pongs, upgrade rejection, delay, hello-ack mode, handlers) are
 * relay-wide, apply to existing and future connections, and survive {@link TestRelay.kill} /
 * {@link TestRelay.restart}; only {@link TestRelay.close} ends everything.
 */
export interface TestRelay extends AsyncDisposable {
  /** `ws://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port listened on; the same after every restart. */
  readonly port: number;
  /** Whether the relay currently accepts TCP connections (false after `kill()` until `restart()`, and after `close()`). */
  readonly listening: boolean;
  /** Server-side sockets of the currently open connections, oldest first (a fresh array each time). */
  readonly clients: WebSocket[];
  /** A snapshot of the counters. */
  readonly stats: TestRelayStats;
  /** Application messages received (not pings, hellos or subscription frames), oldest first, across restarts. */
  readonly received: Array<Record<string, unknown>>;

  /**
   * Simulates a crash: destroys every TCP connection at once without a close frame (clients see 1006), drops
   * pending delayed answers, and stops listening so new dials fail with ECONNREFUSED.
   * No-op if not listening.
   *
   * @returns Resolves when the server is fully closed.
   */
  kill(): Promise<void>;
  /**
   * Listens again on the same port. If the relay is still listening it is {@link TestRelay.kill}ed first.
   * While the port is still in use (EADDRINUSE) binding is retried `restartAttempts` times, `restartRetryDelayMs`
   * apart. Fault settings are kept: a paused relay restarts paused, a relay with pongs stopped restarts so.
   *
   * @returns Resolves when listening; rejects if the port stays busy or the relay was closed.
   */
  restart(): Promise<void>;
  /**
   * Hangs without closing: stops reading every connection (existing and new ones; upgrades still complete),
   * so nothing is answered: no protocol or app-level pongs, echoes, acks, hello-acks or close frames. Answers that
   * were already scheduled are held back too. `send` / `broadcast` / `closeAll` still go out.
   */
  pause(): void;
  /** Undoes {@link TestRelay.pause}: held answers go out, frames that arrived meanwhile are then processed normally. */
  resume(): void;
  /** Stops answering protocol pings and app-level `{"type":"ping"}` frames (other frames are still answered). */
  stopPongs(): void;
  /** Undoes {@link TestRelay.stopPongs}. Pongs are on by default. */
  startPongs(): void;
  /**
   * Closes every open connection cleanly with a close frame carrying `code` and `reason`.
   *
   * @param code - A valid close code (1000, 1001-1003, 1007-1014, 3000-4999); anything else throws, as in `ws`.
   * @param reason - At most 123 UTF-8 bytes. Default `''`.
   */
  closeAll(code: number, reason?: string): void;
  /**
   * A hostile server's close: sends every open connection a close frame carrying `code` and `reason`, then
   * neither closes TCP nor reads from it (so the client's answering close frame and its FIN go unnoticed). The
   * connections leave {@link TestRelay.clients} at once and get nothing more from the relay (no answers, no
   * `send` / `broadcast`); their TCP sockets stay up until the client drops them or until {@link TestRelay.kill}
   * / {@link TestRelay.close}. A client that waits for the server to close TCP waits for its own close timeout
   * (`ws`: 30 s by default). New connections are not affected.
   *
   * @param code - A valid close code (1000, 1001-1003, 1007-1014, 3000-4999); anything else throws a `RangeError`.
   * @param reason - At most 123 UTF-8 bytes (a longer one throws a `RangeError`). Default `''`.
   * @returns How many connections were sent the close frame.
   * @example
   * await using server = await startTestRelay();
   * const relay = createRelay(server.url, { closeTimeout: 500 }).start();
   * await relay.waitFor('open');
   * server.closeFrameOnly(1001, 'going away');
   * await relay.waitFor('reconnecting'); // at once, with lastClose.code 1001; the socket is dropped 500 ms later
   */
  closeFrameOnly(code: number, reason?: string): number;
  /**
   * A network reset: aborts the TCP connection under every WebSocket connection (those kept up by
   * {@link TestRelay.closeFrameOnly} included) with an RST, through Node's `socket.resetAndDestroy()`: no close
   * frame, no FIN. The client's next read fails with `ECONNRESET` (a WebSocket client sees close code 1006; a
   * transport that reads the socket's error reports `errorCode: 'ECONNRESET'`). The connections leave
   * {@link TestRelay.clients} at once. Unlike {@link TestRelay.kill}, the relay keeps listening, so clients can
   * dial again at once.
   *
   * @returns How many connections were reset.
   * @example
   * await using server = await startTestRelay();
   * const relay = createRelay(server.url).start();
   * await relay.waitFor('open');
   * server.reset();
   * await relay.waitFor('reconnecting'); // lastClose: { code: 1006, errorCode: 'ECONNRESET', ... }
   */
  reset(): number;
  /**
   * From now on refuses every WebSocket upgrade with this HTTP status (and optional extra headers), then closes
   * the TCP connection. Existing connections are not affected.
   *
   * @param status - An HTTP status in 200-599 other than 101, e.g. 401, 403, 429, 503.
   * @param headers - Extra response headers, e.g. `{ 'Retry-After': '1' }`. Default none.
   */
  rejectUpgrade(status: number, headers?: Record<string, string | number | readonly string[]>): void;
  /** Undoes {@link TestRelay.rejectUpgrade}: upgrades are accepted again (the default). */
  acceptUpgrades(): void;
  /**
   * Adds `ms` of latency before every answer the relay sends (echo, ack, app-level and protocol pong, hello-ack).
   * `delay(0)` (the default) answers synchronously. Frames pushed with `send` / `broadcast` are never delayed.
   * Answers already scheduled keep their old delay.
   */
  delay(ms: number): void;
  /** Sets how hello frames are answered, see {@link HelloAckMode}. Default `'ok'`. */
  helloAck(mode: HelloAckMode): void;
  /**
   * Pushes a raw frame right away (no delay, even while paused).
   *
   * @param client - Only to this connection. Default: to every open connection.
   * @returns How many connections it was sent to.
   */
  send(frame: TestRelayFrame, client?: WebSocket): number;
  /** Pushes a raw frame to every open connection, like `send(frame)`. @returns How many connections it was sent to. */
  broadcast(frame: TestRelayFrame): number;
  /**
   * A hostile flood: writes `frame` `count` times (1 to 1,000,000) to every open connection in one go, as fast as
   * the sockets take it, to test a client's backpressure, dedupe and memory bounds.
   *
   * @example
   * relay.flood(JSON.stringify({ type: 'note', id: 'same' }), 10_000); // ten thousand copies of one message
   * @returns How many frames were written in all.
   */
  flood(frame: TestRelayFrame, count: number): number;
  /**
   * Registers a handler called for every inbound data frame before the default behaviour, in registration order.
   * Every handler sees every frame; if any returns `'handled'` the default behaviour is skipped. Errors thrown by a
   * handler are not caught (they surface as uncaught exceptions, failing the test).
   *
   * @returns A function removing the handler.
   */
  onMessage(handler: TestRelayMessageHandler): () => void;
  /**
   * Waits until at least `n` connections are open.
   *
   * @param timeoutMs - Upper bound. Default `5000`.
   * @returns The open server-side sockets; rejects with an `Error` after `timeoutMs` or if the relay is closed.
   */
  waitForConnections(n: number, timeoutMs?: number): Promise<WebSocket[]>;
  /**
   * Stops for good: terminates every connection, closes the server, clears every timer and rejects pending
   * `waitForConnections`. Idempotent (every call returns the same promise); afterwards the relay holds no handle.
   */
  close(): Promise<void>;
  /** Same as {@link TestRelay.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const HOST = '127.0.0.1';
const DEFAULT_WAIT_MS = 5_000;

/** One outbound answer: a data frame (optionally counted as an app-level pong) or a protocol pong. */
type Answer =
  { kind: 'frame'; data: string | Buffer; binary: boolean; pong?: boolean } | { kind: 'pong'; data: Buffer };

interface Waiter {
  n: number;
  resolve: (clients: WebSocket[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Starts a {@link TestRelay} listening on `ws://127.0.0.1:<port>`.
 *
 * @param options - See {@link TestRelayOptions}; default `{}`: an ephemeral port, echo and acks on, hellos acked.
 * @returns The relay once it is listening. Rejects if the port cannot be bound (no retry on the first start).
 * @example
 * import { startTestRelay } from 'relay-actors/testing';
 * await using server = await startTestRelay({ ack: true });
 * const relay = createRelay(server.url, { protocol: jsonProtocol({ acks: true }) }).start();
 * await relay.waitFor('open');
 * await relay.send({ type: 'post', id: 'm1' }); // acked by the test relay
 * server.received; // [{ type: 'post', id: 'm1' }]
 * await relay.stop();
 */
export async function startTestRelay(options: TestRelayOptions = {}): Promise<TestRelay> {
  const relay = new LoopbackRelay(options);
  await relay.start(options.port ?? 0);
  return relay;
}

function toBuffer(raw: RawData): Buffer {
  if (Buffer.isBuffer(raw)) return raw;
  if (Array.isArray(raw)) return Buffer.concat(raw);
  return Buffer.from(raw);
}

/** Close codes a close frame may carry, as `ws` enforces them. */
function isValidCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

/** An unmasked (server-to-client) close frame: FIN + opcode 8, the code in network order, then the reason. */
function closeFrame(code: number, reason: string): Buffer {
  if (!isValidCloseCode(code)) throw new RangeError(`closeFrameOnly(): invalid close code ${code}`);
  const text = Buffer.from(reason, 'utf8');
  if (text.length > 123)
    throw new RangeError(`closeFrameOnly(): the reason is ${text.length} bytes, at most 123 fit in a close frame`);
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88;
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A subscription filter matches when every key it names has the same (JSON) value in the message. */
function matches(filter: Record<string, unknown>, message: Record<string, unknown>): boolean {
  for (const [key, value] of Object.entries(filter)) {
    if (JSON.stringify(message[key]) !== JSON.stringify(value)) return false;
  }
  return true;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
  return value;
}

class LoopbackRelay implements TestRelay {
  #port = 0;
  #server: Server | undefined;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<Socket>();
  readonly #open = new Set<WebSocket>();
  /** Connections sent a close frame by closeFrameOnly() whose TCP the relay keeps up until kill() / close(). */
  readonly #lingering = new Set<WebSocket>();
  /** The TCP socket under each connection, for frames written past ws. */
  readonly #rawSockets = new WeakMap<WebSocket, Duplex>();
  readonly #handlers = new Set<TestRelayMessageHandler>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #sleeps = new Sleeps();
  readonly #waiters = new Set<Waiter>();
  /** Answers due while paused, sent on resume. */
  #held: { client: WebSocket; answers: Answer[] }[] = [];
  /** Inbound frames emitted while paused (already buffered by ws), processed on resume. */
  #deferred: (() => void)[] = [];
  #chain: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #closed = false;

  #echo: boolean;
  #ack: boolean;
  readonly #pubsub: boolean;
  readonly #maxStored: number;
  /** Stored application messages with their time, oldest first. */
  #store: Array<{ message: Record<string, unknown>; ts: number }> = [];
  /** Subscriptions of each connection: id → filter. */
  readonly #subs = new Map<WebSocket, Map<string, Record<string, unknown>>>();
  #helloMode: HelloAckMode = 'ok';
  #paused = false;
  #pongs = true;
  #delayMs = 0;
  #rejection: { status: number; headers: [string, string][] } | undefined;
  readonly #restartAttempts: number;
  readonly #restartRetryDelayMs: number;

  readonly #stats: TestRelayStats = {
    connections: 0,
    open: 0,
    upgradesRejected: 0,
    messagesReceived: 0,
    messagesSent: 0,
    pingsReceived: 0,
    pongsSent: 0,
  };

  constructor(options: TestRelayOptions) {
    this.#echo = options.echo ?? true;
    this.#ack = options.ack ?? true;
    this.#pubsub = options.pubsub ?? true;
    this.#maxStored = Math.max(0, Math.floor(options.maxStored ?? 10_000));
    if (options.helloAck !== undefined) this.helloAck(options.helloAck);
    this.#restartAttempts = Math.max(1, Math.floor(options.restartAttempts ?? 20));
    this.#restartRetryDelayMs = nonNegative('restartRetryDelayMs', options.restartRetryDelayMs ?? 50);
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      autoPong: false,
      ...(options.maxPayload === undefined ? {} : { maxPayload: options.maxPayload }),
    });
  }

  get url(): string {
    return `ws://${HOST}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get listening(): boolean {
    return this.#server?.listening ?? false;
  }

  get clients(): WebSocket[] {
    return [...this.#open].filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  get received(): Array<Record<string, unknown>> {
    return this.#store.map((s) => s.message);
  }

  get stats(): TestRelayStats {
    return { ...this.#stats, open: this.clients.length };
  }

  async start(port: number): Promise<void> {
    this.#server = await this.#listen(port);
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
  }

  kill(): Promise<void> {
    return this.#enqueue(() => this.#shutdown());
  }

  restart(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#closed) throw new Error('TestRelay.restart(): the relay is closed');
      await this.#shutdown();
      this.#server = await this.#listenWithRetry(this.#port);
    });
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    for (const ws of this.#open) ws.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    const deferred = this.#deferred;
    this.#held = [];
    this.#deferred = [];
    for (const { client, answers } of held) this.#deliver(client, answers);
    for (const run of deferred) run();
    for (const ws of this.#open) ws.resume();
  }

  stopPongs(): void {
    this.#pongs = false;
  }

  startPongs(): void {
    this.#pongs = true;
  }

  closeAll(code: number, reason = ''): void {
    for (const ws of this.clients) ws.close(code, reason);
  }

  closeFrameOnly(code: number, reason = ''): number {
    const frame = closeFrame(code, reason);
    const targets = this.clients;
    for (const ws of targets) {
      // Written past ws (whose close() would end TCP once the client answers); pausing it stops it from ever
      // reading that answer or the client's FIN, so the socket stays up until kill() / close().
      this.#rawSockets.get(ws)?.write(frame);
      ws.pause();
      this.#open.delete(ws);
      this.#subs.delete(ws);
      this.#lingering.add(ws);
    }
    return targets.length;
  }

  reset(): number {
    const targets = [...this.#open, ...this.#lingering];
    for (const ws of targets) {
      // An HTTP server's upgrade hands over the connection's net.Socket.
      const socket = this.#rawSockets.get(ws) as Socket | undefined;
      if (socket) socket.resetAndDestroy();
      else ws.terminate();
      this.#open.delete(ws);
      this.#lingering.delete(ws);
      this.#subs.delete(ws);
    }
    return targets.length;
  }

  rejectUpgrade(status: number, headers: Record<string, string | number | readonly string[]> = {}): void {
    if (!Number.isInteger(status) || status < 200 || status > 599 || status === 101) {
      throw new RangeError(`rejectUpgrade(): status must be an HTTP status in 200-599 other than 101, got ${status}`);
    }
    const lines: [string, string][] = [];
    for (const [name, value] of Object.entries(headers)) {
      const values: readonly (string | number)[] = Array.isArray(value) ? value : [value as string | number];
      for (const v of values) {
        const text = String(v);
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(text)) {
          throw new TypeError(`rejectUpgrade(): invalid header ${JSON.stringify(name)}: ${JSON.stringify(text)}`);
        }
        lines.push([name, text]);
      }
    }
    this.#rejection = { status, headers: lines };
  }

  acceptUpgrades(): void {
    this.#rejection = undefined;
  }

  delay(ms: number): void {
    this.#delayMs = nonNegative('delay(ms)', ms);
  }

  helloAck(mode: HelloAckMode): void {
    if (mode !== 'ok' && mode !== 'reject' && mode !== 'never') {
      throw new TypeError(`helloAck(): mode must be 'ok', 'reject' or 'never', got ${String(mode)}`);
    }
    this.#helloMode = mode;
  }

  send(frame: TestRelayFrame, client?: WebSocket): number {
    const binary = typeof frame !== 'string';
    const targets = client
      ? [client].filter((ws) => ws.readyState === WebSocket.OPEN && this.#open.has(ws))
      : this.clients;
    for (const ws of targets) {
      ws.send(frame, { binary });
      this.#stats.messagesSent++;
    }
    return targets.length;
  }

  broadcast(frame: TestRelayFrame): number {
    return this.send(frame);
  }

  flood(frame: TestRelayFrame, count: number): number {
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000)
      throw new RangeError(`flood(frame, count): count must be an integer from 1 to 1000000, got ${count}`);
    let written = 0;
    for (let i = 0; i < count; i++) written += this.send(frame);
    return written;
  }

  onMessage(handler: TestRelayMessageHandler): () => void {
    // Wrap so that registering the same function twice yields two independent registrations.
    const entry: TestRelayMessageHandler = (data, isBinary, client) => handler(data, isBinary, client);
    this.#handlers.add(entry);
    return () => {
      this.#handlers.delete(entry);
    };
  }

  waitForConnections(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<WebSocket[]> {
    nonNegative('waitForConnections(timeoutMs)', timeoutMs);
    if (this.#closed) return Promise.reject(new Error(`waitForConnections(${n}): the relay is closed`));
    const clients = this.clients;
    if (clients.length >= n) return Promise.resolve(clients);
    return new Promise<WebSocket[]>((resolve, reject) => {
      const waiter: Waiter = {
        n,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new Error(
              `waitForConnections(${n}) timed out after ${timeoutMs} ms with ${this.clients.length} open connection(s) on ${this.url}`,
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      this.#sleeps.wakeAll();
      for (const waiter of this.#waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`waitForConnections(${waiter.n}): the relay was closed`));
      }
      this.#waiters.clear();
      this.#closing = this.#enqueue(async () => {
        await this.#shutdown();
        this.#handlers.clear();
        await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
      });
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------------

  /** Serializes kill / restart / close so they never interleave. */
  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(op);
    this.#chain = result.then(noop, noop);
    return result;
  }

  async #shutdown(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#held = [];
    this.#deferred = [];
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const ws of this.#open) ws.terminate();
    this.#open.clear();
    for (const ws of this.#lingering) ws.terminate();
    this.#lingering.clear();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #listen(port: number): Promise<Server> {
    return listenForUpgrades(port, HOST, this.#sockets, (server, req, socket, head) =>
      this.#onUpgrade(server, req, socket, head),
    );
  }

  #listenWithRetry(port: number): Promise<Server> {
    return relisten((p) => this.#listen(p), port, {
      name: 'TestRelay',
      attempts: this.#restartAttempts,
      delayMs: this.#restartRetryDelayMs,
      closed: () => this.#closed,
      sleeps: this.#sleeps,
    });
  }

  // ---- connections -----------------------------------------------------------------------------------------------

  #onUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed || this.#server !== server) {
      socket.destroy();
      return;
    }
    const rejection = this.#rejection;
    if (rejection) {
      this.#stats.upgradesRejected++;
      const text = STATUS_CODES[rejection.status] ?? 'Unknown';
      const body = `${text}\n`;
      const lines = [
        `HTTP/1.1 ${rejection.status} ${text}`,
        'Connection: close',
        'Content-Type: text/plain',
        `Content-Length: ${Buffer.byteLength(body)}`,
        ...rejection.headers.map(([name, value]) => `${name}: ${value}`),
      ];
      socket.once('finish', () => socket.destroy());
      socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, socket));
  }

  #onConnection(ws: WebSocket, socket: Duplex): void {
    this.#open.add(ws);
    this.#rawSockets.set(ws, socket);
    this.#stats.connections++;
    ws.on('error', noop);
    ws.once('close', () => {
      this.#open.delete(ws);
      this.#lingering.delete(ws);
      this.#subs.delete(ws);
    });
    ws.on('message', (raw: RawData, isBinary: boolean) => {
      if (this.#paused) this.#deferred.push(() => this.#onData(ws, raw, isBinary));
      else this.#onData(ws, raw, isBinary);
    });
    ws.on('ping', (data: Buffer) => {
      if (this.#paused) this.#deferred.push(() => this.#onPing(ws, data));
      else this.#onPing(ws, data);
    });
    if (this.#paused) ws.pause();
    const open = this.clients;
    for (const waiter of this.#waiters) {
      if (open.length >= waiter.n) {
        clearTimeout(waiter.timer);
        this.#waiters.delete(waiter);
        waiter.resolve(open);
      }
    }
  }

  #onPing(ws: WebSocket, data: Buffer): void {
    this.#stats.pingsReceived++;
    if (this.#pongs) this.#answer(ws, [{ kind: 'pong', data }]);
  }

  #onData(ws: WebSocket, raw: RawData, isBinary: boolean): void {
    this.#stats.messagesReceived++;
    const bytes = toBuffer(raw);
    const data = isBinary ? bytes : bytes.toString('utf8');
    let handled = false;
    for (const handler of [...this.#handlers]) {
      if (handler(data, isBinary, ws) === 'handled') handled = true;
    }
    if (handled) return;

    if (typeof data !== 'string') {
      if (this.#echo) this.#answer(ws, [{ kind: 'frame', data, binary: true }]);
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      message = undefined;
    }
    if (isRecord(message) && message.type === 'ping') {
      this.#stats.pingsReceived++;
      if (this.#pongs) {
        this.#answer(ws, [
          { kind: 'frame', data: JSON.stringify({ type: 'pong', id: message.id }), binary: false, pong: true },
        ]);
      }
      return;
    }
    if (isRecord(message) && message.type === 'hello') {
      if (this.#helloMode === 'ok') {
        this.#answer(ws, [{ kind: 'frame', data: JSON.stringify({ type: 'hello-ack', ok: true }), binary: false }]);
      } else if (this.#helloMode === 'reject') {
        const nack = { type: 'hello-ack', ok: false, reason: 'rejected by test relay' };
        this.#answer(ws, [{ kind: 'frame', data: JSON.stringify(nack), binary: false }]);
      }
      return;
    }
    if (this.#pubsub && isRecord(message) && (message.type === 'subscribe' || message.type === 'unsubscribe')) {
      this.#onSubscription(ws, message);
      return;
    }
    const answers: Answer[] = [];
    if (this.#pubsub && isRecord(message)) this.#publish(message);
    if (this.#ack && isRecord(message) && typeof message.id === 'string') {
      answers.push({ kind: 'frame', data: JSON.stringify({ type: 'ack', id: message.id, ok: true }), binary: false });
    }
    if (this.#echo) answers.push({ kind: 'frame', data, binary: false });
    this.#answer(ws, answers);
  }

  #onSubscription(ws: WebSocket, message: Record<string, unknown>): void {
    const id = typeof message.id === 'string' ? message.id : undefined;
    if (id === undefined) return;
    let subs = this.#subs.get(ws);
    if (message.type === 'unsubscribe') {
      subs?.delete(id);
      return;
    }
    if (!subs) this.#subs.set(ws, (subs = new Map<string, Record<string, unknown>>()));
    const filter = isRecord(message.filter) ? message.filter : {};
    subs.set(id, filter);
    const since = typeof message.since === 'number' ? message.since : -Infinity;
    const answers: Answer[] = this.#store
      .filter((s) => s.ts >= since && matches(filter, s.message))
      .map((s) => ({
        kind: 'frame' as const,
        data: JSON.stringify({ ...s.message, sub: id, ts: s.ts }),
        binary: false,
      }));
    answers.push({ kind: 'frame', data: JSON.stringify({ type: 'eose', sub: id }), binary: false });
    this.#answer(ws, answers);
  }

  /** Stores an application message and delivers it to every matching subscription. */
  #publish(message: Record<string, unknown>): void {
    const ts = typeof message.ts === 'number' ? message.ts : Date.now();
    this.#store.push({ message, ts });
    if (this.#store.length > this.#maxStored) this.#store.splice(0, this.#store.length - this.#maxStored);
    for (const [client, subs] of this.#subs) {
      const answers: Answer[] = [];
      for (const [id, filter] of subs) {
        if (matches(filter, message))
          answers.push({ kind: 'frame', data: JSON.stringify({ ...message, sub: id, ts }), binary: false });
      }
      this.#answer(client, answers);
    }
  }

  /** Sends answers now or after the configured delay; held while paused. */
  #answer(ws: WebSocket, answers: Answer[]): void {
    if (answers.length === 0) return;
    if (this.#delayMs <= 0) {
      this.#deliver(ws, answers);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#deliver(ws, answers);
    }, this.#delayMs);
    this.#timers.add(timer);
  }

  #deliver(ws: WebSocket, answers: Answer[]): void {
    if (this.#paused) {
      this.#held.push({ client: ws, answers });
      return;
    }
    // A connection sent a close frame by closeFrameOnly() gets nothing more, though ws still thinks it open.
    if (ws.readyState !== WebSocket.OPEN || !this.#open.has(ws)) return;
    for (const answer of answers) {
      if (answer.kind === 'pong') {
        ws.pong(answer.data);
        this.#stats.pongsSent++;
      } else {
        ws.send(answer.data, { binary: answer.binary });
        this.#stats.messagesSent++;
        if (answer.pong) this.#stats.pongsSent++;
      }
    }
  }
}
