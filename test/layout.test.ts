/**
 * The layout shows the roles, and imports flow one way (issue 11): the vocabulary never sees a socket, the machines
 * never see a facade, adapters know only the contract. Every relative import of every source file is checked
 * against the layer table below, type-only imports included.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What each layer may import, besides itself. Entries (the root *.ts files) may import every layer. */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  policies: ['core'],
  adapters: ['core'],
  runtime: ['core', 'policies'],
  machines: ['core', 'policies', 'runtime'],
  facades: ['core', 'policies', 'runtime', 'machines', 'adapters'],
  testkit: ['core', 'policies', 'runtime', 'machines', 'facades', 'adapters'],
  inspector: ['core', 'policies', 'runtime', 'machines', 'facades', 'adapters', 'entries'],
  cli: ['core', 'policies', 'runtime', 'machines', 'facades', 'adapters', 'testkit', 'inspector', 'entries'],
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(path: string): string {
  const top = path.split('/')[0]!;
  return top.endsWith('.ts') ? 'entries' : top;
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((spec) => normalize(join(dirname(file), spec)));
}

describe('layout', () => {
  it('keeps the roles in their folders: the machines alone in machines/, the memory transport with the test kit', () => {
    expect(sources('machines').sort()).toEqual([
      'machines/poolMachine.ts',
      'machines/relayMachine.ts',
      'machines/resume.ts',
    ]);
    expect(sources('testkit')).toContain('testkit/memoryTransport.ts');
    expect(sources('adapters').some((f) => f.includes('memory'))).toBe(false);
  });

  it('imports flow one way: no layer imports one above it', () => {
    const violations: string[] = [];
    for (const layer of Object.keys(ALLOWED)) {
      for (const file of sources(layer)) {
        for (const target of importsOf(file)) {
          const to = layerOf(relative('.', target));
          if (to !== layer && !ALLOWED[layer]!.includes(to)) violations.push(`${file} → ${target} (${layer} → ${to})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('the check sees a violation when there is one', () => {
    const to = layerOf(relative('.', normalize(join('core', '../machines/relayMachine.ts'))));
    expect(ALLOWED.core!.includes(to)).toBe(false);
    expect(importsOf('machines/relayMachine.ts').some((t) => layerOf(t) === 'runtime')).toBe(true);
  });
});
