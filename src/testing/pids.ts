/**
 * Leak checks for Python workers. Every worker carries `SYNAPSE_PARENT_PID=<node pid>` in its
 * environment (set by the process layer for its orphan watchdog), so `/proc/<pid>/environ`
 * says which live processes a Node process spawned — even after that Node process died.
 * Linux only (reads `/proc`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { assertNone } from './invariant.ts';

function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const at = stat.lastIndexOf(')');
    return stat.slice(at + 2, at + 3);
  } catch {
    return undefined; // exited meanwhile (or not readable): not alive for our purposes
  }
}

/** True if `pid` is a live, non-zombie process. */
export function isPidAlive(pid: number): boolean {
  const state = stateOf(pid);
  return state !== undefined && state !== 'Z';
}

/**
 * Live (non-zombie) Python processes of the Node process `parentPid` (default: this one): its
 * workers and, with `python.zygote` (the Linux default), its zygotes — alive until
 * `system.stop()` — whose forked workers carry the zygote's env block and so are found too.
 *
 * @example
 * ```ts
 * expect(findWorkerPids()).toEqual([]);
 * ```
 */
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
    if (isPidAlive(pid)) found.push(pid);
  }
  return found;
}

/**
 * Asserts that no Python worker of `parentPid` (default: this process) is alive. Leaked workers
 * are SIGKILLed first, so one failing test does not cascade into the next. Call it after
 * `system.stop()` resolved (stop awaits every worker's exit).
 *
 * @throws FaultInvariantError (`pids`) naming the leaked pids.
 * @example
 * ```ts
 * await system.stop();
 * assertNoLeakedPids();
 * ```
 */
export function assertNoLeakedPids(options: { parentPid?: number; except?: readonly number[] } = {}): void {
  const except = new Set(options.except ?? []);
  const leaked = findWorkerPids(options.parentPid ?? process.pid).filter((pid) => !except.has(pid));
  for (const pid of leaked) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited between the scan and the kill
    }
  }
  assertNone(
    'pids',
    leaked.map((pid) => `leaked Python worker pid ${pid}`),
  );
}
