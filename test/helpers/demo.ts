/**
 * Runs `examples/demo.ts` with `args` the way `npm run demo` does (tsx, repo root, the caller's
 * env without SYNAPSE_LOG_LEVEL) and resolves with its exit and everything it printed. The timer
 * is a hang guard only (SIGKILL after `guardMs`), never a performance assertion.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { REPO_ROOT } from './python.ts';

export async function runDemo(args: readonly string[], guardMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; pid: number }> {
  const child = spawn(process.execPath, [`${REPO_ROOT}node_modules/tsx/dist/cli.mjs`, 'examples/demo.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, SYNAPSE_LOG_LEVEL: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const killer = setTimeout(() => child.kill('SIGKILL'), guardMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  return { code, signal, out, pid: child.pid! };
}
