/**
 * The clients a benchmark compares, behind one small interface: raw `ws`, our `createRelay`, `partysocket` and
 * `reconnecting-websocket` (both given `ws` as their WebSocket class, as Node users would). Every client sends
 * the same JSON text frames, stringified per send, and hands its listener parsed objects, so each pays the same
 * encoding and decoding cost that application code pays.
 */
import { WebSocket as PartySocket } from 'partysocket';
import ReconnectingWebSocket from 'reconnecting-websocket';
import { WebSocket } from 'ws';
import { createRelay } from '../index.ts';

export type Kind = 'ws' | 'relay-actors' | 'partysocket' | 'reconnecting-websocket';
export const KINDS: Kind[] = ['ws', 'relay-actors', 'partysocket', 'reconnecting-websocket'];

export interface BenchClient {
  /** Resolves when the socket is open. */
  readonly opened: Promise<void>;
  send(message: Record<string, unknown>): void;
  onMessage(listener: (message: Record<string, unknown>) => void): void;
  /** Bytes buffered and not yet written. */
  buffered(): number;
  close(): Promise<void>;
}

export interface ClientOptions {
  /** Heartbeat interval for relay-actors, ms; `false` turns it off. Default: the library's default (30 s). */
  heartbeat?: number | false;
}

/** Opens one client of `kind` to `url`. */
export function openClient(kind: Kind, url: string, options: ClientOptions = {}): BenchClient {
  switch (kind) {
    case 'ws': {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('error', () => {});
      return {
        opened: new Promise((resolve, reject) => ws.once('open', () => resolve()).once('error', reject)),
        send: (m) => ws.send(JSON.stringify(m)),
        onMessage: (l) => ws.on('message', (d) => l(JSON.parse(d.toString()) as Record<string, unknown>)),
        buffered: () => ws.bufferedAmount,
        close: () =>
          new Promise<void>((resolve) =>
            ws.readyState === WebSocket.CLOSED ? resolve() : (ws.once('close', () => resolve()), ws.terminate()),
          ),
      };
    }
    case 'relay-actors': {
      const heartbeat =
        options.heartbeat === undefined
          ? {}
          : options.heartbeat === false
            ? false
            : { interval: options.heartbeat, timeout: Math.max(100, options.heartbeat / 2) };
      const relay = createRelay(url, { wake: false, heartbeat, closeTimeout: 0 }).start();
      return {
        opened: relay.waitFor('open', 30_000),
        send: (m) => void relay.send(m).catch(() => {}),
        onMessage: (l) => relay.messages$.subscribe(l),
        buffered: () => relay.bufferedAmount,
        close: () => relay.stop(),
      };
    }
    case 'partysocket':
    case 'reconnecting-websocket': {
      const Ctor = (kind === 'partysocket' ? PartySocket : ReconnectingWebSocket) as unknown as new (
        url: string,
        protocols: string[] | undefined,
        options: Record<string, unknown>,
      ) => {
        send(d: string): void;
        close(): void;
        bufferedAmount: number;
        addEventListener(t: string, l: (e: { data?: unknown }) => void): void;
        readyState: number;
      };
      const s = new Ctor(url, undefined, { WebSocket, maxRetries: 0 });
      return {
        opened: new Promise((resolve) => s.addEventListener('open', () => resolve())),
        send: (m) => s.send(JSON.stringify(m)),
        onMessage: (l) =>
          s.addEventListener('message', (e) => l(JSON.parse(String(e.data)) as Record<string, unknown>)),
        buffered: () => s.bufferedAmount,
        close: () =>
          new Promise<void>((resolve) => {
            if (s.readyState === 3) return resolve();
            s.addEventListener('close', () => resolve());
            s.close();
          }),
      };
    }
  }
}
