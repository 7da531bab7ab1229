/**
 * Helpers to drive machines under XState's `SimulatedClock`. Its `increment(ms)` jumps straight to the end, so
 * timers armed during the jump (a heartbeat re-arming itself, a reconnect delay after a timeout) would be
 * skipped; `advance` walks time in steps so chained timers fire as they would in real time.
 */
import { SimulatedClock } from 'xstate';

/**
 * Advances `clock` by `ms` in steps of `step` ms (default 10), so timers armed along the way fire in order.
 * Bounded: at most `ceil(ms / step)` increments.
 *
 * @example
 * const clock = new SimulatedClock();
 * advance(clock, 30_000); // 30 s of simulated time, every chained timer on the way fired
 */
export function advance(clock: SimulatedClock, ms: number, step = 10): void {
  if (!(ms >= 0) || !(step > 0)) throw new RangeError('advance(clock, ms, step): ms must be >= 0 and step > 0');
  let left = ms;
  while (left > 0) {
    const d = Math.min(step, left);
    clock.increment(d);
    left -= d;
  }
}

/**
 * A fresh `SimulatedClock` (re-exported so apps need not import it from xstate).
 *
 * @example
 * const clock = simulatedClock();
 * const relay = createRelay('ws://relay.test', { transport: memoryTransport({ clock }), clock });
 * advance(clock, 5000);
 */
export function simulatedClock(): SimulatedClock {
  return new SimulatedClock();
}

/**
 * XState's simulated clock, re-exported so tests need not import it from xstate: time moves only when told
 * (`increment(ms)`, `set(ms)`), so timers fire deterministically.
 *
 * @example
 * const clock = new SimulatedClock();
 * const mem = memoryTransport({ clock });
 * mem.server('ws://relay.test');
 * const relay = createRelay('ws://relay.test', { transport: mem, clock }).start();
 * advance(clock, 30_000); // heartbeats, timeouts and reconnect delays of 30 s fire in order
 */
export { SimulatedClock };
