/**
 * The pool's decision after the answer to a write (machines/pool/decision.ts), row by row: a pure function, so a
 * table and no sockets.
 */
import { describe, expect, it } from 'vitest';
import {
  decideAfter,
  type DecisionKind,
  type HealthNote,
  type PendingFacts,
  type WriteOutcome,
} from '../policies/afterSend.ts';

/** A current send, pool running, no reauth yet, within its ttl; acks slower than 2 s count against the relay. */
const facts = (over: Partial<PendingFacts> = {}): PendingFacts => ({
  current: true,
  halted: false,
  reauthTried: false,
  withinTtl: true,
  slowAfterMs: 2000,
  ...over,
});

const rows: Array<[string, WriteOutcome, PendingFacts, DecisionKind, HealthNote, boolean]> = [
  ['ack in time', { kind: 'acked', latencyMs: 40 }, facts(), 'settle-ok', 'success', false],
  ['ack exactly at degradedRtt', { kind: 'acked', latencyMs: 2000 }, facts(), 'settle-ok', 'success', false],
  ['slow ack', { kind: 'acked', latencyMs: 2001 }, facts(), 'settle-ok', 'failure-rerank', false],
  [
    'ack while the pool halts',
    { kind: 'acked', latencyMs: 40 },
    facts({ halted: true }),
    'settle-ok',
    'success',
    false,
  ],
  ['nack ok (duplicate)', { kind: 'nacked', action: 'ok' }, facts(), 'settle-ok', 'failure', false],
  ['nack fatal', { kind: 'nacked', action: 'fatal' }, facts(), 'settle-error', 'failure', false],
  ['nack retry', { kind: 'nacked', action: 'retry' }, facts(), 'resend-elsewhere', 'failure', false],
  [
    'nack retry past the ttl',
    { kind: 'nacked', action: 'retry' },
    facts({ withinTtl: false }),
    'resend-elsewhere',
    'failure',
    false,
  ],
  ['nack reauth, first time', { kind: 'nacked', action: 'reauth' }, facts(), 'reauth-then-retry', 'failure', false],
  [
    'nack reauth, second time',
    { kind: 'nacked', action: 'reauth' },
    facts({ reauthTried: true }),
    'settle-error',
    'failure',
    false,
  ],
  ['ack timeout within ttl', { kind: 'no-ack' }, facts(), 'resend-elsewhere', 'failure-rerank', true],
  ['ack timeout after ttl', { kind: 'no-ack' }, facts({ withinTtl: false }), 'settle-error', 'failure-rerank', false],
  ['connection lost', { kind: 'connection-lost' }, facts(), 'requeue', 'none', false],
  ['connection lost past the ttl', { kind: 'connection-lost' }, facts({ withinTtl: false }), 'requeue', 'none', false],
  ['pool halted: nack', { kind: 'nacked', action: 'retry' }, facts({ halted: true }), 'settle-stopped', 'none', false],
  ['pool halted: ack timeout', { kind: 'no-ack' }, facts({ halted: true }), 'settle-stopped', 'none', false],
  [
    'pool halted: connection lost',
    { kind: 'connection-lost' },
    facts({ halted: true }),
    'settle-stopped',
    'none',
    false,
  ],
  ['stale answer: ack', { kind: 'acked', latencyMs: 40 }, facts({ current: false }), 'ignore', 'none', false],
  ['stale answer: nack', { kind: 'nacked', action: 'fatal' }, facts({ current: false }), 'ignore', 'none', false],
  ['stale answer: ack timeout', { kind: 'no-ack' }, facts({ current: false }), 'ignore', 'none', false],
  [
    'stale answer while halted',
    { kind: 'connection-lost' },
    facts({ current: false, halted: true }),
    'ignore',
    'none',
    false,
  ],
];

describe('decideAfter: what becomes of a pool send after the answer to one write', () => {
  it.each(rows)('%s', (_name, outcome, pending, kind, health, announce) => {
    expect(decideAfter(outcome, pending)).toEqual({ kind, health, announce });
  });

  it('an unknown rejection reading is read as retry, the default', () => {
    const outcome = { kind: 'nacked', action: 'whatever' } as unknown as WriteOutcome;
    expect(decideAfter(outcome, facts()).kind).toBe('resend-elsewhere');
  });

  it('decides without allocating: the same row gives the same frozen object', () => {
    const a = decideAfter({ kind: 'no-ack' }, facts());
    expect(decideAfter({ kind: 'no-ack' }, facts())).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });
});
