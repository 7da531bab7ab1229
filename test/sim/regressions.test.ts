/**
 * Schedules the simulator found, kept as regression tests: each failed before the fix named in its title and
 * must keep every invariant from now on.
 */
import { describe, it } from 'vitest';
import type { Schedule } from './schedule.ts';
import { World } from './world.ts';

const FOUND: Array<{ title: string; kind: 'pool' | 'relay'; schedule: Schedule }> = [
  {
    title: 'a message back on the same relay after two failovers leaves no ack timer behind after stop()',
    kind: 'pool',
    schedule: {
      relays: 2,
      seed: 1,
      steps: [
        { action: { kind: 'kill', relay: 1 }, waitMs: 627 },
        { action: { kind: 'restart', relay: 1 }, waitMs: 1148 },
        { action: { kind: 'slow', relay: 0, ms: 0 }, waitMs: 2 },
        { action: { kind: 'blackhole', relay: 0, on: true }, waitMs: 3550 },
        { action: { kind: 'blackhole', relay: 1, on: true }, waitMs: 1350 },
        { action: { kind: 'send', ack: true }, waitMs: 0 },
        { action: { kind: 'blackhole', relay: 0, on: true }, waitMs: 2959 },
        { action: { kind: 'send', ack: false }, waitMs: 41 },
      ],
    },
  },
  {
    title: 'a link that dies after one frame but before its first pong is detected within the bound',
    kind: 'pool',
    schedule: {
      relays: 1,
      seed: 1,
      steps: [
        { action: { kind: 'send', ack: false }, waitMs: 0 },
        { action: { kind: 'blackhole', relay: 0, on: true }, waitMs: 0 },
        { action: { kind: 'close', relay: 0, code: 1000 }, waitMs: 2551 },
      ],
    },
  },
];

describe('schedules the simulator found', () => {
  for (const { title, kind, schedule } of FOUND) it(title, () => new World(schedule, kind).run());
});
