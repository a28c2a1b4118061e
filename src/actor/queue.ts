/**
 * A FIFO queue as an array plus a head index (the engine's own `push`, a moving head for
 * `shift`). Consumed slots are cleared at once, so nothing is retained. The dead prefix is
 * dropped when the queue drains to empty (after a few messages, so steady one-at-a-time
 * traffic does not reallocate per message) or, in a queue fed while it drains, compacted
 * on push once it is both large and at least half the array: both operations stay
 * amortised O(1) and a burst does not pin memory for the actor's lifetime. It has no bound
 * of its own: callers (the mailbox, the deadline queues) enforce theirs.
 */

/** An empty queue whose dead prefix reached this length releases its storage. */
const RESET_EMPTY_AT = 16;
/** A push compacts once the dead prefix is this long and at least half the array. */
const COMPACT_MIN = 1024;

export class FifoQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Number of queued items. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    // Compacting on push (not shift) leaves a burst-then-drain alone: the drain ends empty
    // and releases everything at once; only a queue that is fed while it drains compacts.
    if (this.#head >= COMPACT_MIN && this.#head * 2 >= this.#items.length) this.#compact();
    this.#items.push(item);
  }

  /** Removes and returns the oldest item. Callers check `size` first (items may be `undefined`). */
  shift(): T {
    const items = this.#items;
    const head = this.#head;
    const item = items[head] as T;
    items[head] = undefined;
    const next = head + 1;
    if (next === items.length) {
      if (next >= RESET_EMPTY_AT) {
        items.length = 0;
        this.#head = 0;
      } else this.#head = next;
    } else this.#head = next;
    return item;
  }

  /** The oldest item without removing it (`undefined` when empty). */
  peek(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  /** Removes and returns the first item matching `predicate` (O(n)); `undefined` if none. */
  removeFirst(predicate: (item: T) => boolean): T | undefined {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const item = items[i] as T;
      if (!predicate(item)) continue;
      if (i === this.#head) return this.shift();
      items.splice(i, 1);
      return item;
    }
    return undefined;
  }

  /** Keeps only the items matching `predicate`, in order (O(n)). */
  retain(predicate: (item: T) => boolean): void {
    const kept: (T | undefined)[] = [];
    for (let i = this.#head; i < this.#items.length; i++) if (predicate(this.#items[i] as T)) kept.push(this.#items[i]);
    this.#items = kept;
    this.#head = 0;
  }

  /** Removes every item, oldest first, handing each to `visit`. */
  drain(visit: (item: T) => void): void {
    while (this.#head < this.#items.length) visit(this.shift());
  }

  #compact(): void {
    // A plain loop: Array.prototype.copyWithin takes V8's slow generic path on these arrays.
    const items = this.#items;
    const head = this.#head;
    const size = items.length - head;
    for (let i = 0; i < size; i++) items[i] = items[head + i];
    items.length = size;
    this.#head = 0;
  }
}
