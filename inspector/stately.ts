/**
 * Bridge to Stately's inspector (`@statelyai/inspect`, an optional peer dependency; the core never imports it).
 *
 * `statelyInspector()` feeds a pool, a relay or any actor to a `@statelyai/inspect` WebSocket server (the
 * `createInspectorServer()` of `@statelyai/inspect/server`, or any receiver on the same protocol), or, in a
 * browser, to Stately's inspector window. Unlike `createWebSocketInspector()`, whose socket retries every 5 s
 * forever (even after `stop()`, which keeps a Node process alive), this bridge retries a bounded number of times
 * on unref'd timers and `stop()` ends everything. Contexts are sanitised (no runtimes, URLs redacted) before they
 * are serialised.
 *
 * @module relay-actors/stately
 */
import { createBrowserInspector, createInspector } from '@statelyai/inspect';
import type { Subscription } from 'rxjs';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { InvalidOptionError } from '../core/errors.ts';
import { redactUrl } from '../runtime/options.ts';
import { machineOf, plainRecord, safeSnapshot, sanitizeContext, type InspectTarget } from './feed.ts';

/** Options of `statelyInspector`. */
export interface StatelyInspectorOptions {
  /** `websocket` (default; Node or browser) sends to a WebSocket server; `browser` opens Stately's inspector window. */
  kind?: 'websocket' | 'browser';
  /** The WebSocket server, default `ws://localhost:8080` (the default of `@statelyai/inspect/server`). */
  url?: string;
  /** Reconnect attempts after the connection fails or drops; default 10. `Infinity` retries for as long as it runs. */
  maxRetries?: number;
  /** Delay between attempts, ms; default 2000. */
  retryDelayMs?: number;
  /** Events kept while not connected (oldest dropped first); default 500. */
  maxDeferredEvents?: number;
  /** WebSocket class; default the platform's, else `ws`. */
  WebSocket?: WebSocketLikeConstructor;
}

/** The part of a WebSocket the bridge uses: the WHATWG class and `ws`'s both fit. */
interface WebSocketLike {
  /** `1` (OPEN) when frames can be sent. */
  readyState: number;
  /** Sends one text frame. */
  send(data: string): void;
  /** Closes the socket. */
  close(code?: number): void;
  /** Set by the bridge: the socket opened. */
  onopen: ((ev: unknown) => void) | null;
  /** Set by the bridge: the socket closed (it then retries). */
  onclose: ((ev: unknown) => void) | null;
  /** Set by the bridge (to a no-op): a socket error; the close that follows drives the retry. */
  onerror: ((ev: unknown) => void) | null;
  /** Set by the bridge: an inbound frame (ignored). */
  onmessage: ((ev: unknown) => void) | null;
}
/** A WebSocket class (`globalThis.WebSocket`, `ws`'s `WebSocket`) for {@link StatelyInspectorOptions.WebSocket}. */
type WebSocketLikeConstructor = new (url: string) => WebSocketLike;
export type { WebSocketLike, WebSocketLikeConstructor };

/** A running bridge. */
export interface StatelyBridge {
  /** Sends `target`'s actors and every later inspection event; returns the detacher. */
  attach(target: InspectTarget): () => void;
  /** An `inspect` observer for `createActor(machine, { inspect })` of your own actors. */
  readonly inspect: (event: InspectionEvent) => void;
  /** True while the WebSocket is open. */
  readonly connected: boolean;
  /** Detaches everything, closes the socket, cancels any retry. Idempotent. */
  stop(): Promise<void>;
}

/**
 * An event as inspectors may show it: {@link plainRecord} one level deep (strings redacted), with its `type`.
 *
 * @example
 * sanitizeEvent({ type: 'CONNECTION_LOST', info: { code: 1006, reason: 'wss://u:p@h/' }, verdict: { action: 'retry', reason: 'abnormal' } });
 * // { type: 'CONNECTION_LOST', info: { code: 1006, reason: 'wss://***@h/' }, verdict: { action: 'retry', reason: 'abnormal' } }
 * sanitizeEvent({ type: 'ADD_RELAY', id: 'relay:wss://a', rt: runtime }); // { type: 'ADD_RELAY', id: 'relay:wss://a' }
 */
export function sanitizeEvent(event: unknown): { type: string } & Record<string, unknown> {
  const type = (event as { type?: unknown } | null)?.type;
  return { ...plainRecord(event, 1), type: typeof type === 'string' ? type : 'unknown' };
}

function machineId(ref: AnyActorRef): string {
  return machineOf(ref)?.id ?? '';
}

/** A snapshot safe to serialise: value, status, sanitised context, children as ids. */
function sanitizeSnapshot(ref: AnyActorRef, snapshot: unknown): Record<string, unknown> {
  const s = (snapshot ?? {}) as {
    value?: unknown;
    status?: string;
    context?: unknown;
    children?: Record<string, AnyActorRef | undefined>;
  };
  const children: Record<string, { id: string }> = {};
  for (const [k, child] of Object.entries(s.children ?? {})) if (child) children[k] = { id: child.id };
  return {
    status: s.status ?? 'active',
    value: s.value,
    context: sanitizeContext(machineId(ref), s.context),
    children,
  };
}

/** The WebSocket adapter: bounded retries on unref'd timers, bounded backlog, a `stop()` that really stops. */
class BoundedWebSocketAdapter {
  private ws: WebSocketLike | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private retries = 0;
  private stopped = false;
  private backlog: string[] = [];
  private ctor: WebSocketLikeConstructor | undefined;

  constructor(
    private readonly options: Required<Omit<StatelyInspectorOptions, 'kind' | 'WebSocket'>> & {
      WebSocket?: WebSocketLikeConstructor;
    },
  ) {}

  get open(): boolean {
    return this.ws?.readyState === 1;
  }

  start(): void {
    this.connectSafely();
  }

  /** A constructor that throws (bad URL, blocked by policy) or a failed `ws` import counts as a failed attempt. */
  private connectSafely(): void {
    this.connect().catch(() => {
      this.ws = undefined;
      this.scheduleRetry();
    });
  }

  private async resolveCtor(): Promise<WebSocketLikeConstructor> {
    if (this.ctor) return this.ctor;
    const platform = (globalThis as { WebSocket?: WebSocketLikeConstructor }).WebSocket;
    this.ctor =
      this.options.WebSocket ?? platform ?? ((await import('ws')).WebSocket as unknown as WebSocketLikeConstructor);
    return this.ctor;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const Ctor = await this.resolveCtor();
    if (this.stopped) return;
    const ws = new Ctor(this.options.url);
    this.ws = ws;
    ws.onopen = () => {
      this.retries = 0;
      for (const text of this.backlog.splice(0)) ws.send(text);
    };
    ws.onmessage = () => {};
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.ws === ws) this.ws = undefined;
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.stopped || this.timer || this.retries >= this.options.maxRetries) return;
    this.retries++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connectSafely();
    }, this.options.retryDelayMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.backlog = [];
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.onclose = null;
      ws.onopen = null;
      const terminate = (ws as { terminate?: () => void }).terminate;
      if (typeof terminate === 'function') terminate.call(ws);
      else ws.close(1000);
    }
  }

  send(event: unknown): void {
    if (this.stopped) return;
    const text = JSON.stringify(event);
    if (this.open) this.ws!.send(text);
    else {
      this.backlog.push(text);
      if (this.backlog.length > this.options.maxDeferredEvents) this.backlog.shift();
    }
  }
}

function isPoolOrRelay(target: InspectTarget): target is Extract<InspectTarget, { inspection$: unknown }> {
  return 'inspection$' in target && 'actor' in target;
}

/**
 * Feeds actors to Stately's inspector.
 *
 * @param options - see {@link StatelyInspectorOptions}; default: a WebSocket to `ws://localhost:8080`, 10 retries
 *   2 s apart, 500 events kept while disconnected.
 * @example
 * import { statelyInspector } from 'relay-actors/stately';
 * const stately = statelyInspector({ url: 'ws://localhost:8080' });
 * stately.attach(pool);
 * // …
 * await stately.stop();
 */
export function statelyInspector(options: StatelyInspectorOptions = {}): StatelyBridge {
  const kind = options.kind ?? 'websocket';
  if (kind !== 'websocket' && kind !== 'browser')
    throw new InvalidOptionError('kind', `must be "websocket" or "browser", got ${String(kind)}`);
  const url = options.url ?? 'ws://localhost:8080';
  if (kind === 'websocket' && (!/^wss?:\/\//.test(url) || !URL.canParse(url)))
    throw new InvalidOptionError('url', `must be a ws:// or wss:// URL, got ${redactUrl(String(url))}`);
  const maxRetries = options.maxRetries ?? 10;
  if (!(maxRetries >= 0)) throw new InvalidOptionError('maxRetries', `must be ≥ 0, got ${String(maxRetries)}`);
  const retryDelayMs = options.retryDelayMs ?? 2000;
  if (!Number.isFinite(retryDelayMs) || retryDelayMs < 0)
    throw new InvalidOptionError('retryDelayMs', `must be a number ≥ 0, got ${String(retryDelayMs)}`);
  const maxDeferredEvents = options.maxDeferredEvents ?? 500;
  if (!Number.isInteger(maxDeferredEvents) || maxDeferredEvents < 0)
    throw new InvalidOptionError('maxDeferredEvents', `must be an integer ≥ 0, got ${String(maxDeferredEvents)}`);

  let adapter: BoundedWebSocketAdapter | undefined;
  let inspector: ReturnType<typeof createInspector>;
  if (kind === 'websocket') {
    adapter = new BoundedWebSocketAdapter({
      url,
      maxRetries,
      retryDelayMs,
      maxDeferredEvents,
      WebSocket: options.WebSocket,
    });
    inspector = createInspector(adapter, {});
    adapter.start();
  } else {
    inspector = createBrowserInspector({ autoStart: true });
  }

  const subscriptions = new Set<Subscription | { unsubscribe(): void }>();
  let stopped = false;

  const announce = (ref: AnyActorRef) => {
    const snapshot = safeSnapshot(ref);
    inspector.actor(ref, sanitizeSnapshot(ref, snapshot));
    const children = (snapshot as { children?: Record<string, AnyActorRef | undefined> } | undefined)?.children ?? {};
    for (const child of Object.values(children)) if (child && machineId(child)) announce(child);
  };

  // Runs inside XState's event processing: never throw into it.
  const inspect = (event: InspectionEvent): void => {
    if (stopped) return;
    try {
      forward(event);
    } catch {
      // An event that cannot be serialised is dropped; the bridge keeps going.
    }
  };
  const forward = (event: InspectionEvent): void => {
    const ref = event.actorRef as AnyActorRef;
    switch (event.type) {
      case '@xstate.actor':
        if (machineId(ref)) inspector.actor(ref, sanitizeSnapshot(ref, safeSnapshot(ref)));
        break;
      case '@xstate.snapshot':
        if (machineId(ref))
          inspector.snapshot(ref, sanitizeSnapshot(ref, event.snapshot), {
            event: sanitizeEvent(event.event),
          });
        break;
      case '@xstate.event':
        if (machineId(ref))
          inspector.event(ref, sanitizeEvent(event.event), {
            source: (event.sourceRef as AnyActorRef | undefined)?.sessionId,
          });
        break;
    }
  };

  return {
    inspect,
    get connected() {
      return adapter?.open ?? false;
    },
    attach(target) {
      if (stopped) throw new InvalidOptionError('target', 'the bridge is stopped');
      let sub: Subscription | { unsubscribe(): void };
      let root: AnyActorRef;
      if (isPoolOrRelay(target)) {
        root = target.actor as AnyActorRef;
        sub = target.inspection$.subscribe(inspect);
      } else {
        root = target;
        sub = root.system.inspect(inspect);
      }
      announce(root);
      subscriptions.add(sub);
      return () => {
        sub.unsubscribe();
        subscriptions.delete(sub);
      };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const s of subscriptions) s.unsubscribe();
      subscriptions.clear();
      adapter?.stop();
      inspector.stop();
    },
  };
}
