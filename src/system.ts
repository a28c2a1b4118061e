/**
 * `Synapse.start()` and the public system object.
 *
 * The supervision tree, in start order (stopped in reverse):
 *   1. agents — a DynamicSupervisor of agent supervisors. Its intensity is unbounded on
 *      purpose: each agent has its own crash budget and quarantine backoff, so one
 *      crash-looping agent can never take the others down (docs/supervision.md).
 *   User actors and supervisors (`system.spawn`, `system.startSupervisor`) live beside it
 *   on the same runtime.
 * Around the tree: the history store + turn serializer (conversations), the event log,
 * metrics, and the optional HTTP endpoint.
 */
import type { Logger } from 'pino';
import type { AnyStateMachine } from 'xstate';
import { PythonAgent, type AgentStatus } from './agent/agent.ts';
import { resolveAgentOptions, type SpawnAgentOptions, type ToolContext } from './agent/options.ts';
import { RemoteAgent, type AttachRemoteAgentOptions, type HostService, type RemoteTransport, type ServeContext } from './agent/remote.ts';
import { channel } from './stream-channel.ts';
import { CALL_RUN_OPTION_FIELDS, runOptionsFrame, withTraceContext, type RunOptions } from './agent/run-options.ts';
import type { AgentEvent } from './agent/router.ts';
import { ActorRuntime } from './actor/runtime.ts';
import type { ActorRef, Behaviour, MailboxOptions } from './actor/types.ts';
import { realClock, type Clock } from './clock.ts';
import { validateConversationId, validateTurnId, newConversationId } from './conversation/ids.ts';
import { JournalHistoryStore, type RecoveryReport } from './conversation/journal.ts';
import { MemoryHistoryStore, historyOf, type HistoryStore } from './conversation/store.ts';
import { TurnSerializer } from './conversation/turns.ts';
import type { ConversationLease } from './conversation/lease.ts';
import { errorCodeOf, isSynapseError, synErr, SynapseError } from './errors.ts';
import { emit } from './observe/emit.ts';
import { EventLog } from './observe/event-log.ts';
import { SynapseEventEmitter, type SynapseEventName, type SynapseEvents, type InspectEvent } from './observe/events.ts';
import { startObserveServer, type ObserveServer } from './observe/http.ts';
import { healthFromTree, type InspectNode } from './observe/inspect.ts';
import { SupervisionFacts, actorForest } from './actor/inspect-forest.ts';
import { createLogger } from './observe/log.ts';
import { TURN_SPAN_ATTRIBUTES, TurnTracer } from './observe/tracing.ts';
import { SynapseMetrics } from './observe/metrics.ts';
import type { MetricsSnapshot } from './observe/metrics-snapshot.ts';
import { PidFile, defaultPidDir, reapStale } from './process/pidfile.ts';
import { ZygotePool, zygoteNode } from './process/zygote.ts';
import { resolveOptions, stripUndefined, v } from './options.ts';
import { mailboxField } from './supervisor/spec.ts';
import { dynamicSupervisorClient, type DynamicSupervisorHandle, type SupervisorHandle } from './supervisor/client.ts';
import { dynamicSupervisor } from './supervisor/dynamic.ts';
import { startSupervisor, type SupervisorOptions } from './supervisor/supervisor.ts';
import type { SupervisorMessage } from './supervisor/messages.ts';
import { checkMessageInput, type MessageInput } from './message-input.ts';
import { checkToolResults } from './conversation/deferred.ts';
import type { DeferredRequests } from './protocol/frames.ts';

/** Options of {@link Synapse.start}. Every field is optional. */
export interface SynapseOptions {
  /** Time source for every timer (tests pass `SimulatedClock`). Default: the real clock. */
  clock?: Clock;
  /** A pino logger to use as-is, its own level included (wrapped with secret redaction). Default: a new pino logger at `logLevel`. */
  logger?: Logger;
  /**
   * Minimum level. For the logger Synapse creates: default env `SYNAPSE_LOG_LEVEL`, else `'info'`.
   * For an injected `logger`: only when given (neither the env variable nor a default overrides its own level).
   */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Extra redaction paths (e.g. `'req.headers.cookie'`). */
  redact?: string[];
  /**
   * Where chat history lives: a `HistoryStore`, or `{ dir }` for the durable journal store
   * (fsync before ack; `fsync` and `foreignLock` as in `JournalHistoryStoreOptions`). Default: in memory.
   */
  history?: HistoryStore | { dir: string; fsync?: 'always' | 'never'; foreignLock?: 'refuse' | 'takeOver' };
  /** Concurrent turns on one conversation: `'queue'` (default, bounded by `maxQueue`) or `'reject'` (SYN_ERR_CONVERSATION_BUSY). */
  conversations?: { policy?: 'queue' | 'reject'; maxQueue?: number };
  /**
   * A per-conversation lease shared with other processes (`PostgresConversationLease` from
   * `synapse/postgres`): each turn takes it under the local lane and commits through it, so only
   * the holder commits (a fenced commit: SYN_ERR_LEASE_LOST); `conversations.policy` applies
   * across processes. `history` must be the lease's store (default: it is). Closed by `stop()`.
   */
  lease?: ConversationLease;
  /** Largest accepted prompt in UTF-8 bytes (default 1 MiB); larger → SYN_ERR_INVALID_ARGUMENT. */
  maxPromptBytes?: number;
  /**
   * `false` disables metrics; `{ port }` also serves `/metrics`, `/healthz`, `/inspect`, `/events`,
   * `/events.json`, `/series.json` and the live view on 127.0.0.1. `backlogSize`: events kept for
   * the live view's backlog (default 500, docs/observability.md).
   */
  metrics?: false | { port?: number; host?: string; backlogSize?: number };
  /** Directory of pid files for orphan reaping. Default `<tmpdir>/synapse-<uid>/pids`. */
  stateDir?: string;
  /** Reap Python processes left by a previous, killed Node process at start. Default true. */
  reapOrphans?: boolean;
  /** Default mailbox of actors spawned without one. */
  mailbox?: MailboxOptions;
}

/**
 * What `Synapse.start()` found and repaired before anyone could subscribe to events
 * (`system.startupReport`). The same facts are logged at warn and emitted as events.
 */
export interface StartupReport {
  /** Python processes of a previous, killed Node process that were killed (also `orphan.reaped` events). */
  readonly orphansReaped: readonly { readonly pid: number; readonly pidFile: string }[];
  /** Torn journal tails truncated when the durable history store opened (`history: { dir }`). */
  readonly recovered: readonly RecoveryReport[];
}

/** What `sendMessage` resolves with. */
export interface SendResult {
  output: unknown;
  /**
   * The output's type name as pydantic-ai produced it: `'str'` for text, the model class of a
   * structured output (the union member that was produced, e.g. `'NoFlightFound'`), `'list'`,
   * `'dict'`… Kept with the turn, so a replayed result has it too. Absent only for turns
   * committed before it existed.
   */
  outputType?: string;
  /**
   * Present when the run ended in pydantic-ai `DeferredToolRequests` (human in the loop): the
   * tool calls waiting for a person's approval (`approvals`) or an external result (`calls`).
   * `output` is then `null` and `outputType` `'DeferredToolRequests'`; the committed messages keep
   * the pending calls, and the conversation's next turn must answer them with `{ toolResults }`.
   */
  deferred?: DeferredRequests;
  /** The new messages of this turn (pydantic-ai `ModelMessagesTypeAdapter` JSON), as committed. */
  messages: readonly unknown[];
  usage: unknown;
  conversationId: string;
  turnId: string;
  /** True when this turn id was already committed and the stored result was returned (idempotent retry). */
  replayed: boolean;
}

/**
 * Options of `sendMessage` / `streamMessage`. Besides the turn's own (conversation, idempotency,
 * deadline, signal), the pydantic-ai run options of {@link RunOptions}: `model`, `modelSettings`,
 * `usageLimits`, `instructions`, `metadata`, `deps`, `output` (docs/agents.md).
 */
export interface SendOptions extends RunOptions {
  /** Continue this conversation (default: a new one; its id is in the result). */
  conversationId?: string;
  /** Idempotency key: a retry with the same turn id never runs or commits twice. Default: generated. */
  turnId?: string;
  /** Deadline for the whole turn (queueing included). Default: the agent's `timeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One item of `streamMessage`: agent events, then the final result. */
export type StreamItem = AgentEvent | ({ kind: 'result' } & SendResult);

const START_SCHEMA = {
  clock: v.optional(v.duck<Clock>(['now', 'setTimeout', 'clearTimeout'], 'a Clock')),
  logger: v.optional(v.duck<Logger>(['child', 'info', 'warn', 'error', 'debug'], 'a pino logger')),
  logLevel: v.optional(v.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const)),
  redact: v.optional(v.array(v.string({ min: 1 }), { max: 1_000 })),
  history: v.optional(
    v.either<HistoryStore, DurableHistory>(
      v.duck<HistoryStore>(['load', 'commit', 'getTurn', 'hasTurn', 'list', 'delete', 'close'], 'a HistoryStore'),
      v.object({ dir: v.string({ min: 1 }), fsync: v.optional(v.oneOf(['always', 'never'] as const)), foreignLock: v.optional(v.oneOf(['refuse', 'takeOver'] as const)) }),
      'a HistoryStore or { dir, fsync?, foreignLock? }',
    ),
  ),
  conversations: v.optional(v.object({ policy: v.optional(v.oneOf(['queue', 'reject'] as const)), maxQueue: v.optional(v.number({ min: 0, integer: true })) })),
  lease: v.optional(v.duck<ConversationLease>(['acquire', 'close'], 'a ConversationLease')),
  maxPromptBytes: v.optional(v.number({ min: 1, integer: true })),
  metrics: v.optional(
    v.either<false, { port?: number | undefined; host?: string | undefined; backlogSize?: number | undefined }>(
      (value, path) => (value === false ? false : v.boolean()(undefined, path) && false),
      v.object({
        port: v.optional(v.number({ min: 0, max: 65535, integer: true })),
        host: v.optional(v.string({ min: 1 })),
        backlogSize: v.optional(v.number({ min: 1, max: 100_000, integer: true })),
      }),
      'false or { port?, host?, backlogSize? }',
    ),
  ),
  stateDir: v.optional(v.string({ min: 1 })),
  reapOrphans: v.optional(v.boolean()),
  mailbox: v.optional(mailboxField),
};

const SEND_SCHEMA = {
  conversationId: v.optional(v.any<string>()),
  turnId: v.optional(v.any<string>()),
  timeoutMs: v.optional(v.number({ min: 1 })),
  signal: v.optional(v.instanceOf(AbortSignal, 'an AbortSignal')),
  ...CALL_RUN_OPTION_FIELDS,
};

const ATTACH_SCHEMA = {
  id: v.string({ min: 1, max: 100, pattern: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/ }),
  transport: v.duck<RemoteTransport>(['open', 'run', 'close'], 'a RemoteTransport such as natsFront({ … })'),
  timeoutMs: v.optional(v.number({ min: 1 })),
  tools: v.optional(v.record(v.object({ handler: v.func<(args: unknown, context: ToolContext) => unknown>() }))),
  redispatch: v.optional(v.object({ attempts: v.number({ min: 0, max: 10, integer: true }) })),
};

const AGENTS_SUPERVISOR = 'synapse.agents';

/**
 * A running Synapse system. Create with {@link Synapse.start}.
 *
 * @example
 * ```ts
 * const system = await Synapse.start();
 * await system.spawnAgent({ id: 'support', agent: 'examples/agents/support.py:agent' });
 * const { output, conversationId } = await system.sendMessage('support', { prompt: 'Where is order 42?' });
 * await system.stop();
 * ```
 */
export class ActorSystem {
  readonly clock: Clock;
  readonly log: Logger;
  /** Typed lifecycle events (also on the unified `'inspect'` event). */
  readonly events: SynapseEventEmitter;
  readonly runtime: ActorRuntime;
  readonly #agents = new Map<string, PythonAgent>();
  /** Agents on other hosts (`attachRemoteAgent`): same ids namespace as {@link #agents}. */
  readonly #remote = new Map<string, RemoteAgent>();
  /** Host services (`serve`), started in order, stopped first at `stop()`. */
  readonly #services: HostService[] = [];
  /** Turn spans (OpenTelemetry, when `@opentelemetry/api` is installed; a no-op otherwise). */
  readonly #tracer = new TurnTracer();
  readonly #agentsSup: DynamicSupervisorHandle;
  readonly #supervision: SupervisionFacts;
  readonly #store: HistoryStore;
  readonly #turns: TurnSerializer;
  readonly #lease: ConversationLease | undefined;
  readonly #eventLog: EventLog;
  readonly #metrics: SynapseMetrics | undefined;
  readonly #pidFile: PidFile;
  /** Fork servers for agents with `python.zygote` (nothing runs until the first such worker). */
  readonly #zygotes: ZygotePool;
  readonly #maxPromptBytes: number;
  /** What start-up found and repaired (orphans reaped, torn journal tails recovered). */
  readonly startupReport: StartupReport;
  #http: ObserveServer | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(parts: {
    clock: Clock;
    log: Logger;
    events: SynapseEventEmitter;
    runtime: ActorRuntime;
    agentsSup: DynamicSupervisorHandle;
    store: HistoryStore;
    turns: TurnSerializer;
    lease: ConversationLease | undefined;
    eventLog: EventLog;
    metrics: SynapseMetrics | undefined;
    pidFile: PidFile;
    maxPromptBytes: number;
    startupReport: StartupReport;
  }) {
    this.clock = parts.clock;
    this.log = parts.log;
    this.events = parts.events;
    this.runtime = parts.runtime;
    this.#agentsSup = parts.agentsSup;
    this.#store = parts.store;
    this.#turns = parts.turns;
    this.#lease = parts.lease;
    this.#eventLog = parts.eventLog;
    this.#metrics = parts.metrics;
    this.#pidFile = parts.pidFile;
    this.#zygotes = new ZygotePool({ pidFile: parts.pidFile, clock: parts.clock, log: parts.log });
    this.#maxPromptBytes = parts.maxPromptBytes;
    this.startupReport = parts.startupReport;
    this.#supervision = new SupervisionFacts(this.events, () => new Set([...this.runtime.actors()].map((a) => a.id)));
  }

  /**
   * Starts a system: reaps orphans of a previous run, opens the history store, starts the tree.
   * @throws SYN_ERR_INVALID_OPTION, SYN_ERR_STORE_CORRUPT / SYN_ERR_STORE_LOCKED / SYN_ERR_STORE_IO (durable history), SYN_ERR_START_FAILED (metrics port busy).
   */
  static async start(options: SynapseOptions = {}): Promise<ActorSystem> {
    const o = resolveOptions('', options, START_SCHEMA);
    const clock = o.clock ?? realClock;
    // An injected logger keeps its own level unless logLevel is given; SYNAPSE_LOG_LEVEL only sets a created one's.
    const level = o.logLevel ?? (o.logger === undefined ? ((process.env.SYNAPSE_LOG_LEVEL as 'info' | undefined) ?? 'info') : undefined);
    const log = createLogger({
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      ...(level === undefined ? {} : { level }),
      ...(o.redact === undefined ? {} : { redact: o.redact }),
    });
    const events = new SynapseEventEmitter();
    let owner: ActorSystem | undefined; // set once constructed: supervisor.* lines name the agent the supervisor belongs to
    // The only place events are logged (docs/observability.md).
    const eventLog = new EventLog(events, log, {
      context: (name, e) => (owner !== undefined && name.startsWith('supervisor.') ? supervisorAgent(owner.#agents, e as SupervisorEventFields) : undefined),
    });
    const stateDir = o.stateDir ?? defaultPidDir();
    const orphansReaped: { pid: number; pidFile: string }[] = [];
    if (o.reapOrphans !== false) {
      for (const reaped of reapStale(stateDir)) {
        orphansReaped.push({ pid: reaped.pid, pidFile: reaped.pidFile });
        emit(events, 'orphan.reaped', { pid: reaped.pid, pidFile: reaped.pidFile }); // logged at warn by the event log
      }
    }
    const pidFile = new PidFile({ dir: stateDir });
    if (o.lease !== undefined && o.history !== undefined && o.history !== o.lease.store) {
      throw synErr('SYN_ERR_INVALID_OPTION', 'Invalid option "lease": its store is not the system\'s history store (pass the lease\'s store as history, or omit history)', { option: 'lease', expected: 'a lease on the history store' });
    }
    const store = await openStore(o.history ?? o.lease?.store, log);
    const turns = new TurnSerializer({
      store,
      events,
      ...(o.lease === undefined ? {} : { lease: o.lease }),
      ...(o.conversations?.policy === undefined ? {} : { policy: o.conversations.policy }),
      ...(o.conversations?.maxQueue === undefined ? {} : { maxQueue: o.conversations.maxQueue }),
    });
    const runtime = new ActorRuntime({ clock, log, events, ...(o.mailbox === undefined ? {} : { defaultMailbox: stripUndefined(o.mailbox) }) });
    const metrics = o.metrics === false ? undefined : new SynapseMetrics({ clock });
    // A failed start releases what it took (the store's directory lock above all), so a retry can succeed.
    try {
      const agentsRef = runtime.spawn(dynamicSupervisor({ name: AGENTS_SUPERVISOR, intensity: Number.MAX_SAFE_INTEGER, periodMs: 1000 }), {
        name: AGENTS_SUPERVISOR,
        trapExit: true,
      }) as ActorRef<SupervisorMessage, unknown>;
      await agentsRef.started;
      const system = new ActorSystem({
        clock,
        log,
        events,
        runtime,
        agentsSup: dynamicSupervisorClient(agentsRef),
        store,
        turns,
        lease: o.lease,
        eventLog,
        metrics,
        pidFile,
        maxPromptBytes: o.maxPromptBytes ?? 1024 * 1024,
        startupReport: Object.freeze({
          orphansReaped: Object.freeze(orphansReaped),
          recovered: Object.freeze(store instanceof JournalHistoryStore ? [...store.recovered] : []),
        }),
      });
      owner = system;
      if (metrics !== undefined) {
        metrics.bindEvents(events);
        metrics.setSources({
          agents: () => [...system.#agents.values()].map((a) => ({ agent: a.id, ...a.load() })),
          spares: () => [...system.#agents.values()].map((a) => ({ agent: a.id, pids: a.sparePids() })),
        });
        const serve = o.metrics === undefined || o.metrics === false ? undefined : o.metrics;
        if (serve?.port !== undefined) {
          system.#http = await startObserveServer({
            port: serve.port,
            ...(serve.host === undefined ? {} : { host: serve.host }),
            ...(serve.backlogSize === undefined ? {} : { backlogSize: serve.backlogSize }),
            metrics,
            events,
            inspect: () => system.inspect(),
            health: () => healthFromTree(system.inspect()),
            clock,
            log,
          });
        }
      }
      log.info(
        { event: 'system.started', stateDir, orphansReaped: system.startupReport.orphansReaped.length, recovered: system.startupReport.recovered.length },
        'synapse started',
      );
      return system;
    } catch (error) {
      metrics?.close();
      await runtime.shutdown().catch(() => undefined); // the start error is the one to report
      await turns.close();
      await o.lease?.close().catch(() => undefined); // the start error is the one to report
      await store.close().catch(() => undefined);
      eventLog.close();
      throw error;
    }
  }

  // ── actors ────────────────────────────────────────────────────────────────

  /** Spawns an (unsupervised) actor. See `ActorRuntime.spawn`. @throws SYN_ERR_SYSTEM_STOPPED, SYN_ERR_NAME_TAKEN, SYN_ERR_INVALID_OPTION */
  spawn<M, R>(behaviour: Behaviour<M, R> | AnyStateMachine, options?: Parameters<ActorRuntime['spawn']>[1]): ActorRef<M, R> {
    return this.runtime.spawn(behaviour as Behaviour<unknown, unknown>, options) as ActorRef<M, R>;
  }

  /** The live actor registered under `name`, if any. */
  whereis(name: string): ActorRef | undefined {
    return this.runtime.whereis(name);
  }

  /** Starts a top-level supervisor on this system (stopped with the system). */
  startSupervisor(options: SupervisorOptions): Promise<SupervisorHandle> {
    return startSupervisor(this.runtime, options);
  }

  // ── agents ────────────────────────────────────────────────────────────────

  /**
   * Spawns a supervised Python agent and resolves once all its workers are ready.
   * @throws SYN_ERR_INVALID_OPTION, SYN_ERR_NAME_TAKEN (id in use), SYN_ERR_STARTUP_FAILED / SYN_ERR_STARTUP_TIMEOUT /
   *   SYN_ERR_PYTHON_NOT_FOUND (first start failed; nothing is left running), SYN_ERR_SYSTEM_STOPPED.
   * @example
   * ```ts
   * await system.spawnAgent({ id: 'support', agent: 'examples/agents/support.py:agent', workers: 2 });
   * ```
   */
  async spawnAgent(options: SpawnAgentOptions): Promise<AgentStatus> {
    this.#assertRunning();
    const resolved = resolveAgentOptions(options);
    if (this.#agents.has(resolved.id)) throw synErr('SYN_ERR_NAME_TAKEN', `An agent with id "${resolved.id}" already exists`, { agent: resolved.id });
    const agent = new PythonAgent(resolved, { clock: this.clock, log: this.log, events: this.events, pidFile: this.#pidFile, zygotes: this.#zygotes });
    this.#agents.set(resolved.id, agent);
    emit(this.events, 'agent.spawned', { agent: resolved.id, workers: resolved.workers });
    try {
      await this.#agentsSup.startChild(agent.childSpec());
    } catch (error) {
      this.#agents.delete(resolved.id);
      agent.close();
      throw rootCause(error);
    }
    return agent.status();
  }

  /** Stops an agent: queued requests fail with SYN_ERR_SHUTDOWN, workers are shut down. @throws SYN_ERR_NO_AGENT */
  async stopAgent(id: string): Promise<void> {
    const remote = this.#remote.get(id);
    if (remote !== undefined) {
      this.#remote.delete(id);
      await remote.close();
      emit(this.events, 'agent.stopped', { agent: id, reason: 'stopped' });
      return;
    }
    const agent = this.#agent(id);
    agent.close();
    this.#agents.delete(id);
    try {
      await this.#agentsSup.terminateChild(id);
    } catch (error) {
      if (!isSynapseError(error, 'SYN_ERR_NO_CHILD')) throw error;
    }
    emit(this.events, 'agent.stopped', { agent: id, reason: 'stopped' });
  }

  /**
   * Restarts an agent now — e.g. a quarantined one once its fault is fixed. Resets its crash budget.
   * @throws SYN_ERR_NO_AGENT, SYN_ERR_STARTUP_FAILED (it still fails: nothing retries by itself; calls fail fast with
   *   SYN_ERR_AGENT_UNAVAILABLE carrying this failure, without `nextRetryAt`, until `restartAgent` succeeds)
   */
  async restartAgent(id: string): Promise<AgentStatus> {
    const agent = this.#agent(id);
    await this.#agentsSup.terminateChild(id).catch((error: unknown) => {
      if (!isSynapseError(error, 'SYN_ERR_NO_CHILD')) throw error;
    });
    agent.reopen();
    try {
      await this.#agentsSup.startChild(agent.childSpec());
    } catch (error) {
      const root = rootCause(error);
      agent.restartFailed(root);
      throw root;
    }
    emit(this.events, 'agent.recovered', { agent: id });
    return agent.status();
  }

  /**
   * `{ state, pids, restarts, startupFailures, crashes, inFlight, queued, nextRetryAt?, startupFailure? }`
   * (see {@link AgentStatus}). @throws SYN_ERR_NO_AGENT
   */
  agentStatus(id: string): AgentStatus {
    return this.#runnable(id).status();
  }

  /** Ids of the agents (local, then remote). */
  agentIds(): string[] {
    return [...this.#agents.keys(), ...this.#remote.keys()];
  }

  /**
   * Registers an agent that runs on other hosts, behind `transport` (e.g. `natsFront` of
   * `synapse/nats`): `sendMessage` / `streamMessage` / `agentStatus` / `inspect` / `stopAgent`
   * treat it like a local one (history, conversations and leases stay on this front).
   * @throws SYN_ERR_INVALID_OPTION, SYN_ERR_NAME_TAKEN, what the transport's `open` throws, SYN_ERR_SYSTEM_STOPPED.
   * @example
   * ```ts
   * import { natsFront } from 'synapse/nats';
   * await system.attachRemoteAgent({ id: 'support', transport: natsFront({ servers: 'nats://10.0.0.5:4222', namespace: 'prod' }) });
   * ```
   */
  async attachRemoteAgent(options: AttachRemoteAgentOptions): Promise<AgentStatus> {
    this.#assertRunning();
    const o = resolveOptions('options', options, ATTACH_SCHEMA) as AttachRemoteAgentOptions;
    if (this.#agents.has(o.id) || this.#remote.has(o.id)) throw synErr('SYN_ERR_NAME_TAKEN', `An agent with id "${o.id}" already exists`, { agent: o.id });
    const agent = new RemoteAgent(o, { clock: this.clock, log: this.log.child({ agent: o.id, remote: o.transport.kind }), events: this.events });
    this.#remote.set(o.id, agent);
    try {
      await agent.open();
    } catch (error) {
      this.#remote.delete(o.id);
      await agent.close().catch(() => undefined);
      throw error;
    }
    emit(this.events, 'agent.spawned', { agent: o.id, workers: 0 });
    return agent.status();
  }

  /**
   * Serves this system's local agents to remote fronts through `service` (e.g. `natsHost` of
   * `synapse/nats`). The agents stay spawned and supervised here exactly as before; `stop()`
   * stops the service first.
   * @throws SYN_ERR_INVALID_ARGUMENT (not a service), what the service's `start` throws, SYN_ERR_SYSTEM_STOPPED.
   * @example
   * ```ts
   * import { natsHost } from 'synapse/nats';
   * await system.serve(natsHost({ servers: 'nats://10.0.0.5:4222', namespace: 'prod', hostId: 'gpu-1' }));
   * ```
   */
  async serve(service: HostService): Promise<void> {
    this.#assertRunning();
    if (typeof service !== 'object' || service === null || typeof service.start !== 'function' || typeof service.stop !== 'function') {
      throw synErr('SYN_ERR_INVALID_ARGUMENT', 'serve(service) needs a host service such as natsHost({ … }) of synapse/nats', { argument: 'service' });
    }
    const context: ServeContext = {
      clock: this.clock,
      log: this.log.child({ serve: service.kind }),
      agentIds: () => [...this.#agents.keys()],
      agentStatus: (id) => this.#agents.get(id)?.status(),
      agentCapacity: (id) => {
        const a = this.#agents.get(id);
        return a === undefined ? undefined : a.options.workers * a.options.concurrency;
      },
      // async: an unknown agent (stopped between a run's arrival and now) rejects instead of throwing.
      request: async (agentId, request) => {
        if (this.#stopping !== undefined) throw synErr('SYN_ERR_SYSTEM_STOPPED', 'The Synapse system is stopping or stopped');
        const { remoteTools, onToolCall, served, ...options } = request;
        if (served === undefined) return this.#agent(agentId).request(options, { tools: remoteTools, onToolCall });
        const t0 = this.clock.now();
        const ids = { agent: agentId, runId: served.runId, host: served.host, front: served.front, ...(options.conversationId === undefined ? {} : { conversationId: options.conversationId }), ...(options.turnId === undefined ? {} : { turnId: options.turnId }) };
        try {
          const result = await this.#agent(agentId).request(options, { tools: remoteTools, onToolCall });
          emit(this.events, 'remote.served', { ...ids, latencyMs: this.clock.now() - t0 });
          return result;
        } catch (error) {
          emit(this.events, 'remote.served', { ...ids, latencyMs: this.clock.now() - t0, code: errorCodeOf(error) });
          throw error;
        }
      },
      onAgentsChanged: (listener) => {
        const names = ['agent.spawned', 'agent.stopped', 'agent.quarantined', 'agent.recovered'] as const;
        const offs = names.map((n) => this.on(n, () => listener()));
        return () => offs.forEach((off) => off());
      },
    };
    await service.start(context);
    this.#services.push(service);
  }

  /**
   * Sends one turn to an agent and resolves once its new messages are committed.
   * @throws SYN_ERR_NO_AGENT, SYN_ERR_INVALID_ARGUMENT (prompt/ids; non-JSON, oversized or (from Python) invalid `deps`: `details.errors`), SYN_ERR_INVALID_OPTION (incl. an unknown `model`), SYN_ERR_OVERLOADED,
   *   SYN_ERR_CONVERSATION_BUSY, SYN_ERR_AGENT_UNAVAILABLE, SYN_ERR_TIMEOUT, SYN_ERR_ABORTED, SYN_ERR_AGENT_FAILED,
   *   SYN_ERR_AGENT_CRASHED, SYN_ERR_PROTOCOL, SYN_ERR_SHUTDOWN, SYN_ERR_SYSTEM_STOPPED, SYN_ERR_DEFERRED_PENDING (the
   *   conversation waits for answers to deferred tool calls this turn does not give: `details.pending`; `toolResults`
   *   on a conversation with nothing pending is SYN_ERR_INVALID_ARGUMENT)
   * @example
   * ```ts
   * const a = await system.sendMessage('support', { prompt: 'hi' });
   * const b = await system.sendMessage('support', { prompt: 'and?' }, { conversationId: a.conversationId });
   * // human in the loop: a turn that ended with `deferred` is answered by the next one
   * if (b.deferred) await system.sendMessage('support', { toolResults: { approvals: { [b.deferred.approvals[0]!.toolCallId]: true } } }, { conversationId: b.conversationId });
   * ```
   */
  async sendMessage(agentId: string, input: MessageInput, options: SendOptions = {}): Promise<SendResult> {
    return this.#turn(agentId, input, options, undefined);
  }

  /**
   * Like `sendMessage`, streaming: yields text deltas and tool events as they happen, then
   * `{ kind: 'result', … }`; a failure is thrown from the iterator after the events already
   * delivered. Breaking out of the loop cancels the turn (nothing is committed). A run whose
   * output type is not plain text (a structured `output_type`, or `options.output`) yields
   * `{ kind: 'output', output }` items instead of text deltas: the partial output so far,
   * debounced (docs/agents.md, "Streaming partial output").
   */
  streamMessage(agentId: string, input: MessageInput, options: SendOptions = {}): AsyncIterable<StreamItem> {
    const local = new AbortController();
    // Combine signals only for a well-typed one: anything else reaches #turn unchanged and is
    // rejected there with a coded SYN_ERR_INVALID_OPTION (AbortSignal.any would throw a TypeError).
    const given: unknown = typeof options === 'object' && options !== null ? (options as { signal?: unknown }).signal : undefined;
    const wired = typeof options === 'object' && options !== null && (given === undefined || given instanceof AbortSignal);
    const signal = given instanceof AbortSignal ? AbortSignal.any([given, local.signal]) : local.signal;
    const ch = channel<StreamItem>({
      capacity: 10_000,
      // Only when the buffer is full: text deltas concatenate, a partial output replaces the one before it.
      coalesce: (last, next) =>
        last.kind === 'text_delta' && next.kind === 'text_delta' ? { kind: 'text_delta', delta: last.delta + next.delta } : last.kind === 'output' && next.kind === 'output' ? next : undefined,
      onReturn: () => local.abort(synErr('SYN_ERR_ABORTED', 'stream consumer stopped iterating')),
    });
    this.#turn(agentId, input, wired ? { ...options, signal } : options, (event) => ch.push(event)).then(
      (result) => {
        ch.push({ kind: 'result', ...result });
        ch.end();
      },
      (error: unknown) => ch.fail(error),
    );
    return ch;
  }

  /**
   * The committed messages of a conversation, oldest first. An unknown conversation has an
   * empty history (`[]`), since conversations are created by their first turn.
   * @throws SYN_ERR_INVALID_ARGUMENT for a malformed id; SYN_ERR_SYSTEM_STOPPED once `stop()` began.
   */
  async history(conversationId: string): Promise<unknown[]> {
    this.#assertRunning();
    validateConversationId(conversationId);
    return [...historyOf(await this.#store.load(conversationId))];
  }

  async #turn(agentId: string, input: MessageInput, options: SendOptions, onEvent: ((e: AgentEvent) => void) | undefined): Promise<SendResult> {
    this.#assertRunning();
    const agent = this.#runnable(agentId);
    const { prompt, toolResults } = checkMessageInput(input, this.#maxPromptBytes);
    const o = resolveOptions('options', options, SEND_SCHEMA);
    const conversationId = o.conversationId === undefined ? newConversationId() : validateConversationId(o.conversationId);
    const turnId = o.turnId === undefined ? undefined : validateTurnId(o.turnId);
    // The turn span (OpenTelemetry, optional): from here every settle path ends it exactly once.
    const span = this.#tracer.start(agentId, conversationId, turnId);
    const runOptions = withTraceContext(runOptionsFrame(o), span?.trace);
    const run = () => this.#turns.run(
      { conversationId, agent: agentId, ...(turnId === undefined ? {} : { turnId }), ...(o.signal === undefined ? {} : { signal: o.signal }) },
      async (ctx) => {
        span?.set(TURN_SPAN_ATTRIBUTES.turn, ctx.turnId);
        checkToolResults(ctx.pending, toolResults, ctx.conversationId); // before anything is sent: nothing runs or commits
        const r = await agent.request({
          prompt: prompt ?? null,
          ...(toolResults === undefined ? {} : { toolResults }),
          history: [...ctx.history],
          timeoutMs: o.timeoutMs,
          signal: ctx.signal,
          onEvent,
          conversationId: ctx.conversationId,
          turnId: ctx.turnId,
          runOptions,
        });
        return { messages: r.messages, output: r.output, usage: r.usage, outputType: r.outputType, deferred: r.deferred };
      },
    );
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = span === undefined ? await run() : await span.run(run);
    } catch (error) {
      span?.fail(error);
      throw error;
    }
    span?.succeed(result.deferred === undefined ? 'ok' : 'deferred', { [TURN_SPAN_ATTRIBUTES.turn]: result.turnId, [TURN_SPAN_ATTRIBUTES.replayed]: result.replayed });
    return {
      output: result.output,
      ...(result.outputType === undefined ? {} : { outputType: result.outputType }),
      ...(result.deferred === undefined ? {} : { deferred: result.deferred }),
      messages: result.messages,
      usage: result.usage,
      conversationId: result.conversationId,
      turnId: result.turnId,
      replayed: result.replayed,
    };
  }

  // ── observability ─────────────────────────────────────────────────────────

  /** Subscribes to a typed lifecycle event (or `'inspect'` for all of them). Returns an unsubscribe function. */
  on<K extends SynapseEventName>(event: K, listener: (e: SynapseEvents[K]) => void): () => void;
  on(event: 'inspect', listener: (e: InspectEvent) => void): () => void;
  on(event: string, listener: (e: never) => void): () => void {
    const ee = this.events as unknown as { on(n: string, l: unknown): void; off(n: string, l: unknown): void };
    ee.on(event, listener);
    return () => ee.off(event, listener);
  }

  /** JSON snapshot of every metric. @throws SYN_ERR_INVALID_OPTION if metrics were disabled */
  async metrics(): Promise<MetricsSnapshot> {
    return this.#metricsOrThrow().snapshot();
  }

  /** Prometheus exposition text. */
  async metricsText(): Promise<string> {
    return this.#metricsOrThrow().text();
  }

  /** The HTTP endpoint's base URL, when `metrics.port` was given. */
  get observeUrl(): string | undefined {
    return this.#http?.url;
  }

  /** The live supervision tree: agents → workers (states, pids, restarts, in-flight) and idle warm spares; zygotes beside them. */
  inspect(): InspectNode {
    const agents = [...this.#agents.values()].map((a) => a.inspect((child) => this.#supervision.restartsOf(a.supervisorLabel, child)));
    for (const r of this.#remote.values()) agents.push(r.inspect());
    return {
      kind: 'system',
      id: 'synapse',
      state: this.#stopping === undefined ? 'running' : 'stopping',
      meta: { actors: this.runtime.size },
      children: [
        { kind: 'supervisor', id: AGENTS_SUPERVISOR, name: 'agents', state: 'running', meta: { strategy: 'one_for_one (dynamic)' }, children: agents },
        // The user's own actors and supervision trees (system.spawn / startSupervisor).
        ...actorForest([...this.runtime.actors()], this.#supervision, AGENTS_SUPERVISOR),
        // Fork servers of `python.zygote` workers (none until the first such worker starts).
        ...this.#zygotes.info().map(zygoteNode),
      ],
    };
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────

  /**
   * Graceful, idempotent stop in reverse start order: the metrics endpoint, agents (queued
   * requests fail with SYN_ERR_SHUTDOWN, workers shut down: shutdown frame → SIGTERM → SIGKILL),
   * conversations, the remaining actors (newest first, each `terminate`d), the history store.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * @internal The chaos hook of `synapse/testing`: the live worker processes of an agent by
   * worker index (`undefined` for an unknown agent). Not part of the public API.
   */
  [Symbol.for('synapse.testing.processes')](agentId: string): ReadonlyMap<number, { readonly pid: number }> | undefined {
    return this.#agents.get(agentId)?.processes;
  }

  async #stop(): Promise<void> {
    // Reverse start order: the HTTP endpoint (started last), the agents, the turns they ran,
    // the user's own actors (newest first), then the history store they were all built on.
    await this.#http?.close();
    // Served runs first (fronts get their coded errors), then this front's remote runs.
    for (const service of this.#services.splice(0).reverse()) await service.stop().catch((error: unknown) => this.log.warn({ err: error, serve: service.kind }, 'host service stop failed'));
    await Promise.all([...this.#remote.values()].map((r) => r.close().catch((error: unknown) => this.log.warn({ err: error, agent: r.id }, 'remote agent close failed'))));
    this.#remote.clear();
    for (const agent of this.#agents.values()) agent.close();
    await this.#agentsSup.stop('shutdown').catch((error: unknown) => this.log.warn({ err: error }, 'agents supervisor stop failed'));
    await this.#zygotes.close(); // after the agents: their forked workers are stopped, the zygotes have nothing left to serve
    for (const id of this.#agents.keys()) emit(this.events, 'agent.stopped', { agent: id, reason: 'shutdown' });
    this.#agents.clear();
    await this.#turns.close(); // running turns settle (their workers are gone) before the store closes
    await this.#lease?.close().catch((error: unknown) => this.log.warn({ err: error }, 'conversation lease close failed'));
    await this.runtime.shutdown();
    await this.#store.close().catch((error: unknown) => this.log.warn({ err: error }, 'history store close failed'));
    this.#metrics?.close();
    this.log.info({ event: 'system.stopped' }, 'synapse stopped');
    this.#eventLog.close();
    this.#supervision.close();
  }

  /** A local or remote agent (both have the same `request` / `status` contract). @throws SYN_ERR_NO_AGENT */
  #runnable(id: string): PythonAgent | RemoteAgent {
    return (typeof id === 'string' ? this.#remote.get(id) : undefined) ?? this.#agent(id);
  }

  #agent(id: string): PythonAgent {
    if (typeof id !== 'string') throw synErr('SYN_ERR_INVALID_ARGUMENT', `Agent id must be a string, got ${typeof id}`, { argument: 'agentId' });
    const agent = this.#agents.get(id);
    if (agent === undefined) throw synErr('SYN_ERR_NO_AGENT', `No agent with id "${id.length > 100 ? `${id.slice(0, 100)}…` : id}"`, { agent: id.slice(0, 100) });
    return agent;
  }

  #assertRunning(): void {
    if (this.#stopping !== undefined) throw synErr('SYN_ERR_SYSTEM_STOPPED', 'The Synapse system is stopping or stopped');
  }

  #metricsOrThrow(): SynapseMetrics {
    if (this.#metrics === undefined) throw synErr('SYN_ERR_INVALID_OPTION', 'Metrics are disabled (Synapse.start({ metrics: false }))', { option: 'metrics' });
    return this.#metrics;
  }
}

/** `history: { dir, ... }` as resolved by START_SCHEMA. */
type DurableHistory = { dir: string; fsync?: 'always' | 'never' | undefined; foreignLock?: 'refuse' | 'takeOver' | undefined };

async function openStore(history: HistoryStore | DurableHistory | undefined, log: Logger): Promise<HistoryStore> {
  if (history === undefined) return new MemoryHistoryStore();
  if ('load' in history && typeof history.load === 'function') return history as HistoryStore;
  const { dir, fsync, foreignLock } = history as DurableHistory;
  // Each torn tail is logged as found (at open, or later for a lazily scanned journal); the ones
  // found at open are also in `system.startupReport.recovered`.
  const onRecovered = (report: RecoveryReport): void => log.warn({ event: 'history.recovered', ...report }, 'history.recovered');
  return JournalHistoryStore.open({ dir, ...(fsync === undefined ? {} : { fsync }), ...(foreignLock === undefined ? {} : { foreignLock }), onRecovered });
}

/** The most specific coded error in a cause chain (e.g. the worker's SYN_ERR_STARTUP_FAILED under the supervisors' SYN_ERR_START_FAILED). */
type SupervisorEventFields = { supervisor: string; child?: string };

/**
 * `{ agent }` for a supervision event about an agent: one of its own supervisor (labelled
 * `PythonAgent.supervisorLabel`), or the agents supervisor's about the agent it restarts.
 */
function supervisorAgent(agents: ReadonlyMap<string, PythonAgent>, e: SupervisorEventFields): { agent: string } | undefined {
  if (e.supervisor === AGENTS_SUPERVISOR) return e.child === undefined ? undefined : { agent: e.child };
  for (const agent of agents.values()) if (agent.supervisorLabel === e.supervisor) return { agent: agent.id };
  return undefined;
}

function rootCause(error: unknown): unknown {
  let best = error;
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current instanceof SynapseError; depth++) {
    if (current.code !== 'SYN_ERR_START_FAILED') return current;
    best = current;
    current = current.cause;
  }
  return best;
}

/** The entry point. */
export const Synapse = Object.freeze({
  /** Starts a system. See {@link ActorSystem.start}. */
  start: (options?: SynapseOptions): Promise<ActorSystem> => ActorSystem.start(options),
});
