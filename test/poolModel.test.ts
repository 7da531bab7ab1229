/**
 * Model-based tests of the coordinator. An abstract model (two relays abstracted as UP/DOWN events, the session
 * timer as an event) is walked by `xstate/graph`: for every transition of the model, the shortest path that reaches
 * it and takes it is executed against the real pool (memory transports, SimulatedClock), checking the pool's state
 * and which relays are usable after every step.
 */
import { assign, setup, type SnapshotFrom } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { isUsable } from '../policies/score.ts';
import { poolRig, settle, type PoolRig } from './poolRig.ts';

type ModelEventType = 'START' | 'UP_0' | 'UP_1' | 'DOWN_0' | 'DOWN_1' | 'SESSION_TIMEOUT' | 'STOP';
type ModelEvent = { type: ModelEventType };
interface ModelContext {
  up: [boolean, boolean];
}

/** The pool as its user sees it. */
export const poolModel = setup({
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- setup() takes its types from this
  types: {} as { context: ModelContext; events: ModelEvent },
  guards: {
    isDown0: ({ context }) => !context.up[0],
    isDown1: ({ context }) => !context.up[1],
    lastUp0: ({ context }) => context.up[0] && !context.up[1],
    lastUp1: ({ context }) => context.up[1] && !context.up[0],
    isUp0: ({ context }) => context.up[0],
    isUp1: ({ context }) => context.up[1],
  },
  actions: {
    up0: assign({ up: ({ context }) => [true, context.up[1]] as [boolean, boolean] }),
    up1: assign({ up: ({ context }) => [context.up[0], true] as [boolean, boolean] }),
    down0: assign({ up: ({ context }) => [false, context.up[1]] as [boolean, boolean] }),
    down1: assign({ up: ({ context }) => [context.up[0], false] as [boolean, boolean] }),
  },
}).createMachine({
  id: 'poolModel',
  context: { up: [false, false] },
  initial: 'idle',
  on: { STOP: '.stopped' },
  states: {
    idle: { on: { START: 'offline' } },
    offline: {
      on: {
        UP_0: { target: 'online', actions: 'up0' },
        UP_1: { target: 'online', actions: 'up1' },
        SESSION_TIMEOUT: 'expired',
      },
    },
    online: {
      on: {
        UP_0: { guard: 'isDown0', actions: 'up0' },
        UP_1: { guard: 'isDown1', actions: 'up1' },
        DOWN_0: [
          { guard: 'lastUp0', target: 'offline', actions: 'down0' },
          { guard: 'isUp0', actions: 'down0' },
        ],
        DOWN_1: [
          { guard: 'lastUp1', target: 'offline', actions: 'down1' },
          { guard: 'isUp1', actions: 'down1' },
        ],
      },
    },
    expired: {
      on: {
        UP_0: { target: 'online', actions: 'up0' },
        UP_1: { target: 'online', actions: 'up1' },
      },
    },
    stopped: { type: 'final' },
  },
});

const ALL: ModelEvent[] = (['START', 'UP_0', 'UP_1', 'DOWN_0', 'DOWN_1', 'SESSION_TIMEOUT', 'STOP'] as const).map(
  (type) => ({ type }),
);
type Snap = SnapshotFrom<typeof poolModel>;
interface Step {
  event: ModelEvent;
  state: string;
  up: [boolean, boolean];
}

const key = (s: Snap) => JSON.stringify({ value: s.value, up: s.context.up });

/** One path per model transition (an event that changes state or context): the shortest way there, then the transition. */
function transitionPaths(): Array<{ name: string; steps: Step[] }> {
  const toState = new Map<string, Array<{ event: ModelEvent; state: Snap }>>();
  for (const p of getShortestPaths(poolModel, { events: ALL })) toState.set(key(p.state), p.steps);
  return adjacencyMapToArray(getAdjacencyMap(poolModel, { events: ALL }))
    .filter((e) => e.state.status !== 'done' && key(e.state) !== key(e.nextState))
    .map((edge) => {
      const prefix = (toState.get(key(edge.state)) ?? []).filter((s) => (s.event.type as string) !== 'xstate.init');
      const steps = [...prefix, { event: edge.event, state: edge.nextState }].map((s) => ({
        event: s.event,
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- the Step type wants a string
        state: s.state.value as string,
        up: [...s.state.context.up] as [boolean, boolean],
      }));
      return { name: `${key(edge.state)} --${edge.event.type}--> ${key(edge.nextState)}`, steps };
    });
}

/** The real pool under the model's events. */
async function exec(r: PoolRig, event: ModelEventType): Promise<void> {
  const bring = async (i: number, upNow: boolean) => {
    const server = r.servers[i]!;
    if (upNow) {
      server.accept();
      r.pool.retry(r.urls[i]);
      await r.until(() => r.pool.status().relays[i]!.state === 'open', 100);
    } else {
      server.refuse();
      server.drop();
      await settle();
    }
  };
  switch (event) {
    case 'START':
      r.pool.start();
      await settle();
      break;
    case 'UP_0':
    case 'UP_1':
      await bring(event === 'UP_0' ? 0 : 1, true);
      break;
    case 'DOWN_0':
    case 'DOWN_1':
      await bring(event === 'DOWN_0' ? 0 : 1, false);
      break;
    case 'SESSION_TIMEOUT':
      await r.until(() => r.pool.status().state === 'expired', 10_500);
      break;
    case 'STOP':
      await r.pool.stop();
      break;
  }
}

describe('model-based: every transition of the coordinator model holds on the real pool', () => {
  const paths = transitionPaths();

  it('covers every state of the model', () => {
    expect([...new Set(paths.flatMap((p) => p.steps.map((s) => s.state)))].sort()).toEqual([
      'expired',
      'offline',
      'online',
      'stopped',
    ]);
    expect(paths.length).toBeGreaterThanOrEqual(15);
  });

  it.each(paths.map((p) => [p.name, p] as const))('%s', async (_name, path) => {
    // Servers refuse until the model brings them up; relays retry with a long backoff, so only the model moves them.
    const r = poolRig(2, { backoff: { base: 60_000, max: 60_000, factor: 2, stableAfter: 1000 } });
    for (const s of r.servers) s.refuse();
    try {
      const trail: string[] = [];
      for (const step of path.steps) {
        await exec(r, step.event.type);
        const status = r.pool.status();
        const usable = status.relays.map((x) => isUsable(x.state));
        trail.push(`${step.event.type}→${status.state}[${usable.join(',')}]`);
        expect(status.state, `after ${trail.join(', ')}`).toBe(step.state);
        if (step.state !== 'stopped') expect(usable, `after ${trail.join(', ')}`).toEqual(step.up);
      }
    } finally {
      await r.pool.stop();
    }
  });
});
