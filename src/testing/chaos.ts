/**
 * `chaos(system)`: injects the faults of a fault schedule into a running system's Python
 * workers.
 *
 * - `kill` sends SIGKILL to a worker (the OS process, as `kill -9` would).
 * - `pause` sends SIGSTOP, then SIGCONT after `ms` on the system clock (a frozen worker:
 *   heartbeats go unanswered; if it stays stopped past `heartbeatTimeoutMs` it is replaced).
 * - `garbage` feeds non-JSON bytes into the worker's inbound protocol decoder through an
 *   internal hook of the process layer, exactly as if the worker had written them (the Python
 *   side is untouched; to have the worker itself write garbage, send the `garbage` prompt to the
 *   `faults.py` fixture agent instead). Node's stdio pipes are sockets, so bytes cannot be
 *   injected from outside through `/proc/<pid>/fd`.
 *
 * Workers are found through an internal, symbol-keyed hook of the system; nothing here is
 * reachable through the public API. Linux/POSIX signals only.
 */
import type { Clock, TimerHandle } from '../clock.ts';

const PROCESSES = Symbol.for('synapse.testing.processes');
const INJECT = Symbol.for('synapse.testing.injectInbound');

/** The default garbage: a NUL, an invalid UTF-8 byte and a broken JSON line. */
export const GARBAGE_BYTES: Uint8Array = Uint8Array.from(Buffer.from('\u0000\u00ffnot json}\n', 'latin1'));

interface ChaosProcess {
  readonly pid: number;
  [INJECT]?: (bytes: Uint8Array) => void;
}

/** What {@link chaos} needs of a system (an `ActorSystem` fits). */
export interface ChaosTarget {
  readonly clock: Clock;
  [PROCESSES]?: (agentId: string) => ReadonlyMap<number, ChaosProcess> | undefined;
}

/** A live worker: its index in the agent and its OS pid. */
export interface WorkerRef {
  readonly index: number;
  readonly pid: number;
}

/** One fault injected (or skipped because no worker was up). */
export interface ChaosAction {
  readonly kind: 'kill' | 'pause' | 'garbage';
  readonly agent: string;
  readonly worker: number | undefined;
  /** The pid hit, or undefined when the action was skipped (no live worker). */
  readonly pid: number | undefined;
  readonly at: number;
}

/** The chaos driver returned by {@link chaos}. */
export interface Chaos {
  /** Live workers of an agent (index order). Empty while it restarts or when it is unknown. */
  workers(agentId: string): WorkerRef[];
  /**
   * SIGKILLs worker `worker` (default: the first live one; an index past the live workers
   * wraps around). Returns the pid, or undefined if no worker was up (nothing done).
   */
  kill(agentId: string, worker?: number): number | undefined;
  /**
   * SIGSTOPs a worker, then SIGCONTs it after `ms` on the system clock. Resolves after the
   * SIGCONT (or at once, with undefined, if no worker was up).
   */
  pause(agentId: string, ms: number, worker?: number): Promise<number | undefined>;
  /** Feeds `bytes` (default {@link GARBAGE_BYTES}) into a worker's protocol decoder. Returns the pid or undefined. */
  garbage(agentId: string, worker?: number, bytes?: Uint8Array): number | undefined;
  /** Every action so far. */
  readonly log: readonly ChaosAction[];
  /** SIGCONTs every paused worker now and clears the timers (idempotent). */
  close(): void;
}

/**
 * Creates a chaos driver for `system`.
 *
 * @example
 * ```ts
 * const c = chaos(system);
 * c.kill('support');              // kill -9 the first live worker
 * await c.pause('support', 500);  // SIGSTOP for 500 ms
 * c.garbage('support');           // protocol violation → the worker is replaced
 * c.close();
 * ```
 */
export function chaos(system: ChaosTarget): Chaos {
  const hook = system[PROCESSES];
  if (typeof hook !== 'function') throw new TypeError('chaos(system) needs a Synapse ActorSystem (the testing hook is missing)');
  const lookup = (agentId: string) => hook.call(system, agentId);
  const clock = system.clock;
  const log: ChaosAction[] = [];
  const paused = new Map<TimerHandle, { pid: number; resolve: () => void }>();

  const workers = (agentId: string): WorkerRef[] =>
    [...(lookup(agentId) ?? new Map<number, ChaosProcess>()).entries()]
      .filter(([, p]) => p.pid > 0)
      .sort(([a], [b]) => a - b)
      .map(([index, p]) => ({ index, pid: p.pid }));

  const pick = (agentId: string, worker: number | undefined): { ref: WorkerRef; proc: ChaosProcess } | undefined => {
    const live = workers(agentId);
    if (live.length === 0) return undefined;
    const ref = worker === undefined ? live[0]! : (live.find((w) => w.index === worker) ?? live[worker % live.length]!);
    const proc = lookup(agentId)?.get(ref.index);
    return proc === undefined ? undefined : { ref, proc };
  };

  const note = (kind: ChaosAction['kind'], agent: string, worker: number | undefined, pid: number | undefined): void => {
    log.push({ kind, agent, worker, pid, at: clock.now() });
  };

  return {
    workers,
    log,
    kill(agentId, worker) {
      const target = pick(agentId, worker);
      note('kill', agentId, target?.ref.index, target?.ref.pid);
      if (target === undefined) return undefined;
      signal(target.ref.pid, 'SIGKILL');
      return target.ref.pid;
    },
    pause(agentId, ms, worker) {
      const target = pick(agentId, worker);
      note('pause', agentId, target?.ref.index, target?.ref.pid);
      if (target === undefined) return Promise.resolve(undefined);
      const pid = target.ref.pid;
      signal(pid, 'SIGSTOP');
      return new Promise<number | undefined>((resolve) => {
        const timer = clock.setTimeout(() => {
          paused.delete(timer);
          signal(pid, 'SIGCONT');
          resolve(pid);
        }, ms);
        paused.set(timer, { pid, resolve: () => resolve(pid) });
      });
    },
    garbage(agentId, worker, bytes = GARBAGE_BYTES) {
      const target = pick(agentId, worker);
      note('garbage', agentId, target?.ref.index, target?.ref.pid);
      if (target === undefined) return undefined;
      const inject = target.proc[INJECT];
      if (typeof inject !== 'function') throw new TypeError('this PythonWorker has no fault-injection hook');
      inject.call(target.proc, bytes);
      return target.ref.pid;
    },
    close() {
      for (const [timer, p] of paused) {
        clock.clearTimeout(timer);
        signal(p.pid, 'SIGCONT');
        p.resolve();
      }
      paused.clear();
    },
  };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    // ESRCH: the worker died meanwhile (e.g. replaced after a heartbeat timeout) — nothing to do.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
