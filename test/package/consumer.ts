/** Fresh consumer projects in a temp folder with the packed tarball installed, and bounded child processes. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a child process left behind. */
export interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

/**
 * Runs `command args` and resolves when it exits by itself; kills it by its pid (SIGKILL) and resolves with
 * `code: null` when it has not exited within `limitMs`.
 */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; limitMs: number; env?: NodeJS.ProcessEnv },
): Promise<Run> {
  const t0 = Date.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), options.limitMs);
    child.on('error', (e) => {
      clearTimeout(killer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code: signal ? null : code, out, err, ms: Date.now() - t0 });
    });
  });
}

/** A consumer project: its folder and a way to remove it. */
export interface Consumer {
  dir: string;
  /** Writes `files` (paths relative to the project) and returns the project. */
  write(files: Record<string, string>): Consumer;
  remove(): void;
}

/**
 * Creates a fresh project in a temp folder with `packageJson` and installs the tarball (plus `extra` packages)
 * with npm, as a user would. Dependencies come from the registry or npm's cache.
 */
export async function createConsumer(
  tarball: string,
  packageJson: Record<string, unknown>,
  extra: string[] = [],
): Promise<Consumer> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-actors-consumer-'));
  const consumer: Consumer = {
    dir,
    write(files) {
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      return consumer;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  consumer.write({
    'package.json': JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, ...packageJson }, null, 2),
  });
  const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...extra], {
    cwd: dir,
    limitMs: 240_000,
  });
  if (installed.code !== 0) throw new Error(`npm install in ${dir} failed:\n${installed.err}`);
  return consumer;
}

/** Size in bytes of every file under `dir` (as `du -sb`). */
export async function treeBytes(dir: string): Promise<number> {
  const r = await run('du', ['-sb', dir], { cwd: dir, limitMs: 30_000 });
  return Number(r.out.split('\t')[0]);
}

/** The README's ```ts blocks, verbatim. */
export function readmeBlocks(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}
