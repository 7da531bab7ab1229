/**
 * One send in the pool's care, from `send()` until it settles: its frame, where it was last written, which relays
 * refused it, and the caller's promise. The delivery creates and settles them; the outbox holds them while no relay
 * is usable.
 */
import type { Frame } from '../../core/contract.ts';
import type { RelayActorsError } from '../../core/errors.ts';
import type { OutboxItem } from '../../runtime/outbox.ts';
import type { PreparedSend } from '../../runtime/prepareSend.ts';

/**
 * UTF-8 size of a frame, without Node's Buffer (the core bundles for browsers).
 *
 * @example
 * frameBytes('héllo');            // 6
 * frameBytes(new Uint8Array(3));  // 3
 */
export function frameBytes(frame: Frame): number {
  if (typeof frame !== 'string') return frame.byteLength;
  let bytes = frame.length;
  for (let i = 0; i < frame.length; i++) {
    const c = frame.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair: 4 bytes for 2 UTF-16 units.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** Told when a queued send's ttl ran out in the outbox. */
export interface ExpiryListener<Out> {
  expired(p: Pending<Out>): void;
}

/**
 * A send the pool has accepted. A class: the outbox's `expire` is a prototype method, not a closure per message.
 *
 * @example
 * const p = new Pending(message, prepareSend(protocol, message, true), now + ttl, delivery);
 * const done = p.promise(); // settled by the delivery
 */
export class Pending<Out> implements OutboxItem {
  readonly frame: Frame;
  readonly id: string | undefined;
  readonly wantAck: boolean;
  /** Encoded size, bytes (outbox bounds). */
  readonly bytes: number;
  /** Bumped on every write, so a late answer to an older write is ignored. */
  attempt = 0;
  /** The relay it waits on for an ack, while it does. */
  relay: { readonly inflight: Set<Pending<Out>> } | null = null;
  /** Relays that refused it (nack `retry`) or did not ack it within ackTimeout; not tried again for this message. */
  readonly refusedBy = new Set<string>();
  reauthTried = false;
  settled = false;
  /** Redacted URL of the relay it was last written to. */
  via: string | null = null;
  /** Written to a socket at least once: if it fails now, it may still have been delivered. */
  written = false;
  /** Settles the caller's promise; set by {@link Pending.promise}. */
  resolve: () => void = noop;
  reject: (error: RelayActorsError) => void = noop;

  constructor(
    readonly message: Out,
    prepared: PreparedSend,
    /** Clock time after which it is no longer re-sent (`outbox.ttl` after it was sent). */
    readonly deadline: number,
    private readonly owner: ExpiryListener<Out>,
  ) {
    this.frame = prepared.frame;
    this.id = prepared.id;
    this.wantAck = prepared.wantAck;
    this.bytes = frameBytes(prepared.frame);
  }

  /** The caller's promise, settled through {@link Pending.resolve} and {@link Pending.reject}. */
  promise(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** The outbox's ttl ran out while it was queued. */
  expire(): void {
    this.owner.expired(this);
  }
}

function noop(): void {}
