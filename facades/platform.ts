/**
 * What the root entry binds for a platform: the entries (`index.ts` for Node, `browser.ts` for browsers and
 * bundlers) fill in the transport, the network signal and `jsonProtocol()` where the caller left them out, so
 * `import { createRelayPool } from 'relay-actors'` is right on either platform without choosing an entry.
 */
import { createRelay as createCoreRelay, type Relay } from './createRelay.ts';
import { createRelayPool as createCorePool, type RelayPool, type RelayPoolOptions } from './createRelayPool.ts';
import type { NetworkSignal, RelayOptions } from '../runtime/options.ts';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import type { Transport } from '../core/contract.ts';

/** The platform pieces an entry binds: a transport factory and, where the platform has one, a network signal. */
export interface PlatformDefaults {
  transport: () => Transport;
  network?: () => NetworkSignal;
}

/** Options of the root entry's `createRelay`: the core's, with `transport` and `protocol` optional. */
export type DefaultedRelayOptions<Out = Record<string, unknown>, In = Record<string, unknown>> = Omit<
  RelayOptions<Out, In>,
  'transport' | 'protocol'
> &
  Partial<Pick<RelayOptions<Out, In>, 'transport' | 'protocol'>>;

/** Options of the root entry's `createRelayPool`: the core's, with `transport` and `protocol` optional. */
export type DefaultedRelayPoolOptions<
  Out = Record<string, unknown>,
  In = Record<string, unknown>,
  Req = unknown,
> = Omit<RelayPoolOptions<Out, In, Req>, 'transport' | 'protocol'> &
  Partial<Pick<RelayPoolOptions<Out, In, Req>, 'transport' | 'protocol'>>;

/** The caller's options with the platform's transport and network and `jsonProtocol()` where they were left out. */
function withDefaults<
  T extends { transport?: Transport | undefined; protocol?: unknown; network?: NetworkSignal | undefined },
>(platform: PlatformDefaults, options: T) {
  return {
    ...options,
    transport: options.transport ?? platform.transport(),
    protocol: options.protocol ?? jsonProtocol(),
    network: options.network ?? platform.network?.(),
  };
}

/** `createRelay` with the platform's defaults bound (see {@link PlatformDefaults}). */
export function createRelayOn<Out, In>(
  platform: PlatformDefaults,
  url: string,
  options: DefaultedRelayOptions<Out, In>,
): Relay<Out, In> {
  return createCoreRelay<Out, In>(url, withDefaults(platform, options));
}

/** `createRelayPool` with the platform's defaults bound (see {@link PlatformDefaults}). */
export function createRelayPoolOn<Out, In, Req>(
  platform: PlatformDefaults,
  options: DefaultedRelayPoolOptions<Out, In, Req>,
): RelayPool<Out, In, Req> {
  return createCorePool<Out, In, Req>(withDefaults(platform, options));
}
