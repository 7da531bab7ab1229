/**
 * A real Nostr relay for tests: `@nostr-relay/core`'s `NostrRelay` (the relay logic of the nostr-relay project:
 * NIP-01 EVENT / REQ / CLOSE / OK / EOSE / CLOSED / NOTICE, NIP-42 AUTH) behind a `ws` server on 127.0.0.1, with
 * an in-memory event store that survives kills and restarts. Faults: {@link NostrTestRelay.kill} (crash: 1006,
 * then ECONNREFUSED), {@link NostrTestRelay.restart} (the same port, the same events) and
 * {@link NostrTestRelay.injectEvent} (an event delivered unchecked: forged or tampered ones reach subscribers).
 *
 * @example
 * await using relay = await startNostrRelay({ auth: true });
 * const client = createRelay(relay.url, { protocol: nostrProtocol({ signer }) }).start();
 * await client.waitFor('open');
 * await relay.kill();     // the client sees 1006 and starts reconnecting
 * await relay.restart();  // same port, stored events kept
 *
 * @module relay-actors/testing/nostr
 */
import type { IncomingMessage as HttpRequest, Server } from 'node:http';
import type { Socket } from 'node:net';
import { NostrRelay } from '@nostr-relay/core';
import {
  createOutgoingClosedMessage,
  createOutgoingNoticeMessage,
  createOutgoingOkMessage,
  EventRepository,
  EventType,
  EventUtils,
} from '@nostr-relay/common';
import type {
  Event,
  EventRepositoryUpsertResult,
  Filter,
  HandleMessagePlugin,
  HandleMessageResult,
  IncomingMessage,
  Logger,
} from '@nostr-relay/common';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import type { NostrEvent } from '../adapters/nostrProtocol.ts';
import { listenForUpgrades, noop, relisten, Sleeps } from './listen.ts';

/** Options of {@link startNostrRelay}. */
export interface NostrTestRelayOptions {
  /** TCP port on 127.0.0.1. Default `0` (an ephemeral port picked by the OS, kept across restarts). */
  port?: number;
  /**
   * Require NIP-42 authentication: every connection gets `["AUTH", challenge]` on open, and until it has
   * answered with a valid kind-22242 event (its `relay` tag naming host 127.0.0.1, its `challenge` tag the
   * challenge, `created_at` within 10 minutes) an `EVENT` is refused with `["OK", id, false, "auth-required: ..."]`
   * and a `REQ` with `["CLOSED", sub, "auth-required: ..."]`. Default `false` (no challenge, nothing required).
   */
  auth?: boolean;
  /** Open subscriptions per connection; the oldest is dropped beyond it. Default `20` (the package's). */
  maxSubscriptionsPerClient?: number;
  /** How many times {@link NostrTestRelay.restart} tries to bind the port while it is still in use. Default `20`. */
  restartAttempts?: number;
  /** Wait between two such attempts, in ms. Default `50`. */
  restartRetryDelayMs?: number;
}

/** A running {@link startNostrRelay} relay. Only {@link NostrTestRelay.close} ends it for good. */
export interface NostrTestRelay extends AsyncDisposable {
  /** `ws://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port listened on; the same after every restart. */
  readonly port: number;
  /** Whether the relay accepts connections (false after `kill()` until `restart()`, and after `close()`). */
  readonly listening: boolean;
  /** WebSocket connections open now. */
  readonly connections: number;
  /** The stored events, oldest first (ephemeral events are never stored; replaced ones are gone). */
  events(): NostrEvent[];
  /**
   * Waits until at least `n` connections are open.
   *
   * @param timeoutMs - Upper bound. Default `5000`.
   * @returns Resolves when they are; rejects after `timeoutMs` or when the relay is closed.
   */
  waitForConnections(n: number, timeoutMs?: number): Promise<void>;
  /**
   * Delivers `event` unchecked to every open subscription it matches (by `ids`, `authors`, `kinds`, `since`,
   * `until`), as a live `["EVENT", sub, event]`: neither its id nor its signature is verified, it is not stored,
   * and nobody gets an `OK`. That is what a relay that does not verify, or a man in the middle, can send, and what
   * publishing cannot produce: the relay refuses a forged or tampered event with `OK false "invalid: ..."`. For
   * testing a client's own verification.
   *
   * @param event - An event of the NIP-01 shape, forged, tampered or genuine.
   * @returns Resolves once it was written to the matching subscriptions; rejects when the relay is closed.
   * @example
   * const forged = { ...finalizeEvent(template, secretKey), content: 'tampered' }; // id no longer matches
   * await relay.injectEvent(forged); // each matching subscription gets ["EVENT", sub, forged]
   */
  injectEvent(event: NostrEvent): Promise<void>;
  /**
   * A hostile relay: while `reason` is set, every `REQ` is answered with `["CLOSED", sub, reason]`, even from a
   * client that has authenticated (with `auth-required: …`, a client that re-authenticates and re-subscribes on
   * every CLOSED would loop). `null` (the default) serves subscriptions again.
   *
   * @example
   * relay.refuseSubscriptions('auth-required: members only');
   * @param reason - The CLOSED message, or `null`.
   */
  refuseSubscriptions(reason: string | null): void;
  /** How many `REQ`s {@link NostrTestRelay.refuseSubscriptions} has answered with `CLOSED`, across connections. */
  readonly reqsRefused: number;
  /**
   * Simulates a crash: drops every connection without a close frame (clients see 1006) and stops listening, so
   * new dials fail with ECONNREFUSED. Stored events are kept. No-op when not listening.
   */
  kill(): Promise<void>;
  /**
   * Listens again on the same port, with the same stored events (killing first if still listening). While the port
   * is busy (EADDRINUSE), binding is retried `restartAttempts` times `restartRetryDelayMs` apart.
   */
  restart(): Promise<void>;
  /** Stops for good: drops every connection, closes the server, clears timers. Idempotent. */
  close(): Promise<void>;
  /** Same as {@link NostrTestRelay.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const HOST = '127.0.0.1';
const DEFAULT_WAIT_MS = 5_000;

/**
 * Starts a real Nostr relay (`@nostr-relay/core`) on 127.0.0.1 with an in-memory store.
 *
 * What it speaks: NIP-01 (stored and live events, filters by `ids`, `authors`, `kinds`, `#x` tags, `since`,
 * `until`, `limit`; replaceable and parameterised-replaceable kinds keep the newest; ephemeral kinds are relayed,
 * never stored; `duplicate:` for an event it has), NIP-09 deletions by `e` tag, and NIP-42 when `auth` is on.
 * Malformed frames get a `NOTICE`. No NIP-11 document, no NIP-50 search (search filters match nothing).
 *
 * @param options - see {@link NostrTestRelayOptions}; default: port 0, no auth.
 * @returns The running relay; rejects if the port cannot be bound.
 * @example
 * const relay = await startNostrRelay();
 * const ws = new WebSocket(relay.url);
 * ws.onopen = () => ws.send(JSON.stringify(['EVENT', finalizeEvent(template, secretKey)])); // → ["OK", id, true, ""]
 * await relay.close();
 */
export async function startNostrRelay(options: NostrTestRelayOptions = {}): Promise<NostrTestRelay> {
  const relay = new LoopbackNostrRelay(options);
  await relay.start(options.port ?? 0);
  return relay;
}

/**
 * An in-memory `EventRepository` (of `@nostr-relay/common`): what `NostrRelay` stores into and queries. It is the
 * store behind {@link startNostrRelay}; exported to run `@nostr-relay/core`'s `NostrRelay` yourself.
 *
 * @example
 * import { NostrRelay } from '@nostr-relay/core';
 * const store = new MemoryEventRepository();
 * const relay = new NostrRelay(store);
 * // … feed it client messages with relay.handleMessage(client, message) …
 * console.log(store.all().length); // events stored so far
 */
export class MemoryEventRepository extends EventRepository {
  /** By id, in arrival order. */
  readonly #events = new Map<string, Event>();

  /** The stored events, oldest first. */
  all(): Event[] {
    return [...this.#events.values()];
  }

  override isSearchSupported(): boolean {
    return false;
  }

  override upsert(event: Event): EventRepositoryUpsertResult {
    if (this.#events.has(event.id)) return { isDuplicate: true };
    const type = EventUtils.getType(event.kind);
    if (type === EventType.REPLACEABLE || type === EventType.PARAMETERIZED_REPLACEABLE) {
      const d = EventUtils.extractDTagValue(event);
      for (const old of this.#events.values()) {
        if (old.kind !== event.kind || old.pubkey !== event.pubkey || EventUtils.extractDTagValue(old) !== d) continue;
        // NIP-01: the newest wins; on a tie, the lowest id.
        if (old.created_at > event.created_at || (old.created_at === event.created_at && old.id < event.id))
          return { isDuplicate: true };
        this.#events.delete(old.id);
      }
    }
    this.#events.set(event.id, event);
    return { isDuplicate: false };
  }

  override find(filter: Filter): Event[] {
    const found = this.all().filter((event) => matches(event, filter));
    // NIP-01: newest first, so that `limit` keeps the latest.
    found.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
    return filter.limit === undefined ? found : found.slice(0, Math.max(0, filter.limit));
  }

  override async deleteByDeletionRequest(request: Event): Promise<void> {
    for (const [name, id] of request.tags) {
      const target = name === 'e' && id !== undefined ? this.#events.get(id) : undefined;
      // Only the author may delete; a deletion request itself stays.
      if (target && target.pubkey === request.pubkey && target.kind !== request.kind) this.#events.delete(target.id);
    }
    this.#events.set(request.id, request);
  }

  override async destroy(): Promise<void> {
    // Kept on purpose: the store outlives restarts and is dropped with the relay.
  }
}

/** NIP-01 filter match: the package's checks (ids, authors, kinds, since, until) plus `#x` tag filters. */
function matches(event: Event, filter: Filter): boolean {
  if (!EventUtils.isMatchingFilter(event, filter)) return false;
  for (const [key, values] of Object.entries(filter)) {
    if (key.length !== 2 || key[0] !== '#' || !Array.isArray(values)) continue;
    const name = key[1];
    if (!event.tags.some((tag) => tag[0] === name && tag[1] !== undefined && (values as string[]).includes(tag[1])))
      return false;
  }
  return true;
}

/** NIP-42 gate: until a connection has authenticated (`ctx.pubkey` set by the relay), refuse writes and reads. */
const requireAuth: HandleMessagePlugin = {
  async handleMessage(ctx, message, next): Promise<HandleMessageResult> {
    if (ctx.pubkey !== undefined) return next();
    if (message[0] === 'EVENT') {
      const reason = 'auth-required: this relay only accepts events from authenticated clients';
      ctx.sendMessage(createOutgoingOkMessage(message[1].id, false, reason));
      return { messageType: 'EVENT', success: false, message: reason };
    }
    if (message[0] === 'REQ') {
      ctx.sendMessage(
        createOutgoingClosedMessage(message[1], 'auth-required: this relay only serves authenticated clients'),
      );
      return { messageType: 'REQ', events: [] };
    }
    return next();
  },
};

const SILENT: Logger = { setLogLevel: noop, debug: noop, info: noop, warn: noop, error: noop };

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

class LoopbackNostrRelay implements NostrTestRelay {
  readonly #store = new MemoryEventRepository();
  readonly #relay: NostrRelay;
  // The upgrade is ours (noServer) so a server can be dropped and rebound while the relay logic lives on.
  readonly #wss = new WebSocketServer({ noServer: true, clientTracking: false });
  readonly #clients = new Set<WebSocket>();
  readonly #sockets = new Set<Socket>();
  readonly #waiters = new Set<Waiter>();
  readonly #sleeps = new Sleeps();
  readonly #restartAttempts: number;
  readonly #restartRetryDelayMs: number;
  #server: Server | undefined;
  #port = 0;
  #closed = false;
  #refuseReq: string | null = null;
  reqsRefused = 0;
  #closing: Promise<void> | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(options: NostrTestRelayOptions) {
    this.#restartAttempts = Math.max(1, Math.floor(options.restartAttempts ?? 20));
    this.#restartRetryDelayMs = Math.max(0, options.restartRetryDelayMs ?? 50);
    this.#relay = new NostrRelay(this.#store, {
      // Setting a hostname is what turns NIP-42 on in NostrRelay: challenges on connect, and AUTH events checked
      // against it (the `relay` tag's host must be this hostname).
      ...(options.auth ? { hostname: HOST } : {}),
      logger: SILENT,
      // Both caches would make a test see stale answers: a REQ right after a publish, a repeat of a refused event.
      filterResultCacheTtl: 0,
      eventHandlingResultCacheTtl: 0,
      ...(options.maxSubscriptionsPerClient === undefined
        ? {}
        : { maxSubscriptionsPerClient: options.maxSubscriptionsPerClient }),
    });
    // NostrRelay checks AUTH events but lets unauthenticated clients publish; the gate makes `auth` mean required.
    if (options.auth) this.#relay.register(requireAuth);
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

  get connections(): number {
    return this.#clients.size;
  }

  events(): NostrEvent[] {
    return this.#store.all();
  }

  async start(port: number): Promise<void> {
    this.#server = await this.#listen(port);
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
  }

  waitForConnections(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`waitForConnections(${n}): the relay is closed`));
    if (this.#clients.size >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        n,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new Error(
              `waitForConnections(${n}) timed out after ${timeoutMs} ms with ${this.#clients.size} open on ${this.url}`,
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  injectEvent(event: NostrEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('NostrTestRelay.injectEvent(): the relay is closed'));
    // The package's own live delivery (subscription match, NIP-42 permission), without its checks or its store.
    return this.#relay.broadcast(event);
  }

  refuseSubscriptions(reason: string | null): void {
    this.#refuseReq = reason;
  }

  kill(): Promise<void> {
    return this.#enqueue(() => this.#shutdown());
  }

  restart(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#closed) throw new Error('NostrTestRelay.restart(): the relay is closed');
      await this.#shutdown();
      this.#server = await this.#listenWithRetry(this.#port);
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
        await this.#relay.destroy();
        await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
      });
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Serialises kill / restart / close so they never interleave. */
  #enqueue(op: () => Promise<void>): Promise<void> {
    const result = this.#chain.then(op);
    this.#chain = result.then(noop, noop);
    return result;
  }

  async #shutdown(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const ws of this.#clients) ws.terminate();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #listen(port: number): Promise<Server> {
    return listenForUpgrades(port, HOST, this.#sockets, (server, req, socket, head) => {
      // A late upgrade on a server being killed must not slip through.
      if (this.#server !== server) {
        socket.destroy();
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
    });
  }

  #listenWithRetry(port: number): Promise<Server> {
    return relisten((p) => this.#listen(p), port, {
      name: 'NostrTestRelay',
      attempts: this.#restartAttempts,
      delayMs: this.#restartRetryDelayMs,
      closed: () => this.#closed,
      sleeps: this.#sleeps,
    });
  }

  #onConnection(ws: WebSocket, req: HttpRequest): void {
    this.#clients.add(ws);
    ws.on('error', noop);
    ws.once('close', () => {
      this.#clients.delete(ws);
      this.#relay.handleDisconnect(ws);
    });
    ws.on('message', (raw: RawData, isBinary: boolean) => this.#onMessage(ws, raw, isBinary));
    this.#relay.handleConnection(ws, req.socket.remoteAddress);
    for (const waiter of this.#waiters) {
      if (this.#clients.size < waiter.n) continue;
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
      waiter.resolve();
    }
  }

  #onMessage(ws: WebSocket, raw: RawData, isBinary: boolean): void {
    const message = parseMessage(raw, isBinary);
    if (typeof message === 'string') {
      send(ws, createOutgoingNoticeMessage(message));
      return;
    }
    if (message[0] === 'REQ' && this.#refuseReq !== null) {
      this.reqsRefused++;
      send(ws, createOutgoingClosedMessage(message[1], this.#refuseReq));
      return;
    }
    this.#relay.handleMessage(ws, message).catch((error: unknown) => {
      // The package expects validated input; what slips past our shape check (a bad signature encoding, say) is
      // answered the NIP-01 way rather than left unanswered.
      const why = `error: ${(error as Error)?.message ?? String(error)}`;
      if (message[0] === 'EVENT' || message[0] === 'AUTH') send(ws, createOutgoingOkMessage(message[1].id, false, why));
      else send(ws, createOutgoingNoticeMessage(why));
    });
  }
}

function send(ws: WebSocket, message: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

/**
 * The package leaves validation to its caller (`@nostr-relay/validator`, which we do not use): this checks just
 * enough for `NostrRelay` not to throw. A string is the NOTICE to answer with.
 */
function parseMessage(raw: RawData, isBinary: boolean): IncomingMessage | string {
  if (isBinary) return 'invalid: binary frames are not supported';
  let value: unknown;
  try {
    value = JSON.parse(
      Buffer.isBuffer(raw)
        ? raw.toString('utf8')
        : Buffer.concat(Array.isArray(raw) ? raw : [Buffer.from(raw)]).toString('utf8'),
    );
  } catch {
    return 'invalid: not JSON';
  }
  if (!Array.isArray(value) || typeof value[0] !== 'string')
    return 'invalid: expected a JSON array starting with a verb';
  const [verb, first, ...rest] = value as [string, ...unknown[]];
  switch (verb) {
    case 'EVENT':
    case 'AUTH':
      if (value.length !== 2 || !isEventLike(first)) return `invalid: ${verb} needs one event object with a string id`;
      return value as IncomingMessage;
    case 'REQ':
      if (typeof first !== 'string' || first === '') return 'invalid: REQ needs a subscription id';
      if (!rest.every((f) => typeof f === 'object' && f !== null && !Array.isArray(f)))
        return 'invalid: REQ filters must be objects';
      return value as IncomingMessage;
    case 'CLOSE':
      if (value.length !== 2 || typeof first !== 'string') return 'invalid: CLOSE needs a subscription id';
      return value as IncomingMessage;
    default:
      return `invalid: unknown message type "${verb}"`;
  }
}

function isEventLike(value: unknown): value is Event {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.id === 'string' &&
    typeof e.pubkey === 'string' &&
    typeof e.sig === 'string' &&
    typeof e.kind === 'number' &&
    typeof e.created_at === 'number' &&
    typeof e.content === 'string' &&
    Array.isArray(e.tags)
  );
}
