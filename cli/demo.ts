/**
 * `npm start`: a short, self-contained run of one relay against an embedded test relay on 127.0.0.1. The relay
 * is killed, restarted, paused (half-open) and resumed; every state change is printed, then the final status,
 * and the process exits by itself.
 */
import { createRelay } from '../index.ts';
import { startTestRelay } from '../testkit/testRelay.ts';

const t0 = Date.now();
const stamp = () => `${String(Date.now() - t0).padStart(5)} ms`;
const log = (...parts: unknown[]) => console.log(stamp(), ...parts);

async function main(): Promise<void> {
  const server = await startTestRelay();
  log(`test relay listening on ${server.url}`);
  const relay = createRelay(server.url, {
    heartbeat: { interval: 200, timeout: 200, maxMissed: 2 },
    backoff: { base: 100, max: 1000, stableAfter: 500 },
    closeTimeout: 500,
  });
  let echoes = 0;
  relay.messages$.subscribe(() => echoes++);
  relay.events$.subscribe((e) => {
    if (e.type === 'state') log(`state  ${e.previous.padEnd(12)} → ${e.state}`);
    else if (e.type === 'disconnected') log(`closed code=${e.info.code}${e.info.local ? ` (${e.info.local})` : ''}${e.info.errorCode ? ` ${e.info.errorCode}` : ''} → ${e.verdict.action}: ${e.verdict.reason}`);
    else if (e.type === 'reconnect-scheduled') log(`retry  in ${e.delayMs} ms (failed dials so far: ${e.attempt})`);
    else if (e.type === 'heartbeat-off' || e.type === 'failed') log(`${e.type}: ${e.reason}`);
  });

  relay.start();
  await relay.waitFor('open');
  await relay.send({ type: 'greet', from: 'demo' });

  log('--- fault: the relay process dies (no close frame)');
  await server.kill();
  await relay.waitFor('reconnecting');
  log('--- the relay comes back on the same port');
  await server.restart();
  await relay.waitFor('open', 10_000);
  await relay.send({ type: 'greet', again: true });

  log('--- fault: half-open link (TCP up, nothing answered)');
  await waitFor(() => relay.status().rttMs !== null, 5000);
  server.pause();
  await relay.waitFor('degraded', 5000);
  await relay.waitFor('reconnecting', 5000);
  log('--- the link heals');
  server.resume();
  await relay.waitFor('open', 10_000);

  const s = relay.status();
  await relay.stop();
  await server.close();
  log(`final status: ${JSON.stringify({ ...s, echoes })}`);
  log('stopped cleanly');
}

async function waitFor(predicate: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('demo: timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

main().catch((error: unknown) => {
  console.error('demo failed:', error);
  process.exitCode = 1;
});
