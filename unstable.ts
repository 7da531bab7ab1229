/**
 * Everything else: the parts the stable API is built from (the per-relay runtime, the connection actor, the
 * scheduler, the policies' building blocks, the pool's collaborators' defaults). Exported for tools, experiments
 * and custom compositions. **Unstable: no semver promise; any release may change or remove a name here.** Prefer
 * `relay-actors` (or `relay-actors/core`) and file an issue when you need something from this list.
 *
 * @module relay-actors/unstable
 */
export * from './core.ts';
export { publicState, relayFacade, type RelayLifecycle } from './facades/createRelay.ts';
export { frameBytes } from './facades/createRelayPool.ts';
export { poolState, type PoolStateMeta } from './machines/poolMachine.ts';
export type { RelayStateMeta } from './machines/relayMachine.ts';
export { resumableRelaySnapshot } from './machines/resume.ts';
export * from './policies/score.ts';
export * from './policies/select.ts';
export * from './policies/backoff.ts';
export * from './policies/health.ts';
export { FATAL_CLOSE_CODES, FATAL_UPGRADE_STATUSES, type ClassifyContext } from './policies/classify.ts';
export { VERDICT_CODES, isVerdictCode } from './core/why.ts';
export { withDelivery } from './core/delivery.ts';
export { redactError, wrapError } from './core/errors.ts';
export type { RelayEventInput } from './core/telemetry.ts';
export type { ConnectionCommand } from './core/events.ts';
export { Outbox, DEFAULT_OUTBOX, resolveOutboxOptions, type OutboxItem } from './runtime/outbox.ts';
export { RecentIds } from './runtime/idSet.ts';
export { InspectionBus } from './runtime/inspection.ts';
export type { Inbound } from './runtime/relayRuntime.ts';
export { connectionLogic, type ConnectionInput } from './runtime/connection.ts';
export { RelayRuntime, registerRuntime, runtimeOf } from './runtime/relayRuntime.ts';
export {
  DEFAULT_HEARTBEAT,
  DEFAULT_RELAY_OPTIONS,
  DEFAULT_WAKE,
  redactUrl,
  relayMachineConfig,
  resolveRelayOptions,
  type ResolvedRelayOptions,
} from './runtime/options.ts';
export { createScheduler, sharedScheduler, type Cancel, type Scheduler } from './runtime/scheduler.ts';
export { createWakeDetector, wakeDetector, type WakeDetector } from './runtime/wake.ts';
