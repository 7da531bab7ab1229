/**
 * Option validation: every unknown key, at every level of `createRelay` and `createRelayPool` options, is an
 * `InvalidOptionError` naming it by its dotted path (with the closest known name when there is one), and every
 * known option is accepted. No socket is opened: nothing here calls `start()`.
 */
import { describe, expect, it } from 'vitest';
import { jsonProtocol } from '../adapters/jsonProtocol.ts';
import { memoryTransport } from '../testkit/memoryTransport.ts';
import { createRelay as createRootRelay, createRelayPool as createRootPool } from '../index.ts';
import { createRelay } from '../facades/createRelay.ts';
import { createRelayPool } from '../facades/createRelayPool.ts';
import { InvalidOptionError } from '../core/errors.ts';
import { realClock, type RelayOptions } from '../runtime/options.ts';
import { poolRig } from './poolRig.ts';

const URL_ = 'ws://127.0.0.1:1';
const base = () => ({ transport: memoryTransport(), protocol: jsonProtocol() });

/** The error `make` throws (fails the test if it throws none or something else). */
function thrown(make: () => unknown): InvalidOptionError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error('expected an InvalidOptionError, nothing was thrown');
}

const relayWith = (extra: object) => () => createRelay(URL_, { ...base(), ...extra });
const poolWith = (extra: object) => () => createRelayPool({ relays: [URL_], ...base(), ...extra });

describe('unknown options', () => {
  it.each(['connectionStateTtl', 'retryBudget', 'signal'])(
    'createRelay rejects the unknown top-level option "%s"',
    (key) => {
      const error = thrown(relayWith({ [key]: 1 }));
      expect(error).toMatchObject({ code: 'INVALID_OPTION', option: key });
      expect(error.message).toContain(`"${key}"`);
    },
  );

  it.each(['connectionStateTtl', 'retryBudget', 'signal'])(
    'createRelayPool rejects the unknown top-level option "%s"',
    (key) => {
      expect(thrown(poolWith({ [key]: 1 }))).toMatchObject({ code: 'INVALID_OPTION', option: key });
    },
  );

  it('the root entries, which bind transport, protocol and network, reject them too', () => {
    expect(thrown(() => createRootRelay(URL_, { retryBudget: 3 } as never))).toMatchObject({ option: 'retryBudget' });
    expect(thrown(() => createRootPool({ relays: [URL_], connectionStateTtl: 5 } as never))).toMatchObject({
      option: 'connectionStateTtl',
    });
  });

  it('signal: says AbortSignal is not supported yet and what to do instead', () => {
    const controller = new AbortController();
    for (const make of [relayWith({ signal: controller.signal }), poolWith({ signal: controller.signal })]) {
      const error = thrown(make);
      expect(error.option).toBe('signal');
      expect(error.message).toMatch(/AbortSignal is not supported yet/);
      expect(error.message).toMatch(/stop\(\)/);
    }
  });

  it('an unknown key is rejected even when its value is undefined (a typo is a typo)', () => {
    expect(thrown(relayWith({ conectTimeout: undefined }))).toMatchObject({ option: 'conectTimeout' });
  });

  it('suggests the closest known name, with its dotted path', () => {
    expect(thrown(relayWith({ maxAttempt: 3 })).message).toContain('did you mean "maxAttempts"?');
    expect(thrown(relayWith({ heartBeat: {} })).message).toContain('did you mean "heartbeat"?');
    expect(thrown(relayWith({ heartbeat: { intervall: 5 } })).message).toContain('did you mean "heartbeat.interval"?');
    expect(thrown(poolWith({ relay: [URL_] })).message).toContain('did you mean "relays"?');
    expect(thrown(poolWith({ sessionTimout: 5 })).message).toContain('did you mean "sessionTimeout"?');
    // Nothing close: no guess, the known names instead.
    const far = thrown(relayWith({ retryBudget: 3 })).message;
    expect(far).not.toContain('did you mean');
    expect(far).toContain('maxAttempts');
  });

  it.each([
    ['selection', { selection: { strategy: 'primary', count: 2 } }, 'selection.count'],
    ['score', { score: { rttRef: 100 } }, 'score.rttRef'],
    ['score.weights', { score: { weights: { rtt: 1, latency: 1 } } }, 'score.weights.latency'],
  ])('createRelayPool rejects unknown keys in %s by dotted path', (_, extra, option) => {
    expect(thrown(poolWith(extra))).toMatchObject({ code: 'INVALID_OPTION', option });
  });
});

describe('backoff tables and jitter modes', () => {
  it.each([
    [{ delays: [] }, 'backoff.delays'],
    [{ delays: [100, -1] }, 'backoff.delays'],
    [{ delays: [100, Infinity] }, 'backoff.delays'],
    [{ delays: '1,2,4' }, 'backoff.delays'],
    [{ jitter: 'half' }, 'backoff.jitter'],
  ])('rejects backoff %j naming %s, for a relay and a pool', (backoff, option) => {
    expect(thrown(relayWith({ backoff }))).toMatchObject({ code: 'INVALID_OPTION', option });
    expect(thrown(poolWith({ backoff }))).toMatchObject({ code: 'INVALID_OPTION', option });
  });

  it("keeps a copy of the table: changing the caller's array later changes nothing", async () => {
    const delays = [100, 200];
    const relay = createRelay(URL_, { ...base(), backoff: { delays, jitter: 'none' } });
    delays[0] = 5;
    expect(relay.actor.getSnapshot().context.config.backoff).toMatchObject({ delays: [100, 200], jitter: 'none' });
    await relay.stop();
  });
});

describe('known options', () => {
  /** Every option of RelayOptions, set (but `snapshot`, one relay's: see below): the list of known names must not miss one. */
  const everyRelayOption = (): Required<Omit<RelayOptions, 'transport' | 'protocol' | 'snapshot'>> => ({
    heartbeat: {
      interval: 1000,
      timeout: 500,
      maxMissed: 2,
      staleAfter: 0,
      degradedRtt: 100,
      negotiate: true,
      enabled: true,
    },
    backoff: { base: 10, factor: 2, max: 100, stableAfter: 50, delays: [10, 20], jitter: 'equal' },
    maxAttempts: 3,
    connectTimeout: 1000,
    handshakeTimeout: 1000,
    closeTimeout: 0,
    ackTimeout: 1000,
    maxPayload: 1024,
    headers: { 'x-test': '1' },
    protocols: ['p1'],
    classify: () => undefined,
    fatalCloseCodes: [4001],
    beforeReconnect: () => {},
    wake: { enabled: false, gap: 1000, checkEvery: 100 },
    network: { subscribe: () => () => {} },
    clock: realClock,
    random: Math.random,
    id: 'relay:test',
    inspect: () => {},
  });

  it('createRelay accepts every documented option', async () => {
    const relay = createRelay(URL_, { ...base(), ...everyRelayOption() });
    const saved = relay.actor.getPersistedSnapshot();
    await relay.stop();
    const restored = createRelay(URL_, { ...base(), ...everyRelayOption(), snapshot: saved });
    await restored.stop();
  });

  it('createRelayPool accepts every documented option', async () => {
    const pool = createRelayPool({
      ...base(),
      ...everyRelayOption(),
      relays: [URL_],
      selection: { strategy: 'primary', margin: 0.2, k: 2 },
      score: {
        rttReferenceMs: 100,
        unknownRtt: 0.5,
        degradedFactor: 0.3,
        flapPenalty: 0.2,
        flapWindowMs: 1000,
        weights: { rtt: 0.5, success: 0.3, stability: 0.2 },
      },
      outbox: { maxMessages: 10, maxBytes: 1000, ttl: 1000 },
      sessionTimeout: 1000,
      dedupeWindow: 100,
      id: 'pool:test',
    });
    await pool.stop();
  });

  it('the root entries accept their defaults (transport, protocol, network filled in)', async () => {
    await createRootRelay(URL_, { maxAttempts: 1 }).stop();
    await createRootPool({ relays: [URL_], sessionTimeout: 1000 }).stop();
  });
});

describe('per-call options', () => {
  it('send, publish and subscribe reject unknown keys with InvalidOptionError naming call.key (nothing sent)', async () => {
    const r = poolRig(1);
    r.pool.start();
    await r.until(() => r.pool.status().state === 'online', 1000);
    const bad = { ack: true, signal: new AbortController().signal } as { ack: boolean };
    await expect(r.pool.send({ type: 'post', id: 'a' }, bad)).rejects.toMatchObject({
      option: 'send.signal',
      delivery: 'not-sent',
    });
    await expect(
      r.pool.publish({ type: 'post', id: 'b' }, { acks: true } as unknown as { ack: boolean }),
    ).rejects.toMatchObject({
      message: expect.stringContaining('did you mean "publish.ack"'),
    });
    const ended = new Promise((resolve) =>
      r.pool.subscribe({}, { relay: [] } as unknown as { relays: string[] }).subscribe({ error: resolve }),
    );
    await expect(ended).resolves.toMatchObject({ option: 'subscribe.relay' });
    expect(r.received(0)).toEqual([]);
    const relay = r.pool.relay(r.urls[0]!)!;
    await expect(relay.send({ type: 'post', id: 'c' }, bad)).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      option: 'send.signal',
    });
    await r.pool.stop();
  });
});
