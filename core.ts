/**
 * Platform-free entry: nothing here imports a WebSocket implementation, so it bundles for browsers.
 * Pass `browserTransport()` (or your own) as `transport`.
 *
 * @module relay-actors/core
 */
export {
  createRelay,
  publicState,
  relayFacade,
  type Relay,
  type RelayLifecycle,
  type SendOptions,
} from './machines/createRelay.ts';
export {
  createRelayPool,
  frameBytes,
  type PoolSendOptions,
  type PoolSubscribeOptions,
  type PublishResult,
  type RelayPool,
  type RelayPoolOptions,
} from './machines/createRelayPool.ts';
export {
  poolMachine,
  poolState,
  type PoolMachine,
  type PoolContext,
  type PoolInput,
  type PoolMachineEvent,
  type PoolEmitted,
  type PoolStateMeta,
  type PoolState,
} from './machines/poolMachine.ts';
export * from './machines/score.ts';
export * from './machines/select.ts';
export {
  Outbox,
  DEFAULT_OUTBOX,
  resolveOutboxOptions,
  type OutboxItem,
  type OutboxOptions,
} from './machines/outbox.ts';
export { RecentIds } from './machines/idSet.ts';
export { InspectionBus } from './machines/inspection.ts';
export type { Inbound } from './machines/runtime.ts';
export {
  relayMachine,
  type RelayMachine,
  type RelayContext,
  type RelayInput,
  type RelayMachineConfig,
  type RelayStateMeta,
} from './machines/relayMachine.ts';
export type { RelayMachineEvent, RelayEmitted } from './machines/relayEvents.ts';
export { connectionLogic, type ConnectionCommand, type ConnectionInput } from './machines/connection.ts';
export { RelayRuntime, registerRuntime, runtimeOf } from './machines/runtime.ts';
export * from './machines/errors.ts';
export * from './machines/backoff.ts';
export * from './machines/classify.ts';
export * from './machines/why.ts';
export * from './machines/health.ts';
export * from './machines/telemetry.ts';
export {
  DEFAULT_HEARTBEAT,
  DEFAULT_RELAY_OPTIONS,
  DEFAULT_WAKE,
  redactUrl,
  relayMachineConfig,
  resolveRelayOptions,
  type HeartbeatOptions,
  type NetworkSignal,
  type ReconnectInfo,
  type RelayOptions,
  type ResolvedRelayOptions,
  type WakeOptions,
} from './machines/options.ts';
export { createScheduler, sharedScheduler, type Cancel, type Clock, type Scheduler } from './machines/scheduler.ts';
export { createWakeDetector, wakeDetector, type WakeDetector } from './machines/wake.ts';
export type * from './adapters/types.ts';
export { browserTransport, browserNetwork } from './adapters/browserTransport.ts';
export type { BrowserTransportOptions, NetworkEventSource, NetworkMonitor } from './adapters/browserTransport.ts';
export { memoryTransport } from './adapters/memoryTransport.ts';
export type { MemoryTransport, MemoryTransportOptions } from './adapters/memoryTransport.ts';
export { jsonProtocol } from './adapters/jsonProtocol.ts';
export type { JsonObject, JsonProtocolOptions } from './adapters/jsonProtocol.ts';
export { nostrProtocol } from './adapters/nostrProtocol.ts';
export type {
  NostrEvent,
  NostrEventTemplate,
  NostrFilter,
  NostrProtocolOptions,
  NostrSigner,
} from './adapters/nostrProtocol.ts';
