/**
 * A bounded async event channel: the producer pushes, one consumer iterates. Used for
 * `streamMessage`. Text deltas coalesce when the buffer is full so a slow consumer bounds
 * memory without losing text; other events are kept (the total is still capped).
 */
export interface Channel<T> extends AsyncIterable<T> {
  push(item: T): void;
  end(): void;
  fail(error: unknown): void;
}

export function channel<T>(options: { capacity: number; coalesce?: (last: T, next: T) => T | undefined; onReturn?: () => void }): Channel<T> {
  const buffer: T[] = [];
  let done = false;
  let error: unknown;
  let failed = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  return {
    push(item) {
      if (done) return;
      if (buffer.length >= options.capacity && buffer.length > 0 && options.coalesce) {
        const merged = options.coalesce(buffer[buffer.length - 1]!, item);
        if (merged !== undefined) {
          buffer[buffer.length - 1] = merged;
          return;
        }
      }
      // Past capacity with nothing to merge into: keep it (terminal/tool events matter) but the
      // producer side is bounded by the agent's own run (one run's events).
      buffer.push(item);
      notify();
    },
    end() {
      done = true;
      notify();
    },
    fail(err) {
      if (done) return;
      failed = true;
      error = err;
      done = true;
      notify();
    },
    [Symbol.asyncIterator](): AsyncIterator<T> {
      return {
        async next(): Promise<IteratorResult<T>> {
          for (;;) {
            if (buffer.length > 0) return { value: buffer.shift()!, done: false };
            if (done) {
              if (failed) {
                failed = false;
                throw error;
              }
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => (wake = resolve));
          }
        },
        async return(): Promise<IteratorResult<T>> {
          if (!done) {
            done = true;
            buffer.length = 0;
            options.onReturn?.();
          }
          return { value: undefined, done: true };
        },
      };
    },
  };
}
