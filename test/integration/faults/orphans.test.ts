// Node SIGKILLed with agents mid-run: no Python process survives 5 s — forked workers and their
// zygote (the default), or spawned workers (`zygote: false`); and a worker that could not notice
// (SIGSTOPped) is reaped by the next Synapse.start() from the pid file of the dead run.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { readProcStat } from '../../../src/process/proc.ts';
import { Synapse } from '../../../src/system.ts';
import { assertNoLeakedPids, findWorkerPids } from '../../../src/testing/index.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { waitForPidsGone } from '../../helpers/pids.ts';
import { VENV_PYTHON } from '../../helpers/python.ts';
import { REPO_ROOT } from './helpers.ts';

const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Starts the parent Node process; resolves with it, its workers' and its zygote's pids once both workers hang mid-run. */
async function parentWithAgents(stateDir: string, mode: 'zygote' | 'spawn' = 'zygote') {
  const parent = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/integration/faults/fixtures/system-parent.ts'), stateDir, mode], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = once(parent, 'exit');
  cleanups.push(async () => {
    parent.kill('SIGKILL');
    await exit;
  });
  const [line] = (await once(createInterface({ input: parent.stdout }), 'line')) as [string];
  const { pids, zygotes } = JSON.parse(line) as { pids: number[]; zygotes: number[] };
  return { parent, exit, pids, zygotes };
}

describe('orphans', () => {
  // Forked workers have no parent-death signal (their parent is the zygote): they leave on their
  // protocol socket's EOF or the watchdog's Node-pid probe; the zygote has PR_SET_PDEATHSIG.
  it.each([
    { mode: 'zygote', zygotes: 1 },
    { mode: 'spawn', zygotes: 0 },
  ] as const)('Node SIGKILLed mid-run → every Python process is gone within 5 s ($mode)', async ({ mode, zygotes: zygoteCount }) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synapse-orphans-'));
    dirs.push(stateDir);
    const { parent, exit, pids, zygotes } = await parentWithAgents(stateDir, mode);
    expect(pids).toHaveLength(2);
    expect(zygotes).toHaveLength(zygoteCount);
    expect(findWorkerPids(parent.pid).sort()).toEqual([...pids, ...zygotes].sort());
    parent.kill('SIGKILL');
    await exit;
    expect(await waitForPidsGone([...pids, ...zygotes], 5_000)).toEqual([]);
    assertNoLeakedPids({ parentPid: parent.pid! });
  });

  it('a worker the dead run left behind is reaped by the next Synapse.start() (orphan.reaped)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synapse-orphans-'));
    dirs.push(stateDir);
    const { parent, exit, pids, zygotes } = await parentWithAgents(stateDir);
    parent.kill('SIGKILL');
    await exit;
    expect(await waitForPidsGone([...pids, ...zygotes], 5_000)).toEqual([]);
    // The dead run's pid file is still there. Real workers die with their parent (stdin EOF,
    // watchdog, PR_SET_PDEATHSIG), so stand in a survivor — a detached, stopped process that
    // cannot act on its own — for one of its entries: what a worker wedged in the kernel would be.
    const survivor = spawn(VENV_PYTHON, ['-c', 'import time; print("up", flush=True); time.sleep(120)'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { SYNAPSE_PARENT_PID: String(parent.pid) },
    });
    const survivorExit = once(survivor, 'exit');
    cleanups.push(async () => {
      try {
        process.kill(-survivor.pid!, 'SIGKILL');
      } catch {
        // reaped, as expected
      }
      await survivorExit;
    });
    await once(survivor.stdout, 'data');
    process.kill(survivor.pid!, 'SIGSTOP');
    const file = join(stateDir, `${parent.pid}.json`);
    const recorded = JSON.parse(readFileSync(file, 'utf8')) as { entries: { pid: number; startTime: string }[] };
    expect(recorded.entries.map((e) => e.pid).sort()).toEqual([...pids, ...zygotes].sort()); // the zygote is recorded like a worker
    recorded.entries[0] = { pid: survivor.pid!, startTime: readProcStat(survivor.pid!)!.startTime };
    writeFileSync(file, JSON.stringify(recorded));

    // orphan.reaped is emitted during start(), before a listener can subscribe: read it from the log.
    const logs = captureLogs('info');
    const system = await Synapse.start({ logger: logs.log, stateDir });
    try {
      const reaped = await logs.waitFor((r) => r.event === 'orphan.reaped');
      expect(reaped).toMatchObject({ pythonPid: survivor.pid, pidFile: file }); // pid: the Node process's (pino)
      const [, signal] = await survivorExit;
      expect(signal).toBe('SIGKILL');
      expect(existsSync(file)).toBe(false);
    } finally {
      await system.stop();
    }
    assertNoLeakedPids({ parentPid: parent.pid! });
  });
});
