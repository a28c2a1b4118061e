/**
 * Call deadlines without a Node timer per call. Calls with the same timeout value expire in
 * the order they were made, so each distinct timeout value gets one FIFO and one clock
 * timer armed for its earliest live deadline. Settled entries are skipped lazily (pruned
 * from the head on push, compacted when a queue grows), so a settle costs nothing here.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { FifoQueue } from './queue.ts';

/** What the scheduler needs from a pending entry. */
export interface Deadline {
  /** Clock time (ms) at which the entry expires. */
  deadline: number;
  /** True once the entry no longer needs to expire. */
  readonly settled: boolean;
  /** Called once the deadline has passed and the entry is still unsettled. */
  expire(): void;
}

/** Node clamps larger delays to 1 ms; longer waits re-arm on wake-up. */
const MAX_DELAY = 2_147_483_647;
/** A queue this long (and every doubling after) is compacted to drop settled entries. */
const COMPACT_AT = 4096;

class DeadlineFifo {
  readonly items = new FifoQueue<Deadline>();
  timer: TimerHandle | undefined = undefined;
  nextCompaction = COMPACT_AT;
  readonly fire: () => void;

  constructor(
    owner: DeadlineScheduler,
    readonly timeout: number,
  ) {
    this.fire = () => owner.expireDue(this, timeout);
  }
}

export class DeadlineScheduler {
  readonly #clock: Clock;
  readonly #fifos = new Map<number, DeadlineFifo>();
  /** The FIFO used last: nearly every call uses the same (default) timeout, so `add` skips the map. */
  #last: DeadlineFifo | undefined = undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Schedules `entry` to expire `timeoutMs` from now (finite, ≥ 0). */
  add(entry: Deadline, timeoutMs: number): void {
    entry.deadline = this.#clock.now() + timeoutMs;
    let fifo = this.#last;
    if (fifo === undefined || fifo.timeout !== timeoutMs) {
      fifo = this.#fifos.get(timeoutMs);
      if (fifo === undefined) {
        fifo = new DeadlineFifo(this, timeoutMs);
        this.#fifos.set(timeoutMs, fifo);
      }
      this.#last = fifo;
    }
    const items = fifo.items;
    while (items.size > 0 && items.peek()!.settled) items.shift();
    items.push(entry);
    if (items.size >= fifo.nextCompaction) {
      items.retain((e) => !e.settled);
      fifo.nextCompaction = Math.max(COMPACT_AT, items.size * 2);
    }
    if (fifo.timer === undefined) this.#arm(fifo, timeoutMs);
  }

  /** @internal Timer callback: expires every due entry, then re-arms for the next live one. */
  expireDue(fifo: DeadlineFifo, timeout: number): void {
    fifo.timer = undefined;
    const now = this.#clock.now();
    const items = fifo.items;
    while (items.size > 0) {
      const head = items.peek()!;
      if (head.settled) items.shift();
      else if (head.deadline <= now) {
        items.shift();
        head.expire();
      } else break;
    }
    if (items.size > 0) this.#arm(fifo, items.peek()!.deadline - now);
    else if (this.#fifos.get(timeout) === fifo) {
      this.#fifos.delete(timeout);
      if (this.#last === fifo) this.#last = undefined; // only FIFOs in the map may be reused
    }
  }

  /** Number of armed clock timers (one per timeout value with live entries). */
  get armedTimers(): number {
    let n = 0;
    for (const fifo of this.#fifos.values()) if (fifo.timer !== undefined) n++;
    return n;
  }

  /** Cancels every timer and forgets every entry without expiring it. Idempotent. */
  close(): void {
    for (const fifo of this.#fifos.values()) {
      if (fifo.timer !== undefined) this.#clock.clearTimeout(fifo.timer);
      fifo.timer = undefined;
    }
    this.#fifos.clear();
    this.#last = undefined;
  }

  #arm(fifo: DeadlineFifo, delay: number): void {
    fifo.timer = this.#clock.setTimeout(fifo.fire, Math.min(MAX_DELAY, Math.max(0, delay)));
  }
}
