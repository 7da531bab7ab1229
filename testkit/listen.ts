/**
 * What both loopback relays of the test kit (`testRelay.ts`, `nostrRelay.ts`) need to bind, drop and rebind a
 * port: an HTTP server that tracks its sockets and hands upgrades on, sleeps that `close()` cuts short, and a
 * rebind that retries while the old port is still in use.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export const noop = (): void => {};

/**
 * An HTTP server on `host:port` (exclusive) whose sockets are added to `sockets` while open (errors swallowed),
 * that answers plain requests with 426 and passes upgrades to `onUpgrade`. Resolves once listening; rejects with
 * the bind error (`EADDRINUSE`, …).
 */
export function listenForUpgrades(
  port: number,
  host: string,
  sockets: Set<Socket>,
  onUpgrade: (server: Server, req: IncomingMessage, socket: Duplex, head: Buffer) => void,
): Promise<Server> {
  const server = createServer();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', noop);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('WebSocket upgrade required\n');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => onUpgrade(server, req, socket, head));
  return new Promise<Server>((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      server.on('error', noop);
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, exclusive: true });
  });
}

/** Waits that `wakeAll()` (a relay's `close()`) cuts short, so no timer outlives the relay. */
export class Sleeps {
  readonly #pending = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#pending.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.#pending.add(entry);
    });
  }

  wakeAll(): void {
    for (const entry of this.#pending) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.#pending.clear();
  }
}

/**
 * Binds `port` again after a restart: retries `EADDRINUSE` (the old sockets may still hold it) up to `attempts`
 * times, `delayMs` apart; stops at once when `closed()` turns true. `name` prefixes the errors.
 */
export async function relisten(
  listen: (port: number) => Promise<Server>,
  port: number,
  options: { name: string; attempts: number; delayMs: number; closed: () => boolean; sleeps: Sleeps },
): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    if (options.closed()) throw new Error(`${options.name}.restart(): the relay was closed`);
    try {
      return await listen(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      if (attempt >= options.attempts) {
        throw new Error(`${options.name}.restart(): port ${port} still in use after ${attempt} attempt(s)`, {
          cause: err,
        });
      }
    }
    await options.sleeps.sleep(options.delayMs);
  }
}
