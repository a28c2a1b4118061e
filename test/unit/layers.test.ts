// The layering docs/architecture.md draws, checked on the source: which folder of src/ may import
// which, no import cycle between folders, and none inside src/process/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** Every relative import of every .ts file under src/: [from file, to file] (paths relative to src/). */
function imports(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/from '(\.[^']+)'/g)) out.push([relative(SRC, path), relative(SRC, resolve(dirname(path), m[1]!))]);
      }
    }
  };
  walk(SRC);
  return out;
}

/** The layer of a file: its folder under src/, or `<root>/<file>` for a shared top-level module. */
const layer = (file: string): string => (file.includes(sep) ? file.split(sep)[0]! : `<root>/${file}`);
/** Top-level files that wire every layer (the public entry points). */
const ENTRY = new Set(['system.ts', 'index.ts']);

function hasCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (n: string, path: string[]): string[] | undefined => {
    if (state.get(n) === 'open') return [...path, n];
    if (state.get(n) === 'done') return undefined;
    state.set(n, 'open');
    for (const m of graph.get(n) ?? []) {
      const found = visit(m, [...path, n]);
      if (found) return found;
    }
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const found = visit(n, []);
    if (found) return found;
  }
  return undefined;
}

describe('layers of src/', () => {
  const edges = imports().filter(([from]) => !ENTRY.has(from));

  it('folders import each other without a cycle', () => {
    const graph = new Map<string, Set<string>>();
    for (const [from, to] of edges) {
      const a = layer(from);
      const b = layer(to);
      if (a === b || ENTRY.has(to)) continue;
      if (!graph.has(a)) graph.set(a, new Set());
      graph.get(a)!.add(b);
    }
    expect(hasCycle(graph)).toBeUndefined();
  });

  it('observe/ and protocol/ import no other layer; process/ never reaches supervisor/, agent/ or actor/', () => {
    const bad = edges.filter(([from, to]) => {
      const a = layer(from);
      const b = layer(to);
      if (a === b || b.startsWith('<root>/')) return false;
      if (a === 'observe' || a === 'protocol') return true;
      return a === 'process' && ['supervisor', 'agent', 'actor'].includes(b);
    });
    expect(bad).toEqual([]);
  });

  it('src/process/ has no import cycle between its files', () => {
    const graph = new Map<string, Set<string>>();
    for (const [from, to] of edges) {
      if (layer(from) !== 'process' || layer(to) !== 'process') continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
    expect(graph.size).toBeGreaterThan(5); // the walk found the layer's files
    expect(hasCycle(graph)).toBeUndefined();
  });
});
