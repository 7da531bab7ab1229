/**
 * The ranking: each relay's health score, the primary (chosen with hysteresis), the best target for a write, and
 * the pool's `health$` samples. The primary is owned here; the data path reads it from here.
 */
import { Subject } from 'rxjs';
import { recentFlaps, successRatio } from '../../policies/health.ts';
import { scoreRelay, type RelayScore, type ScoreOptions } from '../../policies/score.ts';
import { choosePrimary, type PrimaryReason } from '../../policies/select.ts';
import type { PoolRelayHealth } from '../../core/telemetry.ts';
import type { PoolEnv } from './env.ts';
import type { Member, Roster } from './roster.ts';

/**
 * The score of a relay not connected yet.
 *
 * @example
 * idleScore(DEFAULT_SCORE).score; // 0: only open and degraded relays score above zero
 */
export function idleScore(options: ScoreOptions): RelayScore {
  return scoreRelay({ state: 'idle', rttEwmaMs: null, successRatio: 1, recentFlaps: 0 }, options);
}

/**
 * Scores, the primary and the targets of writes, over the roster's relays.
 *
 * @example
 * const ranking = new Ranking(env, roster, (demoted) => delivery.moveInflight(demoted));
 * const primaryId = ranking.rerank(changed); // after a state change or health sample of `changed`
 * ranking.pickTarget(); // the primary if usable, else the best usable relay
 */
export class Ranking<Out, In> {
  /** Every relay's state, score and its parts, RTT: on each change. */
  readonly health = new Subject<PoolRelayHealth>();
  private current: Member<Out, In> | null = null;

  constructor(
    private readonly env: PoolEnv<Out, In, unknown>,
    private readonly roster: Roster<Out, In>,
    /** A primary lost its place to another: its unacked messages follow the new one. */
    private readonly onDemoted: (previous: Member<Out, In>) => void,
  ) {}

  /** The relay traffic goes through, or null. */
  get primary(): Member<Out, In> | null {
    return this.current;
  }

  /** A relay leaves the pool: it is no longer the primary. */
  forget(m: Member<Out, In>): void {
    if (this.current === m) this.current = null;
  }

  /** Best usable relays, best first, excluding `exclude`. O(n log n); used on failover and publish only. */
  ranked(exclude?: Set<string>): Array<Member<Out, In>> {
    return [...this.roster.members()]
      .filter((m) => m.usable() && !exclude?.has(m.key))
      .sort((a, b) => b.score.score - a.score.score);
  }

  /** Where a write goes: the primary while it is usable and not excluded, else the best usable relay. */
  pickTarget(exclude?: Set<string>): Member<Out, In> | undefined {
    const primary = this.current;
    if (primary && primary.usable() && !exclude?.has(primary.key)) return primary;
    return this.ranked(exclude)[0];
  }

  /** Re-scores `changed` (or every relay) and re-picks the primary (with hysteresis); returns its id. */
  rerank(changed?: Member<Out, In>): string | null {
    if (this.env.halted) return this.current?.id ?? null;
    if (changed) this.rescore(changed);
    else for (const m of this.roster.members()) this.rescore(m);
    const previous = this.current;
    const choice = choosePrimary(previous?.key ?? null, this.roster.candidates, this.env.options.selection.margin);
    const next = choice.key === null ? null : (this.roster.get(choice.key) ?? null);
    if (next !== previous) this.failover(previous, next, choice.reason);
    if (changed && changed !== next && changed !== previous) this.publishHealth(changed);
    return next?.id ?? null;
  }

  /** Publishes `m`'s health sample, if anyone listens. */
  publishHealth(m: Member<Out, In>): void {
    if (!this.health.observed) return;
    const h = m.rt.health;
    const now = this.env.now();
    this.health.next({
      url: m.rt.url,
      state: m.rt.state,
      score: m.score.score,
      parts: m.score.parts,
      primary: this.current === m,
      rttMs: h.rttMs,
      rttEwmaMs: h.rttEwmaMs,
      missedPongs: h.missedPongs,
      successRatio: successRatio(h),
      recentFlaps: recentFlaps(h, now, this.env.options.score.flapWindowMs),
      at: now,
    });
  }

  private failover(previous: Member<Out, In> | null, next: Member<Out, In> | null, reason: PrimaryReason): void {
    this.current = next;
    this.env.emit({
      type: 'failover',
      url: null,
      from: previous?.rt.url ?? null,
      to: next?.rt.url ?? null,
      reason,
      scoreFrom: previous?.score.score ?? null,
      scoreTo: next?.score.score ?? null,
    });
    if (previous) {
      this.publishHealth(previous);
      // Unacked messages follow the primary, so the new one receives them before anything newer.
      if (next && this.env.options.selection.strategy === 'primary') this.onDemoted(previous);
    }
    if (next) this.publishHealth(next);
  }

  private rescore(m: Member<Out, In>): void {
    const h = m.rt.health;
    const options = this.env.options.score;
    m.score = scoreRelay(
      {
        state: m.removed ? 'closed' : m.rt.state,
        rttEwmaMs: h.rttEwmaMs,
        successRatio: successRatio(h),
        recentFlaps: recentFlaps(h, this.env.now(), options.flapWindowMs),
      },
      options,
    );
    m.candidate.score = m.score;
    m.candidate.usable = m.usable();
  }
}
