/**
 * The chaos run's network: one network namespace with one veth pair per relay, made and removed by the test.
 *
 * Each relay `i` gets its own pair and /30 in 198.18.0.0/15 (RFC 2544's range for network tests): the host end
 * `rxc<run><i>h` holds `198.18.R.4i+1`, the end inside the namespace `rxc<run><i>n` holds `198.18.R.4i+2`, so a
 * fault on one relay's link (iptables rules inside the namespace, a `tc` qdisc on both ends) touches no other relay
 * and nothing outside the namespace. Every rule lives inside the namespace: deleting it deletes them, its veth
 * pairs and their routes. Needs root, `ip`, `tc` and `iptables`.
 *
 * Names carry the owner's pid and start time (`rachaos-<pid>-<base36 ms>`), so a later run can tell a crashed
 * run's leftovers (owner gone, or older than {@link STALE_AFTER_MS}) from a run still going, and remove only those.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Prefix of every namespace this file makes. */
export const NETNS_PREFIX = 'rachaos-';
/** Prefix of every veth interface this file makes (`rxc` + 4 run characters + relay index + `h`/`n`). */
const LINK_PATTERN = /^rxc([0-9a-z]{4})\d[hn]$/;
/** A namespace of ours older than this is a leftover whatever its owner pid says (a run takes ≤ 3 minutes). */
const STALE_AFTER_MS = 15 * 60_000;
/** Bound on every `ip` / `tc` / `iptables` command. */
const COMMAND_TIMEOUT_MS = 10_000;

/** One relay's link: its addresses and interface names. */
export interface RelayLink {
  index: number;
  /** Address of the host end (where the client pools dial from). */
  hostAddress: string;
  /** Address inside the namespace (where the relay listens). */
  relayAddress: string;
  hostIf: string;
  nsIf: string;
}

/** A namespace made by {@link createNetwork}. */
export interface ChaosNetwork {
  readonly name: string;
  readonly links: readonly RelayLink[];
  /** `argv` prefix that runs a command inside the namespace. */
  exec(argv: string[]): string[];
  /** Both directions of the links silently dropped, all at once: a black hole (TCP stays "up" on both ends). */
  blackhole(...indices: number[]): Promise<void>;
  /** Every TCP segment arriving at relay `i` answered with a RST. */
  reset(i: number): Promise<void>;
  /** Link `i` shaped to `rate` (tc `tbf`) in both directions. */
  slow(i: number, rate: string): Promise<void>;
  /** Removes every fault from the links (their iptables rules in one transaction). */
  heal(...indices: number[]): Promise<void>;
  /** Deletes the namespace (and so its links, rules and qdiscs). Idempotent; synchronous for exit paths. */
  destroy(): void;
}

async function sh(argv: string[]): Promise<void> {
  await run(argv[0]!, argv.slice(1), { timeout: COMMAND_TIMEOUT_MS });
}

function shSync(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), {
    timeout: COMMAND_TIMEOUT_MS,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function namespaces(): string[] {
  return shSync(['ip', 'netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(NETNS_PREFIX));
}

/**
 * Removes what a crashed earlier run left: namespaces of ours whose owner is gone (or that are too old to be a
 * live run), after killing the processes still inside them (relays of that run: ours by construction), and host
 * veth ends of ours whose namespace no longer exists. Returns what it removed.
 */
export function removeStale(): string[] {
  const removed: string[] = [];
  const live = new Set<string>();
  for (const name of namespaces()) {
    const [, pid, started] = /^rachaos-(\d+)-([0-9a-z]+)-([0-9a-z]{4})$/.exec(name) ?? [];
    const run4 = name.slice(-4);
    const stale = pid === undefined || !alive(Number(pid)) || Date.now() - parseInt(started!, 36) > STALE_AFTER_MS;
    if (!stale) {
      live.add(run4);
      continue;
    }
    let pids: number[] = [];
    try {
      pids = shSync(['ip', 'netns', 'pids', name]).split('\n').filter(Boolean).map(Number);
    } catch {
      // Already gone.
    }
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    try {
      shSync(['ip', 'netns', 'delete', name]);
      removed.push(name);
    } catch {
      // Someone else removed it.
    }
  }
  // Re-read: a run that started meanwhile must keep its links.
  for (const name of namespaces()) live.add(name.slice(-4));
  for (const line of shSync(['ip', '-o', 'link', 'show']).split('\n')) {
    const ifName = /^\d+: ([^:@]+)/.exec(line)?.[1];
    const match = ifName ? LINK_PATTERN.exec(ifName) : null;
    if (!match || live.has(match[1]!)) continue;
    try {
      shSync(['ip', 'link', 'delete', ifName!]);
      removed.push(ifName!);
    } catch {
      // Its pair went first.
    }
  }
  return removed;
}

/** Picks a 198.18.R.0/24 no interface of this machine uses. */
function freeSubnet(): number {
  const used = shSync(['ip', '-4', '-o', 'addr', 'show']);
  for (let tries = 0; tries < 64; tries++) {
    const r = randomBytes(1)[0]!;
    if (!used.includes(`198.18.${r}.`)) return r;
  }
  throw new Error('No free 198.18.x.0/24 subnet found for the chaos network');
}

/**
 * Creates the namespace and one veth pair per relay, addresses up. On any failure what was made is removed before
 * the error is thrown.
 */
export async function createNetwork(relays: number): Promise<ChaosNetwork> {
  const runId = randomBytes(3).toString('hex').slice(0, 4);
  const name = `${NETNS_PREFIX}${process.pid}-${Date.now().toString(36)}-${runId}`;
  const subnet = freeSubnet();
  const links: RelayLink[] = Array.from({ length: relays }, (_, i) => ({
    index: i,
    hostAddress: `198.18.${subnet}.${4 * i + 1}`,
    relayAddress: `198.18.${subnet}.${4 * i + 2}`,
    hostIf: `rxc${runId}${i}h`,
    nsIf: `rxc${runId}${i}n`,
  }));
  const inNs = (argv: string[]): string[] => ['ip', 'netns', 'exec', name, ...argv];
  let destroyed = false;
  const faults = new Map<number, string[][]>();

  const network: ChaosNetwork = {
    name,
    links,
    exec: inNs,
    async blackhole(...indices) {
      // Both directions of every link named in one iptables-restore transaction: the black hole opens at once.
      const rules = indices.flatMap((i) => [
        `INPUT -i ${links[i]!.nsIf} -j DROP`,
        `OUTPUT -o ${links[i]!.nsIf} -j DROP`,
      ]);
      await restore(rules.map((r) => `-I ${r}`));
      for (const i of indices)
        faults.set(i, [
          ...(faults.get(i) ?? []),
          ['restore', ...rules.filter((r) => r.includes(links[i]!.nsIf)).map((r) => `-D ${r}`)],
        ]);
    },
    async reset(i) {
      const l = links[i]!;
      const rule = ['INPUT', '-i', l.nsIf, '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
      await addFault(i, [[inNs(['iptables', '-I', ...rule]), inNs(['iptables', '-D', ...rule])]]);
    },
    async slow(i, rate) {
      const l = links[i]!;
      // burst ≥ one MTU-sized packet; `latency` bounds the queue, so a flooded link drops and TCP retransmits.
      const tbf = ['root', 'tbf', 'rate', rate, 'burst', '4kb', 'latency', '400ms'];
      await addFault(i, [
        [inNs(['tc', 'qdisc', 'add', 'dev', l.nsIf, ...tbf]), inNs(['tc', 'qdisc', 'del', 'dev', l.nsIf, 'root'])],
        [
          ['tc', 'qdisc', 'add', 'dev', l.hostIf, ...tbf],
          ['tc', 'qdisc', 'del', 'dev', l.hostIf, 'root'],
        ],
      ]);
    },
    async heal(...indices) {
      const undo = indices.flatMap((i) => (faults.get(i) ?? []).reverse());
      for (const i of indices) faults.delete(i);
      const rules = undo.filter((argv) => argv[0] === 'restore').flatMap((argv) => argv.slice(1));
      if (rules.length) await restore(rules);
      for (const argv of undo) if (argv[0] !== 'restore') await sh(argv);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        shSync(['ip', 'netns', 'delete', name]);
      } catch {
        // Not made, or already gone.
      }
      // The pairs go with the namespace; a host end left by a half-made pair is removed here.
      for (const l of links) {
        try {
          shSync(['ip', 'link', 'delete', l.hostIf]);
        } catch {
          // Gone with its pair, as it should be.
        }
      }
    },
  };

  /** Applies iptables rule changes (`-I …` / `-D …` of the filter table) as one atomic transaction. */
  async function restore(changes: string[]): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', name, 'iptables-restore', '--noflush'],
        { timeout: COMMAND_TIMEOUT_MS },
        (error) => (error ? reject(error) : resolve()),
      );
      child.stdin!.end(`*filter\n${changes.join('\n')}\nCOMMIT\n`);
    });
  }

  async function addFault(i: number, steps: Array<[string[], string[]]>): Promise<void> {
    const undo = faults.get(i) ?? [];
    faults.set(i, undo);
    for (const [apply, revert] of steps) {
      await sh(apply);
      undo.push(revert);
    }
  }

  try {
    await sh(['ip', 'netns', 'add', name]);
    await sh(inNs(['ip', 'link', 'set', 'lo', 'up']));
    for (const l of links) {
      await sh(['ip', 'link', 'add', l.hostIf, 'type', 'veth', 'peer', 'name', l.nsIf, 'netns', name]);
      await sh(['ip', 'addr', 'add', `${l.hostAddress}/30`, 'dev', l.hostIf]);
      await sh(['ip', 'link', 'set', l.hostIf, 'up']);
      await sh(inNs(['ip', 'addr', 'add', `${l.relayAddress}/30`, 'dev', l.nsIf]));
      await sh(inNs(['ip', 'link', 'set', l.nsIf, 'up']));
    }
  } catch (error) {
    network.destroy();
    throw error;
  }
  return network;
}
