/**
 * The platform seams of relay-actors. Core code never imports a WebSocket implementation: a {@link Transport}
 * is injected, and a {@link Protocol} turns frames into meaning. Both are plain objects so that tests, browsers
 * and Node can each bind their own.
 */

/** Raw frame payload as it travels on the socket. */
export type Frame = string | Uint8Array;

/**
 * Why a socket ended: the one record the close classifier reads. A transport reports exactly one of these per
 * socket, after which it reports nothing else.
 */
export interface DisconnectInfo {
  /** WebSocket close code (1006 when the connection dropped without a close frame). */
  code: number;
  /** Close reason text, possibly empty. */
  reason: string;
  /** True when a close frame was exchanged. */
  wasClean: boolean;
  /** HTTP status when the upgrade itself was refused (e.g. 401, 503). */
  status?: number;
  /** Milliseconds from a `Retry-After` header on a refused upgrade. */
  retryAfterMs?: number;
  /** System or library error code (`ECONNREFUSED`, `ETIMEDOUT`, `ENOTFOUND`, ...). */
  errorCode?: string;
  /** Human-readable detail of the error, if any. */
  message?: string;
  /**
   * What ended it from our side, when we did: a timeout we enforced, a heartbeat verdict, an intentional stop.
   * Absent when the remote or the network ended it.
   */
  local?: LocalCloseCause;
}

/** Causes of a close that our own runtime decided. */
export type LocalCloseCause =
  | 'stop'
  | 'connect-timeout'
  | 'handshake-timeout'
  | 'handshake-rejected'
  | 'heartbeat-timeout'
  | 'stale'
  | 'superseded'
  | 'protocol-error';

/** Callbacks a transport drives for one socket. Each is called only while the socket is current. */
export interface TransportHandlers {
  /** The socket is open and can send. */
  onOpen(): void;
  /** A data frame arrived. */
  onMessage(data: Frame, isBinary: boolean): void;
  /** A protocol-level pong arrived (transports with `supportsPing` only). */
  onPong(): void;
  /** A protocol-level ping from the peer arrived and was answered (transports with `supportsPing` only): proof of life. */
  onPing?(): void;
  /** The socket is gone; called exactly once, after which no other handler is called. */
  onClose(info: DisconnectInfo): void;
}

/** Options a transport receives for one dial. */
export interface DialOptions {
  /** Sub-protocols to offer. */
  protocols?: string[];
  /** Extra HTTP headers for the upgrade (ignored where the platform cannot set them, e.g. browsers). */
  headers?: Record<string, string>;
  /** Largest inbound frame accepted, in bytes; larger frames close the socket with 1009 where enforceable. */
  maxPayload?: number;
  /**
   * How long, in ms, a closing socket may take to end: from our close frame (sent first, or in answer to the peer's)
   * until TCP has ended; then it is dropped. So a peer that sends a close frame and keeps TCP open is dropped this
   * long after it. Where the platform lets the transport see the peer's close frame (Node `ws`: yes; browsers: no),
   * that close is reported when the frame arrives, not when TCP ends. `0` drops at once. Default: the transport's
   * own (`ws`: 30000). The relay passes its `closeTimeout` option (default 1000).
   */
  closeTimeout?: number;
}

/** One live socket, as the runtime sees it. */
export interface TransportSocket {
  /** Writes a frame. Throws if the socket is not open. */
  send(data: Frame): void;
  /** Starts a clean close with a close frame. `onClose` follows. */
  close(code?: number, reason?: string): void;
  /** Drops the connection at once without a close handshake. `onClose` follows (code 1006). */
  terminate(): void;
  /** Sends a protocol ping frame. Only present when the transport has ping frames. */
  ping?(): void;
  /** Bytes queued but not yet written to the network. */
  readonly bufferedAmount: number;
}

/** A way to open sockets: `wsTransport()`, `browserTransport()`, `memoryTransport()`. */
export interface Transport {
  /** Short name for telemetry (`ws`, `browser`, `memory`). */
  readonly name: string;
  /** True when sockets have protocol ping/pong frames (Node `ws`), so the heartbeat need not use app pings. */
  readonly supportsPing: boolean;
  /** Starts a dial. Must not call handlers synchronously from within `connect`. */
  connect(url: string, handlers: TransportHandlers, options: DialOptions): TransportSocket;
}

/** What one inbound frame means to the runtime. */
export type Decoded<In> =
  /**
   * Application data, delivered on `messages$`. `id` enables inbound dedupe across relays; `subscription` names
   * the subscription it answers (see {@link Protocol.subscribe}); `timestamp` (ms since the epoch, the message's
   * own time) lets a pool resume a subscription with `since` after a reconnect.
   */
  | { kind: 'message'; message: In; id?: string; subscription?: string; timestamp?: number }
  /** Answer to an app-level ping. */
  | { kind: 'pong'; id?: string }
  /** Answer to the hello handshake. `ok: false` ends the connection with the reason. */
  | { kind: 'hello-ack'; ok: boolean; reason?: string }
  /** Acknowledgement of one of our messages, by id. */
  | { kind: 'ack'; id: string; ok: boolean; reason?: string }
  /** The relay has sent everything it stored for subscription `subscription` (Nostr `EOSE`). */
  | { kind: 'eose'; subscription: string }
  /** The relay ended subscription `subscription` (Nostr `CLOSED`); `reason` may ask for authentication. */
  | { kind: 'closed'; subscription: string; reason: string }
  /** Human-readable notice from the relay (Nostr `NOTICE`). */
  | { kind: 'notice'; text: string }
  /** Authentication challenge (Nostr NIP-42 `AUTH`); answered through {@link Protocol.authenticate}. */
  | { kind: 'auth'; challenge: string }
  /** A frame the protocol understood and handled, with nothing to deliver (e.g. a ping answered by the server). */
  | { kind: 'ignore' }
  /**
   * A frame that could not be understood, or (`BAD_ID`, `BAD_SIGNATURE`) a signed message that failed verification.
   * The runtime emits a typed error event with `code` as its `detail`, and keeps going.
   */
  | { kind: 'invalid'; reason: string; code: 'MALFORMED' | 'BINARY' | 'UNKNOWN_TYPE' | 'BAD_ID' | 'BAD_SIGNATURE' };

/**
 * What happened when a socket ended, as data: the one record "why" is worded from (`explain()`). Built from a
 * {@link DisconnectInfo} by `causeOf()`; exactly one kind per loss.
 *
 * - `close`: the peer closed, or the link dropped without a close frame (1006).
 * - `upgrade`: the HTTP upgrade was refused with `status` (and maybe a `Retry-After`).
 * - `error`: the transport failed with a system or library error code (`ECONNREFUSED`, `ECONNRESET`, `WS_ERR_*`).
 * - `local`: our own runtime ended it: a timeout, a heartbeat verdict, a stop.
 * - `protocol`: the protocol's answer ended it: the server rejected our hello, or the protocol broke.
 */
export type Cause =
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'upgrade'; status: number; retryAfterMs?: number }
  | { kind: 'error'; errorCode: string; code: number; message?: string }
  | { kind: 'local'; local: Exclude<LocalCloseCause, ProtocolCloseCause> }
  | { kind: 'protocol'; local: ProtocolCloseCause; reason: string };

/** The local causes that are the protocol's answer rather than our own timer or decision. */
export type ProtocolCloseCause = 'handshake-rejected' | 'protocol-error';

/**
 * The closed list of verdict codes: which rule of the classifier decided. `classifyClose()` sets one on every
 * verdict; `explain()` words it.
 *
 * | code | decided by | default action |
 * |---|---|---|
 * | `transient-close` | a close code worth retrying (1000, 1001, 1006, 1011–1014, 4000–4999 not declared fatal) | retry |
 * | `fatal-close` | a close code that retrying will not fix (1002, 1003, 1007, 1008, 1010) | fatal |
 * | `declared-fatal` | an application close code (4000–4999) the options declare fatal | fatal |
 * | `server-busy` | upgrade refused with 429 or 5xx | retry, not before `Retry-After` |
 * | `upgrade-refused` | upgrade refused with any other status (400, 401, 403, 404, 426, ...) | fatal |
 * | `network-error` | a transport error code (`ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`, `ECONNRESET`, ...) | retry |
 * | `local-timeout` | our own timer: connect, handshake or heartbeat timeout, a stale link | retry |
 * | `local-close` | our own decision: `stop`, `superseded`, `protocol-error` | retry |
 * | `hello-rejected` | the server rejected the hello handshake | fatal |
 * | `user` | the user's `classify` option, when it names no code | its own |
 * | `protocol` | the protocol adapter's `classify`, when it names no code | its own |
 */
export type VerdictCode =
  | 'transient-close'
  | 'fatal-close'
  | 'declared-fatal'
  | 'server-busy'
  | 'upgrade-refused'
  | 'tls-refused'
  | 'network-error'
  | 'local-timeout'
  | 'local-close'
  | 'hello-rejected'
  | 'user'
  | 'protocol';

/**
 * Verdict of the close classifier: retry (optionally after at least `delayMs`), give up (`fatal`), or
 * re-authenticate and then retry (`reauth`); `code` says which rule decided.
 */
export interface CloseVerdict {
  action: 'retry' | 'fatal' | 'reauth';
  /** Minimum delay before the next attempt, e.g. from `Retry-After`. */
  delayMs?: number;
  /** Short machine-readable reason (`upgrade 401`, `close 1008`, `ECONNREFUSED`), shown in telemetry. */
  reason: string;
  /** Which rule decided, from a closed list; `explain()` words the verdict from it and the cause. */
  code: VerdictCode;
}

/**
 * What a user or protocol classifier returns: a {@link CloseVerdict} whose `code` may be left out
 * (`classifyClose()` then fills in `user` or `protocol`).
 */
export type ClassifierVerdict = Omit<CloseVerdict, 'code'> & { code?: VerdictCode };

/**
 * What to do about one rejected operation (a nack, a server-closed subscription), decided from the relay's reason:
 * `retry` it (elsewhere or later), give it up (`fatal`), authenticate and then retry (`reauth`), or count it as
 * done (`ok`: e.g. Nostr `duplicate:`, the relay already has it).
 */
export type RejectionAction = 'retry' | 'fatal' | 'reauth' | 'ok';

/** An authentication answer built by {@link Protocol.authenticate}: the frame to send and the id its ack carries. */
export interface AuthFrame {
  frame: Frame;
  id: string;
}

/** Frames and meaning for one wire protocol: `jsonProtocol()`, `nostrProtocol()`. */
export interface Protocol<Out = unknown, In = unknown, Req = unknown> {
  /** Short name for telemetry. */
  readonly name: string;
  /** Encodes an outbound application message. Throws a `ProtocolError` for unencodable input. */
  encode(message: Out): Frame;
  /** Interprets one inbound frame. Must not throw; returns `{ kind: 'invalid' }` instead. */
  decode(data: Frame, isBinary: boolean): Decoded<In>;
  /** Message id used for acks and dedupe, if the message has one. */
  messageId?(message: Out): string | undefined;
  /** True when this protocol acknowledges messages (so `send` can wait for the ack). */
  readonly acks?: boolean;
  /** The hello frame sent on open; when present, the relay waits for a `hello-ack` before it is `open`. */
  hello?(): Frame | undefined;
  /** An app-level ping frame, for transports without protocol pings. `id` is echoed in the pong. */
  ping?(id: string): Frame;
  /** Protocol-specific close classification, consulted before the defaults. `undefined` defers to them. */
  classify?(info: DisconnectInfo): ClassifierVerdict | undefined;
  /**
   * Frame that opens subscription `id` for `request` (Nostr `REQ`). On a re-subscription after a reconnect the
   * pool passes `resume.since` (ms since the epoch): the newest message time seen, so the relay sends what was
   * missed. Protocols without subscriptions leave this out.
   */
  subscribe?(id: string, request: Req, resume?: { since: number }): Frame;
  /** Frame that closes subscription `id` (Nostr `CLOSE`). */
  unsubscribe?(id: string): Frame;
  /**
   * Reads the reason of a nack or a server-closed subscription. Default (absent or `undefined`): `retry`.
   * Nostr: `auth-required:` → `reauth`, `duplicate:` → `ok`, `blocked:` / `invalid:` / `pow:` → `fatal`.
   */
  classifyRejection?(reason: string): RejectionAction | undefined;
  /**
   * Answers an authentication challenge for the relay at `relayUrl` (Nostr NIP-42: a signed kind-22242 event).
   * Absent when the protocol or the app has no signer; then `reauth` rejections fail with their reason.
   */
  authenticate?(challenge: string, relayUrl: string): Promise<AuthFrame>;
}
