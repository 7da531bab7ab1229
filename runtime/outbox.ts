/**
 * The pool's outbox: sends that arrive while no relay is usable wait here, in order, bounded by count and bytes,
 * each with its own time to live. Nothing leaves silently: an entry leaves by being drained (and sent), by expiring
 * (its `expire` callback rejects the caller's promise) or by `rejectAll`.
 */
import { InvalidOptionError, OutboxFullError, type RelayActorsError } from '../core/errors.ts';
import { rejectUnknownKeys } from './options.ts';
import type { Cancel, Scheduler } from './scheduler.ts';

/** Bounds of the outbox. */
export interface OutboxOptions {
  /** Most queued messages. Default 1000. */
  maxMessages: number;
  /** Most queued bytes (encoded frames). Default 1 MiB (1048576). */
  maxBytes: number;
  /** How long a message may wait for a usable relay, ms. Default 60000. */
  ttl: number;
}

/** Outbox defaults. */
export const DEFAULT_OUTBOX: Readonly<OutboxOptions> = Object.freeze({
  maxMessages: 1000,
  maxBytes: 1024 * 1024,
  ttl: 60_000,
});

/** What the outbox needs of a queued item. */
export interface OutboxItem {
  /** Encoded size, bytes. */
  readonly bytes: number;
  /** Called once if the item's ttl runs out while queued; the item has already left the queue. */
  expire(): void;
  /** Called once if the outbox gives up on every item (session timeout, stop). */
  reject(error: RelayActorsError): void;
}

interface Slot<T> {
  item: T;
  cancel: Cancel | undefined;
}

/**
 * Fills outbox defaults ({@link DEFAULT_OUTBOX}: 1000 messages, 1 MiB, ttl 60 s) and checks the bounds; throws
 * {@link InvalidOptionError} naming the bad one.
 *
 * @example
 * resolveOutboxOptions({ ttl: 5000 }); // { maxMessages: 1000, maxBytes: 1048576, ttl: 5000 }
 * resolveOutboxOptions({ size: 1 });   // throws InvalidOptionError: option 'outbox.size'
 */
export function resolveOutboxOptions(options: Partial<OutboxOptions> | undefined): OutboxOptions {
  if (options !== undefined) rejectUnknownKeys('outbox', options, Object.keys(DEFAULT_OUTBOX));
  const o = { ...DEFAULT_OUTBOX, ...(options ?? {}) };
  if (!Number.isInteger(o.maxMessages) || o.maxMessages < 0)
    throw new InvalidOptionError('outbox.maxMessages', `must be an integer >= 0, got ${o.maxMessages}`);
  if (typeof o.maxBytes !== 'number' || !(o.maxBytes >= 0))
    throw new InvalidOptionError('outbox.maxBytes', `must be a number >= 0, got ${o.maxBytes}`);
  if (typeof o.ttl !== 'number' || !(o.ttl > 0))
    throw new InvalidOptionError('outbox.ttl', `must be a number > 0, got ${o.ttl}`);
  return o;
}

/**
 * A bounded FIFO of items waiting for a usable relay.
 *
 * @example
 * const outbox = new Outbox(resolveOutboxOptions({ maxMessages: 100 }), sharedScheduler(clock));
 * outbox.push({ bytes: frameBytes(frame), expire: () => console.warn('expired'), reject: (err) => console.warn(err.code) });
 * const queued = outbox.drain(); // a relay opened: write these, oldest first
 */
export class Outbox<T extends OutboxItem> {
  private slots: Array<Slot<T>> = [];
  private totalBytes = 0;

  constructor(
    readonly options: OutboxOptions,
    private readonly scheduler: Scheduler,
  ) {}

  get size(): number {
    return this.slots.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /**
   * Queues `item` at the back with a fresh ttl (`ttlMs`, default the outbox's). Throws {@link OutboxFullError}
   * when it would break a bound; the caller rejects that send, nothing queued is touched.
   */
  push(item: T, ttlMs = this.options.ttl): void {
    if (this.slots.length + 1 > this.options.maxMessages)
      throw new OutboxFullError('messages', this.options.maxMessages);
    if (this.totalBytes + item.bytes > this.options.maxBytes) throw new OutboxFullError('bytes', this.options.maxBytes);
    this.add(item, ttlMs, false);
  }

  /**
   * Puts items that were already accepted (in flight on a relay that died) back at the front, in order. They were
   * promised delivery, so bounds do not apply; their ttl restarts (`ttlMs`, default the outbox's).
   */
  requeue(items: readonly T[], ttlMs = this.options.ttl): void {
    for (let i = items.length - 1; i >= 0; i--) this.add(items[i]!, ttlMs, true);
  }

  /** Takes every item, oldest first, cancelling their ttls. */
  drain(): T[] {
    const slots = this.slots;
    this.slots = [];
    this.totalBytes = 0;
    return slots.map((s) => {
      s.cancel?.();
      return s.item;
    });
  }

  /** Empties the outbox, rejecting every item with `error`. */
  rejectAll(error: RelayActorsError): void {
    for (const item of this.drain()) item.reject(error);
  }

  private add(item: T, ttlMs: number, front: boolean): void {
    const slot: Slot<T> = { item, cancel: undefined };
    slot.cancel = this.scheduler.schedule(ttlMs, () => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      this.totalBytes -= item.bytes;
      item.expire();
    });
    if (front) this.slots.unshift(slot);
    else this.slots.push(slot);
    this.totalBytes += item.bytes;
  }
}
