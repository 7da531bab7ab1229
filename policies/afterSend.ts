/**
 * What becomes of a pool's send after the relay it was written to answers it, or fails to: acked, nacked,
 * unanswered, or cut off by a lost connection. (A socket that throws on write is the write's own affair: it tries
 * the next relay at once.) A pure function of the outcome and a few facts about the send; the
 * delivery carries the decision out. The whole policy is the table in {@link decideAfter}.
 */
import type { RejectionAction } from '../core/contract.ts';

/** How the wait for the answer to one write of a pending send ended. */
export type WriteOutcome =
  /** The relay acked it, `latencyMs` after the write. */
  | { kind: 'acked'; latencyMs: number }
  /** The relay refused it; `action` is the protocol's reading of the reason (`classifyRejection`, default `retry`). */
  | { kind: 'nacked'; action: RejectionAction }
  /** No ack within `ackTimeout` (or the wait failed in another way). */
  | { kind: 'no-ack' }
  /** The connection ended before an answer: the message may or may not have arrived. */
  | { kind: 'connection-lost' };

/** What the decision reads of the send and the pool. */
export interface PendingFacts {
  /** The answer is to the send's latest write, and the send has not settled yet. */
  current: boolean;
  /** The pool is stopping. */
  halted: boolean;
  /** The send was already re-sent once after authenticating (a second `reauth` nack is final). */
  reauthTried: boolean;
  /** Its resend deadline (`outbox.ttl` after it was first sent) lies ahead. */
  withinTtl: boolean;
  /** An ack slower than this (the heartbeat's `degradedRtt`, ms) counts against the relay. */
  slowAfterMs: number;
}

/**
 * What the delivery does with the send:
 * - `ignore`: a late answer to an older write, or the send has settled.
 * - `settle-ok` / `settle-error`: resolve, or reject with the outcome's error.
 * - `settle-stopped`: reject with `StoppedError`.
 * - `resend-elsewhere`: this relay is excluded for this send; write it to the best other usable relay, or reject
 *   with the outcome's error when none is left.
 * - `requeue`: back through dispatch as an accepted send: the best relay now, or the front of the outbox.
 * - `reauth-then-retry`: authenticate on this relay, then write it there again (or dispatch it if the relay went).
 */
export type DecisionKind =
  'ignore' | 'settle-ok' | 'settle-error' | 'settle-stopped' | 'resend-elsewhere' | 'requeue' | 'reauth-then-retry';

/**
 * What the relay's health records: nothing, a success, a failure, or a failure that also re-ranks at once (the relay
 * is failing its callers: a slow ack, no ack).
 */
export type HealthNote = 'none' | 'success' | 'failure' | 'failure-rerank';

/** The decision: what to do with the send, what the relay's health records, and whether to announce a resend. */
export interface Decision {
  readonly kind: DecisionKind;
  readonly health: HealthNote;
  /** Tell listeners the send moved (a `resent` event): for a resend after an ack timeout. */
  readonly announce: boolean;
}

const decision = (kind: DecisionKind, health: HealthNote, announce = false): Decision =>
  Object.freeze({ kind, health, announce });

// One frozen object per row: deciding allocates nothing.
const IGNORE = decision('ignore', 'none');
const ACKED = decision('settle-ok', 'success');
const ACKED_SLOWLY = decision('settle-ok', 'failure-rerank');
const STOPPED = decision('settle-stopped', 'none');
const REQUEUE = decision('requeue', 'none');
const NACK_OK = decision('settle-ok', 'failure');
const NACK_FATAL = decision('settle-error', 'failure');
const NACK_REAUTH = decision('reauth-then-retry', 'failure');
const NACK_RETRY = decision('resend-elsewhere', 'failure');
const NO_ACK_RESEND = decision('resend-elsewhere', 'failure-rerank', true);
const NO_ACK_EXPIRED = decision('settle-error', 'failure-rerank');

/**
 * Decides what becomes of a send after the wait for the answer to one write of it ended. Rows, first match wins:
 *
 * | outcome         | facts                 | kind              | health         | announce |
 * |-----------------|-----------------------|-------------------|----------------|----------|
 * | any             | not current           | ignore            | none           |          |
 * | acked           | latency ≤ slowAfterMs | settle-ok         | success        |          |
 * | acked           | latency > slowAfterMs | settle-ok         | failure-rerank |          |
 * | not acked       | halted                | settle-stopped    | none           |          |
 * | connection-lost |                       | requeue           | none           |          |
 * | nacked `ok`     |                       | settle-ok         | failure        |          |
 * | nacked `fatal`  |                       | settle-error      | failure        |          |
 * | nacked `reauth` | not reauthTried       | reauth-then-retry | failure        |          |
 * | nacked `reauth` | reauthTried           | settle-error      | failure        |          |
 * | nacked `retry`  |                       | resend-elsewhere  | failure        |          |
 * | no-ack          | withinTtl             | resend-elsewhere  | failure-rerank | yes      |
 * | no-ack          | past its ttl          | settle-error      | failure-rerank |          |
 *
 * @example
 * decideAfter({ kind: 'acked', latencyMs: 40 }, { current: true, halted: false, reauthTried: false, withinTtl: true, slowAfterMs: 2000 });
 * // { kind: 'settle-ok', health: 'success', announce: false }
 * decideAfter({ kind: 'no-ack' }, { current: true, halted: false, reauthTried: false, withinTtl: true, slowAfterMs: 2000 });
 * // { kind: 'resend-elsewhere', health: 'failure-rerank', announce: true }
 */
export function decideAfter(outcome: WriteOutcome, facts: PendingFacts): Decision {
  if (!facts.current) return IGNORE;
  if (outcome.kind === 'acked') return outcome.latencyMs > facts.slowAfterMs ? ACKED_SLOWLY : ACKED;
  if (facts.halted) return STOPPED;
  switch (outcome.kind) {
    case 'connection-lost':
      return REQUEUE;
    case 'nacked':
      return afterNack(outcome.action, facts);
    case 'no-ack':
      return facts.withinTtl ? NO_ACK_RESEND : NO_ACK_EXPIRED;
  }
}

function afterNack(action: RejectionAction, facts: PendingFacts): Decision {
  switch (action) {
    case 'ok':
      return NACK_OK;
    case 'fatal':
      return NACK_FATAL;
    case 'reauth':
      return facts.reauthTried ? NACK_FATAL : NACK_REAUTH;
    default:
      // `retry`, and whatever else a classifier may answer: the default reading of a rejection.
      return NACK_RETRY;
  }
}
