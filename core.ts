/**
 * The stable, platform-free API: nothing here imports a WebSocket implementation, so it bundles for browsers. Pass
 * `transport` (`browserTransport()`, `wsTransport()` from the root entry under Node, or your own) and `protocol`.
 * The root entry `relay-actors` is this plus platform defaults; `relay-actors/unstable` holds the building blocks.
 *
 * @module relay-actors/core
 */
// What users call.
export { createRelay, type Relay, type SendOptions } from './facades/createRelay.ts';
export {
  createRelayPool,
  type PoolSendOptions,
  type PoolSubscribeOptions,
  type PublishResult,
  type RelayPool,
  type RelayPoolOptions,
} from './facades/createRelayPool.ts';
export type { BackoffOptions, JitterMode } from './policies/backoff.ts';
export type { Clock } from './runtime/scheduler.ts';
export type { HeartbeatOptions, NetworkSignal, ReconnectInfo, RelayOptions, WakeOptions } from './runtime/options.ts';
export type { ScoreOptions } from './policies/score.ts';
export type { SelectionOptions } from './policies/select.ts';
export type { OutboxOptions } from './runtime/outbox.ts';
// The machines, to draw, inspect, step with transition() or run with provide().
export {
  relayMachine,
  type RelayMachine,
  type RelayContext,
  type RelayInput,
  type RelayMachineConfig,
} from './machines/relayMachine.ts';
export {
  poolMachine,
  type PoolMachine,
  type PoolContext,
  type PoolInput,
  type PoolMachineEvent,
  type PoolEmitted,
  type PoolState,
} from './machines/poolMachine.ts';
export type { RelayMachineEvent, RelayEmitted } from './core/events.ts';
// Why: the one classifier and the one wording.
export { classifyClose, type Classifier } from './policies/classify.ts';
export { causeOf, explain } from './core/why.ts';
// The vocabulary: errors, telemetry, the transport and protocol contract.
export {
  RelayActorsError,
  InvalidOptionError,
  NotOpenError,
  StoppedError,
  RelayFailedError,
  ProtocolError,
  FrameTooLargeError,
  SendFailedError,
  AckTimeoutError,
  NackError,
  ConnectionLostError,
  OutboxFullError,
  MessageExpiredError,
  SessionTimeoutError,
  PublishFailedError,
  UnknownRelayError,
  WaitTimeoutError,
  type Delivery,
  type ErrorCode,
} from './core/errors.ts';
export type {
  RelayState,
  LastClose,
  HeartbeatMode,
  RelayStatus,
  HealthSample,
  RelayEvent,
  PoolRelayHealth,
  PoolStatus,
  PoolEvent,
} from './core/telemetry.ts';
export type * from './core/contract.ts';
// Adapters that run anywhere.
export { browserTransport, browserNetwork } from './adapters/browserTransport.ts';
export type { BrowserTransportOptions, NetworkEventSource, NetworkMonitor } from './adapters/browserTransport.ts';
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
