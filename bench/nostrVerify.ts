/**
 * What verifying inbound Nostr events costs: `nostrProtocol().decode` of `["EVENT", sub, event]` frames per second
 * with verification on (the default: NIP-01 id and BIP-340 signature), on for events already verified (the same
 * event from a second relay of a pool), and off (`verify: false`). CPU only, in-process, no socket: this is the
 * ceiling verification puts on one thread's inbound event rate.
 */
import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';
import { nostrProtocol, type NostrEvent } from '../adapters/nostrProtocol.ts';

/** At least this long per figure, so that the fast modes are not timed over a handful of microseconds. */
const MIN_MS = 250;
/** Passes over the frames for the fast modes, at most. */
const MAX_PASSES = 10_000;

/** `n` distinct signed kind-1 events (about 200 bytes of content, two tags), as `EVENT` frames. */
export function eventFrames(n: number): string[] {
  const secretKey = generateSecretKey();
  const frames: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = {
      kind: 1,
      created_at: 1_700_000_000 + i,
      tags: [
        ['t', 'bench'],
        ['p', 'f'.repeat(64)],
      ],
      content: `note ${i} `.padEnd(200, 'x'),
    };
    const { id, pubkey, created_at, kind, tags, content, sig } = finalizeEvent(t, secretKey);
    const event: NostrEvent = { id, pubkey, created_at, kind, tags, content, sig };
    frames.push(JSON.stringify(['EVENT', 'bench', event]));
  }
  return frames;
}

/** Decodes every frame once with `protocol`; throws unless each one is delivered. */
function decodeAll(protocol: ReturnType<typeof nostrProtocol>, frames: string[]): void {
  for (const frame of frames) {
    if (protocol.decode(frame, false).kind !== 'message') throw new Error('bench: a genuine event was not delivered');
  }
}

/** Frames decoded per second: passes over `frames` (a `setup()` protocol each) until MIN_MS, at most `maxPasses`. */
function rate(frames: string[], maxPasses: number, setup: () => ReturnType<typeof nostrProtocol>): number {
  let passes = 0;
  let elapsed = 0;
  while (passes < maxPasses && elapsed < MIN_MS) {
    const protocol = setup();
    const t0 = performance.now();
    decodeAll(protocol, frames);
    elapsed += performance.now() - t0;
    passes++;
  }
  return (passes * frames.length) / (elapsed / 1000);
}

/**
 * Decoded EVENT frames per second, one figure per mode, each the median of `rounds` interleaved rounds over the
 * same `frames`.
 */
export function verifyRates(
  frames: string[],
  rounds: number,
): Record<'verify off' | 'verify on' | 'on, seen before', number> {
  const runs = { 'verify off': [] as number[], 'verify on': [] as number[], 'on, seen before': [] as number[] };
  const off = nostrProtocol({ verify: false });
  for (let round = 0; round < rounds; round++) {
    runs['verify off'].push(rate(frames, MAX_PASSES, () => off));
    // A fresh protocol per pass: nothing verified yet, every signature is checked.
    runs['verify on'].push(rate(frames, 1, () => nostrProtocol()));
    const seen = nostrProtocol();
    decodeAll(seen, frames);
    runs['on, seen before'].push(rate(frames, MAX_PASSES, () => seen));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    'verify off': median(runs['verify off']),
    'verify on': median(runs['verify on']),
    'on, seen before': median(runs['on, seen before']),
  };
}
