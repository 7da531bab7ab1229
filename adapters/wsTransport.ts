/**
 * The Node transport: sockets from the `ws` package. This is the only file of relay-actors that imports `ws`;
 * core code sees it through the {@link Transport} contract. It maps `ws`'s events onto {@link TransportHandlers}
 * and folds everything `ws` knows about a socket's end (close frame, upgrade status, `Retry-After`, system error
 * code) into the single {@link DisconnectInfo} the close classifier reads.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket as WsWebSocket, type ClientOptions, type RawData } from 'ws';
import type {
  DialOptions,
  DisconnectInfo,
  Frame,
  Transport,
  TransportHandlers,
  TransportSocket,
} from '../core/contract.ts';

/** Options of {@link wsTransport}. */
export interface WsTransportOptions {
  /** The WebSocket class to instantiate. Default: `ws`'s `WebSocket`. Inject a subclass to observe or fake sockets. */
  WebSocket?: typeof WsWebSocket;
  /**
   * Extra `ws` client options for every dial (`agent`, `perMessageDeflate`, `handshakeTimeout`, TLS options, ...).
   * Per-dial `maxPayload` and `headers` take precedence (headers are merged, the dial's winning). Default `{}`.
   */
  clientOptions?: ClientOptions;
  /**
   * `ws`'s close-handshake timeout in ms, for dials that pass no {@link DialOptions.closeTimeout}: how long a
   * closing socket waits for the close frames and the TCP close before it is destroyed. Default: `ws`'s 30000.
   * The relay always passes its own `closeTimeout` (default 1000), so this only matters when the transport is used
   * on its own.
   */
  closeTimeout?: number;
}

/** `ws` receiver error codes and the close code `ws` sends for each (used when the close frame never came back). */
const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_UNEXPECTED_RSV_1: 1002,
  WS_ERR_UNEXPECTED_RSV_2_3: 1002,
};

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;

/**
 * A {@link Transport} for Node over the `ws` package, with protocol ping/pong frames (`supportsPing: true`).
 *
 * Behaviour worth knowing:
 * - Text frames arrive as `string`, binary frames as `Buffer` (a `Uint8Array`).
 * - A refused upgrade reports `status` and, from a `Retry-After` header (seconds or HTTP-date), `retryAfterMs`.
 * - Errors report their `code` (`ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`, `WS_ERR_*`) as `errorCode`. When `ws`
 *   closed the socket itself over a protocol violation (e.g. a frame over `maxPayload`), the reported close code
 *   is the one `ws` sent (1009 for `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`), not 1006.
 * - So do errors of the TCP socket after the upgrade, which `ws` swallows: a connection that the peer or the
 *   network resets ends with `{ code: 1006, wasClean: false, errorCode: 'ECONNRESET' }` (or `EPIPE`,
 *   `ETIMEDOUT`, ...), not a bare 1006. The first error seen is the one reported.
 * - If the `WebSocket` constructor throws (invalid URL or sub-protocol), `connect` still returns a socket and
 *   reports `onClose({ code: 1006, errorCode: 'DIAL_FAILED' })` on a microtask.
 * - A close frame from the peer is reported at once, `onClose({ code, reason, wasClean: true })` with the peer's
 *   code, not when TCP ends: `ws` answers it and then waits for the peer to close TCP, which a misbehaving server
 *   never does. That socket is destroyed `closeTimeout` after the close frame (the dial's, else the transport's,
 *   else `ws`'s 30000; `ws` does it with its own timer, cleared when TCP ends); `terminate()` drops it sooner.
 *   A close we started is still reported only when TCP has ended (bounded by the same `closeTimeout`), so whoever
 *   waits for it knows the socket is gone.
 * - `close()` while still connecting aborts the dial (as `terminate()`), reporting code 1006: no close frame can
 *   be exchanged before the upgrade. `close()` never throws: an invalid close code falls back to a close frame
 *   without a code (the peer sees 1005), and reasons are cut to the protocol's 123 bytes.
 * - `onMessage`/`onPong` are reported only while open and before `close()`/`terminate()` was called.
 * - Handlers are never called from within `connect()`, and never after `onClose`.
 *
 * @param options - see {@link WsTransportOptions}; default `{}`: `ws`'s `WebSocket` with `ws`'s defaults.
 * @returns A transport named `ws`.
 * @example
 * const transport = wsTransport();
 * const socket = transport.connect('wss://relay.example', {
 *   onOpen: () => socket.send('{"type":"hello"}'),
 *   onMessage: (data) => console.log(data),
 *   onPong: () => {},
 *   onClose: (info) => console.log('closed', info.code, info.errorCode),
 * }, { maxPayload: 1 << 20, closeTimeout: 1000 });
 */
export function wsTransport(options: WsTransportOptions = {}): Transport {
  const WebSocketClass = options.WebSocket ?? WsWebSocket;
  return {
    name: 'ws',
    supportsPing: true,
    connect(url: string, handlers: TransportHandlers, dialOptions: DialOptions): TransportSocket {
      const dial = dialOptions ?? {};
      return new WsSocket(
        url,
        handlers,
        () => new WebSocketClass(url, dial.protocols ?? [], clientOptionsOf(options, dial)),
      );
    },
  };
}

/** `ws`'s client options for one dial: the transport's, with the dial's headers merged over them and its limits. */
function clientOptionsOf(transportOptions: WsTransportOptions, dial: DialOptions): ClientOptions {
  const clientOptions: ClientOptions & { closeTimeout?: number } = {
    ...transportOptions.clientOptions,
    headers: { ...transportOptions.clientOptions?.headers, ...dial.headers },
  };
  if (dial.maxPayload !== undefined) clientOptions.maxPayload = dial.maxPayload;
  // ws's own close timer then drops a peer that never closes TCP: no timer of ours to outlive the socket.
  const closeTimeout = dial.closeTimeout ?? transportOptions.closeTimeout;
  if (closeTimeout !== undefined) clientOptions.closeTimeout = closeTimeout;
  return clientOptions;
}

/**
 * One dialled socket: what `ws` reports, turned into {@link TransportHandlers} calls. A class, so its behaviour
 * lives on the prototype (heap per relay is a benchmarked figure); a socket carries its state and the listeners
 * `ws` and the TCP socket call, made once so that `detach()` removes exactly them.
 */
class WsSocket implements TransportSocket {
  private ws: WsWebSocket | undefined;
  /** The TCP socket under ws, from the public 'upgrade' event: watched for the peer's close frame. */
  private tcp: Duplex | undefined;
  private done = false;
  private localClose = false;
  private localCloseWhileConnecting = false;
  // What ws told us about the socket's end, folded into the one DisconnectInfo at 'close'.
  private status: number | undefined;
  private retryAfterMs: number | undefined;
  private errorCode: string | undefined;
  private message: string | undefined;
  /** While true, and while anything is pending, handler calls queue: none runs inside connect(), order is kept. */
  private inConnect = true;
  private readonly pending: Array<() => void> = [];

  /** Opens the socket with `open`; if that throws (invalid URL or sub-protocol), DIAL_FAILED follows on a microtask. */
  constructor(
    private readonly url: string,
    private readonly handlers: TransportHandlers,
    open: () => WsWebSocket,
  ) {
    try {
      this.ws = open();
      this.attach(this.ws);
    } catch (error) {
      this.ws = undefined;
      const info: DisconnectInfo = {
        code: 1006,
        reason: '',
        wasClean: false,
        errorCode: 'DIAL_FAILED',
        message: (error as Error)?.message ?? String(error),
      };
      this.dispatch(() => this.finish(info));
    } finally {
      this.inConnect = false;
    }
  }

  send(data: Frame): void {
    if (this.done || this.localClose || !this.ws || this.ws.readyState !== OPEN) {
      throw new Error(`Cannot send: the socket to ${this.url} is not open`);
    }
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    const ws = this.ws;
    if (this.done || !ws) return;
    this.localClose = true;
    if (ws.readyState === CONNECTING) return this.abortDial();
    const text = clampReason(reason ?? '');
    try {
      ws.close(code, text);
    } catch {
      // Invalid close code (e.g. 1006): close without one rather than throw.
      ws.close();
    }
  }

  terminate(): void {
    const ws = this.ws;
    if (!ws) return;
    // After an early onClose (the peer's close frame), this drops the socket still waiting for TCP to end.
    if (this.done) return ws.terminate();
    this.localClose = true;
    if (ws.readyState === CONNECTING) this.abortDial();
    else ws.terminate();
  }

  ping(): void {
    if (this.done || this.localClose || !this.ws || this.ws.readyState !== OPEN) return;
    this.ws.ping();
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** No close frame can be exchanged before the upgrade: a close while connecting aborts the dial (code 1006). */
  private abortDial(): void {
    this.localCloseWhileConnecting = true;
    this.message ??= 'closed locally before the connection was established';
    this.ws?.terminate();
  }

  /** Runs `fn` now, or after what is queued ahead of it (and never inside connect()). */
  private dispatch(fn: () => void): void {
    if (this.inConnect || this.pending.length > 0) {
      this.pending.push(fn);
      if (this.pending.length === 1) queueMicrotask(() => this.flush());
    } else fn();
  }

  private flush(): void {
    while (this.pending.length > 0) this.pending.shift()!();
  }

  /** Handler calls other than onClose are made only while open and before our close. */
  private get reporting(): boolean {
    return !this.done && !this.localClose;
  }

  private finish(info: DisconnectInfo): void {
    if (this.done) return;
    this.done = true;
    this.detach();
    this.handlers.onClose(info);
  }

  private attach(ws: WsWebSocket): void {
    ws.on('upgrade', this.onUpgrade);
    ws.on('open', this.onOpen);
    ws.on('message', this.onMessage);
    ws.on('pong', this.onPong);
    ws.on('ping', this.onPing);
    ws.on('unexpected-response', this.onUnexpectedResponse);
    ws.on('error', this.onError);
    ws.on('close', this.onClose);
  }

  private detach(): void {
    this.tcp?.off('data', this.onTcpData);
    this.tcp?.off('finish', this.onPeerClosing);
    this.tcp?.off('error', this.onTcpError);
    const ws = this.ws;
    if (!ws) return;
    ws.off('upgrade', this.onUpgrade);
    ws.off('open', this.onOpen);
    ws.off('message', this.onMessage);
    ws.off('pong', this.onPong);
    ws.off('ping', this.onPing);
    ws.off('unexpected-response', this.onUnexpectedResponse);
    ws.off('close', this.onClose);
    ws.off('error', this.onError);
    // ws emits nothing after 'close', but an EventEmitter without an 'error' listener throws if it ever did.
    if (ws.listenerCount('error') === 0) ws.on('error', noop);
  }

  // The listeners: one function each per socket, made here once (a method would need binding all the same).

  private readonly onUpgrade = (res: IncomingMessage): void => {
    const tcp = (this.tcp = res.socket);
    // ws ends our side of TCP right after answering a close frame; this catches frames ws parsed asynchronously.
    tcp.once('finish', this.onPeerClosing);
    // ws swallows errors of the socket after the upgrade (it destroys it and reports a bare 1006): keep their code.
    tcp.once('error', this.onTcpError);
  };

  private readonly onOpen = (): void => {
    // Added after ws's own 'data' listener (set before 'open'), so this sees each chunk after ws has parsed it.
    this.tcp?.on('data', this.onTcpData);
    this.dispatch(() => {
      if (this.reporting) this.handlers.onOpen();
    });
  };

  private readonly onTcpError = (err: Error): void => {
    this.errorCode ??= errorCodeOf(err);
    this.message ??= err.message;
  };

  // Only ever CLOSING without a local close when the peer closed (or ws itself, over a protocol violation).
  private readonly onTcpData = (): void => {
    if (this.ws?.readyState === CLOSING) this.onPeerClosing();
  };

  private readonly onPeerClosing = (): void => {
    if (this.done || this.localClose || !this.ws) return;
    const frame = peerCloseFrame(this.ws);
    if (frame) this.dispatch(() => this.finish({ code: frame.code, reason: frame.reason, wasClean: true }));
  };

  // The data path: no closure per frame unless something is queued ahead of it.
  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    const frame = toFrame(data, isBinary);
    if (this.inConnect || this.pending.length > 0) {
      this.dispatch(() => {
        if (this.reporting) this.handlers.onMessage(frame, isBinary);
      });
    } else if (this.reporting) this.handlers.onMessage(frame, isBinary);
  };

  private readonly onPong = (): void => this.control('onPong');
  // ws answers the peer's ping itself; the runtime only learns that the link is alive.
  private readonly onPing = (): void => this.control('onPing');

  private control(name: 'onPong' | 'onPing'): void {
    if (!this.handlers[name]) return;
    if (this.inConnect || this.pending.length > 0) {
      this.dispatch(() => {
        if (this.reporting) this.handlers[name]?.();
      });
    } else if (this.reporting) this.handlers[name]?.();
  }

  private readonly onUnexpectedResponse = (_req: unknown, res: IncomingMessage): void => {
    this.status = res.statusCode;
    this.retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    this.message = `Unexpected server response: ${res.statusCode}`;
    res.resume();
    // With a listener attached, ws leaves aborting the handshake to us; this ends in 'error' + 'close' (1006).
    this.ws?.terminate();
  };

  private readonly onError = (err: Error): void => {
    // After a refused upgrade or a local abort, ws's follow-up error ("closed before the connection was
    // established") adds nothing; keep what we already know.
    if (this.status !== undefined || this.localCloseWhileConnecting) return;
    this.errorCode ??= errorCodeOf(err);
    this.message ??= err.message;
  };

  private readonly onClose = (code: number, reason: Buffer): void => {
    const info = this.closeInfo(code, reason.toString('utf8'));
    this.dispatch(() => this.finish(info));
  };

  /** Everything known about the socket's end, as the one {@link DisconnectInfo} the close classifier reads. */
  private closeInfo(code: number, reason: string): DisconnectInfo {
    const { status, retryAfterMs, errorCode, message } = this;
    // ws closed the socket itself over a protocol violation: report the code it sent, not 1006.
    const sentByWs = errorCode !== undefined ? WS_ERROR_CLOSE_CODES[errorCode] : undefined;
    const info: DisconnectInfo = {
      code: code === 1006 && sentByWs !== undefined ? sentByWs : code,
      reason,
      wasClean: code !== 1006 && errorCode === undefined && status === undefined,
    };
    if (status !== undefined) info.status = status;
    if (retryAfterMs !== undefined) info.retryAfterMs = retryAfterMs;
    if (errorCode !== undefined) info.errorCode = errorCode;
    if (message !== undefined) info.message = message;
    return info;
  }
}

function noop(): void {}

/**
 * The peer's close frame, once `ws` has received one. `ws` has no public event for that moment (it emits 'close'
 * only when TCP ends), so this reads the fields its receiver sets then: `_closeFrameReceived`, `_closeCode` and
 * `_closeMessage` (ws 8). When they are missing or not of those types (another `ws` version, a wrapped class),
 * it returns `undefined` and the close is reported at 'close' as before, which `closeTimeout` bounds.
 */
function peerCloseFrame(ws: WsWebSocket): { code: number; reason: string } | undefined {
  const fields = ws as unknown as { _closeFrameReceived?: unknown; _closeCode?: unknown; _closeMessage?: unknown };
  if (fields._closeFrameReceived !== true || typeof fields._closeCode !== 'number') return undefined;
  const reason = Buffer.isBuffer(fields._closeMessage) ? fields._closeMessage.toString('utf8') : '';
  return { code: fields._closeCode, reason };
}

function toFrame(data: RawData, isBinary: boolean): Frame {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data;
  return isBinary ? buffer : buffer.toString('utf8');
}

function errorCodeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown };
  if (typeof e?.code === 'string') return e.code;
  // Node's happy-eyeballs dialing reports an AggregateError whose members carry the codes.
  if (Array.isArray(e?.errors)) {
    for (const inner of e.errors) {
      const code = (inner as { code?: unknown })?.code;
      if (typeof code === 'string') return code;
    }
  }
  return undefined;
}

/**
 * Reads a `Retry-After` header value as milliseconds from `now`: either delay-seconds (`"120"`) or an HTTP-date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`, clamped at 0 when in the past). Returns `undefined` when absent or unreadable.
 *
 * @param value - the header value (the first one if repeated).
 * @param now - the current time in ms since the epoch; default `Date.now()`.
 * @example
 * parseRetryAfter('5') // 5000
 * parseRetryAfter(new Date(Date.now() + 60_000).toUTCString()) // ≈ 60000 (whole seconds)
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP-date form names its month; this also keeps Date.parse from reading "-5" as a year.
  if (!/[a-z]{3}/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Cuts a close reason to the 123 UTF-8 bytes a close frame can carry, never splitting a character. */
function clampReason(reason: string): string {
  if (Buffer.byteLength(reason, 'utf8') <= 123) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > 123) break;
    out += ch;
    bytes += n;
  }
  return out;
}
