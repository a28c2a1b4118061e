/**
 * A cleanup registry for tests: register teardown steps as resources are created; `afterEach`
 * runs them in reverse order, then checks that no Python worker leaked.
 */
import { afterEach } from 'vitest';
import { assertNoLeakedPids } from './pids.ts';

type Step = () => unknown;

export class CleanupRegistry {
  #steps: Step[] = [];

  /** Registers a teardown step (run in reverse registration order). */
  add(step: Step): void {
    this.#steps.push(step);
  }

  /** Registers a worker-like resource: SIGKILL it and await its exit at teardown. */
  track<T extends { kill(): void; readonly exited: Promise<unknown> }>(resource: T): T {
    this.add(async () => {
      resource.kill();
      await resource.exited;
    });
    return resource;
  }

  /** Runs every step (all of them, even if some throw), then rethrows the first error. */
  async run(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    let first: unknown;
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  }
}

/**
 * Installs an `afterEach` that runs the registry and asserts no leaked worker pids.
 *
 * @example
 * ```ts
 * const cleanup = useCleanup();
 * it('…', async () => { const p = cleanup.track(await PythonWorker.start(opts)); … });
 * ```
 */
export function useCleanup(): CleanupRegistry {
  const registry = new CleanupRegistry();
  afterEach(async () => {
    await registry.run();
    assertNoLeakedPids();
  });
  return registry;
}
