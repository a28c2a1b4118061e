/**
 * A warm spare: a Python process that has said `hello` (interpreter up, pydantic-ai imported)
 * but has loaded no user code. {@link SpareProcess.assign} sends `init` and resolves with the
 * ready {@link PythonProcess}. Create one with `PythonProcess.spawnSpare(options)`.
 *
 * Why it is safe to keep one around (docs/decisions.md, "Warm spares"):
 * - no stale code: the user's module is imported at assignment, not at spawn;
 * - no shared state or secrets: a spare is spawned with one agent's executable, cwd and env and
 *   becomes exactly one worker of that agent; it is never handed to another agent or reused.
 */
import { synErr } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import type { HelloFrame } from '../protocol/frames.ts';
import type { ProcessLabel } from './options.ts';
import type { ProcessExit, PythonProcess } from './python-process.ts';

/** Options of {@link SpareProcess.assign}. */
export interface SpareAssignOptions {
  /** Labels of the worker it becomes (logs and error details); default: the labels given at spawn. */
  label?: ProcessLabel;
  /** Aborting before `ready` kills the process; the promise rejects with SYN_ERR_ABORTED. */
  signal?: AbortSignal;
}

const ASSIGN_SCHEMA = {
  label: v.optional(v.object({ agent: v.optional(v.string()), worker: v.optional(v.number({ min: 0, integer: true })) })),
  signal: v.optional(v.instanceOf(AbortSignal, 'an AbortSignal')),
};

/** A spare Python process waiting for its assignment. One-shot: assigned at most once. */
export class SpareProcess {
  readonly #proc: PythonProcess;
  readonly #assign: (options: SpareAssignOptions) => Promise<PythonProcess>;
  #assigned = false;

  /** @internal Created by `PythonProcess.spawnSpare`. */
  constructor(proc: PythonProcess, assign: (options: SpareAssignOptions) => Promise<PythonProcess>) {
    this.#proc = proc;
    this.#assign = assign;
  }

  /** OS pid (also the process group id); the assigned worker keeps it. */
  get pid(): number {
    return this.#proc.pid;
  }

  /** The spare's `hello` frame (Python and pydantic-ai versions). */
  get hello(): HelloFrame | undefined {
    return this.#proc.hello;
  }

  /** True while it waits for an assignment and has not died or been stopped. */
  get alive(): boolean {
    return !this.#assigned && this.#proc.state === 'handshaking';
  }

  /** True once {@link assign} was called. */
  get assigned(): boolean {
    return this.#assigned;
  }

  /** Resolves once the process is gone (as a spare, or later as the worker it became). Never rejects. */
  get exited(): Promise<ProcessExit> {
    return this.#proc.exited;
  }

  /**
   * Sends `init` (the agents, tools and limits given at spawn) and resolves with the ready
   * worker. The caller then owns the process (`close`/`kill` it).
   *
   * @throws SYN_ERR_INVALID_OPTION for a bad option; SYN_ERR_INVALID_ARGUMENT if already assigned;
   *   SYN_ERR_STARTUP_FAILED (the agent module failed to import, or the spare died: details as
   *   `PythonProcess.start`), SYN_ERR_STARTUP_TIMEOUT, SYN_ERR_HEARTBEAT_TIMEOUT, SYN_ERR_SHUTDOWN
   *   (the spare was stopped), SYN_ERR_ABORTED. On every failure the process is gone (or going).
   */
  assign(options: SpareAssignOptions = {}): Promise<PythonProcess> {
    try {
      const o = resolveOptions('assign', options, ASSIGN_SCHEMA);
      if (this.#assigned) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Spare ${this.pid} was already assigned`, { pid: this.pid });
      this.#assigned = true;
      const label: ProcessLabel | undefined = o.label === undefined ? undefined : { agent: o.label.agent, worker: o.label.worker };
      return this.#assign({ ...(label === undefined ? {} : { label }), ...(o.signal === undefined ? {} : { signal: o.signal }) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Graceful stop of an unassigned spare (`shutdown` frame → SIGTERM → SIGKILL). Idempotent. */
  close(options: { timeoutMs?: number } = {}): Promise<ProcessExit> {
    return this.#proc.close(options);
  }

  /** SIGKILL to the process group. Idempotent. */
  kill(): void {
    this.#proc.kill();
  }

  /** `await using spare = await PythonProcess.spawnSpare(…)` closes it at scope exit (unless assigned). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#assigned) await this.close();
  }
}
