/**
 * A `gc()` for memory measurements: the real one under `--expose-gc`, otherwise obtained at
 * run time via `v8.setFlagsFromString('--expose-gc')` (works on Node 20; documented V8
 * behaviour, used by several benchmark harnesses). Returns undefined if neither works.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export function getGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Collects garbage thoroughly (several passes: weak callbacks, finalizers). */
export function fullGc(gc: () => void): void {
  for (let i = 0; i < 4; i++) gc();
}
