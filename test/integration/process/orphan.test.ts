// Orphan-proofing: a Node parent SIGKILLed mid-run leaves no Python worker behind, and
// reapStale() kills what an earlier parent recorded when the worker could not act on its own.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { PidFile, reapStale } from '../../../src/process/pidfile.ts';
import { readProcStat } from '../../../src/process/proc.ts';
import { PythonWorker } from '../../../src/process/worker.ts';
import { useCleanup } from '../../helpers/cleanup.ts';
import { assertNoLeakedPids, waitForPidsGone } from '../../helpers/pids.ts';
import { exampleRef, REPO_ROOT, VENV_PYTHON, workerOptions } from '../../helpers/python.ts';

const cleanup = useCleanup();
let dir: string;

afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  dir = mkdtempSync(join(tmpdir(), 'synapse-pids-test-'));
  return dir;
}

/** A detached plain Python sleeper marked as ours (so the leak check would catch it). */
async function sleeper(): Promise<{ pid: number; exit: Promise<unknown[]> }> {
  const child = spawn(VENV_PYTHON, ['-c', 'import sys, time; print("up", flush=True); time.sleep(120)'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { SYNAPSE_PARENT_PID: String(process.pid) },
  });
  const exit = once(child, 'exit');
  cleanup.add(async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already reaped by the test
    }
    await exit;
  });
  await once(child.stdout, 'data'); // it is running Python code, not still exec'ing
  return { pid: child.pid!, exit };
}

/** The pid of a process that has exited (a plausible dead owner). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await once(child, 'exit');
  return child.pid!;
}

describe('orphans', () => {
  it('SIGKILL of the Node parent mid-run leaves no Python worker alive after 5 s', async () => {
    const pidDir = tempDir();
    const parent = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/orphan-parent.ts'), pidDir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const parentExit = once(parent, 'exit');
    cleanup.add(async () => {
      parent.kill('SIGKILL');
      await parentExit;
    });
    const [line] = (await once(createInterface({ input: parent.stdout }), 'line')) as [string];
    const { pids } = JSON.parse(line) as { pids: number[] };
    expect(pids).toHaveLength(2);
    const recorded = JSON.parse(readFileSync(join(pidDir, `${parent.pid}.json`), 'utf8')) as { entries: { pid: number }[] };
    expect(recorded.entries.map((e) => e.pid).sort()).toEqual([...pids].sort());

    parent.kill('SIGKILL');
    await parentExit;
    expect(await waitForPidsGone(pids, 5_000)).toEqual([]);
    assertNoLeakedPids(parent.pid);
    // Nothing left to reap; the dead parent's file is swept.
    expect(reapStale(pidDir)).toEqual([]);
    expect(existsSync(join(pidDir, `${parent.pid}.json`))).toBe(false);
  });

  it('reapStale() kills a stopped leftover of a dead owner, and only that', async () => {
    const pidDir = tempDir();
    const stopped = await sleeper();
    const reused = await sleeper(); // alive, but recorded with another start time: a reused pid
    const livesOn = await sleeper(); // recorded by a live owner
    process.kill(stopped.pid, 'SIGSTOP'); // its own watchdog could not act
    const owner = await deadPid();
    const file = join(pidDir, `${owner}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        ownerPid: owner,
        ownerStartTime: '1',
        entries: [
          { pid: stopped.pid, startTime: readProcStat(stopped.pid)!.startTime },
          { pid: reused.pid, startTime: '1' },
        ],
      }),
    );
    const liveFile = join(pidDir, `${livesOn.pid}.json`);
    writeFileSync(liveFile, JSON.stringify({ ownerPid: livesOn.pid, ownerStartTime: readProcStat(livesOn.pid)!.startTime, entries: [{ pid: livesOn.pid, startTime: readProcStat(livesOn.pid)!.startTime }] }));
    writeFileSync(join(pidDir, '12.json'), '{ torn'); // unreadable: skipped

    expect(reapStale(pidDir)).toEqual([{ pid: stopped.pid, pidFile: file }]);
    const [, signal] = await stopped.exit;
    expect(signal).toBe('SIGKILL');
    expect(readProcStat(reused.pid)).toBeDefined();
    expect(readProcStat(livesOn.pid)).toBeDefined();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(liveFile)).toBe(true);
  });

  it('a PythonWorker records its pid while alive and removes it at exit', async () => {
    const pidFile = new PidFile({ dir: tempDir() });
    const proc = cleanup.track(await PythonWorker.start(workerOptions([{ name: 'noop', ref: exampleRef('noop.py', 'handler') }], { pidFile })));
    const content = JSON.parse(readFileSync(pidFile.path, 'utf8')) as { ownerPid: number; entries: { pid: number; startTime: string }[] };
    expect(content.ownerPid).toBe(process.pid);
    expect(content.entries).toEqual([{ pid: proc.pid, startTime: readProcStat(proc.pid)!.startTime }]);
    await proc.close();
    expect(existsSync(pidFile.path)).toBe(false);
  });
});
