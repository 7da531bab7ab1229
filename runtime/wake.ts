/**
 * Wake-from-sleep detector: a check that should run every `checkEvery` ms; when it runs more than `gap` ms late,
 * the machine (laptop, VM, phone) was asleep and every socket is suspect. One detector per clock and setting is
 * shared by all relays.
 */
import { clockNow, sharedScheduler, type Cancel, type Clock } from './scheduler.ts';

/** A source of wake-from-sleep signals. */
export interface WakeDetector {
  /** Calls `listener` with how long the machine slept (ms) at each wake; returns the unsubscribe function. */
  subscribe(listener: (sleptMs: number) => void): () => void;
}

const detectors = new WeakMap<Clock, Map<string, WakeDetector>>();

/**
 * The shared detector for `clock` with these settings. It runs only while it has listeners. `now` defaults to the
 * clock's time (`SimulatedClock` time, else `Date.now()`).
 *
 * @example
 * const off = wakeDetector(clock, { gap: 15000, checkEvery: 5000 }).subscribe((ms) => console.log('slept', ms));
 */
export function wakeDetector(
  clock: Clock,
  settings: { gap: number; checkEvery: number },
  now: () => number = () => clockNow(clock),
): WakeDetector {
  let byKey = detectors.get(clock);
  if (!byKey) detectors.set(clock, (byKey = new Map<string, WakeDetector>()));
  const key = `${settings.gap}:${settings.checkEvery}`;
  let d = byKey.get(key);
  if (!d) byKey.set(key, (d = createWakeDetector(clock, settings, now)));
  return d;
}

/**
 * A detector of its own, not shared (tests pass a `now` that jumps); {@link wakeDetector} shares one per clock
 * and setting. It checks every `checkEvery` ms while it has listeners and reports a check more than `gap` ms late.
 *
 * @example
 * const clock = new SimulatedClock();
 * let now = 0;
 * const detector = createWakeDetector(clock, { gap: 15_000, checkEvery: 5000 }, () => now);
 * detector.subscribe((sleptMs) => console.log('woke after', sleptMs));
 * now = 60_000;          // the machine "slept"
 * clock.increment(5000); // the check runs 55 s late: logs 'woke after 55000'
 */
export function createWakeDetector(
  clock: Clock,
  settings: { gap: number; checkEvery: number },
  now: () => number,
): WakeDetector {
  const listeners = new Set<(sleptMs: number) => void>();
  const scheduler = sharedScheduler(clock);
  let cancel: Cancel | undefined;
  let last = 0;

  const check = () => {
    const t = now();
    const late = t - last - settings.checkEvery;
    last = t;
    cancel = scheduler.schedule(settings.checkEvery, check);
    if (late > settings.gap) for (const l of [...listeners]) l(late);
  };

  return {
    subscribe(listener) {
      listeners.add(listener);
      if (!cancel) {
        last = now();
        cancel = scheduler.schedule(settings.checkEvery, check);
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && cancel) {
          cancel();
          cancel = undefined;
        }
      };
    },
  };
}
