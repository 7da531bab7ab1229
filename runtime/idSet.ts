/**
 * A bounded set of recently seen ids, oldest evicted first: inbound dedupe across relays without unbounded memory.
 *
 * @example
 * const seen = new RecentIds(10_000);
 * relay.inbound$.subscribe((m) => {
 *   if (m.kind !== 'message') return;
 *   if (m.id !== undefined && !seen.add(m.id)) return; // a duplicate: drop it
 *   console.log(m.message);
 * });
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number) {}

  /** Records `id`; returns false when it was already there (a duplicate). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      // Sets iterate in insertion order: the first is the oldest.
      const oldest = this.ids.values().next().value as string;
      this.ids.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.ids.size;
  }
}
