/**
 * Prometheus metrics (prom-client) in a registry owned by one system, never prom-client's
 * global default registry, so two systems in one process never clash. Counters follow the
 * typed events ({@link SynapseMetrics.bindEvents}); gauges that describe current load are
 * read at collection time from sources the system provides; Python RSS/CPU come from /proc
 * at collection time (no timer). Every metric is listed in docs/observability.md.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../clock.ts';
import { realClock } from '../clock.ts';
import { ERROR_CODES } from '../errors.ts';
import { invalid, resolveOptions, v } from '../options.ts';
import type { Field } from '../options.ts';
import type { SynapseEventEmitter, SynapseEvents } from './events.ts';
import { readProcStat } from './procstat.ts';
import type { ProcStat } from './procstat.ts';
import { defineMetrics } from './metrics-defs.ts';
import type { MetricSet } from './metrics-defs.ts';
import { buildSnapshot } from './metrics-snapshot.ts';
import type { MetricsSnapshot, SnapshotInputs } from './metrics-snapshot.ts';
import { readingFromMetrics } from './series.ts';
import type { SeriesReading } from './series.ts';

export type { MetricsSnapshot } from './metrics-snapshot.ts';

/** Outcome label of a call: `ok`, or the kind of its error code. */
export type CallOutcome = 'ok' | 'failure' | 'defect' | 'interruption' | 'misuse';

/** Current load of one agent, read at collection time. */
export interface AgentLoad {
  readonly agent: string;
  readonly queued: number;
  readonly inFlight: number;
}

/** Mailbox depth of one actor, read at collection time. Use a stable label (registered name), never a per-incarnation id. */
export interface MailboxDepth {
  readonly actor: string;
  readonly depth: number;
}

/** Idle warm spares of one agent, read at collection time. */
export interface AgentSpares {
  readonly agent: string;
  readonly pids: readonly number[];
}

/** Callbacks the system provides so gauges reflect the present. */
export interface MetricsSources {
  agents?: () => Iterable<AgentLoad>;
  mailboxes?: () => Iterable<MailboxDepth>;
  /** Idle warm spares per agent (their count and RSS are reported). */
  spares?: () => Iterable<AgentSpares>;
}

/** A Python process whose RSS/CPU is sampled. */
export interface TrackedProcess {
  readonly agent: string;
  readonly worker: number;
  readonly pid: number;
}

/** Options of {@link SynapseMetrics}. Defaults: {@link METRICS_DEFAULTS}. */
export interface MetricsOptions {
  /** Metric name prefix. Default `'synapse_'`. */
  prefix?: string;
  /** Labels added to every series (e.g. `{ system: 'eu-1' }`). */
  labels?: Record<string, string>;
  /** Call latency buckets in seconds. */
  latencyBuckets?: readonly number[];
  /** Also register prom-client's default Node metrics (prefixed). They keep a GC observer and an event-loop histogram alive for the process lifetime: enable once per process. Default false. */
  nodeDefaultMetrics?: boolean;
  /** `monitorEventLoopDelay` sampling interval in ms, subtracted from each recorded interval to give the delay. Default 20. */
  eventLoopResolutionMs?: number;
  /** Event-loop delay stats cover at least this window before they are reset on collection. Default 10 000. */
  eventLoopWindowMs?: number;
  /** Most Python processes sampled at once (oldest dropped first). Default 1024. */
  maxTrackedProcesses?: number;
  /** Clock for the event-loop window. Default the real clock. */
  clock?: Clock;
}

/** Defaults of {@link SynapseMetrics}. */
export const METRICS_DEFAULTS = Object.freeze({
  prefix: 'synapse_',
  latencyBuckets: Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]),
  nodeDefaultMetrics: false,
  eventLoopResolutionMs: 20,
  eventLoopWindowMs: 10_000,
  maxTrackedProcesses: 1024,
});

const numberList: Field<number[]> = (value, path) => {
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((x: unknown, i) => typeof x === 'number' && x > 0 && Number.isFinite(x) && (i === 0 || x > (value[i - 1] as number)));
  return ok ? [...(value as number[])] : invalid(path, 'an increasing, non-empty array of positive finite numbers', value);
};

const SCHEMA = {
  prefix: v.optional(v.string({ pattern: /^[a-zA-Z_:][a-zA-Z0-9_:]*$/ })),
  labels: v.optional(v.record(v.string())),
  latencyBuckets: v.optional(numberList),
  nodeDefaultMetrics: v.optional(v.boolean()),
  eventLoopResolutionMs: v.optional(v.number({ min: 1, max: 10_000, integer: true })),
  eventLoopWindowMs: v.optional(v.number({ min: 0 })),
  maxTrackedProcesses: v.optional(v.number({ min: 1, integer: true })),
  clock: v.optional<Clock>((value, path) =>
    typeof value === 'object' && value !== null && typeof (value as Clock).now === 'function' ? (value as Clock) : invalid(path, 'a Clock', value),
  ),
};

/** Maps an error code to the `outcome` label (its kind); unknown codes count as `defect`. */
export function outcomeOf(code: string): CallOutcome {
  return (ERROR_CODES as Record<string, { kind: CallOutcome } | undefined>)[code]?.kind ?? 'defect';
}

/** Most distinct `host` (front side) and `front` (host side) label values; later ones are `other`. */
export const MAX_PEER_LABELS = 64;

/** The first `max` distinct values are labels as-is; any later one is `other` (cardinality stays bounded). */
class BoundedLabels {
  readonly #seen = new Set<string>();
  constructor(readonly max: number) {}
  label(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.max) return 'other';
    this.#seen.add(value);
    return value;
  }
}

/** `outcome` of a lease wait that ended without a grant. */
function leaseWaitOutcome(code: string): 'busy' | 'aborted' | 'failed' {
  if (code === 'SYN_ERR_CONVERSATION_BUSY') return 'busy';
  return code === 'SYN_ERR_ABORTED' || code === 'SYN_ERR_TIMEOUT' || code === 'SYN_ERR_SHUTDOWN' ? 'aborted' : 'failed';
}

/** Bounds the `code` label to the registry (anything else becomes `other`). */
function codeLabel(code: string): string {
  return Object.hasOwn(ERROR_CODES, code) ? code : 'other';
}

/**
 * The metrics of one Synapse system.
 * @example
 * ```ts
 * const metrics = new SynapseMetrics();
 * metrics.bindEvents(system.events);
 * metrics.setSources({ agents: () => system.agentLoads() });
 * res.setHeader('content-type', metrics.contentType).end(await metrics.text());
 * ```
 */
export class SynapseMetrics {
  /** The registry (own, not prom-client's global). */
  readonly registry = new Registry();
  readonly #clock: Clock;
  readonly #eld: IntervalHistogram;
  readonly #eldResolutionNs: number;
  readonly #eldWindowMs: number;
  #eldResetAt: number;
  readonly #maxTracked: number;
  readonly #tracked = new Map<number, TrackedProcess>();
  readonly #unbinds = new Set<() => void>();
  #sources: MetricsSources = {};
  #sampling: Promise<Map<number, ProcStat>> | undefined;
  #closed = false;
  readonly #m: MetricSet;
  /** Host and front ids come from the network (a front without `frontId` has a random one per process): bounded label sets. */
  readonly #hosts = new BoundedLabels(MAX_PEER_LABELS);
  readonly #fronts = new BoundedLabels(MAX_PEER_LABELS);

  /** @throws SYN_ERR_INVALID_OPTION naming the bad option. */
  constructor(options: MetricsOptions = {}) {
    const o = resolveOptions('metrics', options, SCHEMA);
    const prefix = o.prefix ?? METRICS_DEFAULTS.prefix;
    this.#clock = o.clock ?? realClock;
    this.#maxTracked = o.maxTrackedProcesses ?? METRICS_DEFAULTS.maxTrackedProcesses;
    this.#eldWindowMs = o.eventLoopWindowMs ?? METRICS_DEFAULTS.eventLoopWindowMs;
    if (o.labels !== undefined) this.registry.setDefaultLabels(o.labels);
    const resolutionMs = o.eventLoopResolutionMs ?? METRICS_DEFAULTS.eventLoopResolutionMs;
    this.#eldResolutionNs = resolutionMs * 1e6;
    this.#eld = monitorEventLoopDelay({ resolution: resolutionMs });
    this.#eld.enable();
    this.#eldResetAt = this.#clock.now();
    this.#m = defineMetrics(prefix, this.registry, o.latencyBuckets ?? METRICS_DEFAULTS.latencyBuckets, {
      agents: () => this.#sources.agents?.() ?? [],
      mailboxes: () => this.#sources.mailboxes?.() ?? [],
      spares: () => this.#sources.spares?.() ?? [],
      sample: () => (this.#sampling ??= this.#sample().finally(() => (this.#sampling = undefined))),
      tracked: (pid) => this.#tracked.get(pid),
      eventLoop: () => this.#eventLoopStats(),
    });
    if (o.nodeDefaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix });
  }

  /** Content-Type of {@link SynapseMetrics.text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Replaces the load sources read at collection time. */
  setSources(sources: MetricsSources): void {
    if (!this.#closed) this.#sources = { ...sources };
  }

  /** Starts sampling a Python process (done automatically from `worker.spawned`/`worker.ready` when bound to events). */
  trackProcess(process: TrackedProcess): void {
    if (this.#closed) return;
    this.#tracked.delete(process.pid);
    this.#tracked.set(process.pid, { agent: process.agent, worker: process.worker, pid: process.pid });
    while (this.#tracked.size > this.#maxTracked) this.#tracked.delete(this.#tracked.keys().next().value as number);
  }

  /** Stops sampling a process (automatic on `worker.exited`/`worker.crashed`). */
  untrackProcess(pid: number): void {
    this.#tracked.delete(pid);
  }

  /** Processes currently sampled. */
  trackedProcesses(): TrackedProcess[] {
    return [...this.#tracked.values()];
  }

  /** One settled remote run (`remote.completed` / `remote.failed`); host ids are bounded labels. */
  #recordRemote(agent: string, host: string, latencyMs: number, code?: string): void {
    const outcome = code === undefined ? 'ok' : outcomeOf(code);
    const h = this.#hosts.label(host);
    this.#m.remoteRuns.inc({ agent, outcome, code: code === undefined ? 'none' : codeLabel(code), host: h });
    if (Number.isFinite(latencyMs) && latencyMs >= 0) this.#m.remoteRunDuration.observe({ agent, outcome, host: h }, latencyMs / 1000);
  }

  /** Records one call (what `call.completed` / `call.failed` do). `code` undefined means success. */
  recordCall(agent: string, latencyMs: number | undefined, code?: string): void {
    const outcome = code === undefined ? 'ok' : outcomeOf(code);
    this.#m.calls.inc({ agent, outcome, code: code === undefined ? 'none' : codeLabel(code) });
    if (latencyMs !== undefined && Number.isFinite(latencyMs) && latencyMs >= 0) this.#m.callDuration.observe({ agent, outcome }, latencyMs / 1000);
  }

  /**
   * Updates counters from the typed events. Returns an unbind function (also run by `close()`).
   * @example
   * ```ts
   * const unbind = metrics.bindEvents(system.events);
   * ```
   */
  bindEvents(events: SynapseEventEmitter): () => void {
    if (this.#closed) return () => {};
    const handlers: { [K in keyof SynapseEvents]?: (e: SynapseEvents[K]) => void } = {
      'call.completed': (e) => this.recordCall(e.agent, e.latencyMs),
      'call.failed': (e) => this.recordCall(e.agent, e.latencyMs, e.code),
      'model.slot_waited': (e) => this.#m.modelSlotWait.observe({ agent: e.agent, outcome: e.outcome }, e.waitMs / 1000),
      'turn.committed': (e) => {
        this.#m.turns.inc({ agent: e.agent, outcome: 'committed' });
        if (e.leaseWaitMs !== undefined) this.#m.leaseWait.observe({ outcome: 'granted' }, e.leaseWaitMs / 1000);
        if (e.commitMs !== undefined) this.#m.storeCommitDuration.observe({ store: e.store ?? 'unknown', outcome: 'committed' }, e.commitMs / 1000);
      },
      'turn.failed': (e) => {
        this.#m.turns.inc({ agent: e.agent, outcome: 'failed' });
        if (e.leaseWaitMs !== undefined) this.#m.leaseWait.observe({ outcome: e.stage === 'lease' ? leaseWaitOutcome(e.code) : 'granted' }, e.leaseWaitMs / 1000);
        if (e.commitMs !== undefined) this.#m.storeCommitDuration.observe({ store: e.store ?? 'unknown', outcome: 'failed' }, e.commitMs / 1000);
        if (e.code === 'SYN_ERR_LEASE_LOST') this.#m.leaseLost.inc({ reason: e.stage === 'commit' ? 'fenced' : 'renewal' });
      },
      'remote.completed': (e) => this.#recordRemote(e.agent, e.host, e.latencyMs),
      'remote.failed': (e) => this.#recordRemote(e.agent, e.host, e.latencyMs, e.code),
      'remote.served': (e) =>
        this.#m.remoteServed.inc({ agent: e.agent, front: this.#fronts.label(e.front), outcome: e.code === undefined ? 'ok' : outcomeOf(e.code), code: e.code === undefined ? 'none' : codeLabel(e.code) }),
      'supervisor.restarted': (e) => this.#m.restarts.inc({ supervisor: e.supervisor, child: e.child }),
      'supervisor.restart_scheduled': (e) => {
        if (e.startup) this.#m.startupFailures.inc({ supervisor: e.supervisor, child: e.child }); // a retry after a failed start
      },
      'supervisor.intensity_exceeded': (e) => this.#m.intensityExceeded.inc({ supervisor: e.supervisor }),
      'worker.spawned': (e) => this.trackProcess(e),
      'worker.ready': (e) => this.trackProcess(e),
      'worker.crashed': (e) => {
        this.#m.workerCrashes.inc({ agent: e.agent, code: codeLabel(e.code) });
        this.untrackProcess(e.pid);
      },
      'worker.exited': (e) => this.untrackProcess(e.pid),
      'agent.spawned': (e) => this.#m.quarantined.set({ agent: e.agent }, 0),
      'agent.quarantined': (e) => this.#m.quarantined.set({ agent: e.agent }, 1),
      'agent.recovered': (e) => this.#m.quarantined.set({ agent: e.agent }, 0),
      'agent.stopped': (e) => this.#m.quarantined.remove({ agent: e.agent }),
      'mailbox.dropped': (e) => this.#m.mailboxDropped.inc({ actor: e.name ?? 'unnamed' }),
      'orphan.reaped': () => this.#m.orphansReaped.inc(),
    };
    const emitter = events as unknown as { on(n: string, f: (e: never) => void): void; off(n: string, f: (e: never) => void): void };
    for (const [name, fn] of Object.entries(handlers)) emitter.on(name, fn);
    const unbind = (): void => {
      if (!this.#unbinds.delete(unbind)) return;
      for (const [name, fn] of Object.entries(handlers)) emitter.off(name, fn);
    };
    this.#unbinds.add(unbind);
    return unbind;
  }

  /** Prometheus text exposition format (content type {@link SynapseMetrics.contentType}). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** A JSON snapshot with a stable shape ({@link MetricsSnapshot}, documented in docs/observability.md). */
  async snapshot(): Promise<MetricsSnapshot> {
    const m = this.#m;
    const [calls, duration, turns, restarts, startupFailures, intensity, crashes, quarantined, queued, inFlight, mbDepth, mbDropped, rss, cpu, spares, spareRss, nRss, nHeap, nCpu, eld, orphans, collectErrors] = await Promise.all([
      m.calls.get(), m.callDuration.get(), m.turns.get(), m.restarts.get(), m.startupFailures.get(), m.intensityExceeded.get(), m.workerCrashes.get(), m.quarantined.get(),
      m.queueDepth.get(), m.inFlight.get(), m.mailboxDepth.get(), m.mailboxDropped.get(), m.pythonRss.get(), m.pythonCpu.get(),
      m.spareCount.get(), m.spareRss.get(), m.nodeRss.get(), m.nodeHeap.get(), m.nodeCpu.get(), m.eventLoopDelay.get(), m.orphansReaped.get(), m.collectErrors.get(),
    ]);
    const inputs: SnapshotInputs = { calls, duration, turns, restarts, startupFailures, intensity, crashes, quarantined, queued, inFlight, mbDepth, mbDropped, rss, cpu, spares, spareRss, nRss, nHeap, nCpu, eld, orphans, collectErrors };
    return buildSnapshot(inputs, Date.now());
  }

  /**
   * The cumulative per-agent values the live view's time series are sampled from (calls, errors
   * by code, latency buckets, restarts, queue depth): four metric reads, no /proc sampling.
   */
  async seriesReading(): Promise<SeriesReading> {
    const m = this.#m;
    const [calls, duration, restarts, queued] = await Promise.all([m.calls.get(), m.callDuration.get(), m.restarts.get(), m.queueDepth.get()]);
    return readingFromMetrics({ calls, duration, restarts, queued });
  }

  /** Stops the event-loop monitor, unbinds events, drops sources and tracked processes. Counters keep their values. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const unbind of [...this.#unbinds]) unbind();
    this.#eld.disable();
    this.#sources = {};
    this.#tracked.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #sample(): Promise<Map<number, ProcStat>> {
    const pids = [...this.#tracked.keys()];
    const stats = await Promise.all(pids.map((pid) => readProcStat(pid).catch(() => undefined)));
    const out = new Map<number, ProcStat>();
    stats.forEach((s, i) => {
      if (s !== undefined && s.state !== 'Z') out.set(pids[i]!, s);
    });
    return out;
  }

  /**
   * Delay stats in ns. The histogram records the time between two firings of a `resolution`-ms
   * timer, so an idle loop reads the resolution itself; the delay is how late the timer fired:
   * each stat less the resolution, clamped at 0 (libuv's ms clock lets the timer fire up to 1 ms early).
   */
  #eventLoopStats(): Record<'min' | 'mean' | 'p50' | 'p90' | 'p99' | 'max', number> | undefined {
    const h = this.#eld;
    const late = (ns: number): number => Math.max(0, ns - this.#eldResolutionNs);
    const stats =
      h.count > 0
        ? { min: late(h.min), mean: late(h.mean), p50: late(h.percentile(50)), p90: late(h.percentile(90)), p99: late(h.percentile(99)), max: late(h.max) }
        : undefined;
    const now = this.#clock.now();
    if (now - this.#eldResetAt >= this.#eldWindowMs) {
      h.reset();
      this.#eldResetAt = now;
    }
    return stats;
  }
}
