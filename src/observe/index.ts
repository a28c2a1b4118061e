/**
 * Observability layer: logging, typed events, metrics, inspection, HTTP endpoint.
 * `src/index.ts` re-exports the public parts from here.
 */
export { SynapseEventEmitter } from './events.ts';
export type { InspectEvent, SynapseEventName, SynapseEvents } from './events.ts';
export { emit, reportListenerError } from './emit.ts';
export type { EmitOptions } from './emit.ts';
export { EVENT_LEVELS, EVENT_NAMES, EventLog, eventRecord, levelOf } from './event-log.ts';
export type { EventLogOptions } from './event-log.ts';
export { DEFAULT_REDACT_PATHS, LOGGER_DEFAULTS, LOG_LEVELS, childLogger, createLogger } from './log.ts';
export type { LogContext, LoggerOptions, RedactOptions } from './log.ts';
export { DEFAULT_CENSOR, DEFAULT_REDACT_CONTAINERS, DEFAULT_REDACT_KEYS, compileRedactor, parseRedactPath } from './redact.ts';
export type { Redactor, RedactorConfig } from './redact.ts';
export { METRICS_DEFAULTS, SynapseMetrics, outcomeOf } from './metrics.ts';
export type { AgentLoad, CallOutcome, MailboxDepth, MetricsOptions, MetricsSources, TrackedProcess } from './metrics.ts';
export type { AgentMetrics, LatencySummary, MetricsSnapshot, OutcomeCounts, PythonProcessMetrics } from './metrics-snapshot.ts';
export { CLOCK_TICKS_PER_SECOND, readProcStat } from './procstat.ts';
export type { ProcStat } from './procstat.ts';
export { findInspectNode, healthFromTree, walkInspect } from './inspect.ts';
export type { AgentHealth, HealthFn, HealthReport, InspectFn, InspectNode, InspectNodeKind } from './inspect.ts';
export { EVENT_BACKLOG_DEFAULTS, EventBacklog } from './backlog.ts';
export type { BacklogEntry } from './backlog.ts';
export { MetricsSeries, SERIES_DEFAULTS, pointBetween, readingFromMetrics } from './series.ts';
export type { AgentReading, AgentSeries, MetricsSeriesOptions, SeriesReading, SeriesView } from './series.ts';
export { Ring } from './ring.ts';
export { OBSERVE_SERVER_DEFAULTS, startObserveServer } from './http.ts';
export { TURN_SPAN_ATTRIBUTES, TurnTracer, loadOtelApi, traceparentOf } from './tracing.ts';
export type { OtelApiLike, OtelLoader, TurnOutcome, TurnSpan } from './tracing.ts';
export type { MetricsEndpoint, ObserveServer, ObserveServerOptions } from './http.ts';
