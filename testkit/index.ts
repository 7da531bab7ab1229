/** Test kit: helpers for testing code built on relay-actors. Pure re-exports; add new modules below. */
export * from './testRelay.ts';
