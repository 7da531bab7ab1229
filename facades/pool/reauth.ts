/**
 * The pool's one reauthentication: a relay refused something (a publish, a send, a subscription) asking for
 * authentication; answer its challenge, report how that went as a `reauth` event, then let the caller go on. Each
 * caller bounds its own tries (a send once, a subscription once per connection).
 */
import type { PoolEventInput } from './env.ts';
import type { Member } from './roster.ts';

/** What the caller does once authentication succeeded or failed (called after the `reauth` event). */
export interface AfterReauth {
  ok(): void;
  failed(error: unknown): void;
}

/**
 * Authenticates `m`'s connection because `reason` refused something, reports the outcome, then calls `after`.
 *
 * @example
 * reauthenticate(m, nack.reason, env, {
 *   ok: () => writeTo(p, m),
 *   failed: () => settle(p, nack),
 * });
 */
export function reauthenticate<Out, In>(
  m: Member<Out, In>,
  reason: string,
  env: { emit(event: PoolEventInput): void },
  after: AfterReauth,
): void {
  const url = m.rt.url;
  m.relay.authenticate().then(
    () => {
      env.emit({ type: 'reauth', url, reason, ok: true });
      after.ok();
    },
    (error: unknown) => {
      env.emit({ type: 'reauth', url, reason: String((error as Error)?.message ?? error), ok: false });
      after.failed(error);
    },
  );
}
