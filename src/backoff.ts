/**
 * Exponential backoff with full jitter, as a pure function: used by supervisors (restart
 * delays) and by the process layer (spare refill, zygote restarts). No clock, no state.
 */

/** Exponential backoff bounds (Akka's `BackoffSupervisor` min/max). */
export interface BackoffBounds {
  /** Delay of the first restart, and the lower bound of every delay. `0` disables backoff. */
  readonly minMs: number;
  /** Upper bound of every delay. */
  readonly maxMs: number;
}

/** Exponent cap: `2^40·minMs` already exceeds any sane `maxMs`; avoids `Infinity·0` style surprises. */
const MAX_EXPONENT = 40;

/**
 * Delay before restart number `attempt` (0-based: the first restart after a crash is 0).
 *
 * Full jitter over `[minMs, cap]` where `cap = min(maxMs, minMs·2^attempt)`:
 * `delay = minMs + rand·(cap − minMs)`. So the delay is never below `minMs` (attempt 0 is
 * exactly `minMs`), never above `maxMs`, and `minMs = 0` means "no backoff" (always 0).
 * If `maxMs < minMs` the delay is `maxMs` (the tighter bound wins).
 *
 * @param attempt restarts since the child last stayed up `resetAfterMs` (integer ≥ 0).
 * @param bounds `{ minMs, maxMs }` in milliseconds.
 * @param rand a number in `[0, 1)`; out-of-range values are clamped. Default `Math.random()`.
 * @returns a whole number of milliseconds.
 *
 * @example
 * ```ts
 * nextDelay(0, { minMs: 100, maxMs: 10_000 }, () => 0.5) // 100
 * nextDelay(3, { minMs: 100, maxMs: 10_000 }, () => 0.5) // 100 + 0.5·(800 − 100) = 450
 * ```
 */
export function nextDelay(attempt: number, bounds: BackoffBounds, rand: () => number = Math.random): number {
  const { minMs, maxMs } = bounds;
  if (minMs <= 0 || maxMs <= 0) return 0;
  if (maxMs <= minMs) return Math.round(maxMs);
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), MAX_EXPONENT);
  const cap = Math.min(maxMs, minMs * 2 ** exponent);
  const r = Math.min(1, Math.max(0, rand()));
  return Math.round(minMs + r * (cap - minMs));
}
