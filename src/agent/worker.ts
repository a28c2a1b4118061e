/**
 * The worker actor: owns one Python process for the lifetime of one actor incarnation.
 * `init` spawns the process and waits for `ready` (a failure is a start-up failure the
 * supervisor counts apart); the process's death crashes the actor with the coded reason so
 * the agent supervisor restarts it with backoff. Whatever way the actor ends — graceful
 * stop, crash, brutal kill — the process goes with it (hooked on `exited`, not only on
 * `terminate`, which a kill skips).
 *
 * With `spares > 0` the agent supervisor also runs {@link sparesBehaviour}: it owns the agent's
 * {@link SparePool}, and a (re)starting worker takes a warm spare from it when one is idle.
 */
import type { Logger } from 'pino';
import type { Behaviour } from '../actor/types.ts';
import type { Clock } from '../clock.ts';
import { synErr, type SynapseError } from '../errors.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEventEmitter } from '../observe/events.ts';
import type { PidFile } from '../process/pidfile.ts';
import { PythonWorker, type ProcessExit } from '../process/index.ts';
import type { ProcessLabel, PythonProcessOptions } from '../process/options.ts';
import { SparePool } from '../process/spares.ts';
import type { ZygotePool } from '../process/zygote.ts';
import type { ResolvedAgentOptions } from './options.ts';
import type { ModelRateLimiter } from './rate-limit.ts';
import type { AgentRouter, WorkerSlot } from './router.ts';

export interface WorkerDeps {
  readonly options: ResolvedAgentOptions;
  readonly router: AgentRouter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: SynapseEventEmitter;
  readonly pidFile: PidFile | null;
  /** The system's zygotes (used when the agent sets `python.zygote`). */
  readonly zygotes?: ZygotePool | undefined;
  /** Test/chaos hook: the live process of each worker index. */
  readonly processes: Map<number, PythonWorker>;
  /** The agent's spare pool while its spares actor runs (absent or empty slot: always spawn fresh). */
  readonly spares?: { pool: SparePool | undefined };
  /**
   * This worker's process failed to start (`error`: the process layer's coded start-up error),
   * called before `init` rejects — not when the start was abandoned because the worker is stopping.
   */
  readonly onStartupFailure?: ((index: number, error: unknown) => void) | undefined;
  /** This worker's process died after it was ready (called before `worker.crashed` is emitted). */
  readonly onCrash?: ((index: number) => void) | undefined;
  /** The agent's model request limiter (`rateLimit`), shared by all its workers; absent: none. */
  readonly modelSlots?: ModelRateLimiter | undefined;
}

/** The process options of a worker of this agent (also the options every spare of the agent is spawned with). */
export function workerProcessOptions(deps: WorkerDeps, label: ProcessLabel): PythonProcessOptions {
  const o = deps.options;
  return {
    ...(o.python.executable === undefined ? {} : { executable: o.python.executable }),
    cwd: o.python.cwd,
    env: o.python.env,
    ...(o.python.secrets.length === 0 ? {} : { secrets: o.python.secrets }),
    agents: [{ name: o.id, ref: o.agent, ...o.run, ...o.hooks, ...(o.rateLimit === undefined ? {} : { modelSlots: true }) }],
    tools: Object.entries(o.tools).map(([name, t]) => ({ name, description: t.description, parameters: t.parameters })),
    concurrency: o.concurrency,
    maxFrameBytes: o.python.maxFrameBytes,
    maxHistoryBytes: o.python.maxHistoryBytes,
    startTimeoutMs: o.python.startTimeoutMs,
    heartbeatIntervalMs: o.python.heartbeatIntervalMs,
    heartbeatTimeoutMs: o.python.heartbeatTimeoutMs,
    gcGraceMs: o.python.gcGraceMs,
    shutdownTimeoutMs: o.python.shutdownTimeoutMs,
    cancelGraceMs: o.cancelGraceMs,
    ...(o.python.memoryLimitMb === undefined ? {} : { memoryLimitMb: o.python.memoryLimitMb }),
    ...(o.python.gcThresholds === undefined ? {} : { gcThresholds: o.python.gcThresholds }),
    clock: deps.clock,
    log: deps.log,
    label,
    pidFile: deps.pidFile,
    ...(o.python.zygote && deps.zygotes !== undefined ? { zygotes: deps.zygotes } : {}),
  };
}

/**
 * The actor owning an agent's {@link SparePool}: creates it in `init` (it fills in the
 * background; each spare that becomes warm and idle is reported as `spare.ready`), publishes it
 * in `deps.spares`, and closes it — awaiting every spare's exit — when
 * the actor ends (terminate, or the `exited` hook after a brutal kill).
 */
export function sparesBehaviour(deps: WorkerDeps & { readonly spares: { pool: SparePool | undefined } }): Behaviour<never, void> {
  let pool: SparePool | undefined;
  const release = (): Promise<void> => {
    if (pool === undefined) return Promise.resolve();
    if (deps.spares.pool === pool) deps.spares.pool = undefined;
    return pool.close();
  };
  return {
    init(ctx) {
      pool = new SparePool({ size: deps.options.spares, process: workerProcessOptions(deps, { agent: deps.options.id }) });
      pool.on('spare', (pid) => emit(deps.events, 'spare.ready', { agent: deps.options.id, pid }));
      deps.spares.pool = pool;
      void ctx.self.exited.then(release);
    },
    handle() {
      // No messages: the pool works on its own.
    },
    terminate: release,
  };
}

type WorkerMessage = { readonly type: 'process-exit'; readonly exit: ProcessExit };

export function workerBehaviour(deps: WorkerDeps, index: number): Behaviour<WorkerMessage, void> {
  const { options: o, router, events } = deps;
  let proc: PythonWorker | undefined;
  /** This incarnation's router slot (detaching by slot never removes a later incarnation's). */
  let slot: WorkerSlot | undefined;
  const starting = new AbortController();
  let stopping = false;

  return {
    async init(ctx) {
      // Whatever ends this incarnation, the process ends with it.
      void ctx.self.exited.then(() => {
        stopping = true;
        starting.abort(synErr('SYN_ERR_SHUTDOWN', `worker ${index} of agent "${o.id}" exited while starting`));
        if (slot !== undefined) router.detach(index, slot);
        if (proc !== undefined) {
          deps.processes.delete(index);
          proc.kill();
        }
      });
      const t0 = deps.clock.now();
      const label = { agent: o.id, worker: index };
      // A warm spare if one is idle (init → ready only), else a fresh interpreter.
      const fromSpare = deps.spares?.pool?.assign({ label, signal: starting.signal });
      try {
        proc = await (fromSpare ?? PythonWorker.start(workerProcessOptions(deps, label), { signal: starting.signal }));
      } catch (error) {
        if (!stopping) deps.onStartupFailure?.(index, error);
        throw error;
      }
      if (fromSpare !== undefined) deps.log.debug({ agent: o.id, worker: index, pythonPid: proc.pid }, 'worker took a warm spare');
      const p = proc;
      if (stopping) {
        p.kill();
        return;
      }
      deps.processes.set(index, p);
      // The process layer hands the process over only once it is ready (its pid is not exposed
      // earlier), so `worker.spawned` is emitted here, just before `worker.ready`.
      emit(events, 'worker.spawned', { agent: o.id, worker: index, pid: p.pid, spare: fromSpare !== undefined });
      p.once('exit', (exit) => {
        if (!stopping && ctx.self.isAlive()) {
          try {
            ctx.self.send({ type: 'process-exit', exit });
          } catch {
            // The actor is exiting anyway (mailbox closed); its exited hook cleans up.
          }
        }
      });
      emit(events, 'worker.ready', { agent: o.id, worker: index, pid: p.pid, startupMs: Math.round(deps.clock.now() - t0) });
      const limiter = deps.modelSlots;
      const own: WorkerSlot = {
        index,
        pid: p.pid,
        free: () => p.free(),
        // Every worker's model requests wait on the agent's one limiter.
        run: (request, handlers) => p.run(request, limiter === undefined ? handlers : { ...handlers, onModelSlot: (call) => limiter.acquire(call) }),
      };
      slot = own;
      // Leave the router the moment the process stops accepting runs (defect found, stop begun):
      // the actor's exit comes later (OS exit, pipes drained), and until then new requests must
      // queue for the replacement instead of failing at once with the old error.
      p.on('state', (state) => {
        if (state !== 'ready') router.detach(index, own);
      });
      // The worker counts its own slots: queued work goes in the moment one frees (a run settled,
      // a cancelled run acknowledged by Python).
      p.on('capacity', () => router.pump());
      router.attach(own);
    },

    handle(message) {
      // The only message: our process died. Crash with its coded reason → supervisor restart.
      const { exit } = message;
      const pid = proc?.pid ?? -1;
      const reason: SynapseError =
        exit.error ??
        synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${pid} of agent "${o.id}" exited (code ${exit.exitCode}, signal ${exit.signal})`, {
          agent: o.id,
          worker: index,
          pid,
          exitCode: exit.exitCode,
          signal: exit.signal,
        });
      deps.onCrash?.(index);
      emit(events, 'worker.crashed', {
        agent: o.id,
        worker: index,
        pid,
        code: reason.code,
        exitCode: exit.exitCode,
        signal: exit.signal,
        stderrTail: typeof reason.details.stderrTail === 'string' ? reason.details.stderrTail : '',
        inFlight: 0,
      });
      throw reason;
    },

    async terminate() {
      stopping = true;
      if (slot !== undefined) router.detach(index, slot);
      const p = proc;
      if (p === undefined) return;
      deps.processes.delete(index);
      const exit = await p.close({ timeoutMs: o.python.shutdownTimeoutMs });
      emit(events, 'worker.exited', { agent: o.id, worker: index, pid: p.pid, exitCode: exit.exitCode, signal: exit.signal });
    },
  };
}
