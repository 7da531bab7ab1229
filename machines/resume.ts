/**
 * Restoring a saved machine snapshot. A snapshot holds the lifecycle facts (attempts, session, last close, which
 * relays are usable); it cannot hold a socket or a timer. These pure functions turn a saved snapshot into one a
 * relay or pool can start from: the current settings replace the saved ones (settings are options, not facts),
 * and the connection actors are left out, so `RESUME` dials afresh and restarts the timers of the restored state.
 */
import type { Snapshot } from 'xstate';
import { InvalidOptionError } from '../core/errors.ts';
import type { RelayInput } from './relayMachine.ts';

/** The parts of a persisted machine snapshot these functions read. */
interface Persisted {
  status: string;
  value: unknown;
  context: Record<string, unknown>;
  children?: Record<string, unknown>;
  [key: string]: unknown;
}

function asPersisted(saved: unknown, what: string): Persisted {
  const s = saved as Partial<Persisted> | null;
  if (typeof s !== 'object' || s === null || typeof s.context !== 'object' || s.context === null || !('value' in s))
    throw new InvalidOptionError('snapshot', `expected a saved ${what} snapshot (actor.getPersistedSnapshot())`);
  if (s.status !== 'active')
    throw new InvalidOptionError('snapshot', `the saved ${what} had ${String(s.status)}; only a running one resumes`);
  return s as Persisted;
}

/**
 * A saved relay snapshot made ready to restore for the relay described by `input`: its id, URL and settings
 * replace the saved ones, and its connection is left out (`RESUME` dials again). Throws an `InvalidOptionError`
 * when it is not a running relay's snapshot, or is another relay's.
 *
 * @example
 * const saved = JSON.parse(JSON.stringify(relay.actor.getPersistedSnapshot()));
 * const ready = resumableRelaySnapshot(saved, { id: 'relay:ws://h', url: 'ws://h', config });
 */
export function resumableRelaySnapshot(saved: unknown, input: RelayInput): Snapshot<unknown> {
  const s = asPersisted(saved, 'relay');
  if (s.context.url !== input.url)
    throw new InvalidOptionError('snapshot', `it is the snapshot of relay ${String(s.context.url)}, not ${input.url}`);
  const ready: Persisted = { ...s, context: { ...s.context, ...input }, children: {} };
  // The machine checks the rest as it restores: XState's own snapshot shape, with our context.
  return ready as unknown as Snapshot<unknown>;
}
