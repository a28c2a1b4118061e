/**
 * The worker actor: owns one Python process for the lifetime of one actor incarnation.
 * `init` spawns the process and waits for `ready` (a failure is a start-up failure the
 * supervisor counts apart); the process's death crashes the actor with the coded reason so
 * the agent supervisor restarts it with backoff. Whatever way the actor ends — graceful
 * stop, crash, brutal kill — the process goes with it (hooked on `exited`, not only on
 * `terminate`, which a kill skips).
 */
import type { Logger } from 'pino';
import type { Behaviour } from '../actor/types.ts';
import type { Clock } from '../clock.ts';
import { synErr, type SynapseError } from '../errors.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEventEmitter } from '../observe/events.ts';
import type { PidFile } from '../process/pidfile.ts';
import { PythonProcess, type ProcessExit } from '../process/index.ts';
import type { ResolvedAgentOptions } from './options.ts';
import type { AgentRouter } from './router.ts';

export interface WorkerDeps {
  readonly options: ResolvedAgentOptions;
  readonly router: AgentRouter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: SynapseEventEmitter;
  readonly pidFile: PidFile | null;
  /** Test/chaos hook: the live process of each worker index. */
  readonly processes: Map<number, PythonProcess>;
}

type WorkerMessage = { readonly type: 'process-exit'; readonly exit: ProcessExit };

export function workerBehaviour(deps: WorkerDeps, index: number): Behaviour<WorkerMessage, void> {
  const { options: o, router, events } = deps;
  let proc: PythonProcess | undefined;
  const starting = new AbortController();
  let stopping = false;

  return {
    async init(ctx) {
      // Whatever ends this incarnation, the process ends with it.
      void ctx.self.exited.then(() => {
        stopping = true;
        starting.abort(synErr('SYN_ERR_SHUTDOWN', `worker ${index} of agent "${o.id}" exited while starting`));
        router.detach(index);
        if (proc !== undefined) {
          deps.processes.delete(index);
          proc.kill();
        }
      });
      const t0 = deps.clock.now();
      proc = await PythonProcess.start(
        {
          ...(o.python.executable === undefined ? {} : { executable: o.python.executable }),
          cwd: o.python.cwd,
          env: o.python.env,
          agents: [{ name: o.id, ref: o.agent }],
          tools: Object.entries(o.tools).map(([name, t]) => ({ name, description: t.description, parameters: t.parameters })),
          concurrency: o.concurrency,
          maxFrameBytes: o.python.maxFrameBytes,
          startTimeoutMs: o.python.startTimeoutMs,
          heartbeatIntervalMs: o.python.heartbeatIntervalMs,
          heartbeatTimeoutMs: o.python.heartbeatTimeoutMs,
          shutdownTimeoutMs: o.python.shutdownTimeoutMs,
          cancelGraceMs: o.cancelGraceMs,
          ...(o.python.memoryLimitMb === undefined ? {} : { memoryLimitMb: o.python.memoryLimitMb }),
          clock: deps.clock,
          log: deps.log,
          label: { agent: o.id, worker: index },
          pidFile: deps.pidFile,
        },
        { signal: starting.signal },
      );
      const p = proc;
      if (stopping) {
        p.kill();
        return;
      }
      deps.processes.set(index, p);
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
      router.attach({ index, pid: p.pid, run: (request, handlers) => p.run(request, handlers) });
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
      router.detach(index);
      const p = proc;
      if (p === undefined) return;
      deps.processes.delete(index);
      const exit = await p.close({ timeoutMs: o.python.shutdownTimeoutMs });
      emit(events, 'worker.exited', { agent: o.id, worker: index, pid: p.pid, exitCode: exit.exitCode, signal: exit.signal });
    },
  };
}
