/**
 * relay-actors for Node: resilient WebSocket relay connections as XState v5 actors, with RxJS telemetry.
 * This entry binds the Node defaults (`wsTransport()`, `jsonProtocol()`); `core.ts` has the platform-free API.
 */
import { createRelay as createCoreRelay, type Relay } from './machines/createRelay.ts';
import { createRelayPool as createCorePool, type RelayPool, type RelayPoolOptions } from './machines/createRelayPool.ts';
import type { RelayOptions } from './machines/options.ts';
import { jsonProtocol } from './adapters/jsonProtocol.ts';
import { wsTransport } from './adapters/wsTransport.ts';

export * from './core.ts';
export { wsTransport } from './adapters/wsTransport.ts';

/** Options of the Node `createRelay`: like the core's, with `transport` and `protocol` optional. */
export type NodeRelayOptions<Out = Record<string, unknown>, In = Record<string, unknown>> = Omit<RelayOptions<Out, In>, 'transport' | 'protocol'> &
  Partial<Pick<RelayOptions<Out, In>, 'transport' | 'protocol'>>;

/**
 * Creates one relay actor; transport defaults to `wsTransport()`, protocol to `jsonProtocol()`.
 *
 * @example
 * import { createRelay } from 'relay-actors';
 * const relay = createRelay('ws://127.0.0.1:7000').start();
 * await relay.waitFor('open');
 * await relay.send({ type: 'greet', text: 'hi' });
 * await relay.stop();
 */
export function createRelay<Out = Record<string, unknown>, In = Record<string, unknown>>(url: string, options: NodeRelayOptions<Out, In> = {}): Relay<Out, In> {
  return createCoreRelay<Out, In>(url, {
    ...options,
    transport: options.transport ?? wsTransport(),
    protocol: options.protocol ?? (jsonProtocol() as unknown as RelayOptions<Out, In>['protocol']),
  });
}

/** Options of the Node `createRelayPool`: like the core's, with `transport` and `protocol` optional. */
export type NodeRelayPoolOptions<Out = Record<string, unknown>, In = Record<string, unknown>, Req = unknown> = Omit<RelayPoolOptions<Out, In, Req>, 'transport' | 'protocol'> &
  Partial<Pick<RelayPoolOptions<Out, In, Req>, 'transport' | 'protocol'>>;

/**
 * Creates a relay pool; transport defaults to `wsTransport()`, protocol to `jsonProtocol()`.
 *
 * @example
 * import { createRelayPool } from 'relay-actors';
 * const pool = createRelayPool({ relays: ['ws://127.0.0.1:7000', 'ws://127.0.0.1:7001'] }).start();
 * pool.subscribe({ topic: 'news' }).subscribe((m) => console.log(m));
 * await pool.send({ type: 'post', topic: 'news', text: 'hi' });
 * await pool.stop();
 */
export function createRelayPool<Out = Record<string, unknown>, In = Record<string, unknown>, Req = unknown>(options: NodeRelayPoolOptions<Out, In, Req> = {}): RelayPool<Out, In, Req> {
  return createCorePool<Out, In, Req>({
    ...options,
    transport: options.transport ?? wsTransport(),
    protocol: options.protocol ?? (jsonProtocol() as unknown as RelayPoolOptions<Out, In, Req>['protocol']),
  });
}
