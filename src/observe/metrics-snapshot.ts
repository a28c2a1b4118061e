/**
 * The JSON snapshot of {@link SynapseMetrics} (./metrics.ts): a stable, documented shape built
 * from the registry's own values, so the JSON and the Prometheus text never disagree.
 */

/** Calls of one agent by outcome. */
export interface OutcomeCounts {
  ok: number;
  failure: number;
  defect: number;
  interruption: number;
  misuse: number;
}

/** Latency of one agent's calls (all outcomes), in seconds. Quantiles interpolated from buckets like PromQL `histogram_quantile`; null when no call yet. */
export interface LatencySummary {
  count: number;
  sum: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Everything known about one agent. */
export interface AgentMetrics {
  calls: { total: number; byOutcome: OutcomeCounts; byCode: Record<string, number> };
  latencySeconds: LatencySummary;
  turns: { committed: number; failed: number };
  workerCrashes: number;
  quarantined: boolean;
  queued: number;
  inFlight: number;
}

/** One sampled Python process. */
export interface PythonProcessMetrics {
  agent: string;
  worker: number;
  pid: number;
  rssBytes: number;
  cpuSeconds: number;
}

/**
 * `metrics.snapshot()`. Shape is stable: fields are only ever added.
 * Agents appear once any of their metrics has a value.
 */
export interface MetricsSnapshot {
  /** Epoch ms when taken. */
  takenAt: number;
  agents: Record<string, AgentMetrics>;
  /**
   * supervisor → child → restarts (the child came up) and start-up failures (a restart attempt
   * whose child failed to start; attempts = both), and intensity-exceeded counts.
   */
  supervisors: Record<string, { restarts: Record<string, number>; startupFailures: Record<string, number>; intensityExceeded: number }>;
  python: PythonProcessMetrics[];
  /** Idle warm spares: per-agent count and each spare's RSS (sorted by agent, pid). */
  spares: { idle: Record<string, number>; processes: { agent: string; pid: number; rssBytes: number }[] };
  mailboxes: Record<string, { depth: number; dropped: number }>;
  node: {
    rssBytes: number;
    heapUsedBytes: number;
    cpuSeconds: number;
    /** Seconds of delay (how late the monitor's timer fired: its resolution subtracted, ≥ 0); absent stats are null (no sample yet in this window). */
    eventLoopDelaySeconds: Record<'min' | 'mean' | 'p50' | 'p90' | 'p99' | 'max', number | null>;
  };
  orphansReaped: number;
  /** Errors reading metric sources (agents, mailboxes, procstat). */
  collectErrors: Record<string, number>;
}

/** The value list of one prom-client metric (`await metric.get()`). */
export interface MetricValues {
  values: readonly { value: number; labels: Partial<Record<string, string | number>>; metricName?: string }[];
}

/** What {@link buildSnapshot} reads, one entry per metric. */
export type SnapshotInputs = Record<
  | 'calls' | 'duration' | 'turns' | 'restarts' | 'startupFailures' | 'intensity' | 'crashes' | 'quarantined' | 'queued' | 'inFlight'
  | 'mbDepth' | 'mbDropped' | 'rss' | 'cpu' | 'spares' | 'spareRss' | 'nRss' | 'nHeap' | 'nCpu' | 'eld' | 'orphans' | 'collectErrors',
  MetricValues
>;

const label = (v: MetricValues['values'][number], name: string): string => String(v.labels[name] ?? '');
const total = (m: MetricValues): number => m.values.reduce((s, v) => s + v.value, 0);

/**
 * Quantile `q` from cumulative buckets `[upperBound, cumulativeCount]` sorted by bound (the last
 * is `+Inf`), interpolating linearly inside the bucket (PromQL `histogram_quantile`).
 */
export function bucketQuantile(q: number, buckets: readonly (readonly [number, number])[]): number | null {
  const count = buckets.at(-1)?.[1] ?? 0;
  if (count === 0) return null;
  const rank = q * count;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, cum] of buckets) {
    if (cum >= rank) {
      if (bound === Infinity) return prevBound; // beyond the last finite bucket: its bound is the best estimate
      const inBucket = cum - prevCount;
      return inBucket === 0 ? bound : prevBound + (bound - prevBound) * ((rank - prevCount) / inBucket);
    }
    prevBound = bound;
    prevCount = cum;
  }
  return prevBound;
}

function emptyAgent(): AgentMetrics {
  return {
    calls: { total: 0, byOutcome: { ok: 0, failure: 0, defect: 0, interruption: 0, misuse: 0 }, byCode: {} },
    latencySeconds: { count: 0, sum: 0, p50: null, p95: null, p99: null },
    turns: { committed: 0, failed: 0 },
    workerCrashes: 0,
    quarantined: false,
    queued: 0,
    inFlight: 0,
  };
}

function latency(duration: MetricValues): Map<string, LatencySummary> {
  const perAgent = new Map<string, { buckets: Map<number, number>; count: number; sum: number }>();
  for (const v of duration.values) {
    const agent = label(v, 'agent');
    let acc = perAgent.get(agent);
    if (acc === undefined) perAgent.set(agent, (acc = { buckets: new Map(), count: 0, sum: 0 }));
    if (v.metricName?.endsWith('_bucket') === true) {
      const le = label(v, 'le') === '+Inf' ? Infinity : Number(label(v, 'le'));
      acc.buckets.set(le, (acc.buckets.get(le) ?? 0) + v.value);
    } else if (v.metricName?.endsWith('_sum') === true) acc.sum += v.value;
    else if (v.metricName?.endsWith('_count') === true) acc.count += v.value;
  }
  const out = new Map<string, LatencySummary>();
  for (const [agent, acc] of perAgent) {
    const buckets = [...acc.buckets.entries()].sort((a, b) => a[0] - b[0]);
    out.set(agent, { count: acc.count, sum: acc.sum, p50: bucketQuantile(0.5, buckets), p95: bucketQuantile(0.95, buckets), p99: bucketQuantile(0.99, buckets) });
  }
  return out;
}

/** Builds the snapshot from the metrics' current values. */
export function buildSnapshot(m: SnapshotInputs, takenAt: number): MetricsSnapshot {
  const agents: Record<string, AgentMetrics> = {};
  const agent = (id: string): AgentMetrics => (agents[id] ??= emptyAgent());
  for (const v of m.calls.values) {
    const a = agent(label(v, 'agent'));
    const outcome = label(v, 'outcome') as keyof OutcomeCounts;
    a.calls.total += v.value;
    if (outcome in a.calls.byOutcome) a.calls.byOutcome[outcome] += v.value;
    const code = label(v, 'code');
    if (code !== 'none') a.calls.byCode[code] = (a.calls.byCode[code] ?? 0) + v.value;
  }
  for (const [id, summary] of latency(m.duration)) agent(id).latencySeconds = summary;
  for (const v of m.turns.values) {
    const t = agent(label(v, 'agent')).turns;
    if (label(v, 'outcome') === 'committed') t.committed += v.value;
    else t.failed += v.value;
  }
  for (const v of m.crashes.values) agent(label(v, 'agent')).workerCrashes += v.value;
  for (const v of m.quarantined.values) agent(label(v, 'agent')).quarantined = v.value > 0;
  for (const v of m.queued.values) agent(label(v, 'agent')).queued = v.value;
  for (const v of m.inFlight.values) agent(label(v, 'agent')).inFlight = v.value;

  const supervisors: MetricsSnapshot['supervisors'] = {};
  const sup = (id: string) => (supervisors[id] ??= { restarts: {}, startupFailures: {}, intensityExceeded: 0 });
  for (const v of m.restarts.values) {
    const s = sup(label(v, 'supervisor'));
    s.restarts[label(v, 'child')] = (s.restarts[label(v, 'child')] ?? 0) + v.value;
  }
  for (const v of m.startupFailures.values) {
    const s = sup(label(v, 'supervisor'));
    s.startupFailures[label(v, 'child')] = (s.startupFailures[label(v, 'child')] ?? 0) + v.value;
  }
  for (const v of m.intensity.values) sup(label(v, 'supervisor')).intensityExceeded += v.value;

  const mailboxes: MetricsSnapshot['mailboxes'] = {};
  const mb = (id: string) => (mailboxes[id] ??= { depth: 0, dropped: 0 });
  for (const v of m.mbDepth.values) mb(label(v, 'actor')).depth += v.value;
  for (const v of m.mbDropped.values) mb(label(v, 'actor')).dropped += v.value;

  const cpuByPid = new Map(m.cpu.values.map((v) => [label(v, 'pid'), v.value]));
  const python = m.rss.values
    .map((v) => ({ agent: label(v, 'agent'), worker: Number(label(v, 'worker')), pid: Number(label(v, 'pid')), rssBytes: v.value, cpuSeconds: cpuByPid.get(label(v, 'pid')) ?? 0 }))
    .sort((a, b) => a.agent.localeCompare(b.agent) || a.worker - b.worker || a.pid - b.pid);

  const spareIdle: Record<string, number> = {};
  for (const v of m.spares.values) spareIdle[label(v, 'agent')] = v.value;
  const spareProcs = m.spareRss.values
    .map((v) => ({ agent: label(v, 'agent'), pid: Number(label(v, 'pid')), rssBytes: v.value }))
    .sort((a, b) => a.agent.localeCompare(b.agent) || a.pid - b.pid);

  const eld: MetricsSnapshot['node']['eventLoopDelaySeconds'] = { min: null, mean: null, p50: null, p90: null, p99: null, max: null };
  for (const v of m.eld.values) {
    const stat = label(v, 'stat');
    if (stat in eld) eld[stat as keyof typeof eld] = v.value;
  }
  const collectErrors: Record<string, number> = {};
  for (const v of m.collectErrors.values) collectErrors[label(v, 'source')] = v.value;

  return {
    takenAt,
    agents,
    supervisors,
    python,
    spares: { idle: spareIdle, processes: spareProcs },
    mailboxes,
    node: { rssBytes: total(m.nRss), heapUsedBytes: total(m.nHeap), cpuSeconds: total(m.nCpu), eventLoopDelaySeconds: eld },
    orphansReaped: total(m.orphans),
    collectErrors,
  };
}
