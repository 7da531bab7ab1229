/** The outbox: bounded FIFO with a TTL per message, under SimulatedClock. */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, OutboxFullError, RelayActorsError, SessionTimeoutError } from '../core/errors.ts';
import { Outbox, resolveOutboxOptions, type OutboxItem } from '../runtime/outbox.ts';
import { createScheduler } from '../runtime/scheduler.ts';

interface Item extends OutboxItem {
  name: string;
  expired: number;
  rejected: RelayActorsError[];
}

function item(name: string, bytes = 10): Item {
  const it: Item = {
    name,
    bytes,
    expired: 0,
    rejected: [],
    expire: () => it.expired++,
    reject: (e) => it.rejected.push(e),
  };
  return it;
}

function outbox(options: Parameters<typeof resolveOutboxOptions>[0] = {}) {
  const clock = new SimulatedClock();
  const box = new Outbox<Item>(
    resolveOutboxOptions(options),
    createScheduler(clock, () => clock.now()),
  );
  return { clock, box };
}

describe('Outbox', () => {
  it('drains in FIFO order and empties', () => {
    const { box } = outbox();
    for (const n of ['a', 'b', 'c']) box.push(item(n));
    expect(box.size).toBe(3);
    expect(box.bytes).toBe(30);
    expect(box.drain().map((i) => i.name)).toEqual(['a', 'b', 'c']);
    expect(box.size).toBe(0);
    expect(box.bytes).toBe(0);
  });

  it('refuses a message over the count bound with OutboxFullError(messages), leaving the queue untouched', () => {
    const { box } = outbox({ maxMessages: 2 });
    box.push(item('a'));
    box.push(item('b'));
    let error: unknown;
    try {
      box.push(item('c'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutboxFullError);
    expect((error as OutboxFullError).code).toBe('OUTBOX_FULL');
    expect((error as OutboxFullError).limit).toBe('messages');
    expect(box.drain().map((i) => i.name)).toEqual(['a', 'b']);
  });

  it('refuses a message over the byte bound with OutboxFullError(bytes)', () => {
    const { box } = outbox({ maxBytes: 25 });
    box.push(item('a', 10));
    box.push(item('b', 10));
    expect(() => box.push(item('c', 10))).toThrow(expect.objectContaining({ limit: 'bytes' }));
    box.push(item('d', 5));
    expect(box.bytes).toBe(25);
  });

  it('requeue puts accepted items back at the front, in order, past the bounds', () => {
    const { box } = outbox({ maxMessages: 1 });
    box.push(item('new'));
    box.requeue([item('old1'), item('old2')]);
    expect(box.drain().map((i) => i.name)).toEqual(['old1', 'old2', 'new']);
  });

  it('expires an item after its ttl exactly once, removing it; drained items never expire', () => {
    const { clock, box } = outbox({ ttl: 1000 });
    const a = item('a');
    const b = item('b');
    box.push(a);
    clock.increment(500);
    box.push(b);
    clock.increment(499);
    expect(a.expired).toBe(0);
    clock.increment(1);
    expect(a.expired).toBe(1);
    expect(box.size).toBe(1);
    expect(box.bytes).toBe(10);
    const drained = box.drain();
    clock.increment(5000);
    expect(drained).toEqual([b]);
    expect(b.expired).toBe(0);
    expect(a.expired).toBe(1);
  });

  it('rejectAll rejects every item with the error and cancels their ttls', () => {
    const { clock, box } = outbox({ ttl: 100 });
    const items = [item('a'), item('b')];
    for (const i of items) box.push(i);
    box.rejectAll(new SessionTimeoutError(60_000));
    clock.increment(1000);
    for (const i of items) {
      expect(i.rejected.map((e) => e.code)).toEqual(['SESSION_TIMEOUT']);
      expect(i.expired).toBe(0);
    }
    expect(box.size).toBe(0);
  });

  it('validates options, naming the bad one', () => {
    expect(() => resolveOutboxOptions({ maxMessages: -1 })).toThrow(InvalidOptionError);
    expect(() => resolveOutboxOptions({ maxBytes: Number.NaN })).toThrow(
      expect.objectContaining({ option: 'outbox.maxBytes' }),
    );
    expect(() => resolveOutboxOptions({ ttl: 0 })).toThrow(expect.objectContaining({ option: 'outbox.ttl' }));
    expect(() => resolveOutboxOptions({ nope: 1 } as never)).toThrow(
      expect.objectContaining({ option: 'outbox.nope' }),
    );
    expect(resolveOutboxOptions(undefined)).toEqual({ maxMessages: 1000, maxBytes: 1048576, ttl: 60000 });
  });
});
