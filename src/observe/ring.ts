/**
 * A fixed-capacity ring buffer: pushing past capacity overwrites the oldest entry. The event
 * backlog (./backlog.ts) and the time series (./series.ts) keep their history in one, so their
 * memory is bounded by construction.
 */

/** Fixed-capacity FIFO that drops its oldest entry when full. */
export class Ring<T> {
  readonly #slots: (T | undefined)[];
  #start = 0;
  #size = 0;
  #dropped = 0;

  /** @param capacity most entries kept (an integer ≥ 1; the caller validates it). */
  constructor(readonly capacity: number) {
    this.#slots = new Array<T | undefined>(capacity);
  }

  /** Entries held now. */
  get size(): number {
    return this.#size;
  }

  /** Entries overwritten since creation. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Appends `value`, overwriting the oldest entry when full. */
  push(value: T): void {
    if (this.#size < this.capacity) {
      this.#slots[(this.#start + this.#size) % this.capacity] = value;
      this.#size += 1;
      return;
    }
    this.#slots[this.#start] = value;
    this.#start = (this.#start + 1) % this.capacity;
    this.#dropped += 1;
  }

  /** Removes and returns the oldest entry, if any (not counted as dropped). */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const value = this.#slots[this.#start];
    this.#slots[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.capacity;
    this.#size -= 1;
    return value;
  }

  /** The newest entry, if any. */
  last(): T | undefined {
    return this.#size === 0 ? undefined : this.#slots[(this.#start + this.#size - 1) % this.capacity];
  }

  /** Entries oldest first (a copy). */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.#slots[(this.#start + i) % this.capacity] as T);
    return out;
  }
}
