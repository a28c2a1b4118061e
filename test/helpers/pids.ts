/**
 * PID leak checking for tests that spawn Python workers.
 *
 * Our workers carry `SYNAPSE_PARENT_PID=<node pid>` in their environment (set by the process
 * layer for the orphan watchdog), so `/proc/<pid>/environ` tells which live processes a given
 * Node process spawned, even after that Node process died.
 */
import { readdirSync, readFileSync } from 'node:fs';

function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined; // exited meanwhile
  }
}

/** Live (non-zombie) processes whose environment says `SYNAPSE_PARENT_PID=<parentPid>`. */
export function findWorkerPids(parentPid: number = process.pid): number[] {
  const marker = `SYNAPSE_PARENT_PID=${parentPid}\0`;
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${name}/environ`, 'latin1');
    } catch {
      continue; // gone, or not ours to read
    }
    if (!`${environ}\0`.includes(marker)) continue;
    const pid = Number(name);
    const state = stateOf(pid);
    if (state !== undefined && state !== 'Z') found.push(pid);
  }
  return found;
}

/** True if `pid` is a live, non-zombie process. */
export function isPidLive(pid: number): boolean {
  const state = stateOf(pid);
  return state !== undefined && state !== 'Z';
}

/**
 * Fails if any worker spawned by `parentPid` (default: this process) is still alive. Leaked
 * processes are SIGKILLed first so one failing test does not cascade into the next.
 */
export function assertNoLeakedPids(parentPid: number = process.pid): void {
  const leaked = findWorkerPids(parentPid);
  if (leaked.length === 0) return;
  for (const pid of leaked) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited between the scan and the kill
    }
  }
  throw new Error(`Leaked Python worker pids (spawned by ${parentPid}): ${leaked.join(', ')}`);
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
    const alive = pids.filter(isPidLive);
    if (alive.length === 0 || Date.now() >= end) return alive;
    await new Promise<void>((resolve) => setTimeout(resolve, 25));
  }
}
