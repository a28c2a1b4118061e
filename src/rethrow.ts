/**
 * The one way Synapse reports an error it must not swallow but cannot return (a listener's or
 * a user callback's throw): re-thrown on a fresh macrotask, outside the caller's stack, so the
 * emitting code's bookkeeping is never affected and the process's `uncaughtException` handling
 * (or a crash) decides. A real timer on purpose: error reporting must not depend on simulated time.
 */
export function rethrowLater(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}
