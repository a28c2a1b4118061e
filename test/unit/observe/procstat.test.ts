import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { parseStat, parseStatmResidentPages, readProcStat } from '../../../src/observe/procstat.ts';

const PYTHON = join(process.cwd(), '.venv/bin/python');
const children: ChildProcess[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    expect(alive(child.pid!)).toBe(false);
  }
});

describe('parseStat', () => {
  it('handles a comm with spaces and parentheses', () => {
    const fields = ['S', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '250', '50', '0', '0', '20', '0', '1', '0', '100', '1000', '99'];
    expect(parseStat(`123 (we ird) (x)) ${fields.join(' ')}\n`)).toEqual({ state: 'S', ppid: 1, utimeTicks: 250, stimeTicks: 50 });
  });
  it('rejects garbage', () => {
    expect(parseStat('no paren here')).toBeUndefined();
    expect(parseStat('1 (x) S a b')).toBeUndefined();
    expect(parseStatmResidentPages('12')).toBeUndefined();
    expect(parseStatmResidentPages('100 25 3 1 0 40 0')).toBe(25);
  });
});

describe.skipIf(process.platform !== 'linux')('readProcStat', () => {
  it('samples this process', async () => {
    const s = await readProcStat(process.pid);
    expect(s).toBeDefined();
    expect(s!.pid).toBe(process.pid);
    expect(s!.ppid).toBe(process.ppid);
    // RSS from statm matches Node's own figure to within a few MiB (both read the same kernel counters).
    expect(Math.abs(s!.rssBytes - process.memoryUsage().rss)).toBeLessThan(32 * 1024 * 1024);
    expect(s!.cpuSeconds).toBeCloseTo(s!.userSeconds + s!.systemSeconds, 9);
    expect(s!.cpuSeconds).toBeGreaterThan(0);
  });

  it('samples a real Python child, then reports it gone', async () => {
    const child = spawn(PYTHON, ['-c', 'import sys, time; sys.stdout.write("up\\n"); sys.stdout.flush(); time.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('up\n');
    const s = await readProcStat(child.pid!);
    expect(s).toMatchObject({ pid: child.pid, ppid: process.pid });
    expect(s!.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(['S', 'R']).toContain(s!.state);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    expect(await readProcStat(child.pid!)).toBeUndefined();
  });

  it('reads an alternate /proc root (page size fallback path)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'procstat-'));
    try {
      await mkdir(join(root, '4242'));
      await writeFile(join(root, '4242', 'stat'), '4242 (py) S 1 0 0 0 0 0 0 0 0 0 300 100 0 0 20 0 1 0 1 1 1\n');
      await writeFile(join(root, '4242', 'statm'), '1000 10 0 0 0 0 0\n');
      const s = await readProcStat(4242, root);
      expect(s).toMatchObject({ pid: 4242, state: 'S', ppid: 1, userSeconds: 3, systemSeconds: 1, cpuSeconds: 4 });
      expect(s!.rssBytes % 10).toBe(0);
      expect(await readProcStat(4243, root)).toBeUndefined();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects pid %s', async (pid) => {
    await expect(readProcStat(pid)).rejects.toSatisfy((e: unknown) => isSynapseError(e, 'SYN_ERR_INVALID_ARGUMENT'));
  });
});
