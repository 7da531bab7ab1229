/**
 * Test kit: helpers for testing code built on relay-actors. Pure re-exports; add new modules below.
 *
 * @module relay-actors/testing
 */
export * from './testRelay.ts';
export * from './simulated.ts';
export { memoryTransport } from './memoryTransport.ts';
export type {
  MemoryClock,
  MemoryCloseInfo,
  MemoryConnection,
  MemoryServer,
  MemoryServerHandlers,
  MemoryServerStats,
  MemoryTransport,
  MemoryTransportOptions,
  ReceivedFrame,
  RefuseOptions,
} from './memoryTransport.ts';
