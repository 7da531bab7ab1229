import { describe, expect, it } from 'vitest';
import type { DisconnectInfo } from '../core/contract.ts';
import { classifyClose } from '../policies/classify.ts';

const close = (code: number, extra: Partial<DisconnectInfo> = {}): DisconnectInfo => ({
  code,
  reason: '',
  wasClean: code !== 1006,
  ...extra,
});

describe('close classifier', () => {
  it.each([400, 401, 403, 404, 426])('upgrade %i is fatal', (status) => {
    expect(classifyClose(close(1006, { status })).action).toBe('fatal');
  });

  it.each([429, 500, 502, 503])('upgrade %i is retried, honouring Retry-After', (status) => {
    expect(classifyClose(close(1006, { status, retryAfterMs: 2000 }))).toEqual({
      action: 'retry',
      reason: `upgrade ${status}`,
      delayMs: 2000,
      code: 'server-busy',
    });
  });

  it.each([1002, 1003, 1007, 1008, 1010])('close %i is fatal', (code) => {
    expect(classifyClose(close(code)).action).toBe('fatal');
  });

  it.each([1000, 1001, 1006, 1011, 1012, 1013, 1014, 4000, 4999])('close %i is retried', (code) => {
    expect(classifyClose(close(code)).action).toBe('retry');
  });

  it.each(['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND'])('%s is retried', (errorCode) => {
    expect(classifyClose(close(1006, { errorCode }))).toEqual({
      action: 'retry',
      reason: errorCode,
      code: 'network-error',
    });
  });

  it('application codes can be declared fatal', () => {
    expect(classifyClose(close(4001), { fatalCloseCodes: [4001] }).action).toBe('fatal');
    expect(classifyClose(close(4002), { fatalCloseCodes: [4001] }).action).toBe('retry');
  });

  it('our own timeouts are retried, a rejected hello is fatal', () => {
    expect(classifyClose(close(1006, { local: 'heartbeat-timeout' })).action).toBe('retry');
    expect(classifyClose(close(1008, { local: 'handshake-rejected', reason: 'bad token' }))).toEqual({
      action: 'fatal',
      reason: 'hello rejected: bad token',
      code: 'hello-rejected',
    });
  });

  it('the user decides first, then the protocol, then the defaults', () => {
    const protocol = {
      classify: (i: DisconnectInfo) => (i.code === 4100 ? ({ action: 'reauth', reason: 'auth' } as const) : undefined),
    };
    const user = (i: DisconnectInfo) =>
      i.code === 1008 ? ({ action: 'retry', reason: 'user says retry' } as const) : undefined;
    expect(classifyClose(close(1008), { user, protocol }).action).toBe('retry');
    expect(classifyClose(close(4100), { user, protocol }).action).toBe('reauth');
    expect(classifyClose(close(1002), { user, protocol }).action).toBe('fatal');
  });
});
