/**
 * Restart policy as pure functions: no clock, no state, no I/O. The supervisor feeds them
 * timestamps and counters; tests and the property model call them directly.
 */
import type { ExitReason } from '../actor/types.ts';

// Backoff math lives beside the clock (the process layer's spare pool uses it too).
export { nextDelay, type BackoffBounds } from '../backoff.ts';

/** How a child is treated when it exits (OTP restart types). */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** Restart intensity: more than `intensity` restarts within `periodMs` is too many. */
export interface IntensityLimit {
  readonly intensity: number;
  readonly periodMs: number;
}

/**
 * Sliding-window restart intensity (OTP `supervisor` semantics): true when *more than*
 * `intensity` of `stamps` lie within the window `[now − periodMs, now]` (inclusive, as OTP's
 * `add_restart`, but in milliseconds instead of seconds).
 *
 * @param stamps restart times (ms on the supervisor's clock), any order; may include `now`.
 * @example
 * ```ts
 * intensityExceeded([0, 10, 20, 30], 30, { intensity: 3, periodMs: 5000 }) // true: 4 > 3
 * ```
 */
export function intensityExceeded(stamps: readonly number[], now: number, limit: IntensityLimit): boolean {
  return countInWindow(stamps, now, limit.periodMs) > limit.intensity;
}

/** Number of `stamps` inside `[now − periodMs, now]`. */
export function countInWindow(stamps: readonly number[], now: number, periodMs: number): number {
  let n = 0;
  for (const t of stamps) if (t <= now && now - t <= periodMs) n++;
  return n;
}

/**
 * Drops stamps that can never again be inside the window (keeps the list bounded).
 * Returns a new array; the input is not modified.
 */
export function pruneStamps(stamps: readonly number[], now: number, periodMs: number): number[] {
  return stamps.filter((t) => now - t <= periodMs);
}

/**
 * Records a restart at `now` (stamps in clock order, oldest first) and returns the stamps
 * that can still decide {@link intensityExceeded}: those inside the window, and of those at
 * most the newest `intensity + 1` (more can never change "more than `intensity`"). So the
 * list is bounded by `intensity + 1` whatever `periodMs` is.
 * @example
 * ```ts
 * recordRestart([0, 10, 20], 30, { intensity: 1, periodMs: 5000 }) // [20, 30]
 * ```
 */
export function recordRestart(stamps: readonly number[], now: number, limit: IntensityLimit): number[] {
  return pruneStamps([...stamps, now], now, limit.periodMs).slice(-(limit.intensity + 1));
}

/**
 * True for a crash: anything but `'normal'`, `'shutdown'` or `{ shutdown: _ }` (OTP).
 * `'kill'` and `'killed'` are abnormal.
 */
export function isAbnormal(reason: ExitReason | 'noproc'): boolean {
  if (reason === 'normal' || reason === 'shutdown') return false;
  if (typeof reason === 'object' && reason !== null && !(reason instanceof Error) && 'shutdown' in reason) return false;
  return true;
}

/**
 * Whether a child that exited with `reason` is restarted (OTP): `permanent` always,
 * `transient` only after an abnormal exit ({@link isAbnormal}), `temporary` never.
 */
export function shouldRestart(restart: RestartType, reason: ExitReason | 'noproc'): boolean {
  switch (restart) {
    case 'permanent':
      return true;
    case 'transient':
      return isAbnormal(reason);
    case 'temporary':
      return false;
  }
}
