/**
 * Time, injected. Every timer in Synapse goes through a {@link Clock} so tests can step
 * time deterministically with the simulated clock from `synapse/testing`.
 */
/** An opaque timer of a {@link Clock} (only `clearTimeout` of the same clock understands it). */
export interface TimerHandle {
  readonly __timer: unique symbol;
}

/** The time source every timer in Synapse uses: {@link realClock}, or `SimulatedClock` in tests. */
export interface Clock {
  /** Milliseconds, monotonic within one clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and unref'ed Node timers (a timer never keeps the process alive). */
export const realClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t as unknown as TimerHandle;
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  },
});

/** The longest delay Node timers accept (a larger one overflows to 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
function noop(): void {
  // Holding the loop is the whole job.
}

/**
 * Keeps the host's event loop alive until the returned release function is called (idempotent).
 * {@link realClock}'s timers never do, so an owner of pending work that no I/O handle stands for
 * — a request queued while every worker is in restart backoff — holds one of these until it is
 * idle. Not a timer of the {@link Clock}: it never fires anything, on any clock.
 *
 * @example
 * ```ts
 * const release = holdEventLoop();
 * try { await work; } finally { release(); }
 * ```
 */
export function holdEventLoop(): () => void {
  let handle: NodeJS.Timeout | undefined = setInterval(noop, MAX_TIMER_MS);
  return () => {
    if (handle === undefined) return;
    clearInterval(handle);
    handle = undefined;
  };
}
