/**
 * Synapse — the public surface. Everything a user imports comes from here (or from
 * `synapse/testing` for the fault-suite kit); every other module is internal and unreachable
 * through the package `exports` map.
 *
 * @example
 * ```ts
 * import { Synapse, isSynapseError } from 'synapse';
 *
 * const system = await Synapse.start();
 * await system.spawnAgent({ id: 'support', agent: 'examples/agents/support.py:agent' });
 * try {
 *   const { output } = await system.sendMessage('support', { prompt: 'Where is order 42?' });
 * } catch (err) {
 *   if (isSynapseError(err, 'SYN_ERR_OVERLOADED')) retryLater();
 * }
 * await system.stop();
 * ```
 */

// ── The system ────────────────────────────────────────────────────────────────
export { Synapse, ActorSystem } from './system.ts';
export type { SynapseOptions, SendOptions, SendResult, StreamItem, StartupReport } from './system.ts';

// ── Agents ───────────────────────────────────────────────────────────────────
export { AGENT_DEFAULTS } from './agent/options.ts';
export type { SpawnAgentOptions, AgentTool, ToolContext } from './agent/options.ts';
export type { RateLimitOption } from './agent/rate-limit.ts';
export { RUN_OPTION_LIMITS } from './agent/run-options.ts';
export type { OutputOption, RunOptions, UsageLimitsOption } from './agent/run-options.ts';
export type { AgentStatus } from './agent/agent.ts';
export type { AttachRemoteAgentOptions, RemoteTool, RemoteTransport, RemoteTransportContext, RemoteRun, RemoteRunHandlers, RemoteToolCall, RemoteHostStatus, HostService, ServeContext, ServeRequest } from './agent/remote.ts';
export type { AgentState, AgentEvent, StartupFailure } from './agent/router.ts';
export type { StreamEvent, Usage, DeferredRequests, DeferredCall } from './protocol/frames.ts';
export type { MessageInput, ToolResults, ApprovalAnswer, Prompt } from './message-input.ts';
export { PROMPT_PART_KINDS } from './prompt.ts';
export type { PromptPart, FileUrlPart, BinaryPart, TextContentPart, OtherContentPart } from './prompt.ts';

// ── Errors ───────────────────────────────────────────────────────────────────
export { SynapseError, isSynapseError, ERROR_CODES, DOCUMENTED_DETAILS } from './errors.ts';
export type { ErrorCode, ErrorDetails, ErrorKind, ProviderErrorCategory, ProviderErrorDetails, DetailsOf, ErrorDetailsByCode } from './errors.ts';

// ── Time ─────────────────────────────────────────────────────────────────────
export { realClock } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';

// ── Actors ───────────────────────────────────────────────────────────────────
export { ActorRuntime, ACTOR_RUNTIME_DEFAULTS, DEFAULT_CALL_TIMEOUT, DownSignal, ExitSignal, fromMachine, isCleanExit, isStateMachine } from './actor/index.ts';
export type {
  ActorContext,
  ActorId,
  ActorInfo,
  ActorRef,
  ActorRuntimeOptions,
  Behaviour,
  CallOptions,
  ExitReason,
  FromMachineOptions,
  MachineReply,
  MailboxOptions,
  MonitorRef,
  ShutdownOptions,
  SpawnOptions,
  TimerRef,
} from './actor/index.ts';

// ── Supervision ──────────────────────────────────────────────────────────────
export {
  supervisor,
  startSupervisor,
  dynamicSupervisor,
  startDynamicSupervisor,
  supervisorClient,
  dynamicSupervisorClient,
  CHILD_DEFAULTS,
  DEFAULT_BACKOFF,
  DYNAMIC_SUPERVISOR_DEFAULTS,
  IGNORE,
  SUPERVISOR_DEFAULTS,
  nextDelay,
  intensityExceeded,
  shouldRestart,
  isAbnormal,
} from './supervisor/index.ts';
export type {
  SupervisorOptions,
  DynamicSupervisorOptions,
  SupervisorHandle,
  DynamicSupervisorHandle,
  SupervisorClientBase,
  ChildInfo,
  ChildCounts,
  ChildSpec,
  AutoShutdown,
  BackoffSpec,
  ShutdownSpec,
  Strategy,
  RestartType,
  BackoffBounds,
  IntensityLimit,
} from './supervisor/index.ts';

// ── Conversations ────────────────────────────────────────────────────────────
export { MemoryHistoryStore, JournalHistoryStore, JOURNAL_STORE_DEFAULTS, DEFAULT_STORE_LIMITS, isWellFormed, findHistoryProblem, MAX_ID_LENGTH } from './conversation/index.ts';
export type {
  HistoryStore,
  CommitOutcome,
  MemoryHistoryStoreOptions,
  JournalHistoryStoreOptions,
  RecoveryReport,
  StoreLimits,
  StoredTurn,
  TurnInput,
  HistoryProblem,
  WellFormedOptions,
  ForeignLockPolicy,
} from './conversation/index.ts';
export type { ConversationLease, LeaseGrant, LeaseRequest } from './conversation/lease.ts';

// ── Observability ────────────────────────────────────────────────────────────
export { SynapseEventEmitter, EVENT_NAMES, DEFAULT_REDACT_PATHS, DEFAULT_REDACT_KEYS, METRICS_DEFAULTS, healthFromTree, walkInspect, findInspectNode, TURN_SPAN_ATTRIBUTES } from './observe/index.ts';
export type {
  SynapseEvents,
  SynapseEventName,
  InspectEvent,
  InspectNode,
  InspectNodeKind,
  HealthReport,
  AgentHealth,
  MetricsSnapshot,
  AgentMetrics,
  LatencySummary,
  OutcomeCounts,
  PythonProcessMetrics,
  RedactOptions,
  SeriesView,
  AgentSeries,
  TurnOutcome,
} from './observe/index.ts';
