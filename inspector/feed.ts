/**
 * The inspector's model of what it watches: every machine actor (coordinator and relays) with its current state,
 * a bounded transition log with reasons, and per-relay health with short histories for sparklines. It is fed by
 * XState's inspection events (`@xstate.actor`, `@xstate.snapshot`) and, for pools and relays, by their `health$`
 * and `events$` telemetry; it never polls. Everything it emits is plain JSON with secrets redacted.
 */
import type { Observable, Subscription } from 'rxjs';
import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';
import type { ClassifierVerdict, DisconnectInfo } from '../core/contract.ts';
import type { Relay } from '../facades/createRelay.ts';
import type { RelayPool } from '../facades/createRelayPool.ts';
import { redactUrl } from '../runtime/options.ts';
import type { HealthSample, PoolEvent, PoolRelayHealth, RelayEvent } from '../core/telemetry.ts';
import { causeOf, explain } from '../core/why.ts';
import { machineGraph, type MachineGraph } from './graph.ts';

/** What the inspector can watch: a pool, a relay, or any XState actor. */
export type InspectTarget = RelayPool<unknown, unknown, unknown> | Relay<unknown, unknown> | AnyActorRef;

/** One machine actor as the page shows it. */
export interface ActorView {
  /** Stable id: the actor's `systemId` (`pool`, `relay:ws://…/`) or, failing that, its id. */
  id: string;
  /** Id of the machine graph it runs (`relay`, `pool`, …). */
  machine: string;
  /** Display name: the redacted URL for a relay. */
  label: string;
  /** Stable id of the parent actor, if it is inspected too. */
  parent: string | null;
  value: unknown;
  status: 'active' | 'done' | 'error' | 'stopped';
  /** The serialisable part of its context (no runtimes, URLs redacted). */
  context: Record<string, unknown>;
  /** Why its last connection ended, worded by `explain()` (relays); null when none has ended yet. */
  why: string | null;
}

/** One line of the transition log. */
export interface LogEntry {
  seq: number;
  /** Wall-clock time, ms since the epoch. */
  at: number;
  actor: string;
  event: string;
  /** State before and after, as dotted paths (`live.open`); equal for pool-level notes. */
  from: string;
  to: string;
  /** Why: the `explain()` line of a lost connection, missed pongs, backoff delay, failover scores. */
  reason: string | null;
  /** For a lost connection: the `explain()` wording of its cause and verdict (the start of `reason`); else null. */
  why: string | null;
}

/** Health of one relay, with short histories. */
export interface HealthView {
  actor: string;
  url: string;
  state: string;
  score: number | null;
  parts: PoolRelayHealth['parts'] | null;
  primary: boolean;
  rttMs: number | null;
  attempts: number;
  /** Oldest first, at most `SERIES_LENGTH` points each. */
  series: { score: number[]; rtt: Array<number | null>; attempts: number[] };
}

/** Messages from the server to the page. */
export type FeedMessage =
  | {
      type: 'init';
      title: string;
      machines: Record<string, MachineGraph>;
      actors: ActorView[];
      log: LogEntry[];
      health: HealthView[];
      primary: string | null;
      pool: string | null;
    }
  | { type: 'batch'; items: FeedItem[] };

/** One live update. */
export type FeedItem =
  | { type: 'machine'; graph: MachineGraph }
  | { type: 'actor'; actor: ActorView }
  | {
      type: 'state';
      actor: string;
      value: unknown;
      status: ActorView['status'];
      context: Record<string, unknown>;
      why: string | null;
    }
  | { type: 'log'; entry: LogEntry }
  /** `point`: whether this sample adds a point to the relay's sparklines or updates the last one (see SERIES_STEP_MS). */
  | { type: 'health'; health: Omit<HealthView, 'series'>; point: 'new' | 'last' }
  | { type: 'primary'; primary: string | null }
  /** The actor left (a relay removed from its pool): the page drops its card. */
  | { type: 'gone'; actor: string };

/** Points kept per sparkline. */
export const SERIES_LENGTH = 60;
/** Health samples of one relay closer together than this update the last point instead of adding one. */
const SERIES_STEP_MS = 250;

interface ActorRecord {
  view: ActorView;
  ref: AnyActorRef;
}

/**
 * A JSON-safe copy of a plain record: numbers, booleans and null as they are; strings with URLs redacted and cut at
 * 200 characters; arrays of those; plain objects `depth` levels deep. Anything else (functions, class instances,
 * deeper objects) is dropped. Every context and event an inspector shows goes through it.
 *
 * @example
 * plainRecord({ n: 1, url: 'wss://u:p@h/', fn: () => 1, info: { code: 1006, deep: { x: 1 } } }, 1);
 * // { n: 1, url: 'wss://***@h/', info: { code: 1006 } }
 */
export function plainRecord(record: unknown, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isPlainObject(record)) return out;
  for (const [key, value] of Object.entries(record)) {
    const copy = plainValue(value, depth);
    if (copy !== undefined) out[key] = copy;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function plainValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return redactString(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  if (Array.isArray(value)) {
    const items = value.map((v) => (typeof v === 'object' && v !== null ? undefined : plainValue(v, 0)));
    return items.every((v) => v !== undefined) ? items : undefined;
  }
  return depth > 0 && isPlainObject(value) ? plainRecord(value, depth - 1) : undefined;
}

/**
 * The serialisable part of a machine context (contexts are plain data; this redacts URLs and keeps it bounded):
 * {@link plainRecord} two levels deep.
 *
 * @example
 * sanitizeContext('relay', relay.actor.getSnapshot().context); // { url: 'wss://***@relay.example', attempt: 1, lastClose: {...}, ... }
 * sanitizeContext('my-machine', { count: 2, token: 'see wss://u:p@h/?k=v', user: { id: 1 } }); // { count: 2, token: 'see wss://***@h/?k=***', user: { id: 1 } }
 */
export function sanitizeContext(_machine: string, context: unknown): Record<string, unknown> {
  return plainRecord(context, 2);
}

/**
 * Redacts anything URL-shaped (`ws`, `wss`, `http`, `https`) inside a string: credentials and query values.
 *
 * @example
 * redactString('dial wss://user:pw@relay.example/?token=abc failed') // 'dial wss://***@relay.example/?token=*** failed'
 */
export function redactString(text: string): string {
  return text.replace(/\b(?:wss?|https?):\/\/[^\s"'<>]+/g, (url) => {
    try {
      return redactUrl(url);
    } catch {
      return url;
    }
  });
}

/**
 * The state value as a dotted path: `{ live: 'open' }` → `live.open`.
 *
 * @example
 * valuePath({ live: 'open' }) // 'live.open'
 * valuePath('idle')           // 'idle'
 */
export function valuePath(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => {
        const rest = valuePath(v);
        return rest ? `${k}.${rest}` : k;
      })
      .join(', ');
  }
  return '';
}

/**
 * Why a transition happened, from the event that caused it and the context it led to (the inspector's log
 * line); null when there is nothing to say.
 *
 * @example
 * transitionReason({ type: 'PONG_TIMEOUT', missed: 2 }, {}, 'live.degraded') // 'missed pongs 2'
 * transitionReason(
 *   { type: 'CONNECTION_LOST', info: { code: 1006 }, verdict: { action: 'retry', reason: 'close 1006' } },
 *   { retryDelayMs: 1000, attempt: 1 },
 *   'reconnecting',
 * ); // 'close 1006 (no close frame); retrying · retry in 1000 ms (attempt 1)'
 */
export function transitionReason(
  event: Record<string, unknown>,
  context: Record<string, unknown>,
  to: string,
): string | null {
  const parts: string[] = [];
  switch (event.type) {
    case 'CONNECTION_LOST': {
      const why = lossWhy(event.info, event.verdict);
      if (why) parts.push(why);
      break;
    }
    case 'PONG_TIMEOUT':
      parts.push(`missed pongs ${String(event.missed)}`);
      break;
    case 'RTT_HIGH':
      parts.push(`rtt ${Math.round(Number(event.rttMs))} ms`);
      break;
    case 'HEARTBEAT_OFF':
      parts.push(`heartbeat off: ${String(event.reason)}`);
      break;
    case 'STALE':
      parts.push(`silent ${String(event.silentMs)} ms`);
      break;
    case 'WAKE':
      if (typeof event.sleptMs === 'number') parts.push(`slept ${Math.round(event.sleptMs)} ms`);
      break;
  }
  if (to.startsWith('reconnecting') && typeof context.retryDelayMs === 'number')
    parts.push(`retry in ${Math.round(context.retryDelayMs)} ms (attempt ${String(context.attempt)})`);
  if (to.startsWith('failed') && typeof context.failure === 'string') parts.push(context.failure);
  return parts.length ? parts.join(' · ') : null;
}

/**
 * The `explain()` wording of a loss, from a `CONNECTION_LOST` event's `info` and `verdict` or a relay's
 * `lastClose` (which is both), as they arrive here: plain data, possibly partial; URLs redacted. Null when there
 * is no loss to word.
 */
function lossWhy(info: unknown, verdict: unknown): string | null {
  if (!info || typeof info !== 'object' || !verdict || typeof verdict !== 'object') return null;
  const i = info as Partial<DisconnectInfo>;
  const v = verdict as Partial<ClassifierVerdict>;
  if (typeof i.code !== 'number' || typeof v.action !== 'string') return null;
  const cause = causeOf({ ...i, code: i.code, reason: i.reason ?? '', wasClean: i.wasClean ?? false });
  return redactString(explain(cause, { ...v, action: v.action, reason: v.reason ?? '' }));
}

/** A relay's last loss worded from its context (`lastClose`), for actors whose loss the feed did not see happen. */
function lastCloseWhy(context: unknown): string | null {
  const last = (context as { lastClose?: { verdict?: unknown } | null } | null | undefined)?.lastClose;
  return last && typeof last === 'object' ? lossWhy(last, last.verdict) : null;
}

/**
 * The actor's snapshot, or undefined while it cannot be read: `@xstate.actor` is reported while the actor
 * initialises itself, when `getSnapshot()` throws.
 */
export function safeSnapshot(ref: AnyActorRef): unknown {
  try {
    return ref.getSnapshot();
  } catch {
    return undefined;
  }
}

function isPool(target: InspectTarget): target is RelayPool<unknown, unknown, unknown> {
  return typeof (target as RelayPool).addRelay === 'function' && 'inspection$' in target;
}

function isRelay(target: InspectTarget): target is Relay<unknown, unknown> {
  return 'inspection$' in target && 'health$' in target && !isPool(target);
}

function stableId(ref: AnyActorRef): string {
  return (ref as { systemId?: string }).systemId ?? ref.id;
}

/** The state machine an actor runs, or undefined for other logic (callbacks, promises). */
export function machineOf(ref: AnyActorRef): AnyStateMachine | undefined {
  const logic = (ref as { logic?: unknown }).logic as { root?: unknown; id?: string } | undefined;
  return logic && logic.root && typeof logic.id === 'string' ? (logic as unknown as AnyStateMachine) : undefined;
}

/**
 * Keeps the current picture of a target (pool, relay or any actor) and reports every change as a `FeedItem`:
 * what {@link serveInspector} streams to its page. Create it and `attach()`, send `init()` to a new page, listen
 * with `onItem`, and `detach()` when done. `logSize` bounds the kept log, `title` names the page.
 *
 * @example
 * import { InspectorFeed } from 'relay-actors/inspector';
 * const feed = new InspectorFeed(pool, { logSize: 500, title: 'my pool' }).attach();
 * page.send(JSON.stringify(feed.init()));                              // the whole picture first
 * const off = feed.onItem((item) => page.send(JSON.stringify(item))); // then every change
 * // …
 * off();
 * feed.detach();
 */
export class InspectorFeed {
  private readonly actors = new Map<AnyActorRef, ActorRecord>();
  private readonly gone = new WeakSet<AnyActorRef>();
  private readonly byId = new Map<string, ActorRecord>();
  /** Redacted relay URL (as telemetry names it) → actor id: health samples look it up on every pong. */
  private readonly idByUrl = new Map<string, string>();
  private readonly machines = new Map<string, MachineGraph>();
  private readonly health = new Map<string, HealthView>();
  private readonly log: LogEntry[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly listeners = new Set<(item: FeedItem) => void>();
  private seq = 0;
  private primary: string | null = null;
  private poolId: string | null = null;
  private lastSample = new Map<string, number>();

  constructor(
    private readonly target: InspectTarget,
    private readonly options: { logSize: number; title: string },
  ) {}

  /** Starts listening to the target and takes its current picture. */
  attach(): this {
    const target = this.target;
    let inspection$: Observable<InspectionEvent> | undefined;
    let root: AnyActorRef;
    if (isPool(target) || isRelay(target)) {
      inspection$ = target.inspection$;
      root = target.actor as AnyActorRef;
    } else {
      root = target;
    }
    if (inspection$) this.subscriptions.push(inspection$.subscribe((e) => this.onInspection(e)));
    else {
      const sub = root.system.inspect((e: InspectionEvent) => this.onInspection(e));
      this.subscriptions.push({ unsubscribe: () => sub.unsubscribe() } as Subscription);
    }
    this.discover(root, null);
    if (isPool(target)) {
      this.poolId = stableId(root);
      this.subscriptions.push(target.health$.subscribe((h) => this.onHealth(h)));
      this.subscriptions.push(target.events$.subscribe((e) => this.onPoolEvent(e)));
      for (const r of target.status().relays) this.onHealth({ ...r, recentFlaps: r.flaps, at: Date.now() });
    } else if (isRelay(target)) {
      this.subscriptions.push(target.health$.subscribe((h) => this.onHealth(h)));
      this.subscriptions.push(target.events$.subscribe((e) => this.onPoolEvent(e)));
      const s = target.status();
      this.onHealth({ ...s, at: Date.now() });
    }
    return this;
  }

  /** Stops listening. */
  detach(): void {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
    this.listeners.clear();
  }

  /** Calls `listener` with every change from now on; returns the detacher. */
  onItem(listener: (item: FeedItem) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The whole current picture: what a new page gets first. */
  init(): Extract<FeedMessage, { type: 'init' }> {
    return {
      type: 'init',
      title: this.options.title,
      machines: Object.fromEntries(this.machines),
      actors: [...this.byId.values()].map((r) => r.view),
      log: [...this.log],
      health: [...this.health.values()].map((h) => ({
        ...h,
        series: { score: [...h.series.score], rtt: [...h.series.rtt], attempts: [...h.series.attempts] },
      })),
      primary: this.primary,
      pool: this.poolId,
    };
  }

  private emit(item: FeedItem): void {
    for (const listener of this.listeners) listener(item);
  }

  /** Registers an actor and its machine children, recursively (for targets created before the inspector). */
  private discover(ref: AnyActorRef, parent: string | null): void {
    this.register(ref, parent);
    const snapshot = safeSnapshot(ref) as { children?: Record<string, AnyActorRef> } | undefined;
    for (const child of Object.values(snapshot?.children ?? {})) if (child) this.discover(child, stableId(ref));
  }

  private register(ref: AnyActorRef, parent: string | null): ActorRecord | undefined {
    const existing = this.actors.get(ref);
    if (existing) return existing;
    const machine = machineOf(ref);
    if (!machine) return undefined;
    if (!this.machines.has(machine.id)) {
      const graph = machineGraph(machine);
      this.machines.set(machine.id, graph);
      this.emit({ type: 'machine', graph });
    }
    const snapshot = safeSnapshot(ref) as { value?: unknown; status?: string; context?: unknown } | undefined;
    const context = sanitizeContext(machine.id, snapshot?.context);
    const id = stableId(ref);
    const view: ActorView = {
      id,
      machine: machine.id,
      label: typeof context.url === 'string' ? context.url : id,
      parent,
      value: snapshot?.value ?? null,
      status: (snapshot?.status as ActorView['status']) ?? 'active',
      context,
      why: lastCloseWhy(snapshot?.context),
    };
    const record = { view, ref };
    const previous = this.byId.get(id);
    if (previous) {
      // A relay re-added under the same id: the old actor's late snapshots must not overwrite the new one.
      this.actors.delete(previous.ref);
      this.gone.add(previous.ref);
    }
    this.actors.set(ref, record);
    this.byId.set(id, record);
    if (machine.id === 'relay' && typeof context.url === 'string') this.idByUrl.set(context.url, id);
    if (machine.id === 'pool' && !this.poolId && parent === null) this.poolId = id;
    this.emit({ type: 'actor', actor: view });
    return record;
  }

  /** The inspection observer: runs inside XState's event processing, so it must never throw into it. */
  private onInspection(event: InspectionEvent): void {
    try {
      this.inspect(event);
    } catch (error) {
      this.errors++;
      if (this.errors === 1)
        queueMicrotask(() =>
          console.warn(`relay-actors inspector: an inspection event could not be read (${String(error)})`),
        );
    }
  }

  /** Inspection events that could not be read (the first is also logged). */
  errors = 0;

  private inspect(event: InspectionEvent): void {
    if (event.type === '@xstate.actor') {
      const parentRef = (event.actorRef as { _parent?: AnyActorRef })._parent;
      const parent = parentRef ? (this.actors.get(parentRef)?.view.id ?? null) : null;
      this.register(event.actorRef as AnyActorRef, parent);
      return;
    }
    if (event.type !== '@xstate.snapshot') return;
    const ref = event.actorRef as AnyActorRef;
    const snapshot = event.snapshot as { value?: unknown; status?: string; context?: unknown };
    // A late snapshot of an actor that already left (removed relay) must not bring it back.
    const record = this.actors.get(ref) ?? (this.gone.has(ref) ? undefined : this.register(ref, null));
    if (!record) return;
    const view = record.view;
    const from = valuePath(view.value);
    const to = valuePath(snapshot.value);
    const context = sanitizeContext(view.machine, snapshot.context);
    const status = (snapshot.status as ActorView['status']) ?? 'active';
    const changed = from !== to || status !== view.status;
    view.value = snapshot.value ?? null;
    view.status = status;
    view.context = context;
    if (view.machine === 'relay' && typeof context.url === 'string') this.idByUrl.set(context.url, view.id);
    if (view.label === view.id && typeof context.url === 'string') view.label = context.url;
    if (view.machine === 'pool' && 'primary' in context) this.setPrimary((context.primary as string | null) ?? null);
    const ev = (event.event ?? {}) as Record<string, unknown>;
    const eventType = typeof ev.type === 'string' ? ev.type : '';
    // The event carries the whole record of a loss (the context keeps less of it): word it from there when seen.
    const why = eventType === 'CONNECTION_LOST' ? lossWhy(ev.info, ev.verdict) : null;
    view.why = why ?? view.why ?? lastCloseWhy(snapshot.context);
    this.emit({ type: 'state', actor: view.id, value: view.value, status, context, why: view.why });
    if (!changed) return;
    this.addLog(view.id, eventType, from, to, transitionReason(ev, context, to), why);
  }

  private setPrimary(primary: string | null): void {
    if (primary === this.primary) return;
    this.primary = primary;
    this.emit({ type: 'primary', primary });
  }

  private addLog(
    actor: string,
    event: string,
    from: string,
    to: string,
    reason: string | null,
    why: string | null = null,
  ): void {
    const entry: LogEntry = { seq: ++this.seq, at: Date.now(), actor, event: eventLabel(event), from, to, reason, why };
    this.log.push(entry);
    if (this.log.length > this.options.logSize) this.log.splice(0, this.log.length - this.options.logSize);
    this.emit({ type: 'log', entry });
  }

  private actorIdForUrl(url: string): string {
    return this.idByUrl.get(url) ?? `relay:${url}`;
  }

  private onHealth(h: HealthSample | PoolRelayHealth): void {
    const actor = this.actorIdForUrl(h.url);
    const pool = 'score' in h ? h : null;
    const attemptsRaw = this.byId.get(actor)?.view.context.attempt;
    const attempts = typeof attemptsRaw === 'number' ? attemptsRaw : 0;
    let view = this.health.get(actor);
    if (!view) {
      view = {
        actor,
        url: h.url,
        state: h.state,
        score: null,
        parts: null,
        primary: false,
        rttMs: null,
        attempts: 0,
        series: { score: [], rtt: [], attempts: [] },
      };
      this.health.set(actor, view);
    }
    view.state = h.state;
    view.score = pool ? Math.round(pool.score * 1000) / 1000 : null;
    view.parts = pool ? pool.parts : null;
    view.primary = pool ? pool.primary : false;
    view.rttMs = h.rttEwmaMs ?? h.rttMs;
    view.attempts = attempts;
    const now = Date.now();
    const last = this.lastSample.get(actor) ?? -Infinity;
    const s = view.series;
    const point = now - last < SERIES_STEP_MS && s.score.length > 0 ? 'last' : 'new';
    if (point === 'last') {
      s.score[s.score.length - 1] = view.score ?? 0;
      s.rtt[s.rtt.length - 1] = view.rttMs;
      s.attempts[s.attempts.length - 1] = attempts;
    } else {
      this.lastSample.set(actor, now);
      s.score.push(view.score ?? 0);
      s.rtt.push(view.rttMs);
      s.attempts.push(attempts);
      if (s.score.length > SERIES_LENGTH) {
        s.score.shift();
        s.rtt.shift();
        s.attempts.shift();
      }
    }
    const { series: _series, ...rest } = view;
    this.emit({ type: 'health', health: rest, point });
  }

  private onPoolEvent(e: PoolEvent | RelayEvent): void {
    switch (e.type) {
      case 'failover':
        this.addLog(
          this.poolId ?? 'pool',
          'failover',
          e.from ?? '—',
          e.to ?? '—',
          `${e.reason}${e.scoreFrom !== null || e.scoreTo !== null ? ` · score ${fmt(e.scoreFrom)} → ${fmt(e.scoreTo)}` : ''}`,
        );
        break;
      case 'outbox-overflow':
        this.addLog(
          this.poolId ?? 'pool',
          'outbox-overflow',
          '',
          '',
          `limit ${e.limit}: ${e.size} messages, ${e.bytes} bytes`,
        );
        break;
      case 'session-expired':
        this.addLog(this.poolId ?? 'pool', 'session-expired', '', '', `${e.rejected} pending rejected`);
        break;
      case 'relay-removed': {
        const id = this.actorIdForUrl(e.relay);
        const record = this.byId.get(id);
        // Removal is reported once the old actor has stopped; by then the same URL may have been added again
        // (removeRelay not awaited), and this id is the new, live relay's: keep it.
        if (record && (safeSnapshot(record.ref) as { status?: string } | undefined)?.status === 'active') break;
        if (record) {
          this.byId.delete(id);
          this.idByUrl.delete(e.relay);
          this.actors.delete(record.ref);
          this.gone.add(record.ref);
        }
        this.health.delete(id);
        this.lastSample.delete(id);
        this.emit({ type: 'gone', actor: id });
        break;
      }
      case 'heartbeat-off':
        this.addLog(this.actorIdForUrl(e.url), 'heartbeat-off', '', '', e.reason);
        break;
      case 'reauth':
        this.addLog(this.actorIdForUrl(e.url), 'reauth', '', '', `${e.reason}: ${e.ok ? 'ok' : 'failed'}`);
        break;
    }
  }
}

/** `xstate.after.RECONNECT_DELAY.relay.reconnecting` → `after RECONNECT_DELAY`; other names redacted as they are. */
export function eventLabel(type: string): string {
  const delayed = /^xstate\.after\.([^.]+)\./.exec(type);
  if (delayed) return `after ${delayed[1]}`;
  return redactString(type);
}

function fmt(n: number | null): string {
  return n === null ? '—' : n.toFixed(2);
}
