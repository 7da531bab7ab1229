/** Test kit: helpers for testing code built on relay-actors. Pure re-exports; add new modules below. */
export * from './testRelay.ts';
export * from './simulated.ts';
export { memoryTransport } from '../adapters/memoryTransport.ts';
export type { MemoryTransport, MemoryServer, MemoryConnection, MemoryTransportOptions, RefuseOptions } from '../adapters/memoryTransport.ts';
