// The event loop stays alive while a request is pending or queued, even when every timer is
// unref'ed and no worker process exists (restart backoff) — and an idle system keeps nothing
// alive by itself beyond its worker processes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { assertNoLeakedPids } from '../../helpers/pids.ts';
import { REPO_ROOT, tempDir } from '../../helpers/system.ts';

const CHILD = fileURLToPath(new URL('./fixtures/keep-alive-child.ts', import.meta.url));
const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

describe('keep-alive while requests are pending', () => {
  it('a program whose only work is a message queued during a restart prints the result and exits 0', async () => {
    const state = tempDir('synapse-keepalive-');
    dirs.push(state);
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, state.dir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    try {
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      expect(stdout).toMatch(/^killed \d+\n/);
      expect(stdout).toContain('result "[faults] ok (re: still there?)"\n');
    } finally {
      assertNoLeakedPids(child.pid!); // SIGKILLs any worker the child left behind
    }
  });
});
