/**
 * What every part of a pool shares: its resolved options, the clock, the pool's own telemetry (`events$`), the
 * coordinator actor, the inspection bus, and whether the pool has halted. One object per pool.
 */
import { Subject } from 'rxjs';
import { createActor, type Actor, type Snapshot } from 'xstate';
import { InspectionBus } from '../../runtime/inspection.ts';
import { relayMachineConfig } from '../../runtime/options.ts';
import type { RelayInput } from '../../machines/relayMachine.ts';
import { poolMachine, poolState, type PoolMachine, type PoolState } from '../../machines/poolMachine.ts';
import { clockNow } from '../../runtime/scheduler.ts';
import type { PoolEvent } from '../../core/telemetry.ts';
import type { ResolvedPoolOptions } from './options.ts';
import { resumablePoolSnapshot } from '../../machines/resume.ts';
import { redactUrl } from '../../runtime/options.ts';
import type { PoolInput } from '../../machines/poolMachine.ts';
import { childIds } from './ids.ts';

/** A saved snapshot ready for a pool of `urls`: each saved relay matched to one of them by child id. */
function restorable(saved: unknown, pool: PoolInput, urls: readonly string[]): Snapshot<unknown> {
  const relays = new Map<string, RelayInput>();
  for (const { id, url } of childIds(urls).values())
    relays.set(id, { id, url: redactUrl(url), config: pool.relayConfig });
  return resumablePoolSnapshot(saved, { pool, relays });
}

/** A pool event as a part reports it: the time is stamped on emit. */
export type PoolEventInput = PoolEvent extends infer E ? (E extends PoolEvent ? Omit<E, 'at'> : never) : never;

/**
 * The shared environment of one pool's parts.
 *
 * @example
 * const env = new PoolEnv(resolvePoolOptions({ relays: [url], transport, protocol }));
 * env.emit({ type: 'relay-added', url: null, relay: url });
 * env.state(); // 'idle' until the actor starts
 */
export class PoolEnv<Out, In, Req> {
  /** The pool's telemetry: its own events and every relay's, in the order the pool acted on them. */
  readonly events = new Subject<PoolEvent>();
  readonly bus: InspectionBus;
  /** The coordinator; created here, started by the composition once every part listens. */
  readonly actor: Actor<PoolMachine>;
  /** Set first thing in `stop()`: from then on relay changes are not acted on and sends fail. */
  halted = false;

  /** Built from a saved snapshot: `start()` resumes the relays and timers a snapshot cannot hold. */
  readonly restored: boolean;
  /** Child ids of the relays the snapshot held: the ones `start()` resumes (a relay added since dials as new). */
  readonly restoredRelays: ReadonlySet<string>;

  constructor(readonly options: ResolvedPoolOptions<Out, In, Req>) {
    this.bus = new InspectionBus(options.relayOptions.inspect);
    const input = { relayConfig: relayMachineConfig(options.shared), sessionTimeout: options.sessionTimeout };
    const snapshot = options.snapshot === undefined ? undefined : restorable(options.snapshot, input, options.relays);
    this.restored = snapshot !== undefined;
    this.actor = createActor(poolMachine, {
      input,
      ...(snapshot ? { snapshot } : {}),
      clock: options.shared.clock,
      systemId: options.id,
      inspect: this.bus.observer,
    });
    this.restoredRelays = new Set(this.restored ? this.actor.getSnapshot().context.relays : []);
  }

  /** Current time on the pool's clock, ms. */
  now(): number {
    return clockNow(this.options.shared.clock);
  }

  /** Publishes a pool event, stamped with the time, if anyone listens. */
  emit(event: PoolEventInput): void {
    if (this.events.observed) this.events.next({ ...event, at: this.now() });
  }

  /** The pool's public state, as the coordinator says. */
  state(): PoolState {
    return poolState(this.actor.getSnapshot());
  }
}
