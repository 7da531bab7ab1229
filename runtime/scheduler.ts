/**
 * One timer for many: a min-heap of due callbacks served by a single clock timeout. Heartbeats of a thousand
 * relays cost one armed timer instead of a thousand. Works on any XState `Clock` (real or `SimulatedClock`).
 */
/**
 * Timer source, structurally the same as XState's (unexported) `Clock`, so `SimulatedClock` fits and the same
 * clock can drive the actor's delays and our heartbeats.
 */
export interface Clock {
  /** Calls `fn` after `timeout` ms; returns an id for `clearTimeout`. */
  setTimeout(fn: () => void, timeout: number): unknown;
  /** Cancels a pending `setTimeout` by its id. */
  clearTimeout(id: unknown): void;
}

interface Entry {
  due: number;
  seq: number;
  run: () => void;
  cancelled: boolean;
}

/** Handle to cancel one scheduled callback. */
export type Cancel = () => void;

/** A shared scheduler bound to one clock. */
export interface Scheduler {
  /** Runs `run` after `delayMs`. */
  schedule(delayMs: number, run: () => void): Cancel;
  /** Callbacks waiting to run. */
  readonly size: number;
}

const byClock = new WeakMap<Clock, Scheduler>();

/**
 * On real time, callbacks due within this many ms of each other run in one timer turn: a thousand heartbeats
 * then cost a few timer wake-ups per interval instead of one each. Simulated clocks get exact times.
 */
export const REAL_CLOCK_SLACK_MS = 5;

/**
 * The scheduler shared by everything on `clock`; created on first use. On a real clock, callbacks due within 5 ms
 * of each other run in one timer turn; a `SimulatedClock` (it has `now()`) gets exact times.
 *
 * @example
 * const cancel = sharedScheduler(clock).schedule(30_000, () => console.log('heartbeat due'));
 * cancel(); // changed our mind
 */
export function sharedScheduler(clock: Clock): Scheduler {
  let s = byClock.get(clock);
  if (!s) {
    const simulated = typeof (clock as Clock & { now?: unknown }).now === 'function';
    s = createScheduler(clock, () => clockNow(clock), simulated ? 0 : REAL_CLOCK_SLACK_MS);
    byClock.set(clock, s);
  }
  return s;
}

/**
 * A scheduler over `clock`, reading time from `now` (the clock's own `now()` for `SimulatedClock`, `Date.now`
 * otherwise). When nothing is due, no timer is armed, so an idle scheduler never keeps a process alive.
 * `slackMs` (default 0: exact times) lets callbacks due close together share one timer turn; each then runs within
 * `slackMs` of its due time.
 *
 * @example
 * const s = createScheduler(clock, () => clock.now());
 * const cancel = s.schedule(1000, () => console.log('tick'));
 */
export function createScheduler(clock: Clock, now: () => number, slackMs = 0): Scheduler {
  const heap: Entry[] = [];
  let seq = 0;
  let live = 0;
  let armedFor = Infinity;
  let timer: unknown;

  const arm = () => {
    // Cancelled entries at the head are dropped so that an idle scheduler disarms.
    while (heap.length > 0 && heap[0]!.cancelled) heapPop(heap);
    const head = heap[0];
    if (!head) {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      armedFor = Infinity;
      return;
    }
    // An armed timer that fires no later than `slackMs` after the new head covers it too.
    if (timer !== undefined && head.due + slackMs >= armedFor) return;
    if (timer !== undefined) clock.clearTimeout(timer);
    armedFor = head.due + slackMs;
    timer = clock.setTimeout(fire, Math.max(0, head.due + slackMs - now()));
  };

  const fire = () => {
    timer = undefined;
    armedFor = Infinity;
    const t = now();
    // Bounded: only entries already due when this run started.
    let budget = heap.length;
    while (budget-- > 0 && heap.length > 0 && heap[0]!.due <= t + slackMs) {
      const e = heapPop(heap)!;
      if (!e.cancelled) {
        e.cancelled = true;
        live--;
        e.run();
      }
    }
    arm();
  };

  return {
    schedule(delayMs, run) {
      const entry: Entry = { due: now() + delayMs, seq: seq++, run, cancelled: false };
      heapPush(heap, entry);
      live++;
      arm();
      return () => {
        if (entry.cancelled) return;
        entry.cancelled = true;
        live--;
        // Nothing live left: forget the buried cancelled entries so no timer outlives the last user.
        if (live === 0) heap.length = 0;
        if (live === 0 || heap[0] === entry) arm();
      };
    },
    get size() {
      return live;
    },
  };
}

/** Earlier due first; among equals, scheduled first. */
function less(a: Entry, b: Entry): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

function swap(heap: Entry[], i: number, j: number): void {
  const t = heap[i]!;
  heap[i] = heap[j]!;
  heap[j] = t;
}

function heapPush(heap: Entry[], e: Entry): void {
  heap.push(e);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(heap[i]!, heap[p]!)) break;
    swap(heap, i, p);
    i = p;
  }
}

function heapPop(heap: Entry[]): Entry | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      swap(heap, i, m);
      i = m;
    }
  }
  return top;
}

/** Current time on `clock`: its own `now()` where it has one (SimulatedClock), else `Date.now()`. */
export function clockNow(clock: Clock): number {
  const c = clock as Clock & { now?: () => number };
  return typeof c.now === 'function' ? c.now() : Date.now();
}
