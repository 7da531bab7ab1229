/**
 * relay-actors for browsers and bundlers (the root entry under the `browser` and `default` export conditions):
 * the same API as the Node entry, with `createRelay` and `createRelayPool` defaulting the transport to the platform
 * `WebSocket` (`browserTransport()`), the network signal to the platform's `online`/`offline` events
 * (`browserNetwork()`) and the protocol to `jsonProtocol()`. Nothing here imports `ws` or a Node built-in.
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
import { browserNetwork, browserTransport } from './adapters/browserTransport.ts';

export * from './core.ts';
export type { DefaultedRelayOptions, DefaultedRelayPoolOptions } from './facades/platform.ts';

const BROWSER: PlatformDefaults = { transport: browserTransport, network: () => browserNetwork() };

/**
 * Creates one relay actor; transport defaults to `browserTransport()`, network to `browserNetwork()`, protocol to
 * `jsonProtocol()`.
 *
 * @example
 * import { createRelay } from 'relay-actors';
 * const relay = createRelay('wss://relay.example/ws').start();
 * await relay.waitFor('open');
 * await relay.send({ type: 'greet', text: 'hi' });
 * await relay.stop();
 */
export function createRelay<Out = Record<string, unknown>, In = Record<string, unknown>>(
  url: string,
  options: DefaultedRelayOptions<Out, In> = {},
): Relay<Out, In> {
  return createRelayOn(BROWSER, url, options);
}

/**
 * Creates a relay pool; transport defaults to `browserTransport()`, network to `browserNetwork()`, protocol to
 * `jsonProtocol()`.
 *
 * @example
 * import { createRelayPool } from 'relay-actors';
 * const pool = createRelayPool({ relays: ['wss://a.example/ws', 'wss://b.example/ws'] }).start();
 * pool.subscribe({ topic: 'news' }).subscribe((m) => console.log(m));
 * await pool.send({ type: 'post', topic: 'news', text: 'hi' });
 * await pool.stop();
 */
export function createRelayPool<Out = Record<string, unknown>, In = Record<string, unknown>, Req = unknown>(
  options: DefaultedRelayPoolOptions<Out, In, Req> = {},
): RelayPool<Out, In, Req> {
  return createRelayPoolOn(BROWSER, options);
}
