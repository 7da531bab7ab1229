/**
 * One Nostr relay process of the chaos run, started inside the test's network namespace:
 *
 *   ip netns exec <ns> node --import tsx test/chaos/relay.ts <host> <port> <journal>
 *
 * The relay logic is `@nostr-relay/core`'s `NostrRelay` (NIP-01, signatures checked by the package) over the test
 * kit's `MemoryEventRepository`, behind a `ws` server on `host:port`. The test kit's `startNostrRelay()` binds
 * 127.0.0.1 only, and a real process kill would lose its memory store; here every new event is appended to a
 * journal before the relay answers `OK true` (NostrRelay awaits `upsert` before its `OK`), and a restarted
 * process reloads it. So "acked" means stored, across SIGKILL, as it does for a relay with a disk.
 *
 * Prints `ready <host>:<port>` once listening. Exits when its stdin ends (the test, or the test's crash).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { NostrRelay } from '@nostr-relay/core';
import { createOutgoingNoticeMessage } from '@nostr-relay/common';
import type { Event, EventRepositoryUpsertResult, IncomingMessage, Logger } from '@nostr-relay/common';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { MemoryEventRepository } from '../../testkit/nostrRelay.ts';

const [host, portArg, journal] = process.argv.slice(2);
if (!host || !portArg || !journal) {
  process.stderr.write('usage: relay.ts <host> <port> <journal>\n');
  process.exit(2);
}

/** The memory store, made durable by an append-only journal of accepted events. */
class JournalRepository extends MemoryEventRepository {
  readonly #path: string;
  constructor(path: string) {
    super();
    this.#path = path;
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        super.upsert(JSON.parse(line) as Event);
      } catch {
        // A line cut short by a kill: its event was never acked.
      }
    }
  }

  override upsert(event: Event): EventRepositoryUpsertResult {
    const result = super.upsert(event);
    if (!result.isDuplicate) appendFileSync(this.#path, `${JSON.stringify(event)}\n`);
    return result;
  }
}

const noop = (): void => {};
const SILENT: Logger = { setLogLevel: noop, debug: noop, info: noop, warn: noop, error: noop };
const relay = new NostrRelay(new JournalRepository(journal), {
  logger: SILENT,
  filterResultCacheTtl: 0,
  eventHandlingResultCacheTtl: 0,
});

function parse(raw: RawData, isBinary: boolean): IncomingMessage | string {
  if (isBinary) return 'invalid: binary frames are not supported';
  let value: unknown;
  try {
    value = JSON.parse(raw.toString());
  } catch {
    return 'invalid: not JSON';
  }
  if (!Array.isArray(value) || !['EVENT', 'REQ', 'CLOSE', 'AUTH'].includes(value[0] as string))
    return 'invalid: unknown message';
  if ((value[0] === 'EVENT' || value[0] === 'AUTH') && (typeof value[1] !== 'object' || value[1] === null))
    return 'invalid: no event';
  if ((value[0] === 'REQ' || value[0] === 'CLOSE') && typeof value[1] !== 'string')
    return 'invalid: no subscription id';
  return value as IncomingMessage;
}

const wss = new WebSocketServer({ host, port: Number(portArg) });
wss.on('error', (error) => {
  process.stderr.write(`relay ${host}:${portArg}: ${error.message}\n`);
  process.exit(1);
});
wss.on('listening', () => process.stdout.write(`ready ${host}:${portArg}\n`));
wss.on('connection', (ws: WebSocket, req) => {
  ws.on('error', noop);
  ws.once('close', () => relay.handleDisconnect(ws));
  ws.on('message', (raw: RawData, isBinary: boolean) => {
    const message = parse(raw, isBinary);
    if (typeof message === 'string') {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(createOutgoingNoticeMessage(message)));
      return;
    }
    relay.handleMessage(ws, message).catch((error: unknown) => {
      if (ws.readyState === ws.OPEN)
        ws.send(JSON.stringify(createOutgoingNoticeMessage(`error: ${String((error as Error)?.message ?? error)}`)));
    });
  });
  relay.handleConnection(ws, req.socket.remoteAddress);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
