/**
 * The three ways of serving one pydantic-ai agent that `bench/agents.ts` compares, behind one
 * interface: Synapse (supervised worker pool over the wire protocol), FastAPI/uvicorn (HTTP,
 * called with Node's built-in fetch/undici), python-shell (one child, one call at a time).
 * Each owns its Python process(es) and has an idempotent `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Synapse, type ActorSystem } from '../../src/system.ts';
import type { SpawnAgentOptions } from '../../src/agent/options.ts';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BENCH_PYTHON = join(REPO, 'bench', '.venv', 'bin', 'python');

/** One way of running an agent turn. */
export interface Contender {
  readonly name: string;
  /** Runs one turn; rejects on any failure. */
  call(prompt: string): Promise<unknown>;
  /** Pids of the Python processes serving right now. */
  pids(): number[];
  close(): Promise<void>;
}

/** Synapse: `system.sendMessage` on an agent spawned with `options`. */
export async function startSynapse(name: string, options: Omit<SpawnAgentOptions, 'id'>): Promise<Contender> {
  const system: ActorSystem = await Synapse.start({ logLevel: 'silent', metrics: false });
  try {
    await system.spawnAgent({ ...options, id: 'bench' });
  } catch (error) {
    await system.stop();
    throw error;
  }
  return {
    name,
    call: (prompt) => system.sendMessage('bench', { prompt }),
    pids: () => system.agentStatus('bench').pids,
    close: () => system.stop(),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * FastAPI + uvicorn with its defaults (one worker process). With `restartLoop`, a dead server
 * is started again at once, like `while true; do uvicorn …; done` or a process manager's
 * `restart: always` (the fair comparison under kill -9); without it, it stays dead.
 */
export async function startUvicorn(name: string, agentRef: string, options: { restartLoop?: boolean; workers?: number } = {}): Promise<Contender & { restarts(): number }> {
  const workers = options.workers ?? 1;
  const port = await freePort();
  let child: ChildProcess | undefined;
  let closing = false;
  let restarts = 0;
  const launch = async (): Promise<void> => {
    const args = [join(REPO, 'bench', 'peers', 'http_server.py'), '--agent', agentRef, '--port', String(port), '--workers', String(workers)];
    const c = spawn(BENCH_PYTHON, args, { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let log = '';
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        log = (log + chunk.toString()).slice(-20_000);
        // Every worker process logs its own startup; ready when all of them have.
        if (log.split('Application startup complete').length - 1 >= workers) {
          c.stderr?.off('data', onData);
          c.stderr?.resume(); // keep draining so the pipe never fills
          resolve();
        }
      };
      c.stderr?.on('data', onData);
      c.once('exit', (code, signal) => reject(new Error(`uvicorn exited before ready (${code ?? signal}): ${log}`)));
    });
    c.once('exit', () => {
      if (closing || !options.restartLoop || child !== c) return;
      restarts++;
      launch().catch(() => {
        /* the next request fails and reports it */
      });
    });
    await ready;
  };
  await launch();
  const url = `http://127.0.0.1:${port}/run`;
  return {
    name,
    async call(prompt) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt }), signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return res.json();
    },
    pids: () => (child?.pid !== undefined && child.exitCode === null && child.signalCode === null ? [child.pid] : []),
    restarts: () => restarts,
    async close() {
      closing = true;
      const c = child;
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
      const exited = once(c, 'exit');
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The part of python-shell's API this bench uses. */
interface PythonShellLike {
  readonly childProcess: ChildProcess;
  readonly exitCode?: number;
  send(message: unknown): void;
  kill(signal: NodeJS.Signals): void;
  on(event: string, listener: (value: never) => void): unknown;
  once(event: string, listener: (value: never) => void): unknown;
}
interface PythonShellModule {
  PythonShell: new (script: string, options: Record<string, unknown>) => PythonShellLike;
}

/**
 * python-shell is a bench-only dependency (bench/node_modules, installed by `bench/setup.mjs`),
 * so it is loaded at run time: the library's typecheck must pass on a clone where it is absent.
 */
async function loadPythonShell(): Promise<PythonShellModule> {
  const specifier: string = 'python-shell';
  return (await import(specifier)) as PythonShellModule;
}

/**
 * python-shell in JSON mode: one Python child, one request at a time (its natural mode: one
 * stdin line in, one stdout line out). Concurrent callers wait in a bounded FIFO.
 */
export async function startPythonShell(name: string, agentRef: string, maxQueue = 100_000): Promise<Contender> {
  const { PythonShell } = await loadPythonShell();
  const shell = new PythonShell(join(REPO, 'bench', 'peers', 'shell_agent.py'), { mode: 'json', pythonPath: BENCH_PYTHON, args: [agentRef], cwd: REPO });
  const waiting: { resolve(v: unknown): void; reject(e: unknown): void }[] = [];
  const queue: { go(): void; reject(e: unknown): void }[] = [];
  let busy = false;
  let dead: Error | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    shell.once('message', (m: { ready?: boolean }) => (m.ready === true ? resolve() : reject(new Error('bad hello'))));
    shell.once('pythonError', reject);
  });
  shell.on('error', (error: Error) => {
    dead = error;
  });
  shell.childProcess.once('exit', () => {
    dead ??= new Error('python-shell child exited');
    for (const w of waiting.splice(0)) w.reject(dead);
    for (const q of queue.splice(0)) q.reject(dead);
  });
  await ready;
  shell.on('message', (m: { error?: string }) => {
    const w = waiting.shift();
    if (m.error !== undefined) w?.reject(new Error(m.error));
    else w?.resolve(m);
    busy = false;
    queue.shift()?.go();
  });
  return {
    name,
    call(prompt) {
      if (dead !== undefined) return Promise.reject(dead);
      if (queue.length >= maxQueue) return Promise.reject(new Error('queue full'));
      return new Promise((resolve, reject) => {
        const go = (): void => {
          busy = true;
          waiting.push({ resolve, reject });
          shell.send({ prompt });
        };
        if (busy) queue.push({ go, reject });
        else go();
      });
    },
    pids: () => (shell.childProcess.pid === undefined || shell.exitCode !== undefined ? [] : [shell.childProcess.pid]),
    async close() {
      if (shell.childProcess.exitCode !== null || shell.childProcess.signalCode !== null) return;
      const exited = once(shell.childProcess, 'exit');
      shell.childProcess.stdin?.end();
      const timer = setTimeout(() => shell.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
