import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createScheduler } from '../runtime/scheduler.ts';
import { advance } from '../testkit/simulated.ts';

describe('shared scheduler', () => {
  it('runs callbacks in due order on one clock timer', () => {
    const clock = new SimulatedClock();
    let armed = 0;
    const counting = {
      setTimeout: (fn: () => void, ms: number) => (armed++, clock.setTimeout(fn, ms)),
      clearTimeout: (id: number) => clock.clearTimeout(id),
    };
    const s = createScheduler(counting, () => clock.now());
    const order: string[] = [];
    s.schedule(300, () => order.push('c'));
    s.schedule(100, () => order.push('a'));
    s.schedule(200, () => order.push('b'));
    clock.increment(300);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(armed).toBeLessThanOrEqual(4);
  });

  it('cancels, and disarms when nothing is left', () => {
    const clock = new SimulatedClock();
    let live = 0;
    const tracking = {
      setTimeout: (fn: () => void, ms: number) => (live++, clock.setTimeout(() => (live--, fn()), ms)),
      clearTimeout: (id: number) => (live--, clock.clearTimeout(id)),
    };
    const s = createScheduler(tracking, () => clock.now());
    const ran: number[] = [];
    const c1 = s.schedule(100, () => ran.push(1));
    const c2 = s.schedule(50, () => ran.push(2));
    c1();
    expect(s.size).toBe(1);
    c2();
    expect(s.size).toBe(0);
    expect(live).toBe(0);
    clock.increment(1000);
    expect(ran).toEqual([]);
  });

  it('lets callbacks schedule more work', () => {
    const clock = new SimulatedClock();
    const s = createScheduler(clock, () => clock.now());
    let n = 0;
    const tick = () => {
      if (++n < 5) s.schedule(10, tick);
    };
    s.schedule(10, tick);
    advance(clock, 100);
    expect(n).toBe(5);
  });
});
