/**
 * Zygotes: fork servers for Python workers (`python.zygote`, on by default on Linux; `false` opts out).
 *
 * A zygote (`python -m synapse_bridge --zygote`, see `_zygote.py`) has imported pydantic-ai and
 * frozen its GC; it forks a worker in a few ms instead of the ~1 s an interpreter start costs,
 * and the children share its pages copy-on-write. It holds no user code and no secrets: a
 * request names only an id and the socket to connect to; the child fetches its env and cwd from
 * Node over its own socket, after the fork.
 *
 * One {@link ZygotePool} per system; in it one zygote per distinct (interpreter, base env),
 * started at its first fork, restarted with backoff when it dies after it was ready (its
 * running children are untouched: each is its own session and leaves on its own socket's EOF),
 * and given up for good when it cannot start — then callers spawn workers as before and one
 * warning is logged. Every zygote is recorded in the pid file like a worker.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { InspectNode } from '../observe/inspect.ts';
import { silentLogger } from '../observe/log.ts';
import { nextDelay } from '../backoff.ts';
import type { BackoffBounds } from '../backoff.ts';
import { realClock } from '../clock.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { buildChildEnv } from './env.ts';
import { ForkedChild, signalName } from './forked-child.ts';
import type { ForkedSockets } from './forked-child.ts';
import { defaultPidDir } from './pidfile.ts';
import type { PidFile } from './pidfile.ts';
import { killGroup } from './proc.ts';
import { StderrTail } from './stderr-tail.ts';

/** Defaults of a {@link ZygotePool}. */
export const ZYGOTE_DEFAULTS = Object.freeze({
  /** From spawning a zygote to its `zygote_ready` (it imports pydantic-ai). */
  startTimeoutMs: 20_000,
  /** From a fork request to the child's four sockets connected. */
  forkTimeoutMs: 10_000,
  /** Restart delay of a zygote that died after it was ready (full jitter, `backoff.ts`). */
  backoff: Object.freeze({ minMs: 100, maxMs: 5_000 }),
  /** A zygote up this long resets the restart backoff. */
  resetAfterMs: 30_000,
  /** Forks waiting for one zygote to be ready; beyond it a fork is refused (the caller spawns). */
  maxQueuedForks: 256,
  /** Graceful stop of a zygote (stdin EOF) before SIGKILL. */
  closeTimeoutMs: 2_000,
});

/** Options of a {@link ZygotePool}. */
export interface ZygotePoolOptions {
  /** Where zygote pids are recorded for orphan reaping (`null`: not recorded). */
  readonly pidFile: PidFile | null;
  readonly log?: Logger | undefined;
  readonly clock?: Clock | undefined;
  /** Directory of the fork socket (created 0700 inside it). Default: the pid directory's parent. */
  readonly socketDir?: string | undefined;
  readonly startTimeoutMs?: number | undefined;
  readonly forkTimeoutMs?: number | undefined;
  readonly backoff?: BackoffBounds | undefined;
}

/** What a worker asks the pool for. */
export interface ForkSpec {
  readonly executable: string;
  /** The worker's `opts.env` (the agent's variables; may hold secrets: they never reach the zygote). */
  readonly agentEnv: Readonly<Record<string, string>>;
  /** The worker's full environment, as it would be spawned with. Sent to the child only. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
}

/**
 * One zygote as `system.inspect()` shows it (`ZygotePool.info()`): no env values, only the names of
 * the interpreter variables that gave it its own key (`PYTHON*`, `SYNAPSE_PRELOAD`, {@link IMPORT_TIME_ENV}).
 */
export interface ZygoteInfo {
  /** `zygote:<n>`, in creation order within the pool. */
  readonly id: string;
  /** `idle` (not started yet), `starting`, `ready`, `backoff` (restarting after a crash), `failed` (could not start: workers are spawned), `closed`. */
  readonly state: 'idle' | 'starting' | 'ready' | 'backoff' | 'failed' | 'closed';
  /** Its pid while it runs. */
  readonly pid?: number | undefined;
  readonly executable: string;
  /** Python version from its `zygote_ready` (once ready). */
  readonly python?: string | undefined;
  /** Interpreter variable names set by the agents of this zygote (sorted; empty: the host's env alone). */
  readonly envKeys: readonly string[];
  /** Workers forked and handed over, over the pool's life (all incarnations). */
  readonly forks: number;
  /** Forked workers of the running incarnation still alive. */
  readonly children: number;
  /** Restarts after a crash. */
  readonly restarts: number;
  /** Why it failed (state `failed`). */
  readonly reason?: string | undefined;
}

/** A {@link ZygoteInfo} as a node of `system.inspect()` (kind `zygote`, a child of the system node). */
export function zygoteNode(z: ZygoteInfo): InspectNode {
  const meta: Record<string, string | number | boolean | null> = { executable: z.executable, forks: z.forks, children: z.children, env: z.envKeys.join(',') };
  if (z.python !== undefined) meta.python = z.python;
  if (z.reason !== undefined) meta.reason = z.reason;
  return { kind: 'zygote', id: z.id, name: 'zygote', state: z.state, ...(z.pid === undefined ? {} : { pid: z.pid }), restarts: z.restarts, meta, children: [] };
}

/** The zygote's stdout frames (see `_zygote.py`). */
type ZygoteFrame =
  | { t: 'zygote_ready'; pid: number; python?: string }
  | { t: 'zygote_error'; message: string }
  | { t: 'forked'; id: string; pid: number }
  | { t: 'fork_failed'; id: string; message: string }
  | { t: 'exited'; pid: number; code: number | null; signal: number | null };

const ROLES = ['in', 'out', 'err', 'ctl'] as const;
type Role = (typeof ROLES)[number];
const HELLO_MAX_BYTES = 1024;
const HELLO_TIMEOUT_MS = 5_000;

/**
 * Variables that modules the zygote preloads read once, at import (`openai`: its module-level
 * client's settings and `OPENAI_LOG`; see `OPTIONAL_PRELOAD` in `_zygote.py`). Configuration, not
 * secrets (the API key is read when a client is built, in the child). Exported for tests.
 */
export const IMPORT_TIME_ENV: readonly string[] = Object.freeze(['OPENAI_API_TYPE', 'OPENAI_API_VERSION', 'AZURE_OPENAI_ENDPOINT', 'OPENAI_LOG']);

/**
 * Variables of an agent's env that the interpreter reads at start-up (`PYTHON*`), the zygote
 * at preload (`SYNAPSE_PRELOAD`) or a preloaded module at import ({@link IMPORT_TIME_ENV}): they
 * cannot be applied after the fork, so they are part of the zygote's own env and key — an agent
 * setting them gets a zygote of its own.
 */
export function interpreterEnv(agentEnv: Readonly<Record<string, string>>): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [key, value] of Object.entries(agentEnv)) if (key.startsWith('PYTHON') || key === 'SYNAPSE_PRELOAD' || IMPORT_TIME_ENV.includes(key)) picked[key] = value;
  return picked;
}

/** One fork in flight: waits for the zygote's `forked` and the child's four sockets. */
interface PendingFork {
  readonly id: string;
  readonly spec: ForkSpec;
  readonly sockets: Partial<Record<Role, Socket>>;
  pid: number | undefined;
  helloPid: number | undefined;
  readonly timer: TimerHandle;
  readonly resolve: (child: ForkedChild) => void;
  readonly reject: (error: Error) => void;
}

type ZygoteState =
  | { readonly s: 'idle' }
  | { readonly s: 'starting'; readonly proc: ChildProcessWithoutNullStreams; readonly timer: TimerHandle }
  | { readonly s: 'ready'; readonly proc: ChildProcessWithoutNullStreams; readonly since: number }
  | { readonly s: 'backoff'; readonly timer: TimerHandle }
  | { readonly s: 'failed'; readonly reason: string }
  | { readonly s: 'closed' };

/**
 * The zygotes of one system, and the Unix socket their children connect back to.
 *
 * @example
 * ```ts
 * const pool = new ZygotePool({ pidFile });
 * const proc = await PythonWorker.start({ agents, zygotes: pool }); // forked, or spawned if forking is unavailable
 * await proc.close();
 * await pool.close();
 * ```
 */
export class ZygotePool {
  readonly #opts: ZygotePoolOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #zygotes = new Map<string, Zygote>();
  /** Per zygote key: its inspect id and the interpreter variable names that keyed it. */
  readonly #labels = new Map<string, { id: string; envKeys: readonly string[] }>();
  readonly #pending = new Map<string, PendingFork>();
  readonly #warned = new Set<string>();
  #server: { server: Server; dir: string; path: string; listening: Promise<void> } | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: ZygotePoolOptions) {
    this.#opts = options;
    this.#clock = options.clock ?? realClock;
    this.#log = (options.log ?? silentLogger()).child({ component: 'zygote' });
  }

  /**
   * Forks a worker from the zygote of `spec.executable` and its interpreter env (started on
   * first use). Rejects (with a plain `Error`: the caller spawns instead) when forking is
   * unavailable — not Linux, the zygote cannot start, it died during the fork, or the fork
   * did not connect within `forkTimeoutMs`.
   */
  async fork(spec: ForkSpec): Promise<ForkedChild> {
    if (this.#closing !== undefined) throw new Error('zygote pool closed');
    if (process.platform !== 'linux') {
      this.#warnOnce('platform', { platform: process.platform }, 'zygote unavailable on this platform: workers are spawned');
      throw new Error('zygotes need Linux');
    }
    const own = interpreterEnv(spec.agentEnv);
    const baseEnv = buildChildEnv(process.env, own, process.pid);
    const key = JSON.stringify([spec.executable, Object.entries(baseEnv).sort(([a], [b]) => (a < b ? -1 : 1))]);
    let zygote = this.#zygotes.get(key);
    if (zygote === undefined) {
      zygote = new Zygote(spec.executable, baseEnv, {
        clock: this.#clock,
        log: this.#log,
        pidFile: this.#opts.pidFile,
        startTimeoutMs: this.#opts.startTimeoutMs ?? ZYGOTE_DEFAULTS.startTimeoutMs,
        backoff: this.#opts.backoff ?? ZYGOTE_DEFAULTS.backoff,
        onFailed: (reason) => this.#warnOnce(key, { executable: spec.executable, reason }, 'zygote unavailable: workers are spawned'),
      });
      this.#zygotes.set(key, zygote);
      this.#labels.set(key, { id: `zygote:${this.#labels.size}`, envKeys: Object.keys(own).sort() });
    }
    const { path } = await this.#listen();
    const id = randomUUID();
    const forkTimeoutMs = this.#opts.forkTimeoutMs ?? ZYGOTE_DEFAULTS.forkTimeoutMs;
    const owner = zygote;
    return new Promise<ForkedChild>((resolve, reject) => {
      const pending: PendingFork = {
        id,
        spec,
        sockets: {},
        pid: undefined,
        helloPid: undefined,
        timer: this.#clock.setTimeout(() => this.#failFork(id, new Error(`fork did not connect within ${forkTimeoutMs} ms`)), forkTimeoutMs),
        resolve,
        reject,
      };
      this.#pending.set(id, pending);
      owner.request(id, path, {
        onForked: (pid) => {
          pending.pid = pid;
          this.#tryComplete(pending, owner);
        },
        onFailed: (error) => this.#failFork(id, error),
      });
    });
  }

  /** Every zygote of the pool, in creation order (for `system.inspect()`). */
  info(): ZygoteInfo[] {
    return [...this.#zygotes].map(([key, z]) => {
      const label = this.#labels.get(key)!;
      return z.info(label.id, label.envKeys);
    });
  }

  /** Pids of the live zygotes (for `inspect()` and leak checks). */
  pids(): number[] {
    return [...this.#zygotes.values()].map((z) => z.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Stops every zygote (stdin EOF, then SIGKILL) and the socket; forked workers are their owners' to stop. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const id of [...this.#pending.keys()]) this.#failFork(id, new Error('zygote pool closed'));
      await Promise.all([...this.#zygotes.values()].map((z) => z.close(ZYGOTE_DEFAULTS.closeTimeoutMs)));
      const s = this.#server;
      this.#server = undefined;
      if (s !== undefined) {
        await new Promise<void>((resolve) => s.server.close(() => resolve()));
        rmSync(s.dir, { recursive: true, force: true });
      }
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #warnOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log.warn(fields, msg);
  }

  #listen(): Promise<{ path: string }> {
    if (this.#server === undefined) {
      const parent = this.#opts.socketDir ?? join(defaultPidDir(), '..');
      mkdirSync(parent, { recursive: true, mode: 0o700 });
      const dir = mkdtempSync(join(parent, 'z-')); // 0700: only this user can connect to the socket
      const path = join(dir, 'fork.sock');
      const server = createServer({ allowHalfOpen: false }, (socket) => this.#onConnection(socket));
      const listening = new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          server.on('error', (error) => this.#log.warn({ err: error }, 'zygote socket error'));
          resolve();
        });
      });
      server.unref();
      this.#server = { server, dir, path, listening };
    }
    const s = this.#server;
    return s.listening.then(() => ({ path: s.path }));
  }

  /** A child connected: read its one-line hello `{id, role, pid}`, then hand the socket to its fork. */
  #onConnection(socket: Socket): void {
    socket.on('error', () => {
      // a child that died mid-handshake: its fork fails by timeout or by the zygote's report
    });
    const timer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS).unref();
    socket.once('close', () => clearTimeout(timer)); // closed before (or without) its hello: nothing left armed
    let buf = Buffer.alloc(0);
    // Paused mode ('readable' + read()), so that once the hello is read and the listener removed the
    // socket is neither flowing nor explicitly paused: the owner's later 'data' listener starts it.
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, chunk]);
        const nl = buf.indexOf(0x0a);
        if (nl >= 0) {
          socket.off('readable', onReadable);
          const rest = buf.subarray(nl + 1);
          if (rest.length > 0) socket.unshift(rest);
          onHello(buf.subarray(0, nl));
          return;
        }
        if (buf.length > HELLO_MAX_BYTES) {
          socket.destroy();
          return;
        }
      }
    };
    const onHello = (line: Buffer): void => {
      clearTimeout(timer);
      let hello: { id?: unknown; role?: unknown; pid?: unknown };
      try {
        hello = JSON.parse(line.toString('utf8')) as typeof hello;
      } catch {
        socket.destroy();
        return;
      }
      const pending = typeof hello.id === 'string' ? this.#pending.get(hello.id) : undefined;
      const role = ROLES.find((r) => r === hello.role);
      if (pending === undefined || role === undefined || pending.sockets[role] !== undefined || typeof hello.pid !== 'number' || (pending.helloPid !== undefined && pending.helloPid !== hello.pid)) {
        socket.destroy(); // not one of our forks (or a duplicate role): never paired
        return;
      }
      pending.sockets[role] = socket;
      pending.helloPid = hello.pid;
      const zygote = [...this.#zygotes.values()].find((z) => z.owns(pending.id));
      if (zygote !== undefined) this.#tryComplete(pending, zygote);
    };
    socket.on('readable', onReadable);
  }

  /** Once `forked` and all four sockets are in: send the setup line (env, cwd) and resolve. */
  #tryComplete(pending: PendingFork, zygote: Zygote): void {
    const { sockets: s } = pending;
    if (pending.pid === undefined || s.in === undefined || s.out === undefined || s.err === undefined || s.ctl === undefined) return;
    if (pending.helloPid !== pending.pid) {
      this.#failFork(pending.id, new Error(`fork ${pending.id}: sockets from pid ${pending.helloPid}, zygote forked ${pending.pid}`));
      return;
    }
    this.#pending.delete(pending.id);
    this.#clock.clearTimeout(pending.timer);
    const sockets: ForkedSockets = { in: s.in, out: s.out, err: s.err, ctl: s.ctl };
    const child = new ForkedChild(pending.pid, sockets);
    zygote.adopt(pending.id, child);
    s.in.write(`${JSON.stringify({ env: pending.spec.env, cwd: pending.spec.cwd ?? null })}\n`);
    pending.resolve(child);
  }

  #failFork(id: string, error: Error): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    this.#clock.clearTimeout(pending.timer);
    for (const z of this.#zygotes.values()) z.forget(id);
    for (const socket of Object.values(pending.sockets)) socket.destroy();
    // Forked but never handed over. Its own session once it called setsid(); before that (hung in
    // the fork itself) it is still in the zygote's group, so the pid is killed directly.
    if (pending.pid !== undefined && !killGroup(pending.pid, 'SIGKILL')) killPid(pending.pid);
    this.#log.debug({ err: error }, 'zygote fork failed');
    pending.reject(error);
  }
}

interface ZygoteDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly pidFile: PidFile | null;
  readonly startTimeoutMs: number;
  readonly backoff: BackoffBounds;
  /** It could not start: forks are refused from now on. */
  readonly onFailed: (reason: string) => void;
}

interface ForkCallbacks {
  readonly onForked: (pid: number) => void;
  readonly onFailed: (error: Error) => void;
}

/** One zygote process and its life: `idle → starting → ready`, `ready → backoff → starting` on a crash, `starting → failed`. */
class Zygote {
  readonly #executable: string;
  readonly #env: Record<string, string>;
  readonly #deps: ZygoteDeps;
  #state: ZygoteState = { s: 'idle' };
  /** Forks waiting for `ready`, in order (bounded by `maxQueuedForks`). */
  readonly #queue: { id: string; path: string; cb: ForkCallbacks }[] = [];
  /** Fork requests sent to the running zygote, by id. */
  readonly #inFlight = new Map<string, ForkCallbacks>();
  /** Pids the zygote reported `forked` whose fork has not completed yet, to their fork id. */
  readonly #forked = new Map<number, string>();
  /** Live children of the running incarnation, by pid. */
  readonly #children = new Map<number, ForkedChild>();
  #attempt = 0;
  #forks = 0;
  #restarts = 0;
  #python: string | undefined;
  #tail = new StderrTail();
  #pid: number | undefined;

  constructor(executable: string, env: Record<string, string>, deps: ZygoteDeps) {
    this.#executable = executable;
    this.#env = env;
    this.#deps = deps;
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  /** What `ZygotePool.info()` reports for this zygote. */
  info(id: string, envKeys: readonly string[]): ZygoteInfo {
    const st = this.#state;
    return {
      id,
      state: st.s,
      pid: this.#pid,
      executable: this.#executable,
      python: this.#python,
      envKeys,
      forks: this.#forks,
      children: this.#children.size,
      restarts: this.#restarts,
      reason: st.s === 'failed' ? st.reason : undefined,
    };
  }

  owns(id: string): boolean {
    return this.#inFlight.has(id) || this.#queue.some((q) => q.id === id);
  }

  request(id: string, path: string, cb: ForkCallbacks): void {
    const st = this.#state;
    if (st.s === 'failed') return cb.onFailed(new Error(`zygote unavailable: ${st.reason}`));
    if (st.s === 'closed') return cb.onFailed(new Error('zygote closed'));
    if (st.s === 'ready') return this.#send(st.proc, id, path, cb);
    if (this.#queue.length >= ZYGOTE_DEFAULTS.maxQueuedForks) return cb.onFailed(new Error('too many forks waiting for the zygote'));
    this.#queue.push({ id, path, cb });
    if (st.s === 'idle') this.#start();
  }

  /** A fork completed: its exit now comes from this zygote's reap report (or `/proc` if the zygote dies). */
  adopt(id: string, child: ForkedChild): void {
    this.#inFlight.delete(id);
    this.#forked.delete(child.pid);
    this.#children.set(child.pid, child);
    this.#forks += 1;
    child.once('close', () => this.#children.delete(child.pid));
  }

  /** A fork failed on the pool's side (timeout, bad sockets): drop its bookkeeping. */
  forget(id: string): void {
    this.#inFlight.delete(id);
    for (const [pid, forkId] of this.#forked) if (forkId === id) this.#forked.delete(pid);
    const i = this.#queue.findIndex((q) => q.id === id);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #send(proc: ChildProcessWithoutNullStreams, id: string, path: string, cb: ForkCallbacks): void {
    this.#inFlight.set(id, cb);
    proc.stdin.write(`${JSON.stringify({ t: 'fork', id, socket: path })}\n`);
  }

  #transition(next: ZygoteState): void {
    this.#state = next;
    this.#deps.log.debug({ state: next.s, zygotePid: this.#pid }, 'zygote state');
  }

  #start(): void {
    this.#tail = new StderrTail();
    // cwd: the host's, as a spawned worker would have before its chdir (`SYNAPSE_PRELOAD` modules resolve against it).
    const proc = spawn(this.#executable, ['-m', 'synapse_bridge', '--zygote'], { env: this.#env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const timer = this.#deps.clock.setTimeout(() => {
      this.#deps.log.debug({ zygotePid: proc.pid }, 'zygote start timed out');
      if (proc.pid !== undefined) killGroup(proc.pid, 'SIGKILL');
    }, this.#deps.startTimeoutMs);
    this.#transition({ s: 'starting', proc, timer });
    proc.on('error', (error) => {
      if (proc.pid === undefined) this.#onExit(proc, `cannot spawn ${this.#executable}: ${error.message}`);
    });
    if (proc.pid === undefined) return;
    this.#pid = proc.pid;
    this.#deps.pidFile?.add(proc.pid);
    proc.stdin.on('error', () => {
      // EPIPE once it died: 'exit' reports it
    });
    proc.stderr.on('data', (chunk: Buffer) => this.#tail.push(chunk));
    let buf = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') this.#onFrame(proc, line);
      }
      if (buf.length > 1024 * 1024) killGroup(proc.pid ?? -1, 'SIGKILL'); // not our zygote speaking
    });
    proc.on('exit', () => this.#onExit(proc, this.#tail.text().trim().split('\n').slice(-3).join(' | ') || 'exited before ready'));
  }

  #onFrame(proc: ChildProcessWithoutNullStreams, line: string): void {
    let frame: ZygoteFrame;
    try {
      frame = JSON.parse(line) as ZygoteFrame;
    } catch {
      this.#deps.log.warn({ zygotePid: proc.pid }, 'zygote wrote a malformed line: killed');
      killGroup(proc.pid ?? -1, 'SIGKILL');
      return;
    }
    const st = this.#state;
    switch (frame.t) {
      case 'zygote_ready':
        if (st.s !== 'starting' || st.proc !== proc) return;
        this.#deps.clock.clearTimeout(st.timer);
        if (typeof frame.python === 'string') this.#python = frame.python;
        this.#transition({ s: 'ready', proc, since: this.#deps.clock.now() });
        for (const q of this.#queue.splice(0)) this.#send(proc, q.id, q.path, q.cb);
        return;
      case 'zygote_error':
        this.#tail.push(Buffer.from(`${frame.message}\n`));
        return;
      case 'forked': {
        const cb = this.#inFlight.get(frame.id);
        if (cb === undefined) {
          if (!killGroup(frame.pid, 'SIGKILL')) killPid(frame.pid); // its fork was given up meanwhile (timeout): nobody will adopt it
          return;
        }
        this.#forked.set(frame.pid, frame.id);
        cb.onForked(frame.pid);
        return;
      }
      case 'fork_failed': {
        const cb = this.#inFlight.get(frame.id);
        this.#inFlight.delete(frame.id);
        cb?.onFailed(new Error(`zygote could not fork: ${frame.message}`));
        return;
      }
      case 'exited': {
        const child = this.#children.get(frame.pid);
        if (child !== undefined) {
          child.reportExit(frame.code, signalName(frame.signal));
          return;
        }
        // A child that died before its fork completed: fail that fork now rather than at its timeout.
        const id = this.#forked.get(frame.pid);
        if (id !== undefined) this.#inFlight.get(id)?.onFailed(new Error(`forked worker ${frame.pid} exited during the fork`));
        return;
      }
    }
  }

  #onExit(proc: ChildProcessWithoutNullStreams, reason: string): void {
    const st = this.#state;
    if (proc.pid !== undefined) this.#deps.pidFile?.remove(proc.pid);
    this.#pid = undefined;
    for (const child of this.#children.values()) child.orphan();
    this.#children.clear();
    const inFlight = [...this.#inFlight.values()];
    this.#inFlight.clear();
    this.#forked.clear();
    for (const cb of inFlight) cb.onFailed(new Error('zygote died during the fork'));
    if (st.s === 'closed') return;
    if (st.s === 'starting') {
      this.#deps.clock.clearTimeout(st.timer);
      this.#transition({ s: 'failed', reason });
      for (const q of this.#queue.splice(0)) q.cb.onFailed(new Error(`zygote unavailable: ${reason}`));
      this.#deps.onFailed(reason);
      return;
    }
    if (st.s !== 'ready') return;
    // It crashed after it was ready: restart with backoff (its children live on, see _zygote.py).
    if (this.#deps.clock.now() - st.since >= ZYGOTE_DEFAULTS.resetAfterMs) this.#attempt = 0;
    const delay = nextDelay(this.#attempt++, this.#deps.backoff);
    this.#deps.log.warn({ zygotePid: proc.pid, restartInMs: delay }, 'zygote died: restarting');
    this.#restarts += 1;
    const timer = this.#deps.clock.setTimeout(() => {
      if (this.#state.s === 'backoff') this.#start();
    }, delay);
    this.#transition({ s: 'backoff', timer });
  }

  /** stdin EOF (the zygote exits 0), SIGKILL after `timeoutMs`; resolves once it exited. */
  async close(timeoutMs: number): Promise<void> {
    const st = this.#state;
    this.#transition({ s: 'closed' });
    for (const q of this.#queue.splice(0)) q.cb.onFailed(new Error('zygote closed'));
    if (st.s === 'backoff') this.#deps.clock.clearTimeout(st.timer);
    if (st.s !== 'starting' && st.s !== 'ready') return;
    if (st.s === 'starting') this.#deps.clock.clearTimeout(st.timer);
    const { proc } = st;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.stdin.end();
    const timer = this.#deps.clock.setTimeout(() => killGroup(proc.pid ?? -1, 'SIGKILL'), timeoutMs);
    await exited;
    this.#deps.clock.clearTimeout(timer);
  }
}

/** SIGKILL to one process (already gone: nothing to do). */
function killPid(pid: number): void {
  if (!(pid > 1)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ESRCH: it is gone
  }
}
