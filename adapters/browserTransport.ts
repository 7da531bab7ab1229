/**
 * The browser transport: sockets from the WHATWG `WebSocket` (browsers, Deno, Bun, Node 22+), plus
 * {@link browserNetwork}, the `online`/`offline` signal the relay uses to reconnect at once when the network
 * returns. Browsers hide most of why a socket failed (no upgrade status, no error code) and have no ping frames,
 * so the heartbeat uses the protocol's app-level ping with this transport.
 */
import type {
  DialOptions,
  DisconnectInfo,
  Frame,
  Transport,
  TransportHandlers,
  TransportSocket,
} from '../core/contract.ts';

/** Options of {@link browserTransport}. */
export interface BrowserTransportOptions {
  /**
   * The WebSocket constructor. Default: `globalThis.WebSocket`, looked up at each `connect` (so a polyfill
   * installed later is seen). `ws`'s `WebSocket` class also fits (cast it), which is how this transport is tested.
   */
  WebSocket?: typeof globalThis.WebSocket;
}

const OPEN = 1;
const CLOSED = 3;

/** Close code and error code reported when an inbound frame exceeds `maxPayload`. */
const TOO_BIG = { code: 1009, errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' } as const;

/**
 * A {@link Transport} over the WHATWG `WebSocket`, without protocol pings (`supportsPing: false`, no `ping`).
 *
 * Behaviour worth knowing:
 * - `binaryType` is set to `'arraybuffer'`; binary frames arrive as `Uint8Array`, text frames as `string`.
 * - `headers` in the dial options are ignored (browsers cannot set them); `protocols` are offered.
 * - `maxPayload` is enforced here, after the frame arrived (a browser cannot refuse it earlier): a larger frame
 *   closes the socket (1009 where the platform allows sending it, else a plain close) and reports
 *   `onClose({ code: 1009, errorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' })` at once.
 * - Browsers hide the upgrade status, so `status`/`retryAfterMs` are never reported. When the platform's error
 *   event carries an error with a `code` (as `ws`'s class does), it is reported as `errorCode`.
 * - A close frame from the peer is reported at the platform's `close` event, with the peer's code and reason:
 *   a page cannot see the frame earlier (no event, only `readyState` turning CLOSING). Browsers fire `close`
 *   once the TCP connection has ended, and drop a peer that keeps it open after its close frame on a timer of
 *   their own that a page cannot set, so the dial's `closeTimeout` is not used. Until then `send` throws (a
 *   closing socket is never written to).
 * - `terminate()` has no browser equivalent: it calls `close()` without waiting and reports
 *   `onClose({ code: 1006, wasClean: false })` on a microtask; later events of that socket are ignored.
 * - `close()` never throws: where the platform rejects the code (browsers only send 1000 and 3000–4999) it
 *   closes without a code; reasons are cut to 123 UTF-8 bytes.
 * - `connect` throws a plain `Error` when no WebSocket implementation exists. If the constructor itself throws
 *   (bad URL), `onClose({ code: 1006, errorCode: 'DIAL_FAILED' })` follows on a microtask.
 * - Handlers are never called from within `connect()`, and never after `onClose`.
 *
 * @param options - see {@link BrowserTransportOptions}; default `{}` (global `WebSocket`).
 * @returns A transport named `browser`.
 * @example
 * const relay = createRelay('wss://relay.example', { transport: browserTransport(), network: browserNetwork() });
 */
export function browserTransport(options: BrowserTransportOptions = {}): Transport {
  return {
    name: 'browser',
    supportsPing: false,
    connect(url: string, handlers: TransportHandlers, dialOptions: DialOptions): TransportSocket {
      const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: typeof globalThis.WebSocket }).WebSocket;
      if (typeof WebSocketClass !== 'function') {
        throw new Error(
          'browserTransport: no WebSocket implementation found (globalThis.WebSocket is undefined). ' +
            'Pass one with browserTransport({ WebSocket }) or use wsTransport() on Node.',
        );
      }
      const dial = dialOptions ?? {};
      return new BrowserSocket(url, handlers, dial.maxPayload, () =>
        openWebSocket(WebSocketClass, url, dial.protocols),
      );
    },
  };
}

/** A WebSocket offering `protocols` when there are any, reading binary frames as `ArrayBuffer`s. */
function openWebSocket(WebSocketClass: typeof globalThis.WebSocket, url: string, protocols?: string[]): WebSocket {
  const ws = protocols && protocols.length > 0 ? new WebSocketClass(url, protocols) : new WebSocketClass(url);
  ws.binaryType = 'arraybuffer';
  return ws;
}

/**
 * One dialled socket: the platform's events, turned into {@link TransportHandlers} calls. A class, so its
 * behaviour lives on the prototype (heap per relay is a benchmarked figure); a socket carries its state and the
 * four listeners the platform calls, made once so that `detach()` removes exactly them. Its members are `#private`
 * so that bundlers can shorten their names: the browser bundle has a size budget.
 */
class BrowserSocket implements TransportSocket {
  readonly #url: string;
  readonly #handlers: TransportHandlers;
  readonly #maxPayload: number | undefined;
  #ws: WebSocket | undefined;
  #done = false;
  #localClose = false;
  #errorCode: string | undefined;
  #message: string | undefined;

  /** Opens the socket with `open`; if that throws (bad URL), DIAL_FAILED follows on a microtask. */
  constructor(url: string, handlers: TransportHandlers, maxPayload: number | undefined, open: () => WebSocket) {
    this.#url = url;
    this.#handlers = handlers;
    this.#maxPayload = maxPayload;
    try {
      this.#ws = open();
      this.#attach(this.#ws);
    } catch (error) {
      this.#ws = undefined;
      this.#finish({
        code: 1006,
        reason: '',
        wasClean: false,
        errorCode: 'DIAL_FAILED',
        message: (error as Error)?.message ?? String(error),
      });
    }
  }

  send(data: Frame): void {
    if (this.#done || this.#localClose || !this.#ws || this.#ws.readyState !== OPEN) {
      throw new Error(`Cannot send: the socket to ${this.#url} is not open`);
    }
    // TypeScript 5.9+'s DOM lib types `send` as taking ArrayBuffer-backed views only; a Frame's bytes are
    // ArrayBuffer-backed (SharedArrayBuffer views are refused by browsers anyway).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed from TypeScript 6's DOM lib on
    this.#ws.send(data as string | Uint8Array<ArrayBuffer>);
  }

  close(code?: number, reason?: string): void {
    if (this.#done || !this.#ws) return;
    this.#localClose = true;
    this.#closeQuietly(code, reason);
  }

  terminate(): void {
    if (this.#done || !this.#ws) return;
    this.#localClose = true;
    this.#closeQuietly();
    this.#finish({ code: 1006, reason: '', wasClean: false });
  }

  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /** Reports the end once, on a microtask: never from within connect() or a handler's own call. */
  #finish(info: DisconnectInfo): void {
    if (this.#done) return;
    this.#done = true;
    queueMicrotask(() => this.#handlers.onClose(info));
  }

  /** Closes with `code` where the platform accepts it, else without one; never throws. */
  #closeQuietly(code?: number, reason?: string): void {
    const ws = this.#ws;
    if (!ws || ws.readyState === CLOSED) return;
    try {
      if (code === undefined) ws.close();
      else ws.close(code, clampReason(reason ?? ''));
    } catch {
      try {
        ws.close();
      } catch {
        // Nothing more a browser lets us do.
      }
    }
  }

  /** A frame over `maxPayload` arrived (a browser cannot refuse it earlier): close, and report 1009 at once. */
  #refuseTooBig(maxPayload: number): void {
    this.#localClose = true;
    this.#closeQuietly(TOO_BIG.code, 'Max payload size exceeded');
    this.#finish({
      code: TOO_BIG.code,
      reason: '',
      wasClean: false,
      errorCode: TOO_BIG.errorCode,
      message: `Inbound frame exceeds maxPayload (${maxPayload} bytes)`,
    });
  }

  #attach(ws: WebSocket): void {
    ws.addEventListener('open', this.#onOpen);
    ws.addEventListener('message', this.#onMessage);
    // Listeners stay attached until the platform's close event, even after terminate(): some implementations
    // (ws's class) throw on an 'error' nobody listens to.
    ws.addEventListener('error', this.#onError);
    ws.addEventListener('close', this.#onClose);
  }

  #detach(): void {
    this.#ws?.removeEventListener('open', this.#onOpen);
    this.#ws?.removeEventListener('message', this.#onMessage);
    this.#ws?.removeEventListener('error', this.#onError);
    this.#ws?.removeEventListener('close', this.#onClose);
  }

  // The listeners: one function each per socket, made here once (a method would need binding all the same).

  readonly #onOpen = (): void => {
    if (!this.#done && !this.#localClose) this.#handlers.onOpen();
  };

  readonly #onMessage = (event: MessageEvent): void => {
    if (this.#done || this.#localClose) return;
    const frame = toFrame(event.data);
    if (frame === undefined) return;
    if (this.#maxPayload !== undefined && byteLength(frame) > this.#maxPayload)
      return this.#refuseTooBig(this.#maxPayload);
    this.#handlers.onMessage(frame, typeof frame !== 'string');
  };

  readonly #onError = (event: Event): void => {
    // WHATWG error events carry nothing; some implementations (ws, Node's undici) attach an error or message.
    const e = event as Event & { error?: { code?: unknown; message?: unknown }; message?: unknown };
    if (this.#errorCode === undefined && typeof e.error?.code === 'string') this.#errorCode = e.error.code;
    if (this.#message === undefined) {
      if (typeof e.message === 'string' && e.message !== '') this.#message = e.message;
      else if (typeof e.error?.message === 'string') this.#message = e.error.message;
    }
  };

  readonly #onClose = (event: CloseEvent): void => {
    this.#detach();
    const info: DisconnectInfo = { code: event.code, reason: event.reason ?? '', wasClean: event.wasClean };
    if (this.#errorCode !== undefined) info.errorCode = this.#errorCode;
    if (this.#message !== undefined) info.message = this.#message;
    this.#finish(info);
  };
}

function toFrame(data: unknown): Frame | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // A Blob (binaryType could not be set) cannot be read synchronously without reordering frames: drop it.
  return undefined;
}

function byteLength(frame: Frame): number {
  if (typeof frame !== 'string') return frame.byteLength;
  return utf8Length(frame);
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function clampReason(reason: string): string {
  if (utf8Length(reason) <= 123) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = utf8Length(ch);
    if (bytes + n > 123) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** Online/offline signal: what `createRelay({ network })` subscribes to. */
export interface NetworkMonitor {
  /** Calls `listener(true)` on each `online` event and `listener(false)` on each `offline`; returns the unsubscribe. */
  subscribe(listener: (online: boolean) => void): () => void;
  /** The platform's current belief (`navigator.onLine`); `true` when unknown. */
  isOnline(): boolean;
}

/** Where `online`/`offline` events come from: `window`, `self` in a worker, or any `EventTarget`. */
export interface NetworkEventSource {
  /** Adds `listener` for `type` (`'online'` or `'offline'`). */
  addEventListener(type: string, listener: () => void): void;
  /** Removes a listener added with `addEventListener`. */
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * A {@link NetworkMonitor} over the platform's `online`/`offline` events. `subscribe` does not replay the current
 * state; read `isOnline()` for it. Without an event source (Node), the monitor never fires.
 *
 * @param target - the event source; default `globalThis` when it has `addEventListener`, else none (a no-op monitor).
 * @param navigatorLike - where `onLine` is read; default `globalThis.navigator` (absent → always online).
 * @returns The monitor.
 * @example
 * const network = browserNetwork();
 * const off = network.subscribe((online) => console.log(online ? 'back online' : 'offline'));
 */
export function browserNetwork(
  target?: NetworkEventSource,
  navigatorLike?: { readonly onLine?: boolean },
): NetworkMonitor {
  const g = globalThis as { addEventListener?: unknown; navigator?: { onLine?: boolean } };
  const source: NetworkEventSource | undefined =
    target ?? (typeof g.addEventListener === 'function' ? globalThis : undefined);
  const nav = navigatorLike ?? g.navigator;
  return {
    subscribe(listener) {
      if (!source) return noop;
      const online = () => listener(true);
      const offline = () => listener(false);
      source.addEventListener('online', online);
      source.addEventListener('offline', offline);
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        source.removeEventListener('online', online);
        source.removeEventListener('offline', offline);
      };
    },
    isOnline() {
      return nav?.onLine !== false;
    },
  };
}

function noop(): void {}
