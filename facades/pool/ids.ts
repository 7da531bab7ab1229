/**
 * How a pool names its relays: by URL key (identity) and by child id (the coordinator's child and system id). One
 * rule, used when a relay is added and when a saved snapshot is matched to the relays of a new pool.
 */
import { redactUrl } from '../../runtime/options.ts';

/**
 * Normalises a URL for identity (`ws://h:1` and `ws://h:1/` are one relay).
 *
 * @example
 * relayKey('ws://h:1'); // 'ws://h:1/'
 */
export function relayKey(url: string): string {
  return new URL(url).href;
}

/**
 * The child id of the relay with URL key `key`: `relay:<redacted key>`, with `#2`, `#3`, ... when another relay
 * (another user or token on the same host) already redacts to the same text.
 *
 * @example
 * childId('ws://h:1/', () => false); // 'relay:ws://h:1/'
 */
export function childId(key: string, taken: (id: string) => boolean): string {
  let id = `relay:${redactUrl(key)}`;
  for (let n = 2; taken(id); n++) id = `relay:${redactUrl(key)}#${n}`;
  return id;
}

/**
 * The child ids the relays `urls` get in a new pool, in order, by URL key (duplicates are one relay).
 *
 * @example
 * childIds(['ws://a:1', 'ws://a:1/', 'ws://b:1']); // Map { 'ws://a:1/' => 'relay:ws://a:1/', 'ws://b:1/' => ... }
 */
export function childIds(urls: readonly string[]): Map<string, { id: string; url: string }> {
  const out = new Map<string, { id: string; url: string }>();
  const ids = new Set<string>();
  for (const url of urls) {
    const key = relayKey(url);
    if (out.has(key)) continue;
    const id = childId(key, (x) => ids.has(x));
    ids.add(id);
    out.set(key, { id, url });
  }
  return out;
}
