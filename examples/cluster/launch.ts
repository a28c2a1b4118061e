/**
 * Starts and drives cluster children (examples/cluster/host.ts, examples/cluster/front.ts) from a
 * parent process: `child_process.fork` with tsx, Node IPC (examples/cluster/protocol.ts). Shared
 * by the test harness (test/helpers/cluster.ts) and the demo (`npm run demo -- --cluster`). No
 * test framework here.
 *
 * Each child is a {@link ClusterProcess}: `kill(signal)` (SIGKILL: a crash; awaits the exit),
 * `stop()` / `cont()` (SIGSTOP / SIGCONT: a paused process), `restart()` (a new process with the
 * same id and environment; a killed host's successor reaps its orphans from the pid file),
 * `shutdown()` (clean: `system.stop()` over IPC, then the exit is awaited).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { synErr, type ErrorCode, type SynapseError } from '../../src/errors.ts';
import type { ClusterCommand, ClusterEvent, TurnValue } from './protocol.ts';

/** The repository root (children run with it as their cwd: agent refs are relative to it). */
export const CLUSTER_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST_SCRIPT = fileURLToPath(new URL('./host.ts', import.meta.url));
const FRONT_SCRIPT = fileURLToPath(new URL('./front.ts', import.meta.url));

/** One turn a front runs. */
export interface ClusterTurn {
  readonly conversationId: string;
  readonly turnId: string;
  readonly prompt: string;
  readonly timeoutMs?: number;
}

/** Options of {@link launchHost} / {@link launchFront}. */
export interface LaunchOptions {
  /** Child id (host id / front id). */
  readonly id: string;
  /** `SYN_CLUSTER_*` environment of the child (see host.ts / front.ts). */
  readonly env: Record<string, string>;
  /** Where the child's stdout / stderr go. Default `'ignore'` / `'inherit'`. */
  readonly stdout?: 'ignore' | 'inherit';
  readonly stderr?: 'ignore' | 'inherit';
}

/** A child of the cluster (host or front). */
export interface ClusterProcess {
  readonly id: string;
  readonly role: 'host' | 'front';
  /** The current process's pid (`undefined` while none runs). */
  readonly pid: number | undefined;
  /** Every pid this child has had (restarts included), oldest first. */
  readonly pids: readonly number[];
  /** True while a process runs (stopped counts as running). */
  readonly running: boolean;
  /** True between `stop()` and `cont()`. */
  readonly paused: boolean;
  /** Sends `signal` (default SIGKILL); awaits the exit for SIGKILL / SIGTERM / SIGINT. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP. */
  stop(): void;
  /** SIGCONT. */
  cont(): void;
  /** Starts a new process with the same id and environment (after a kill; kills a running one first). Resolves on `ready`. */
  restart(): Promise<void>;
  /** Clean stop over IPC (`system.stop()`), then awaits the exit; SIGKILL after `graceMs` (default 10 s). Idempotent. */
  shutdown(graceMs?: number): Promise<void>;
}

/** A host child. */
export interface ClusterHost extends ClusterProcess {
  readonly role: 'host';
  /** The Python worker pids the current process reported at `ready`. */
  readonly workerPids: readonly number[];
  /** The current process's pid file (`<stateDir>/<pid>.json`). */
  readonly pidFile: string | undefined;
  /** Asks the host for its live Python pids: its workers (`agentStatus(...).pids`) and the zygote they fork from. */
  livePids(): Promise<number[]>;
}

/** A front child. */
export interface ClusterFront extends ClusterProcess {
  readonly role: 'front';
  /** `sendMessage` on this front; rejects with the front's coded error (a `SynapseError` rebuilt from `{ code, message, details }`). */
  send(turn: ClusterTurn): Promise<TurnValue>;
  /** `streamMessage` on this front; `onDelta` sees each text delta. Same settlement as {@link send}. */
  stream(turn: ClusterTurn, onDelta?: (text: string) => void): Promise<TurnValue>;
}

interface Pending {
  resolve(v: TurnValue): void;
  reject(e: SynapseError): void;
  onDelta: ((text: string) => void) | undefined;
}

class Child {
  readonly id: string;
  readonly role: 'host' | 'front';
  readonly pids: number[] = [];
  paused = false;
  workerPids: readonly number[] = [];
  pidFile: string | undefined;
  #proc: ChildProcess | undefined;
  #nextCall = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #pidWaiters: ((pids: readonly number[]) => void)[] = [];
  readonly #script: string;
  readonly #options: LaunchOptions;

  constructor(role: 'host' | 'front', options: LaunchOptions) {
    this.id = options.id;
    this.role = role;
    this.#script = role === 'host' ? HOST_SCRIPT : FRONT_SCRIPT;
    this.#options = options;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  async start(): Promise<void> {
    if (this.#proc !== undefined) throw new Error(`${this.role} ${this.id} already running`);
    const proc = fork(this.#script, [], {
      cwd: CLUSTER_ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...this.#options.env, SYN_CLUSTER_ID: this.id },
      stdio: ['ignore', this.#options.stdout ?? 'ignore', this.#options.stderr ?? 'inherit', 'ipc'],
    });
    this.#proc = proc;
    this.paused = false;
    if (proc.pid !== undefined) this.pids.push(proc.pid);
    // A parent that exits without shutdown() must not leave the child behind.
    const onExit = (): void => void proc.kill('SIGKILL');
    process.once('exit', onExit);
    proc.on('message', (m: ClusterEvent) => this.#onMessage(m));
    proc.once('exit', (code, signal) => {
      process.off('exit', onExit);
      if (this.#proc === proc) this.#proc = undefined;
      this.paused = false;
      this.#failPending(code, signal);
    });
    await new Promise<void>((resolve, reject) => {
      const onReady = (m: ClusterEvent): void => {
        if (m.ev !== 'ready') return;
        proc.off('message', onReady);
        proc.off('exit', onEarlyExit);
        if (m.role === 'host') {
          this.workerPids = m.pids;
          this.pidFile = m.pidFile;
        }
        resolve();
      };
      const onEarlyExit = (code: number | null, signal: string | null): void => reject(new Error(`${this.role} ${this.id} exited before ready (code ${code}, signal ${signal})`));
      proc.on('message', onReady);
      proc.once('exit', onEarlyExit);
    });
  }

  #onMessage(m: ClusterEvent): void {
    if (m.ev === 'pids') this.#pidWaiters.shift()?.(m.pids);
    else if (m.ev === 'delta') this.#pending.get(m.id)?.onDelta?.(m.text);
    else if (m.ev === 'settled') {
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(synErr(m.error.code as ErrorCode, m.error.message, m.error.details as never));
    }
  }

  #failPending(code: number | null, signal: NodeJS.Signals | null): void {
    // The front process is gone: its callers never learn the outcome (a turn may have committed).
    for (const [, p] of this.#pending) p.reject(synErr('SYN_ERR_SHUTDOWN', `front ${this.id} exited (code ${code}, signal ${signal}) while the call was pending`, { reason: 'front_exited', front: this.id } as never));
    this.#pending.clear();
    for (const w of this.#pidWaiters.splice(0)) w([]);
  }

  #send(m: ClusterCommand): boolean {
    const proc = this.#proc;
    if (proc === undefined || !proc.connected) return false;
    proc.send(m);
    return true;
  }

  turn(cmd: 'send' | 'stream', turn: ClusterTurn, onDelta?: (text: string) => void): Promise<TurnValue> {
    const id = this.#nextCall++;
    return new Promise<TurnValue>((resolve, reject) => {
      if (!this.#send({ cmd, id, ...turn })) {
        reject(synErr('SYN_ERR_SHUTDOWN', `front ${this.id} is not running`, { reason: 'front_exited', front: this.id } as never));
        return;
      }
      this.#pending.set(id, { resolve, reject, onDelta });
    });
  }

  livePids(): Promise<number[]> {
    return new Promise((resolve) => {
      if (!this.#send({ cmd: 'pids' })) return resolve([]);
      this.#pidWaiters.push((pids) => resolve([...pids]));
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    const waits = signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT';
    const exited = waits ? once(proc, 'exit') : undefined;
    proc.kill(signal);
    if (signal === 'SIGCONT') this.paused = false;
    if (signal === 'SIGSTOP') this.paused = true;
    if (exited !== undefined && signal !== 'SIGKILL' && this.paused) proc.kill('SIGCONT');
    await exited;
  }

  stop(): void {
    if (this.#proc === undefined) throw new Error(`${this.role} ${this.id} is not running`);
    this.#proc.kill('SIGSTOP');
    this.paused = true;
  }

  cont(): void {
    this.#proc?.kill('SIGCONT');
    this.paused = false;
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.start();
  }

  async shutdown(graceMs = 10_000): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    if (this.paused) this.cont();
    const exited = once(proc, 'exit');
    if (!this.#send({ cmd: 'stop' })) proc.kill('SIGKILL');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Forks a host child and resolves once it serves (its `ready`). */
export async function launchHost(options: LaunchOptions): Promise<ClusterHost> {
  const child = new Child('host', options);
  await child.start();
  return child as unknown as ClusterHost;
}

/** Forks a front child and resolves once its remote agent is attached (its `ready`). */
export async function launchFront(options: LaunchOptions): Promise<ClusterFront> {
  const child = new Child('front', options);
  await child.start();
  const front = child as unknown as ClusterFront & Child;
  Object.assign(front, {
    send: (turn: ClusterTurn) => child.turn('send', turn),
    stream: (turn: ClusterTurn, onDelta?: (text: string) => void) => child.turn('stream', turn, onDelta),
  });
  return front;
}
