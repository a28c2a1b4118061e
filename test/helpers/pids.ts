/**
 * PID leak checking for tests that spawn Python workers.
 *
 * The scanning logic is the fault kit's (`src/testing/pids.ts`, exported as `synapse/testing`):
 * our workers carry `SYNAPSE_PARENT_PID=<node pid>` in their environment, so `/proc/<pid>/environ`
 * tells which live processes a given Node process spawned, even after that Node process died.
 * This module only adds the test-only conveniences: a positional `parentPid` and a bounded wait.
 */
import { assertNoLeakedPids as assertNoLeakedPidsOf, findWorkerPids, isPidAlive } from '../../src/testing/pids.ts';

export { findWorkerPids };

/** True if `pid` is a live, non-zombie process (the kit's `isPidAlive`). */
export const isPidLive: (pid: number) => boolean = isPidAlive;

/**
 * Fails if any worker spawned by `parentPid` (default: this process) is still alive. Leaked
 * processes are SIGKILLed first so one failing test does not cascade into the next.
 *
 * @throws FaultInvariantError (`pids`) naming the leaked pids.
 */
export function assertNoLeakedPids(parentPid: number = process.pid): void {
  assertNoLeakedPidsOf({ parentPid });
}

/**
 * Waits until none of `pids` is alive, up to `deadlineMs`; returns the survivors (empty on success).
 *
 * This is the one place a test helper polls with a real timer: a process that is not our child
 * (e.g. the worker of a SIGKILLed Node parent) cannot be awaited with `once(child, 'exit')`, and
 * Node 20 has no pidfd API. The loop is bounded by the deadline and checks every 25 ms.
 */
export async function waitForPidsGone(pids: readonly number[], deadlineMs: number): Promise<number[]> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const alive = pids.filter(isPidAlive);
    if (alive.length === 0 || Date.now() >= end) return alive;
    await new Promise<void>((resolve) => setTimeout(resolve, 25));
  }
}
