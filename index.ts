/**
 * relay-actors for Node (the root entry under the `node` export condition): resilient WebSocket relay connections
 * as XState v5 actors, with RxJS telemetry. `createRelay` and `createRelayPool` default the transport to
 * `wsTransport()` and the protocol to `jsonProtocol()`. Bundlers and browsers get `browser.ts` instead: the same
 * exports minus `wsTransport`, with `createRelay` and `createRelayPool` defaulting the transport to
 * `browserTransport()` (the platform `WebSocket`) and the network signal to `browserNetwork()`. These docs show
 * the Node entry. `relay-actors/core` is the platform-free API.
 *
 * @module relay-actors
 */
import type { Relay } from './facades/createRelay.ts';
import type { RelayPool } from './facades/createRelayPool.ts';
import {
  createRelayOn,
  createRelayPoolOn,
  type DefaultedRelayOptions,
  type DefaultedRelayPoolOptions,
  type PlatformDefaults,
} from './facades/platform.ts';
import { wsTransport } from './adapters/wsTransport.ts';

export * from './core.ts';
export { wsTransport, type WsTransportOptions } from './adapters/wsTransport.ts';
export type { DefaultedRelayOptions, DefaultedRelayPoolOptions } from './facades/platform.ts';

const NODE: PlatformDefaults = { transport: wsTransport };

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
export function createRelay<Out = Record<string, unknown>, In = Record<string, unknown>>(
  url: string,
  options: DefaultedRelayOptions<Out, In> = {},
): Relay<Out, In> {
  return createRelayOn(NODE, url, options);
}

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
export function createRelayPool<Out = Record<string, unknown>, In = Record<string, unknown>, Req = unknown>(
  options: DefaultedRelayPoolOptions<Out, In, Req> = {},
): RelayPool<Out, In, Req> {
  return createRelayPoolOn(NODE, options);
}
