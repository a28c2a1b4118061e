/**
 * Summary statistics for benchmark samples: median, percentiles, spread. Shared by every
 * bench in this folder.
 */

/** Summary of a set of samples (same unit as the samples). */
export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly median: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** (max − min) / median: the relative spread of the samples. */
  readonly spread: number;
  /** Sample standard deviation / mean. */
  readonly cv: number;
}

/** The `p`-th percentile (0..100) of `samples`, by linear interpolation between closest ranks. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** The median of `samples`. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Summarises `samples` (NaN fields for an empty list). */
export function summarize(samples: readonly number[]): Summary {
  const n = samples.length;
  const mean = n === 0 ? Number.NaN : samples.reduce((a, b) => a + b, 0) / n;
  const variance = n < 2 ? 0 : samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  const min = n === 0 ? Number.NaN : Math.min(...samples);
  const max = n === 0 ? Number.NaN : Math.max(...samples);
  const med = median(samples);
  return {
    n,
    min,
    max,
    mean,
    median: med,
    p50: med,
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
    spread: med === 0 ? 0 : (max - min) / Math.abs(med),
    cv: mean === 0 ? 0 : Math.sqrt(variance) / Math.abs(mean),
  };
}

/** Formats a number with SI suffixes (1.23 M, 456 k). */
export function si(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(digits)} G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(digits)} M`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(digits)} k`;
  return value.toFixed(digits);
}

/** "median ± spread%" for a table cell. */
export function cell(summary: Summary, format: (v: number) => string = (v) => si(v)): string {
  return `${format(summary.median)} ±${(summary.spread * 50).toFixed(0)}%`;
}

/** Renders a markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
