/**
 * One agent: its router, its worker supervisor's child spec, its status and its tools.
 *
 * Tree shape (see docs/architecture.md):
 *   agents (DynamicSupervisor) → agent:<id> (Supervisor, one_for_one) → worker:<n> (actors)
 *                                                                       + spares (actor, if spares > 0)
 * The agent supervisor's intensity is the agent's crash budget; when it is spent the agent
 * supervisor escalates and the agents DynamicSupervisor restarts it after the quarantine
 * backoff. This object follows those supervision events to keep the router's state right.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { synErr } from '../errors.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEventEmitter, SynapseEvents } from '../observe/events.ts';
import type { PidFile } from '../process/pidfile.ts';
import type { PythonProcess } from '../process/index.ts';
import type { SparePool } from '../process/spares.ts';
import type { ToolCallRequest } from '../process/runs.ts';
import { supervisor } from '../supervisor/supervisor.ts';
import type { ChildSpec } from '../supervisor/spec.ts';
import type { ResolvedAgentOptions } from './options.ts';
import { AgentRouter, type AgentState } from './router.ts';
import { sparesBehaviour, workerBehaviour } from './worker.ts';

/** `system.agentStatus(id)`. */
export interface AgentStatus {
  id: string;
  state: AgentState;
  /** Pids of the ready workers. */
  pids: number[];
  /** Worker restarts plus agent restarts after quarantine, since spawn. */
  restarts: number;
  inFlight: number;
  queued: number;
  /** While quarantined: when it tries again (system clock ms). */
  nextRetryAt?: number;
  /** Worker processes that crashed since spawn. */
  crashes: number;
}

export interface AgentDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: SynapseEventEmitter;
  readonly pidFile: PidFile | null;
  /** Label of the agents DynamicSupervisor (to recognise its events about this agent). */
  readonly agentsSupervisor: string;
}

export class PythonAgent {
  readonly id: string;
  readonly options: ResolvedAgentOptions;
  readonly router: AgentRouter;
  /** Live processes by worker index (for status, metrics and the chaos kit). */
  readonly processes = new Map<number, PythonProcess>();
  /** The warm spare pool while the agent's spares actor runs (`spares > 0`). */
  readonly spares: { pool: SparePool | undefined } = { pool: undefined };
  readonly #deps: AgentDeps;
  /** The label of this agent's own supervisor in `supervisor.*` events (`agent:<id>`). */
  readonly supervisorLabel: string;
  #restarts = 0;
  #crashes = 0;
  readonly #unsubscribe: () => void;

  constructor(options: ResolvedAgentOptions, deps: AgentDeps) {
    this.id = options.id;
    this.options = options;
    this.#deps = deps;
    this.supervisorLabel = `agent:${options.id}`;
    this.router = new AgentRouter({
      agent: options.id,
      workers: options.workers,
      concurrency: options.concurrency,
      queueCapacity: options.queue,
      timeoutMs: options.timeoutMs,
      whenUnavailable: options.whenUnavailable,
      clock: deps.clock,
      events: deps.events,
    });
    const onScheduled = (e: SynapseEvents['supervisor.restart_scheduled']) => {
      if (e.supervisor === deps.agentsSupervisor && e.child === this.id) {
        const nextRetryAt = deps.clock.now() + e.delayMs; // one instant: the router and the event agree
        this.router.quarantine(nextRetryAt);
        emit(deps.events, 'agent.quarantined', { agent: this.id, nextRetryAt, crashes: this.#crashes });
      }
    };
    const onRestarted = (e: SynapseEvents['supervisor.restarted']) => {
      if (e.supervisor === this.supervisorLabel) this.#restarts++;
      else if (e.supervisor === deps.agentsSupervisor && e.child === this.id) {
        this.#restarts++;
        this.router.unquarantine();
        emit(deps.events, 'agent.recovered', { agent: this.id });
      }
    };
    const onCrashed = (e: SynapseEvents['worker.crashed']) => {
      if (e.agent === this.id) this.#crashes++;
    };
    deps.events.on('supervisor.restart_scheduled', onScheduled);
    deps.events.on('supervisor.restarted', onRestarted);
    deps.events.on('worker.crashed', onCrashed);
    this.#unsubscribe = () => {
      deps.events.off('supervisor.restart_scheduled', onScheduled);
      deps.events.off('supervisor.restarted', onRestarted);
      deps.events.off('worker.crashed', onCrashed);
    };
  }

  /** The child spec for the agents DynamicSupervisor: a supervisor of this agent's workers. */
  childSpec(): ChildSpec {
    const o = this.options;
    const workerDeps = {
      options: o,
      router: this.router,
      clock: this.#deps.clock,
      log: this.#deps.log,
      events: this.#deps.events,
      pidFile: this.#deps.pidFile,
      processes: this.processes,
      spares: this.spares,
    };
    const workers: ChildSpec[] = Array.from({ length: o.workers }, (_, index) => ({
      id: `worker:${index}`,
      start: () => workerBehaviour(workerDeps, index),
      restart: 'permanent',
      // Ask nicely (shutdown frame → SIGTERM → SIGKILL inside close()), then the actor is killed.
      shutdown: o.python.shutdownTimeoutMs + 1_000,
      backoff: o.restart.backoff,
      // The process layer's own start-up deadline fires first with the precise code.
      startTimeoutMs: o.python.startTimeoutMs + 5_000,
    }));
    // Last, so spares start filling only once every worker is ready (and are stopped first).
    if (o.spares > 0) workers.push({ id: 'spares', start: () => sparesBehaviour(workerDeps), restart: 'permanent', shutdown: o.python.shutdownTimeoutMs + 1_000 });
    return {
      id: this.id,
      type: 'supervisor',
      restart: 'permanent',
      shutdown: 'infinity',
      backoff: o.restart.quarantine,
      startTimeoutMs: o.python.startTimeoutMs * 2 + 10_000,
      start: () =>
        supervisor({
          name: this.supervisorLabel,
          strategy: 'one_for_one',
          intensity: o.restart.intensity,
          periodMs: o.restart.periodMs,
          children: workers,
        }),
    };
  }

  /** Runs a TS tool for Python. */
  async callTool(call: ToolCallRequest, context: { conversationId?: string | undefined; turnId?: string | undefined }): Promise<unknown> {
    const tool = this.options.tools[call.tool];
    if (tool === undefined) throw synErr('SYN_ERR_TOOL_FAILED', `Agent "${this.id}" has no TypeScript tool "${call.tool}"`, { agent: this.id, tool: call.tool });
    try {
      return await tool.handler(call.args, { agent: this.id, requestId: call.runId, conversationId: context.conversationId, turnId: context.turnId, signal: call.signal });
    } catch (error) {
      this.#deps.log.warn({ agent: this.id, tool: call.tool, code: 'SYN_ERR_TOOL_FAILED', err: error }, 'tool handler threw; the model sees the error');
      throw error;
    }
  }

  status(): AgentStatus {
    const r = this.router;
    return {
      id: this.id,
      state: r.state,
      pids: r.pids(),
      restarts: this.#restarts,
      inFlight: r.inFlight,
      queued: r.queued,
      ...(r.nextRetryAt === undefined ? {} : { nextRetryAt: r.nextRetryAt }),
      crashes: this.#crashes,
    };
  }

  /** Stops admitting requests and forgets event subscriptions (the supervisor stops the workers). */
  close(): void {
    this.router.close();
    void this.spares.pool?.close(); // the spares actor awaits the same close when the supervisor stops it
    this.#unsubscribe();
  }
}
