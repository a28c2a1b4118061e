/**
 * A bounded latency reservoir (Vitter's algorithm R with a seeded PRNG): exact percentiles
 * while fewer than `capacity` samples were offered, an unbiased sample of them after that.
 */
import { rng, type Rng } from './prng.ts';

/** Latency samples with bounded memory. */
export class Reservoir {
  readonly #capacity: number;
  readonly #samples: number[] = [];
  readonly #random: Rng;
  #seen = 0;
  #max = 0;
  #sum = 0;

  constructor(capacity = 100_000, seed = 1) {
    this.#capacity = capacity;
    this.#random = rng(seed, 'reservoir');
  }

  /** Offers one sample. */
  add(value: number): void {
    this.#seen++;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
    if (this.#samples.length < this.#capacity) this.#samples.push(value);
    else {
      const j = this.#random.int(this.#seen);
      if (j < this.#capacity) this.#samples[j] = value;
    }
  }

  /** Samples offered so far. */
  get count(): number {
    return this.#seen;
  }

  /** p50/p95/p99/max/mean, rounded to 0.01 (NaN-free: zeros when empty). */
  summary(): { count: number; p50: number; p95: number; p99: number; max: number; mean: number } {
    const sorted = [...this.#samples].sort((a, b) => a - b);
    const pick = (p: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
    const r = (x: number): number => Math.round(x * 100) / 100;
    return { count: this.#seen, p50: r(pick(50)), p95: r(pick(95)), p99: r(pick(99)), max: r(this.#max), mean: r(this.#seen === 0 ? 0 : this.#sum / this.#seen) };
  }
}
