/**
 * A fan-out of XState inspection events: every relay and pool installs one as its actor system's `inspect`
 * observer, so inspectors (our offline page, the Stately bridge) can attach at any time and detach again. With no
 * listener it costs one function call per lifecycle event; data messages never reach it.
 */
import { Observable } from 'rxjs';
import type { InspectionEvent } from 'xstate';

/**
 * Fans one actor system's inspection events out to any number of listeners that come and go; `user` (an
 * `inspect` option) always gets them first.
 *
 * @example
 * const bus = new InspectionBus();
 * const actor = createActor(machine, { inspect: bus.observer }).start();
 * const sub = bus.events$.subscribe((e) => console.log(e.type)); // '@xstate.event', '@xstate.snapshot', ...
 * sub.unsubscribe();
 */
export class InspectionBus {
  private readonly listeners = new Set<(event: InspectionEvent) => void>();

  constructor(private readonly user?: (event: InspectionEvent) => void) {}

  /** The observer handed to `createActor({ inspect })`. */
  readonly observer = (event: InspectionEvent): void => {
    this.user?.(event);
    for (const listener of this.listeners) listener(event);
  };

  /** Inspection events from now on; unsubscribing detaches. */
  readonly events$: Observable<InspectionEvent> = new Observable<InspectionEvent>((subscriber) => {
    const listener = (event: InspectionEvent) => subscriber.next(event);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  });

  /** Detaches every listener (on stop). */
  clear(): void {
    this.listeners.clear();
  }
}
