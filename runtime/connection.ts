/**
 * One connection: the socket the relay machine invokes while `live`, plus its heartbeat. It turns transport
 * callbacks into the machine's lifecycle events (SOCKET_OPEN, HELLO_ACK, PONG_TIMEOUT, RTT_HIGH, RECOVERED,
 * HEARTBEAT_OFF, STALE, CONNECTION_LOST) and keeps data off the actor: inbound messages go straight to
 * `messages$`, outbound sends straight to the socket through `runtime.socket`.
 *
 * Leaving `live` stops this actor, which disposes the socket; every handler checks `disposed`, so a superseded
 * socket can never reach a newer session.
 */
import { fromCallback } from 'xstate';
import type { DisconnectInfo, LocalCloseCause, TransportSocket } from '../core/contract.ts';
import { classifyClose } from '../policies/classify.ts';
import { FrameTooLargeError, ProtocolError } from '../core/errors.ts';
import type { ConnectionCommand, RelayMachineEvent } from '../core/events.ts';
import { runtimeOf, type RelayRuntime } from './relayRuntime.ts';
import type { Cancel } from './scheduler.ts';

export type { ConnectionCommand } from '../core/events.ts';

/** Input of the connection actor: plain data. */
export interface ConnectionInput {
  /** System id of the relay whose runtime this connection dials with. */
  relay: string;
}

/**
 * How long a link may stay silent before the heartbeat declares it dead: `maxMissed` pings, each unanswered for
 * `timeout`. A link that dies at any moment, before its first pong included, is detected within this bound.
 */
export function silenceBound(heartbeat: { interval: number; timeout: number; maxMissed: number }): number {
  return heartbeat.maxMissed * heartbeat.interval + heartbeat.timeout;
}

/** Builds a DisconnectInfo for a close our runtime decided. */
export function localLoss(local: LocalCloseCause, reason = ''): DisconnectInfo {
  return { code: 1006, reason, wasClean: false, local };
}

class Connection {
  private socket: TransportSocket | undefined;
  private disposed = false;
  private closed = false;
  /** The loss has been reported: one CONNECTION_LOST per connection. */
  private reported = false;
  private onClosed: (() => void) | undefined;
  private exposed = false;
  private awaitingHello = false;
  // Heartbeat state of this connection.
  private hbMode: 'pending' | 'on' | 'off' = 'pending';
  private hbCancel: Cancel | undefined;
  private silenceCancel: Cancel | undefined;
  private usePingFrames = false;
  private pingSeq = 0;
  private pingSentAt = 0;
  private awaitingPong = false;
  /** The last ping's pong has not come yet (it may come after its window: then it still measures the RTT). */
  private pongPending = false;
  private missed = 0;
  private silentMisses = 0;
  private slow = false;
  private lastInboundAt = 0;
  private lastCheckAt = 0;

  constructor(
    private readonly rt: RelayRuntime,
    private readonly sendBack: (event: RelayMachineEvent) => void,
  ) {}

  dial(): void {
    const { transport, maxPayload, closeTimeout, headers, protocols } = this.rt.options;
    try {
      this.socket = transport.connect(
        this.rt.dialUrl,
        {
          onOpen: () => this.handleOpen(),
          onMessage: (data, isBinary) => this.handleMessage(data, isBinary),
          onPong: () => this.handlePong(),
          onPing: () => this.markAlive(),
          onClose: (info) => this.handleClose(info),
        },
        // closeTimeout also bounds a close the peer started: a peer that never closes TCP is dropped after it.
        { maxPayload, closeTimeout, ...(headers ? { headers } : {}), ...(protocols ? { protocols } : {}) },
      );
    } catch (error) {
      // A transport that throws at dial time (bad URL for the platform, say) is a failed attempt like any other.
      const info: DisconnectInfo = {
        code: 1006,
        reason: '',
        wasClean: false,
        errorCode: 'DIAL_FAILED',
        message: String((error as Error)?.message ?? error),
      };
      queueMicrotask(() => this.handleClose(info));
    }
  }

  command(cmd: ConnectionCommand): void {
    if (cmd.type === 'DROP') return this.drop(cmd.cause);
    if (this.hbMode !== 'off' && this.exposed && !this.awaitingPong) {
      this.hbCancel?.();
      this.ping();
    }
  }

  /** Our side gave up on this connection: the data path stops writing to it and the machine hears of the loss. */
  private drop(cause: LocalCloseCause): void {
    if (this.disposed) return;
    this.stopHeartbeat();
    this.unexpose();
    this.lost(localLoss(cause));
  }

  private handleOpen(): void {
    if (this.disposed) return;
    // A challenge belongs to one connection.
    this.rt.authChallenge = null;
    this.rt.authenticated = false;
    this.lastInboundAt = this.lastCheckAt = this.rt.now();
    this.rt.noteAlive();
    let hello;
    try {
      hello = this.rt.options.protocol.hello?.();
    } catch (error) {
      this.rt.emit({
        type: 'error',
        error: new ProtocolError('The protocol failed to build its hello frame.', 'HELLO', { cause: error }),
      });
    }
    if (hello !== undefined) {
      this.awaitingHello = true;
      try {
        this.socket!.send(hello);
      } catch {
        // The close that follows a failed write reports the loss.
      }
      this.sendBack({ type: 'SOCKET_OPEN', handshake: true, at: this.rt.now() });
    } else {
      this.expose();
      this.sendBack({ type: 'SOCKET_OPEN', handshake: false, at: this.rt.now() });
    }
    this.startHeartbeat();
  }

  private expose(): void {
    this.exposed = true;
    this.rt.socket = this.socket ?? null;
  }

  private unexpose(): void {
    if (this.exposed && this.rt.socket === this.socket) this.rt.socket = null;
    this.exposed = false;
  }

  /** Any inbound frame (data, pong, the peer's ping) is proof that the link is alive. */
  private markAlive(): void {
    if (this.disposed) return;
    this.lastInboundAt = this.rt.now();
    if (this.missed > 0) this.forgiveMisses();
  }

  private handleMessage(data: string | Uint8Array, isBinary: boolean): void {
    if (this.disposed) return;
    this.markAlive();
    const decoded = this.rt.options.protocol.decode(data, isBinary);
    switch (decoded.kind) {
      case 'message':
        this.rt.messages.next(decoded.message);
        if (this.rt.inbound.observed) this.rt.inbound.next({ ...decoded, relay: this.rt.url });
        return;
      case 'eose':
      case 'closed':
      case 'notice':
        if (decoded.kind === 'notice') this.rt.emit({ type: 'notice', text: decoded.text });
        if (this.rt.inbound.observed) this.rt.inbound.next({ ...decoded, relay: this.rt.url });
        return;
      case 'auth':
        this.rt.authChallenge = decoded.challenge;
        this.rt.authenticated = false;
        this.rt.emit({ type: 'auth-challenge' });
        return;
      case 'pong':
        this.handlePong();
        return;
      case 'ack':
        this.rt.settleAck(decoded.id, decoded.ok, decoded.reason);
        return;
      case 'hello-ack':
        if (!this.awaitingHello) return;
        this.awaitingHello = false;
        if (decoded.ok) {
          this.expose();
          this.sendBack({ type: 'HELLO_ACK', at: this.rt.now() });
        } else {
          this.lost({ code: 1008, reason: decoded.reason ?? '', wasClean: false, local: 'handshake-rejected' });
        }
        return;
      case 'invalid':
        this.rt.emit({
          type: 'error',
          error: new ProtocolError(
            `Relay ${this.rt.url} sent a frame that could not be read: ${decoded.reason}`,
            decoded.code,
          ),
        });
        return;
      case 'ignore':
        return;
    }
  }

  private handlePong(): void {
    if (this.disposed) return;
    // Any pong is life (staleAfter); the answer to our last ping also measures the round trip, even when it came
    // after its window (a slow link whose data keeps arriving must still show its RTT).
    this.lastInboundAt = this.rt.now();
    if (!this.pongPending) return;
    this.pongPending = false;
    const rtt = this.rt.now() - this.pingSentAt;
    this.rt.pongSeen = true;
    if (this.hbMode === 'pending') this.hbMode = 'on';
    this.rt.noteRtt(rtt);
    if (!this.awaitingPong) return this.latePong(rtt);
    this.awaitingPong = false;
    const wasImpaired = this.missed > 0 || this.slow;
    this.missed = 0;
    const slow = rtt > this.rt.options.heartbeat.degradedRtt;
    if (slow && !this.slow) {
      this.slow = true;
      this.sendBack({ type: 'RTT_HIGH', rttMs: rtt });
    } else if (!slow) {
      this.slow = false;
      if (wasImpaired) this.sendBack({ type: 'RECOVERED' });
    }
    this.rt.publishHealth();
  }

  /**
   * A pong after its window: the link is slow, not dead. The misses it was counted for are forgiven (it answered),
   * and it stays degraded while its pongs come late; an answer within the window recovers it.
   */
  private latePong(rtt: number): void {
    this.missed = 0;
    if (!this.slow) {
      this.slow = true;
      this.sendBack({ type: 'RTT_HIGH', rttMs: rtt });
    }
    this.rt.publishHealth();
  }

  private forgiveMisses(): void {
    this.missed = 0;
    this.rt.noteAlive();
    if (!this.slow) this.sendBack({ type: 'RECOVERED' });
  }

  private handleClose(info: DisconnectInfo): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed?.();
    if (this.disposed) return;
    this.stopHeartbeat();
    this.unexpose();
    if (info.code === 1009 || info.errorCode === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.rt.emit({ type: 'error', error: new FrameTooLargeError(this.rt.url, this.rt.options.maxPayload) });
    }
    this.lost(info);
  }

  /**
   * Tells the machine the connection is lost, with the classifier's verdict. The classifier reads the close as it
   * came; the machine (its context, inspection, snapshots) gets texts with the dial URL's secrets hidden.
   */
  private lost(info: DisconnectInfo): void {
    if (this.reported) return;
    this.reported = true;
    const o = this.rt.options;
    const verdict = classifyClose(info, { user: o.classify, protocol: o.protocol, fatalCloseCodes: o.fatalCloseCodes });
    const { redact } = this.rt;
    const safeInfo: DisconnectInfo = {
      ...info,
      reason: redact(info.reason),
      ...(info.message === undefined ? {} : { message: redact(info.message) }),
    };
    this.sendBack({
      type: 'CONNECTION_LOST',
      info: safeInfo,
      verdict: { ...verdict, reason: redact(verdict.reason) },
      at: this.rt.now(),
      jitter: o.random(),
    });
  }

  // Heartbeat ---------------------------------------------------------------------------------------------

  private startHeartbeat(): void {
    const { heartbeat, transport, protocol } = this.rt.options;
    if (!heartbeat.enabled) {
      this.hbMode = 'off';
      this.watchSilence(heartbeat.staleAfter);
      return;
    }
    this.usePingFrames = transport.supportsPing && typeof this.socket?.ping === 'function';
    if (!this.usePingFrames && typeof protocol.ping !== 'function') {
      this.heartbeatOff(
        `transport "${transport.name}" has no ping frames and protocol "${protocol.name}" has no app-level ping`,
      );
      this.watchSilence(heartbeat.staleAfter);
      return;
    }
    // Whatever the pings conclude (answered, negotiated off, missed), silence past the bound is a dead link. While
    // pinging, a pong comes once per interval: a staleAfter shorter than interval + timeout would kill idle links.
    const { interval, timeout, staleAfter } = heartbeat;
    this.watchSilence(staleAfter > 0 ? Math.max(staleAfter, interval + timeout) : silenceBound(heartbeat));
    this.hbCancel = this.rt.scheduler.schedule(heartbeat.interval, this.pingNow);
  }

  // Bound once per connection: the heartbeat reschedules these every interval, for every relay.
  private readonly pingNow = (): void => this.ping();
  private readonly checkPongNow = (): void => this.checkPong(this.pingSentAt);

  private ping(): void {
    if (this.disposed || this.closed) return;
    const { heartbeat, protocol } = this.rt.options;
    this.awaitingPong = true;
    this.pongPending = true;
    this.pingSentAt = this.rt.now();
    try {
      if (this.usePingFrames) this.socket!.ping!();
      else this.socket!.send(protocol.ping!(String(++this.pingSeq)));
    } catch {
      // A write on a dying socket: its close will follow.
    }
    this.hbCancel = this.rt.scheduler.schedule(heartbeat.timeout, this.checkPongNow);
  }

  private checkPong(sentAt: number): void {
    if (this.disposed || this.closed) return;
    const { heartbeat } = this.rt.options;
    const now = this.rt.now();
    // Any inbound frame since the ping is proof of life.
    const answered = !this.awaitingPong || this.lastInboundAt >= sentAt;
    // Frames between the previous check and this ping: the link lives, whether or not the relay answers pings.
    const aliveOtherwise = this.lastInboundAt > this.lastCheckAt;
    this.awaitingPong = false;
    this.lastCheckAt = now;
    if (!answered) {
      if (heartbeat.negotiate && !this.rt.pongSeen && aliveOtherwise) {
        // A relay that talks but has never answered a ping lacks ping support: stop asking after maxMissed.
        if (++this.silentMisses >= heartbeat.maxMissed) {
          this.heartbeatOff(
            `relay answered none of ${this.silentMisses} pings but sends other frames; heartbeat off for this connection`,
          );
          return;
        }
      } else {
        // Silence is a dead link, before the first pong as after it.
        this.missed++;
        this.rt.noteMissedPong();
        this.rt.publishHealth();
        this.sendBack({ type: 'PONG_TIMEOUT', missed: this.missed });
        if (this.disposed) return;
      }
    }
    this.hbCancel = this.rt.scheduler.schedule(Math.max(0, heartbeat.interval - (now - sentAt)), this.pingNow);
  }

  /** Stops pinging; the silence watchdog, when one runs, keeps watching. */
  private heartbeatOff(reason: string): void {
    this.hbMode = 'off';
    this.hbCancel?.();
    this.hbCancel = undefined;
    this.sendBack({ type: 'HEARTBEAT_OFF', reason });
  }

  /**
   * Ends the connection once no frame has arrived for more than `limitMs` (0: never): `STALE`, or `PONG_TIMEOUT`
   * when it is the pinging heartbeat's own bound. Armed for the
   * current deadline and re-armed when frames moved it, so it costs one scheduler entry per `limitMs` of traffic.
   */
  private watchSilence(limitMs: number): void {
    if (limitMs <= 0 || this.disposed || this.closed) return;
    const wait = Math.max(1, this.lastInboundAt + limitMs + 1 - this.rt.now());
    this.silenceCancel = this.rt.scheduler.schedule(wait, () => {
      if (this.disposed || this.closed) return;
      const silentMs = this.rt.now() - this.lastInboundAt;
      if (silentMs <= limitMs) this.watchSilence(limitMs);
      else if (this.hbMode === 'off' || this.rt.options.heartbeat.staleAfter > 0)
        this.sendBack({ type: 'STALE', silentMs });
      // Pinging without staleAfter: the heartbeat's own bound ran out, whichever timer noticed first.
      else
        this.sendBack({ type: 'PONG_TIMEOUT', missed: Math.max(this.missed + 1, this.rt.options.heartbeat.maxMissed) });
    });
  }

  private stopHeartbeat(): void {
    this.hbCancel?.();
    this.hbCancel = undefined;
    this.silenceCancel?.();
    this.silenceCancel = undefined;
  }

  // Disposal ----------------------------------------------------------------------------------------------

  /** Ends this connection for good: gracefully (1000, bounded by closeTimeout) on stop, at once otherwise. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stopHeartbeat();
    this.unexpose();
    this.rt.failPendingAcks();
    const socket = this.socket;
    if (!socket) return;
    if (this.closed) return this.rt.socketEnded(socket);
    if (!this.rt.stopping) {
      socket.terminate();
      return;
    }
    const { closeTimeout } = this.rt.options;
    if (closeTimeout === 0) {
      socket.terminate();
      return;
    }
    // A real timer on purpose: the close handshake is network I/O, not simulated time.
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.onClosed = undefined;
        socket.terminate();
        resolve();
      }, closeTimeout);
      this.onClosed = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.rt.closing.add(done);
    void done.then(() => this.rt.closing.delete(done));
    try {
      socket.close(1000, 'stop');
    } catch {
      socket.terminate();
    }
  }
}

/**
 * The `connection` actor logic the relay machine invokes in `live`: it finds the relay's runtime (registered by
 * `createRelay` or the pool for the relay's actor system) by the relay's id. Swap it with
 * `machine.provide({ actors })` to drive the machine without sockets.
 *
 * @example
 * const scripted = relayMachine.provide({ actors: { connection: fromCallback(({ sendBack }) => { ... }) } });
 */
export const connectionLogic = fromCallback<ConnectionCommand, ConnectionInput>(
  ({ input, system, sendBack, receive }) => {
    const connection = new Connection(runtimeOf(system, input.relay), sendBack);
    receive((cmd) => connection.command(cmd));
    connection.dial();
    return () => connection.dispose();
  },
);
