/**
 * The offline inspector: `serveInspector(poolOrRelayOrActor)` serves a self-contained page that draws every
 * machine and lights its current state live. Node only (it runs an HTTP server); import it from
 * `relay-actors/inspector`. The Stately bridge is a separate entry, `relay-actors/stately`.
 *
 * @module relay-actors/inspector
 */
export { serveInspector, type InspectorOptions, type InspectorServer } from './serveInspector.ts';
export {
  InspectorFeed,
  plainRecord,
  sanitizeContext,
  redactString,
  transitionReason,
  valuePath,
  SERIES_LENGTH,
} from './feed.ts';
export type { ActorView, FeedItem, FeedMessage, HealthView, InspectTarget, LogEntry } from './feed.ts';
export {
  machineGraph,
  stateIds,
  activeStateIds,
  type MachineGraph,
  type StateNodeJSON,
  type TransitionJSON,
  type TransitionKind,
} from './graph.ts';
