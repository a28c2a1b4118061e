/**
 * A deterministic clock for tests: time moves only when the test says so.
 *
 * @example
 * ```ts
 * const clock = new SimulatedClock();
 * const system = await Synapse.start({ clock });
 * await clock.advance(1_000); // fires every timer due within the next second, in order
 * ```
 */
import type { Clock, TimerHandle } from '../clock.ts';

interface Timer {
  readonly seq: number;
  readonly at: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = []; // sorted by (at, seq)

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { seq: this.#seq++, at: this.#now + Math.max(0, ms), fn, cancelled: false };
    // Binary insertion keeps the list ordered; equal times fire in creation order.
    let lo = 0;
    let hi = this.#timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#timers[mid]!.at <= timer.at) lo = mid + 1;
      else hi = mid;
    }
    this.#timers.splice(lo, 0, timer);
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as unknown as Timer;
    if (timer.cancelled) return;
    timer.cancelled = true;
    const i = this.#timers.indexOf(timer);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Time of the next pending timer, or undefined. */
  nextAt(): number | undefined {
    return this.#timers[0]?.at;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order. Between timers it yields to the
   * microtask queue (and one macrotask turn) so async handlers they trigger can settle.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flush();
      const next = this.#timers[0];
      if (next === undefined || next.at > target) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
    await flush();
  }

  /** Jumps to the next pending timer and fires it (and any others due at the same instant). Returns false if none. */
  async advanceToNext(): Promise<boolean> {
    await flush();
    const next = this.#timers[0];
    if (next === undefined) return false;
    await this.advance(next.at - this.#now);
    return true;
  }

  /** Fires timers until none is pending or `maxSteps` is reached (a guard against self-rescheduling timers). */
  async runAll(maxSteps = 10_000): Promise<void> {
    for (let i = 0; i < maxSteps; i++) if (!(await this.advanceToNext())) return;
    throw new Error(`SimulatedClock.runAll: still ${this.#timers.length} timers after ${maxSteps} steps`);
  }

  /**
   * Models a stall of the host's event loop (a long synchronous burst): time moves forward by
   * `ms` but no timer fires during it; timers that fell due fire late, at the stall's end, on
   * the next `advance` (as real timers would once the loop is free again).
   */
  stall(ms: number): void {
    this.#now += ms;
  }

  /** Synchronously fires the timers due now (no yielding): for fast-check schedulers that drive time themselves. */
  tick(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.at > target) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }
}

/** Lets pending microtasks and one macrotask turn run (settles promise chains started by timers). */
async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}
