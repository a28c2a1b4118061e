/**
 * A small seeded PRNG (mulberry32) so a load run's choices — prompts, conversation order,
 * chaos times and targets — replay exactly from `--seed`.
 */

/** A deterministic random source. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Exponentially distributed delay with `rate` events per unit (Poisson process gaps). */
  exp(rate: number): number;
}

/**
 * A mulberry32 generator seeded from `seed` and a `stream` label, so independent streams
 * (one per driver, one for chaos) do not shift each other when one draws more numbers.
 */
export function rng(seed: number, stream = ''): Rng {
  let state = (seed ^ hash(stream)) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    exp: (rate) => -Math.log(1 - next()) / rate,
  };
}

/** FNV-1a 32-bit hash of a string. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
