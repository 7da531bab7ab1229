/**
 * The in-memory transport: scripted servers in the same process, for model tests and simulations. No sockets,
 * no real timers unless a delay is set without a clock. Every fault the runtime must survive can be injected on
 * demand: refused dials (with an upgrade status or an error code), dials that hang, unanswered pings, dropped
 * connections, clean closes, close frames without a TCP close, a silently dead path (blackhole), latency,
 * oversized frames.
 *
 * Deterministic by construction: server→client deliveries run in order on microtasks, or on the given clock when
 * a delay is set; client→server writes are recorded synchronously. Client handlers are never called
 * synchronously from `connect()` or from any socket method.
 */
import type {
  DialOptions,
  DisconnectInfo,
  Frame,
  Transport,
  TransportHandlers,
  TransportSocket,
} from '../core/contract.ts';

/** A timer source: XState's `SimulatedClock` fits, as does `{ setTimeout, clearTimeout }` of the platform. */
export interface MemoryClock {
  /** Calls `fn` after `ms`; returns an id for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a pending `setTimeout` by its id. */
  clearTimeout(id: unknown): void;
  /** Current time in ms; used to keep delayed frames in order when the delay changes. Default `Date.now()`. */
  now?(): number;
}

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /** Clock for delayed deliveries (see `MemoryServer.delay`). Default: the platform's timers. */
  clock?: MemoryClock;
  /** Whether sockets have protocol ping frames (a `ping()` method). Default `true`. */
  supportsPing?: boolean;
  /** Transport name for telemetry. Default `'memory'`. */
  name?: string;
  /**
   * Called when a server script (handler or listener) throws. Default: rethrown on a microtask, so the test runner
   * reports it as an uncaught error. Either way the client's write that triggered it does not fail.
   */
  onScriptError?: (error: unknown) => void;
}

/** How a refused dial fails. Without any field: `errorCode: 'ECONNREFUSED'`. */
export interface RefuseOptions {
  /** HTTP status of the refused upgrade (e.g. 401, 503). */
  status?: number;
  /** `Retry-After`, already in ms. */
  retryAfterMs?: number;
  /** Error code (`ECONNREFUSED`, `ETIMEDOUT`, `ENOTFOUND`, ...). Default `ECONNREFUSED` when `status` is absent. */
  errorCode?: string;
  /** Human-readable detail. Default derived from the status or error code. */
  message?: string;
  /** Refuse only the next `times` dials, then accept again. Default: until `accept()`. */
  times?: number;
}

/** How one connection ended, as the server saw it. */
export interface MemoryCloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** One frame a server received from a client. */
export interface ReceivedFrame {
  data: Frame;
  isBinary: boolean;
  connection: MemoryConnection;
}

/** Callbacks of a scripted server. All are called synchronously from the client's action. */
export interface MemoryServerHandlers {
  /** A dial was accepted (before `onOpen` reaches the client; frames sent now arrive after it). */
  onConnection?(connection: MemoryConnection): void;
  /** A client sent a frame. */
  onMessage?(data: Frame, connection: MemoryConnection, isBinary: boolean): void;
  /** An accepted connection ended, seen from the server. */
  onClose?(connection: MemoryConnection, info: MemoryCloseInfo): void;
}

/** The server end of one accepted connection. */
export interface MemoryConnection {
  /** Sequential id, unique per transport. */
  readonly id: number;
  /** The URL as dialled (credentials and query included). */
  readonly url: string;
  /** The dial options the client passed. */
  readonly options: DialOptions;
  /**
   * `open` until either side ended it; `closing` after {@link MemoryServer.closeFrameOnly} while the client has
   * not yet dropped the TCP connection the server keeps up.
   */
  readonly state: 'open' | 'closing' | 'closed';
  /** Frames received on this connection, in order. */
  readonly received: readonly ReceivedFrame[];
  /** How it ended, once it did. */
  readonly closeInfo: MemoryCloseInfo | undefined;
  /** Sends a frame to this client (ignored once closed). */
  send(frame: Frame): void;
  /** Closes cleanly with a close frame; the client sees `{ code, reason, wasClean: true }`. Default code 1000. */
  close(code?: number, reason?: string): void;
  /** Drops the connection without a close frame; the client sees code 1006. */
  drop(): void;
}

/** Counters of a {@link MemoryServer}. */
export interface MemoryServerStats {
  /** Dials that reached this server (held, accepted or refused). */
  dials: number;
  accepted: number;
  refused: number;
  /** Protocol pings received. */
  pings: number;
  /** Protocol pongs sent. */
  pongs: number;
  /** Frames received from clients. */
  framesIn: number;
  /** Frames sent to clients. */
  framesOut: number;
  /** Frames and pings lost to the blackhole. */
  swallowed: number;
}

/** A scripted in-memory server. Setters return the server so they chain: `server.delay(50).pongs(false)`. */
export interface MemoryServer {
  /** The URL it was registered under. */
  readonly url: string;
  /** Accept dials (the default). Clears `refuse`. */
  accept(): MemoryServer;
  /** Refuse dials as {@link RefuseOptions} says, until `accept()` (or for `times` dials). */
  refuse(options?: RefuseOptions): MemoryServer;
  /** Keep new dials pending (neither open nor refused) until `releaseDials()`: connect timeouts. */
  holdDials(): MemoryServer;
  /** Stops holding and settles every pending dial by the current accept/refuse setting, in order. */
  releaseDials(): void;
  /** Answer protocol pings (default `true`). */
  pongs(answer: boolean): MemoryServer;
  /**
   * A silently dead path when `true` (default argument): client writes and pings vanish, and nothing reaches the
   * client, not even closes. Only the client's own `close()`/`terminate()` ends its socket.
   */
  blackhole(on?: boolean): MemoryServer;
  /** One-way latency server→client in ms (open, frames, pongs, closes), run on the clock. Default 0 (microtasks). */
  delay(ms: number): MemoryServer;
  /** Sends `frame` to every open connection. */
  send(frame: Frame): void;
  /**
   * Drops every connection without a close frame (clients see 1006), including those kept `closing` by
   * `closeFrameOnly`: the server finally closes TCP (their clients have already seen the close frame).
   */
  drop(): void;
  /** Closes every connection cleanly. Default code 1000, reason ''. */
  closeAll(code?: number, reason?: string): void;
  /**
   * A hostile server's close: every open connection gets a close frame with `code` and `reason`, but the server
   * never closes TCP. The client sees the close at once, as the `ws` transport reports it
   * (`{ code, reason, wasClean: true }`; an unsendable code arrives as 1005); the connection stays `closing`
   * (gets nothing more, leaves `connections`) until the client drops it the dial's `closeTimeout` later (on the
   * transport's clock; `ws`'s 30000 when the dial has none), which the server sees as a 1006 end. `drop()` or
   * `close()` ends it sooner. With the blackhole on, the close frame is lost and the connection stays `closing`
   * until the client's own `close()`/`terminate()`.
   *
   * @param code - Close code. Default 1000.
   * @param reason - Close reason. Default `''`.
   * @example
   * const mem = memoryTransport({ clock });
   * const server = mem.server('ws://relay.test');
   * server.closeFrameOnly(1001, 'going away'); // clients close now; their TCP is dropped closeTimeout later
   */
  closeFrameOnly(code?: number, reason?: string): MemoryServer;
  /** Listens to client frames; returns the unsubscribe. */
  onMessage(listener: (data: Frame, connection: MemoryConnection, isBinary: boolean) => void): () => void;
  /** Listens to accepted connections; returns the unsubscribe. */
  onConnection(listener: (connection: MemoryConnection) => void): () => void;
  /** Open connections, oldest first (not those `closing` after `closeFrameOnly`). */
  readonly connections: readonly MemoryConnection[];
  /** Every connection ever accepted, oldest first. */
  readonly allConnections: readonly MemoryConnection[];
  /** Dials held by `holdDials()`. */
  readonly pendingDials: number;
  /** Every frame received, across connections, in order. */
  readonly received: readonly ReceivedFrame[];
  /** A snapshot of the counters. */
  readonly stats: MemoryServerStats;
  /** Unregisters the server: connections drop, held dials and later dials are refused with ECONNREFUSED. */
  close(): void;
}

/** The memory transport: a {@link Transport} and its controller in one object. */
export interface MemoryTransport extends Transport {
  /** The object itself, for code that wants `{ transport: mem.transport }` spelled out. */
  readonly transport: Transport;
  /** The server at `url`, created (and registered) on first call; `handlers` are added to it. */
  server(url: string, handlers?: MemoryServerHandlers): MemoryServer;
  /** The server at `url`, if registered. */
  getServer(url: string): MemoryServer | undefined;
  /** Every `connect()` call, including those to URLs without a server. */
  readonly dials: number;
  /** Closes every server (see `MemoryServer.close`) and forgets them. */
  reset(): void;
}

/**
 * Creates an in-memory, fault-injectable transport. The returned object is both the {@link Transport} (pass it as
 * `transport`) and the controller (`mem.server(url)`).
 *
 * Servers are matched by URL ignoring user info, query and fragment (`ws://u:p@relay/?t=1` reaches the server
 * registered as `ws://relay`). A dial with no server reports `onClose({ code: 1006, errorCode: 'ECONNREFUSED' })`.
 * Sockets follow the `ws` transport's rules: `send` throws unless open, `close()` while connecting aborts with
 * 1006, `close()` never throws (an invalid code closes without one: 1005), frames over the dial's `maxPayload`
 * close the socket with 1009 and `errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'`, `bufferedAmount` is 0.
 *
 * @param options - see {@link MemoryTransportOptions}; default: platform timers, `supportsPing: true`.
 * @returns The transport-and-controller.
 * @example
 * const clock = new SimulatedClock();
 * const mem = memoryTransport({ clock });
 * const server = mem.server('ws://relay.test', { onMessage: (data, conn) => conn.send(data) }); // echo
 * const relay = createRelay('ws://relay.test', { transport: mem, clock });
 * server.delay(200);           // 200 ms latency on the simulated clock
 * server.refuse({ status: 503, retryAfterMs: 5000 }); // later dials are refused
 * server.drop();               // every connection drops (1006)
 */
export function memoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const clock: MemoryClock = options.clock ?? {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
    now: () => Date.now(),
  };
  const env: Env = {
    clock,
    now: () => (typeof clock.now === 'function' ? clock.now() : Date.now()),
    nextId: 0,
    safely(fn) {
      try {
        fn();
      } catch (error) {
        (options.onScriptError ?? rethrowLater)(error);
      }
    },
  };
  const servers = new Map<string, Server>();
  let dials = 0;
  const supportsPing = options.supportsPing ?? true;

  const mem: MemoryTransport = {
    name: options.name ?? 'memory',
    supportsPing,
    get transport(): Transport {
      return mem;
    },
    get dials(): number {
      return dials;
    },
    connect(url: string, handlers: TransportHandlers, dialOptions: DialOptions): TransportSocket {
      dials++;
      const link = new Link(env, ++env.nextId, url, dialOptions ?? {}, handlers);
      const server = servers.get(serverKey(url));
      if (server) server.dial(link);
      else link.refuseLocally({ errorCode: 'ECONNREFUSED', message: `connect ECONNREFUSED ${url}: no memory server` });
      return link.socket(supportsPing);
    },
    server(url: string, handlers?: MemoryServerHandlers): MemoryServer {
      const key = serverKey(url);
      let server = servers.get(key);
      if (!server) {
        server = new Server(env, url, () => {
          if (servers.get(key) === server) servers.delete(key);
        });
        servers.set(key, server);
      }
      if (handlers) server.addHandlers(handlers);
      return server.api;
    },
    getServer(url: string): MemoryServer | undefined {
      return servers.get(serverKey(url))?.api;
    },
    reset(): void {
      for (const server of [...servers.values()]) server.shutdown();
      servers.clear();
    },
  };
  return mem;
}

// Internals ---------------------------------------------------------------------------------------------------

interface Env {
  clock: MemoryClock;
  now(): number;
  nextId: number;
  /** Runs a server-side callback; a throwing script is reported, not turned into a failed client write. */
  safely(fn: () => void): void;
}

/** Servers are found by scheme, host and path: user info, query and fragment are not part of the address. */
function serverKey(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '' ? '/' : u.pathname}`;
  } catch {
    return url;
  }
}

/** Close codes a close frame may carry (as `ws` enforces). */
function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

function byteLength(frame: Frame): number {
  return typeof frame === 'string' ? new TextEncoder().encode(frame).byteLength : frame.byteLength;
}

function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

class Server {
  readonly api: MemoryServer;
  private readonly handlers: MemoryServerHandlers[] = [];
  private readonly messageListeners = new Set<(data: Frame, c: MemoryConnection, isBinary: boolean) => void>();
  private readonly connectionListeners = new Set<(c: MemoryConnection) => void>();
  /** Connections whose TCP is up: `open`, and `closing` after closeFrameOnly(). */
  private readonly open = new Set<Link>();
  private readonly all: Link[] = [];
  private readonly held: Link[] = [];
  readonly receivedFrames: ReceivedFrame[] = [];
  private refusal: (RefuseOptions & { remaining: number }) | undefined;
  private holding = false;
  private answerPings = true;
  blackholed = false;
  delayMs = 0;
  private closed = false;
  readonly counters: MemoryServerStats = {
    dials: 0,
    accepted: 0,
    refused: 0,
    pings: 0,
    pongs: 0,
    framesIn: 0,
    framesOut: 0,
    swallowed: 0,
  };

  constructor(
    private readonly env: Env,
    readonly url: string,
    private readonly unregister: () => void,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.api = {
      url,
      accept() {
        self.refusal = undefined;
        return self.api;
      },
      refuse(options: RefuseOptions = {}) {
        self.refusal = { ...options, remaining: options.times ?? Infinity };
        return self.api;
      },
      holdDials() {
        self.holding = true;
        return self.api;
      },
      releaseDials() {
        self.holding = false;
        for (const link of self.held.splice(0)) self.settle(link);
      },
      pongs(answer: boolean) {
        self.answerPings = answer;
        return self.api;
      },
      blackhole(on = true) {
        self.blackholed = on;
        return self.api;
      },
      delay(ms: number) {
        if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`delay must be a finite number >= 0, got ${ms}`);
        self.delayMs = ms;
        return self.api;
      },
      send(frame: Frame) {
        for (const link of [...self.open]) link.serverSend(frame);
      },
      drop() {
        for (const link of [...self.open]) link.serverDrop();
      },
      closeAll(code = 1000, reason = '') {
        for (const link of [...self.open]) link.serverClose(code, reason);
      },
      closeFrameOnly(code = 1000, reason = '') {
        for (const link of [...self.open]) link.serverCloseFrameOnly(code, reason);
        return self.api;
      },
      onMessage(listener) {
        self.messageListeners.add(listener);
        return () => void self.messageListeners.delete(listener);
      },
      onConnection(listener) {
        self.connectionListeners.add(listener);
        return () => void self.connectionListeners.delete(listener);
      },
      get connections() {
        return [...self.open].filter((link) => link.state === 'open');
      },
      get allConnections() {
        return [...self.all];
      },
      get pendingDials() {
        return self.held.length;
      },
      get received() {
        return self.receivedFrames;
      },
      get stats() {
        return { ...self.counters };
      },
      close() {
        self.shutdown();
      },
    };
  }

  addHandlers(handlers: MemoryServerHandlers): void {
    this.handlers.push(handlers);
  }

  dial(link: Link): void {
    if (this.closed) {
      link.refuseLocally({ errorCode: 'ECONNREFUSED', message: `connect ECONNREFUSED ${link.url}: no memory server` });
      return;
    }
    this.counters.dials++;
    link.server = this;
    if (this.holding) this.held.push(link);
    else this.settle(link);
  }

  /** A held dial was abandoned by its client. */
  unhold(link: Link): void {
    const i = this.held.indexOf(link);
    if (i >= 0) this.held.splice(i, 1);
  }

  private settle(link: Link): void {
    if (link.clientState === 'done') return;
    const refusal = this.refusal;
    if (refusal && refusal.remaining > 0) {
      if (--refusal.remaining <= 0) this.refusal = undefined;
      this.counters.refused++;
      link.refuse(refusal);
      return;
    }
    this.counters.accepted++;
    this.open.add(link);
    this.all.push(link);
    link.accept();
    for (const h of this.handlers) if (h.onConnection) this.env.safely(() => h.onConnection!(link));
    for (const l of [...this.connectionListeners]) this.env.safely(() => l(link));
  }

  received(link: Link, data: Frame): void {
    const isBinary = typeof data !== 'string';
    const frame: ReceivedFrame = { data, isBinary, connection: link };
    this.counters.framesIn++;
    this.receivedFrames.push(frame);
    link.receivedFrames.push(frame);
    for (const h of this.handlers) if (h.onMessage) this.env.safely(() => h.onMessage!(data, link, isBinary));
    for (const l of [...this.messageListeners]) this.env.safely(() => l(data, link, isBinary));
  }

  /** Whether a ping gets a pong (counts it either way). */
  ping(): boolean {
    if (this.blackholed) {
      this.counters.swallowed++;
      return false;
    }
    this.counters.pings++;
    if (!this.answerPings) return false;
    this.counters.pongs++;
    return true;
  }

  ended(link: Link, info: MemoryCloseInfo): void {
    this.open.delete(link);
    for (const h of this.handlers) if (h.onClose) this.env.safely(() => h.onClose!(link, info));
  }

  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    this.holding = false;
    for (const link of this.held.splice(0)) {
      link.refuse({ errorCode: 'ECONNREFUSED', message: `connect ECONNREFUSED ${link.url}: memory server closed` });
    }
    for (const link of [...this.open]) link.serverDrop();
  }
}

interface QueuedDelivery {
  seq: number;
  run: () => void;
}

/** `ws`'s default close timeout, for dials that pass none. */
const WS_CLOSE_TIMEOUT = 30_000;

/** How the server sees a connection the client dropped while the server kept TCP up. */
const DROPPED_BY_CLIENT: MemoryCloseInfo = { code: 1006, reason: '', wasClean: false };

/** One dial: the client socket and, once accepted, the server's connection. */
class Link implements MemoryConnection {
  server: Server | undefined;
  clientState: 'connecting' | 'open' | 'closing' | 'done' = 'connecting';
  private serverState: 'pending' | 'open' | 'closing' | 'closed' = 'pending';
  readonly receivedFrames: ReceivedFrame[] = [];
  private ended: MemoryCloseInfo | undefined;
  // Server→client delivery queue, FIFO whatever the delays.
  private readonly queue: QueuedDelivery[] = [];
  private seq = 0;
  private lastDue = -Infinity;
  private readonly timers = new Set<unknown>();

  constructor(
    private readonly env: Env,
    readonly id: number,
    readonly url: string,
    readonly options: DialOptions,
    private readonly handlers: TransportHandlers,
  ) {}

  // MemoryConnection (server side) ------------------------------------------------------------------------

  get state(): 'open' | 'closing' | 'closed' {
    return this.serverState === 'pending' ? 'closed' : this.serverState;
  }

  get received(): readonly ReceivedFrame[] {
    return this.receivedFrames;
  }

  get closeInfo(): MemoryCloseInfo | undefined {
    return this.ended;
  }

  send(frame: Frame): void {
    this.serverSend(frame);
  }

  close(code = 1000, reason = ''): void {
    this.serverClose(code, reason);
  }

  drop(): void {
    this.serverDrop();
  }

  // Server actions ------------------------------------------------------------------------------------------

  accept(): void {
    this.serverState = 'open';
    this.deliver(() => {
      if (this.clientState !== 'connecting') return;
      this.clientState = 'open';
      this.handlers.onOpen();
    });
  }

  refuse(options: RefuseOptions): void {
    this.serverState = 'closed';
    const info: DisconnectInfo = { code: 1006, reason: '', wasClean: false };
    if (options.status !== undefined) info.status = options.status;
    if (options.retryAfterMs !== undefined) info.retryAfterMs = options.retryAfterMs;
    const errorCode = options.errorCode ?? (options.status === undefined ? 'ECONNREFUSED' : undefined);
    if (errorCode !== undefined) info.errorCode = errorCode;
    info.message =
      options.message ??
      (options.status !== undefined
        ? `Unexpected server response: ${options.status}`
        : `connect ${errorCode} ${this.url}`);
    this.deliver(() => this.finish(info));
  }

  /** Refused before reaching any server: no latency, no blackhole. */
  refuseLocally(options: { errorCode: string; message: string }): void {
    this.serverState = 'closed';
    this.deliverNow(() =>
      this.finish({ code: 1006, reason: '', wasClean: false, errorCode: options.errorCode, message: options.message }),
    );
  }

  serverSend(frame: Frame): void {
    if (this.serverState !== 'open' || !this.server) return;
    if (this.server.blackholed) {
      this.server.counters.swallowed++;
      return;
    }
    this.server.counters.framesOut++;
    this.deliver(() => {
      if (this.clientState !== 'open') return;
      const max = this.options.maxPayload;
      if (max !== undefined && byteLength(frame) > max) {
        this.endServerSide({ code: 1009, reason: '', wasClean: true });
        this.finish({
          code: 1009,
          reason: '',
          wasClean: false,
          errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
          message: `Inbound frame exceeds maxPayload (${max} bytes)`,
        });
        return;
      }
      this.handlers.onMessage(frame, typeof frame !== 'string');
    });
  }

  serverClose(code: number, reason: string): void {
    if (this.serverState !== 'open') return;
    const sent = isSendableCloseCode(code) ? code : 1005;
    this.endServerSide({ code: sent, reason, wasClean: true });
    if (this.server?.blackholed) return;
    this.deliver(() => this.finish({ code: sent, reason, wasClean: true }));
  }

  /** A close frame, and TCP kept up: the client reports the close at once and drops TCP closeTimeout later. */
  serverCloseFrameOnly(code: number, reason: string): void {
    if (this.serverState !== 'open') return;
    this.serverState = 'closing';
    const sent = isSendableCloseCode(code) ? code : 1005;
    const text = sent === 1005 ? '' : reason;
    if (this.server?.blackholed) return;
    this.deliver(() => {
      this.finish({ code: sent, reason: text, wasClean: true });
      this.dropAfterCloseTimeout();
    });
  }

  /** What the `ws` transport does when the peer keeps TCP up after its close frame. */
  private dropAfterCloseTimeout(): void {
    if (this.serverState !== 'closing') return;
    const ms = this.options.closeTimeout ?? WS_CLOSE_TIMEOUT;
    if (ms <= 0) {
      this.endServerSide(DROPPED_BY_CLIENT);
      return;
    }
    const timer = this.env.clock.setTimeout(() => {
      this.timers.delete(timer);
      this.endServerSide(DROPPED_BY_CLIENT);
    }, ms);
    this.timers.add(timer);
  }

  serverDrop(): void {
    if (this.serverState === 'closing') {
      // The server finally closes the TCP it kept after closeFrameOnly(): its client has already seen the close.
      this.cancelDeliveries();
      this.endServerSide(DROPPED_BY_CLIENT);
      return;
    }
    if (this.serverState !== 'open') return;
    this.endServerSide({ code: 1006, reason: '', wasClean: false });
    if (this.server?.blackholed) return;
    this.deliver(() => this.finish({ code: 1006, reason: '', wasClean: false }));
  }

  private endServerSide(info: MemoryCloseInfo): void {
    if (this.serverState === 'closed') return;
    const wasOpen = this.serverState !== 'pending';
    this.serverState = 'closed';
    this.ended = info;
    if (wasOpen) this.server?.ended(this, info);
  }

  // Client side ---------------------------------------------------------------------------------------------

  socket(supportsPing: boolean): TransportSocket {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const link = this;
    const socket: TransportSocket = {
      send(data: Frame): void {
        if (link.clientState !== 'open') throw new Error(`Cannot send: the socket to ${link.url} is not open`);
        if (link.serverState !== 'open' || !link.server) return; // in flight towards a server that already left
        if (link.server.blackholed) {
          link.server.counters.swallowed++;
          return;
        }
        link.server.received(link, data);
      },
      close(code?: number, reason?: string): void {
        link.clientClose(code, reason ?? '');
      },
      terminate(): void {
        link.clientTerminate();
      },
      get bufferedAmount(): number {
        return 0;
      },
    };
    if (supportsPing) {
      socket.ping = () => {
        if (link.clientState !== 'open' || link.serverState !== 'open' || !link.server) return;
        if (link.server.ping()) {
          link.deliver(() => {
            if (link.clientState === 'open') link.handlers.onPong();
          });
        }
      };
    }
    return socket;
  }

  private clientClose(code: number | undefined, reason: string): void {
    if (this.clientState === 'done' || this.clientState === 'closing') return;
    if (this.clientState === 'connecting') {
      this.abort('closed locally before the connection was established');
      return;
    }
    this.clientState = 'closing';
    const sent = code !== undefined && isSendableCloseCode(code) ? code : 1005;
    const text = sent === 1005 ? '' : reason;
    if (this.serverState !== 'open' || !this.server || this.server.blackholed) return; // no echo will come
    this.endServerSide({ code: sent, reason: text, wasClean: true });
    this.deliver(() => this.finish({ code: sent, reason: text, wasClean: true }));
  }

  private clientTerminate(): void {
    if (this.clientState === 'done') {
      // As with ws: after the close frame of closeFrameOnly() was reported, terminate() drops the TCP kept up.
      if (this.serverState === 'closing') {
        this.cancelDeliveries();
        this.endServerSide(DROPPED_BY_CLIENT);
      }
      return;
    }
    if (this.clientState === 'connecting') {
      this.abort('terminated locally before the connection was established');
      return;
    }
    this.endServerSide({ code: 1006, reason: '', wasClean: false });
    this.cancelDeliveries();
    this.clientState = 'done';
    queueMicrotask(() => this.handlers.onClose({ code: 1006, reason: '', wasClean: false }));
  }

  private abort(message: string): void {
    this.server?.unhold(this);
    this.endServerSide({ code: 1006, reason: '', wasClean: false });
    this.cancelDeliveries();
    this.clientState = 'done';
    queueMicrotask(() => this.handlers.onClose({ code: 1006, reason: '', wasClean: false, message }));
  }

  /** Reports the end to the client, once. */
  private finish(info: DisconnectInfo): void {
    if (this.clientState === 'done') return;
    this.clientState = 'done';
    this.cancelDeliveries();
    this.handlers.onClose(info);
  }

  // Delivery ------------------------------------------------------------------------------------------------

  /** Server→client, after the server's delay, in order. */
  private deliver(run: () => void): void {
    if (this.clientState === 'done') return;
    const delay = this.server?.delayMs ?? 0;
    const seq = ++this.seq;
    this.queue.push({ seq, run });
    const now = this.env.now();
    if (delay <= 0 && this.queue.length === 1) {
      this.lastDue = Math.max(this.lastDue, now);
      queueMicrotask(() => this.flush(seq));
      return;
    }
    const due = Math.max(now + delay, this.lastDue);
    this.lastDue = due;
    const wait = due - now;
    if (wait <= 0) {
      queueMicrotask(() => this.flush(seq));
      return;
    }
    const timer = this.env.clock.setTimeout(() => {
      this.timers.delete(timer);
      this.flush(seq);
    }, wait);
    this.timers.add(timer);
  }

  /** Not subject to latency: a dial that never reached a server. */
  private deliverNow(run: () => void): void {
    const seq = ++this.seq;
    this.queue.push({ seq, run });
    queueMicrotask(() => this.flush(seq));
  }

  /** Runs every queued delivery up to `seq`: a later timer firing first still delivers in order. */
  private flush(seq: number): void {
    while (this.queue.length > 0 && this.queue[0]!.seq <= seq) {
      const item = this.queue.shift()!;
      if (this.clientState === 'done') {
        this.queue.length = 0;
        return;
      }
      item.run();
    }
  }

  private cancelDeliveries(): void {
    this.queue.length = 0;
    for (const timer of this.timers) this.env.clock.clearTimeout(timer);
    this.timers.clear();
  }
}
