/**
 * Restoring a saved machine snapshot. A snapshot holds the lifecycle facts (attempts, session, last close, which
 * relays are usable); it cannot hold a socket or a timer. These pure functions turn a saved snapshot into one a
 * relay or pool can start from: the current settings replace the saved ones (settings are options, not facts),
 * and the connection actors are left out, so `RESUME` dials afresh and restarts the timers of the restored state.
 */
import type { Snapshot } from 'xstate';
import { InvalidOptionError } from '../core/errors.ts';
import type { PoolInput } from './poolMachine.ts';
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
  if (typeof s.context.url !== 'string')
    throw new InvalidOptionError('snapshot', 'expected a saved relay snapshot (its context has no URL)');
  if (s.context.url !== input.url)
    throw new InvalidOptionError('snapshot', `it is the snapshot of relay ${String(s.context.url)}, not ${input.url}`);
  return readyRelay(s, input);
}

/** The machine checks the rest as it restores: XState's own snapshot shape, with our context. */
function readyRelay(s: Persisted, input: RelayInput): Snapshot<unknown> {
  const ready: Persisted = { ...s, context: { ...s.context, ...input }, children: {} };
  return ready as unknown as Snapshot<unknown>;
}

/** What a pool's restore needs to know: its own settings and, by child id, each relay it has now. */
export interface PoolResumeInput {
  pool: PoolInput;
  /** The relays of the pool being built, by child id. */
  relays: ReadonlyMap<string, RelayInput>;
}

/**
 * A saved pool snapshot made ready to restore: the current settings replace the saved ones, and each relay child
 * is prepared as {@link resumableRelaySnapshot} does. Every relay of the snapshot must be among the pool's relays
 * (a snapshot holds redacted URLs only, so it cannot dial a relay the options do not name); throws an
 * `InvalidOptionError` otherwise, or when it is not a running pool's snapshot.
 *
 * @example
 * const saved = JSON.parse(JSON.stringify(pool.actor.getPersistedSnapshot()));
 * const ready = resumablePoolSnapshot(saved, { pool: { relayConfig, sessionTimeout: 60_000 }, relays });
 */
export function resumablePoolSnapshot(saved: unknown, input: PoolResumeInput): Snapshot<unknown> {
  const s = asPersisted(saved, 'pool');
  const ids = s.context.relays;
  if (!Array.isArray(ids) || !ids.every((id): id is string => typeof id === 'string'))
    throw new InvalidOptionError('snapshot', 'expected a saved pool snapshot (its context has no relay list)');
  const children: Record<string, unknown> = {};
  for (const id of ids) {
    const relay = input.relays.get(id);
    if (!relay) throw new InvalidOptionError('snapshot', `it holds ${id}, which is not among the pool's relays`);
    // A pool's relays are matched by id (the normalised URL), so a trailing slash of difference is the same relay.
    const child = asPersisted((s.children?.[id] as { snapshot?: unknown } | undefined)?.snapshot, 'relay');
    children[id] = { src: 'relay', systemId: id, syncSnapshot: false, snapshot: readyRelay(child, relay) };
  }
  const ready: Persisted = { ...s, context: { ...s.context, ...input.pool }, children };
  return ready as unknown as Snapshot<unknown>;
}
