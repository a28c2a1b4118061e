/**
 * PID leak checking for tests that spawn Python workers.
 *
 * The scanning logic is the fault kit's (`src/testing/pids.ts`, exported as `synapse/testing`):
 * our workers carry `SYNAPSE_PARENT_PID=<node pid>` in their environment, so `/proc/<pid>/environ`
 * tells which live processes a given Node process spawned, even after that Node process died.
 * This module only adds the test-only conveniences: a positional `parentPid` and a bounded wait.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { assertNoLeakedPids as assertNoLeakedPidsOf, findWorkerPids, isPidAlive } from '../../src/testing/pids.ts';
import type { InspectNode } from '../../src/observe/inspect.ts';
import { VENV_PYTHON } from './python.ts';

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
 * The watcher run by {@link waitForPidsGone}: argv = JSON pids, wall-clock deadline (epoch ms).
 * A pidfd becomes readable when its process terminates (zombie included), for any process, not
 * only children; `ProcessLookupError` means it is already gone. Prints the survivors as JSON.
 */
const PIDFD_WATCHER = `
import json, os, select, sys, time
pids, end = json.loads(sys.argv[1]), float(sys.argv[2]) / 1000
fds = {}
for pid in pids:
    try:
        fds[os.pidfd_open(pid)] = pid
    except ProcessLookupError:
        pass
poller = select.poll()
for fd in fds:
    poller.register(fd, select.POLLIN)
while fds:
    left = end - time.time()
    if left <= 0:
        break
    for fd, _ in poller.poll(left * 1000):
        poller.unregister(fd)
        os.close(fd)
        del fds[fd]
print(json.dumps(sorted(fds.values())), flush=True)
`;

/** How long after the deadline the watcher may take to report before it is killed (interpreter start-up under load). */
const WATCHER_GRACE_MS = 10_000;

/**
 * Waits until none of `pids` is alive, up to `deadlineMs`; returns the survivors (empty on success).
 *
 * The processes waited for are usually not our children (e.g. the workers of a SIGKILLed Node
 * parent), so `once(child, 'exit')` is impossible, and Node 20 has no pidfd API. Instead one
 * short-lived Python process (`SYNAPSE_PYTHON`, else the project venv) opens a pidfd per pid and
 * `poll`s them until they all terminated or the deadline passed, then prints the survivors and
 * exits; this awaits its exit. No polling loop: the kernel wakes the watcher on each exit. The
 * watcher is never left behind: it exits on its own at the deadline, and is SIGKILLed (and
 * awaited) if it errs or overruns the deadline by {@link WATCHER_GRACE_MS}.
 *
 * @throws if the watcher fails (its stderr in the message) or overruns.
 */
export async function waitForPidsGone(pids: readonly number[], deadlineMs: number): Promise<number[]> {
  const alive = pids.filter(isPidAlive);
  if (alive.length === 0) return [];
  const end = Date.now() + deadlineMs;
  const python = process.env.SYNAPSE_PYTHON || VENV_PYTHON;
  const watcher = spawn(python, ['-c', PIDFD_WATCHER, JSON.stringify(alive), String(end)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = once(watcher, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  let stdout = '';
  let stderr = '';
  watcher.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  watcher.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const overrun = setTimeout(() => watcher.kill('SIGKILL'), deadlineMs + WATCHER_GRACE_MS);
  try {
    const [code, signal] = await closed;
    if (code !== 0) throw new Error(`pidfd watcher (${python}) failed: code ${code}, signal ${signal}: ${stderr.trim()}`);
    const survivors = JSON.parse(stdout) as number[];
    // A pid the watcher saw alive at the deadline may have exited since: report only the live ones.
    return survivors.filter(isPidAlive);
  } finally {
    clearTimeout(overrun);
    if (watcher.exitCode === null && watcher.signalCode === null && watcher.pid !== undefined) {
      watcher.kill('SIGKILL');
      await once(watcher, 'exit').catch(() => {});
    }
  }
}

/**
 * Pids of the system's running zygotes (`system.inspect()` nodes of kind `zygote`): with
 * `python.zygote` on (the Linux default) they are Python processes of this Node process beside
 * its workers — in `findWorkerPids()` until `system.stop()` — and the parents of forked workers.
 */
export function zygotePids(system: { inspect(): InspectNode }): number[] {
  return system
    .inspect()
    .children.filter((n) => n.kind === 'zygote' && n.pid !== undefined)
    .map((n) => n.pid!);
}

/**
 * True if `needle` occurs in the private writable memory of `pid` (`rw-p` regions of
 * `/proc/<pid>/maps`, read through `/proc/<pid>/mem`: the heap, stacks and anonymous arenas where
 * a parsed secret would sit). Needs ptrace access to `pid` (same user; with Yama, an ancestor).
 *
 * @throws if a region cannot be read (no silent "not found").
 */
export function memoryContains(pid: number, needle: string): boolean {
  const regions = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((line) => / rw-p /.test(line))
    .map((line) => line.split(' ')[0]!.split('-').map((hex) => Number.parseInt(hex, 16)) as [number, number]);
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    for (const [start, end] of regions) {
      const buf = Buffer.alloc(end - start);
      readSync(fd, buf, 0, buf.length, start);
      if (buf.includes(needle)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}
