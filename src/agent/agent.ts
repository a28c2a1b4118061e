/**
 * One agent: its router, its worker supervisor's child spec, its status and its tools.
 *
 * Tree shape (see docs/architecture.md):
 *   agents (DynamicSupervisor) → agent:<id> (Supervisor, one_for_one) → worker:<n> (actors)
 *                                                                       + spares (actor, if spares > 0)
 * The agent supervisor's intensity is the agent's crash budget; when it is spent the agent
 * supervisor escalates and the agents DynamicSupervisor restarts it after the quarantine
 * backoff. Its child specs carry supervisor hooks ({@link ChildHooks}) that keep the router's state right.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { errorCodeOf, isSynapseError, synErr } from '../errors.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEventEmitter } from '../observe/events.ts';
import type { PidFile } from '../process/pidfile.ts';
import type { PythonWorker } from '../process/index.ts';
import type { SparePool } from '../process/spares.ts';
import type { ToolCallRequest } from '../process/runs.ts';
import type { ZygotePool } from '../process/zygote.ts';
import { supervisor } from '../supervisor/supervisor.ts';
import type { ChildHooks, ChildSpec } from '../supervisor/spec.ts';
import type { ResolvedAgentOptions } from './options.ts';
import { AgentRouter, type AgentState, type RequestOptions, type RunResult, type StartupFailure } from './router.ts';
import type { InspectNode } from '../observe/inspect.ts';
import type { RemoteHostStatus } from './remote.ts';
import { sparesBehaviour, workerBehaviour } from './worker.ts';
import { ModelRateLimiter } from './rate-limit.ts';

/** `system.agentStatus(id)`. */
export interface AgentStatus {
  id: string;
  state: AgentState;
  /** Pids of the ready workers. */
  pids: number[];
  /**
   * Restart attempts by the supervisors since spawn: worker restarts plus agent restarts after
   * quarantine, each counted when it is tried — whether it came up or failed at start-up
   * (`restartAgent` is not counted here; its failed start is a start-up failure).
   */
  restarts: number;
  /**
   * Worker starts that failed before ready since spawn (import error, exit before ready,
   * start-up timeout), including the retries after quarantine. Not counted in `crashes`.
   */
  startupFailures: number;
  /**
   * While start-ups keep failing (calls fail fast), quarantined after they did, or after a failed
   * `restartAgent`: the last start-up failure.
   */
  startupFailure?: StartupFailure;
  inFlight: number;
  queued: number;
  /** While quarantined: when it tries again (system clock ms). */
  nextRetryAt?: number;
  /** Worker processes that crashed after they were ready, since spawn. */
  crashes: number;
  /** A remote agent (`attachRemoteAgent`) only: the hosts that advertise it now (status adverts). */
  hosts?: RemoteHostStatus[];
}

export interface AgentDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: SynapseEventEmitter;
  readonly pidFile: PidFile | null;
  /** The system's zygotes: workers of an agent with `python.zygote` fork from them. */
  readonly zygotes?: ZygotePool | undefined;
}

export class PythonAgent {
  readonly id: string;
  readonly options: ResolvedAgentOptions;
  readonly #router: AgentRouter;
  /** Live processes by worker index (for status, inspection and the chaos kit). */
  readonly #processes = new Map<number, PythonWorker>();
  /** The warm spare pool while the agent's spares actor runs (`spares > 0`). */
  readonly #spares: { pool: SparePool | undefined } = { pool: undefined };
  readonly #deps: AgentDeps;
  /** The model request limiter shared by all workers (`rateLimit`); absent: none. */
  readonly #limiter: ModelRateLimiter | undefined;
  /** The label of this agent's own supervisor in `supervisor.*` events (`agent:<id>`). */
  readonly supervisorLabel: string;
  #restarts = 0;
  #startupFailures = 0;
  #crashes = 0;
  /**
   * Worker start-up failures by child id (`worker:<n>`), oldest first, each kept until the
   * supervisor's event about it (which says when it retries). At most one per worker.
   */
  readonly #failedStarts = new Map<string, { summary: StartupFailure; error: unknown }>();

  constructor(options: ResolvedAgentOptions, deps: AgentDeps) {
    this.id = options.id;
    this.options = options;
    this.#deps = deps;
    this.supervisorLabel = `agent:${options.id}`;
    this.#router = new AgentRouter({
      agent: options.id,
      workers: options.workers,
      queueCapacity: options.queue,
      timeoutMs: options.timeoutMs,
      whenUnavailable: options.whenUnavailable,
      clock: deps.clock,
      events: deps.events,
    });
    this.#limiter =
      options.rateLimit === undefined
        ? undefined
        : new ModelRateLimiter({
            agent: options.id,
            clock: deps.clock,
            limits: options.rateLimit,
            // A run has at most one model request at a time: every in-flight run may wait.
            maxWaiting: options.workers * options.concurrency,
            onWaited: (e) => emit(deps.events, 'model.slot_waited', { agent: options.id, runId: e.runId, waitMs: e.waitMs, outcome: e.outcome }),
          });
  }

  /**
   * A worker's restart is scheduled (hook of its child spec in `agent:<id>`): a start-up attempt
   * that failed is counted, and callers learn why now instead of at their deadline.
   */
  #workerRestartScheduled(child: string, delayMs: number, startup: boolean): void {
    if (!startup) return; // a successful attempt is counted on `restarted`
    this.#restarts++;
    const failed = this.#failedStarts.get(child);
    if (failed === undefined) return;
    this.#failedStarts.delete(child);
    this.#router.startupFailed(failed.summary, failed.error, this.#deps.clock.now() + delayMs);
  }

  /**
   * The agent's own (re)start is scheduled (hook of its child spec in the agents
   * DynamicSupervisor): it escalated (restart intensity spent), or its retry after quarantine
   * failed at start-up. Either way it is quarantined until then.
   */
  #agentRestartScheduled(delayMs: number, startup: boolean): void {
    if (startup) this.#restarts++;
    const nextRetryAt = this.#deps.clock.now() + delayMs; // one instant: the router and the event agree
    const failed = startup ? this.#takeLatestFailure() : undefined;
    this.#failedStarts.clear();
    this.#router.quarantine(nextRetryAt, failed);
    emit(this.#deps.events, 'agent.quarantined', { agent: this.id, nextRetryAt, crashes: this.#crashes });
  }

  /** The agent was restarted after quarantine. */
  #agentRestarted(): void {
    this.#restarts++;
    this.#router.unquarantine();
    emit(this.#deps.events, 'agent.recovered', { agent: this.id });
  }

  /** A worker's process failed before ready (the worker hook): counted, kept for the supervisor's retry event. */
  #onStartupFailure(index: number, error: unknown): void {
    this.#startupFailures++;
    const key = `worker:${index}`;
    this.#failedStarts.delete(key); // re-insert: the map's order stays oldest → latest
    this.#failedStarts.set(key, { summary: startupFailureOf(error, this.#deps.clock.now()), error });
  }

  /** The latest recorded worker start-up failure (forgetting all of them). */
  #takeLatestFailure(): { summary: StartupFailure; error: unknown } | undefined {
    const latest = [...this.#failedStarts.values()].at(-1);
    this.#failedStarts.clear();
    return latest;
  }

  /**
   * A manual restart (`system.restartAgent`) failed with `error` (its root cause) and nothing will
   * retry by itself: calls fail fast with that start-up failure until a start succeeds.
   */
  restartFailed(error: unknown): void {
    const failed = this.#takeLatestFailure() ?? { summary: startupFailureOf(error, this.#deps.clock.now()), error };
    this.#router.startupFailed(failed.summary, failed.error, undefined);
  }

  /** The child spec for the agents DynamicSupervisor: a supervisor of this agent's workers. */
  childSpec(): ChildSpec {
    const o = this.options;
    const workerDeps = {
      onStartupFailure: (index: number, error: unknown) => this.#onStartupFailure(index, error),
      onCrash: () => void this.#crashes++,
      options: o,
      router: this.#router,
      clock: this.#deps.clock,
      log: this.#deps.log,
      events: this.#deps.events,
      pidFile: this.#deps.pidFile,
      zygotes: this.#deps.zygotes,
      processes: this.#processes,
      spares: this.#spares,
      modelSlots: this.#limiter,
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
      hooks: {
        restartScheduled: ({ delayMs, startup }) => this.#workerRestartScheduled(`worker:${index}`, delayMs, startup),
        restarted: () => void this.#restarts++,
      },
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
      hooks: {
        restartScheduled: ({ delayMs, startup }) => this.#agentRestartScheduled(delayMs, startup),
        restarted: () => this.#agentRestarted(),
      },
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

  /**
   * Runs one turn's request on this agent's workers: the router queues and dispatches it, and
   * the agent answers its TypeScript tool calls (with the turn's conversation and turn ids).
   * A served run (`system.serve`) passes `forward`: calls of the tools it names go to the remote front.
   * @throws what {@link AgentRouter.request} throws.
   */
  request(options: Omit<RequestOptions, 'onToolCall'>, forward?: { readonly tools: ReadonlySet<string>; readonly onToolCall: (call: ToolCallRequest) => unknown }): Promise<RunResult> {
    const context = { conversationId: options.conversationId, turnId: options.turnId };
    return this.#router.request({ ...options, onToolCall: (call) => (forward?.tools.has(call.tool) === true ? forward.onToolCall(call) : this.#callTool(call, context)) });
  }

  /** Admits again after quarantine or close (before a manual restart). */
  reopen(): void {
    this.#router.reopen();
    this.#limiter?.reopen();
  }

  /** The model request limiter shared by the agent's workers (`rateLimit`); absent: none. */
  get modelSlots(): ModelRateLimiter | undefined {
    return this.#limiter;
  }

  /** Queued and in-flight calls (metrics). */
  load(): { readonly queued: number; readonly inFlight: number; readonly modelSlotsWaiting: number } {
    return { queued: this.#router.queued, inFlight: this.#router.inFlight, modelSlotsWaiting: this.#limiter?.waiting ?? 0 };
  }

  /** Pids of the idle warm spares (metrics, inspection). */
  sparePids(): number[] {
    return this.#spares.pool?.pids() ?? [];
  }

  /** The live worker processes by index (the chaos kit of `synapse/testing`). */
  get processes(): ReadonlyMap<number, { readonly pid: number }> {
    return this.#processes;
  }

  /**
   * This agent's subtree of `system.inspect()`: its workers (state, pid, restarts, in-flight,
   * RSS, loop lag) then its idle warm spares. `restartsOf(child)` counts a child's restarts by
   * its supervisor (`agent:<id>`).
   */
  inspect(restartsOf: (child: string) => number): InspectNode {
    const s = this.status();
    const spares = this.sparePids();
    const workers = Array.from({ length: this.options.workers }, (_, i): InspectNode => {
      const p = this.#processes.get(i);
      const st = p?.stats();
      return {
        kind: 'worker',
        id: `${this.id}/${i}`,
        name: `worker:${i}`,
        state: p === undefined ? 'down' : p.state,
        restarts: restartsOf(`worker:${i}`),
        ...(st === undefined ? {} : { pid: st.pid, inFlight: st.inFlight, meta: { rssBytes: st.rssBytes, loopLagMs: st.loopLagMs } }),
        children: [],
      };
    });
    // Idle warm spares (agents with `spares > 0`): ready to replace a crashed worker.
    const spareNodes = spares.map((pid): InspectNode => ({ kind: 'spare', id: `${this.id}/spare:${pid}`, name: 'spare', state: 'idle', pid, children: [] }));
    const o = this.options;
    return {
      kind: 'agent',
      id: this.id,
      name: this.id,
      state: s.state,
      restarts: s.restarts,
      inFlight: s.inFlight,
      queued: s.queued,
      ...(s.nextRetryAt === undefined ? {} : { nextRetryAt: s.nextRetryAt }),
      meta: { agent: o.agent, workers: o.workers, crashes: s.crashes, strategy: 'one_for_one', spares: o.spares, sparesIdle: spares.length },
      children: [...workers, ...spareNodes],
    };
  }

  /** Runs a TS tool for Python. */
  async #callTool(call: ToolCallRequest, context: { conversationId?: string | undefined; turnId?: string | undefined }): Promise<unknown> {
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
    const r = this.#router;
    return {
      id: this.id,
      state: r.state,
      pids: r.pids(),
      restarts: this.#restarts,
      startupFailures: this.#startupFailures,
      ...(r.startupFailure === undefined ? {} : { startupFailure: r.startupFailure }),
      inFlight: r.inFlight,
      queued: r.queued,
      ...(r.nextRetryAt === undefined ? {} : { nextRetryAt: r.nextRetryAt }),
      crashes: this.#crashes,
    };
  }

  /**
   * Stops admitting requests (the supervisor stops the workers); the model request limiter
   * (`rateLimit`) rejects its waiters with SYN_ERR_SHUTDOWN and clears its timer.
   */
  close(): void {
    this.#router.close();
    this.#limiter?.close();
    void this.#spares.pool?.close(); // the spares actor awaits the same close when the supervisor stops it
  }
}

/** The facts of a start-up error a caller needs (code, exit, Python traceback, stderr tail). */
function startupFailureOf(error: unknown, at: number): StartupFailure {
  if (!isSynapseError(error)) return { code: errorCodeOf(error), message: error instanceof Error ? error.message : String(error), exitCode: null, signal: null, stderrTail: '', at };
  const d = error.details;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const traceback = str(d.traceback);
  const type = str(d.type);
  return {
    code: error.code,
    message: error.message,
    exitCode: typeof d.exitCode === 'number' ? d.exitCode : null,
    signal: str(d.signal) ?? null,
    ...(traceback === undefined ? {} : { traceback }),
    ...(type === undefined ? {} : { type }),
    stderrTail: str(d.stderrTail) ?? '',
    at,
  };
}
