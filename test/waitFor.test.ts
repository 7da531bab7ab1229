/**
 * `waitFor(state, timeoutMs)` on a relay and a pool: resolves when the state is reached, and rejects with a typed
 * WaitTimeoutError (what was awaited, where it stood) when it is not. Memory transports under SimulatedClock.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { memoryTransport } from '../testkit/memoryTransport.ts';
import { createRelay } from '../facades/createRelay.ts';
import { WaitTimeoutError } from '../core/errors.ts';
import { poolRig } from './poolRig.ts';

describe('waitFor', () => {
  it('a relay that cannot open: WaitTimeoutError with the awaited and the current state', async () => {
    const mem = memoryTransport({ clock: new SimulatedClock() });
    mem.server('ws://down.test').refuse({ errorCode: 'ECONNREFUSED' });
    const relay = createRelay('ws://down.test', {
      transport: mem,
      protocol: jsonProtocol(),
      wake: false,
      closeTimeout: 0,
    });
    relay.start();
    const error = await relay.waitFor('open', 20).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ code: 'WAIT_TIMEOUT', state: 'open', current: 'reconnecting' });
    await relay.stop();
  });

  it('a pool whose relays cannot open: WaitTimeoutError', async () => {
    const r = poolRig(1);
    r.servers[0]!.refuse({ errorCode: 'ECONNREFUSED' });
    r.pool.start();
    const error = await r.pool.waitFor('online', 20).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WAIT_TIMEOUT', state: 'online', current: 'offline' });
    await r.pool.stop();
  });
});
