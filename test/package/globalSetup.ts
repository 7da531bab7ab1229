/** Packs the package once (`npm pack`, which runs `prepack` → the build) and hands the tarball to every test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT, run } from './consumer.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Absolute path of the packed tarball. */
    tarball: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-actors-pack-'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, limitMs: 180_000 });
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.err}`);
  const [info] = JSON.parse(packed.out.slice(packed.out.indexOf('['))) as {
    filename: string;
    size: number;
    unpackedSize: number;
    entryCount: number;
  }[];
  if (!info) throw new Error(`npm pack printed no file:\n${packed.out}`);
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    `tarball ${info.filename}: ${kb(info.size)} packed, ${kb(info.unpackedSize)} unpacked, ${info.entryCount} files`,
  );
  project.provide('tarball', join(dir, info.filename));
  return () => rmSync(dir, { recursive: true, force: true });
}
