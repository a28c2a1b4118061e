/**
 * Small per-agent time series for the live view: every `intervalMs` (5 s) the sampler reads the
 * cumulative counters the process already keeps (prom-client metrics of {@link SynapseMetrics})
 * and stores the difference to the previous reading as one point — turns/s, p95 latency, errors
 * by code, restarts, queue depth — in a {@link Ring} of `points` (180: the last 15 min). Nothing
 * else is recorded, so the cost is a handful of metric reads per interval and the memory is
 * `agents × points` points. The timer runs on the injected clock (the real one is unref'd) and
 * is cleared by `close()`.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { realClock } from '../clock.ts';
import { bucketQuantile } from './metrics-snapshot.ts';
import type { MetricValues } from './metrics-snapshot.ts';
import { Ring } from './ring.ts';

/** Cumulative values of one agent at one instant (counters since start; `queued` is a gauge). */
export interface AgentReading {
  /** Calls finished, any outcome. */
  readonly calls: number;
  /** Failed calls by error code. */
  readonly errors: Readonly<Record<string, number>>;
  /** Restarts performed by the agent's own supervisor (`agent:<id>`: its workers). */
  readonly restarts: number;
  /** Requests waiting in the agent's queue now. */
  readonly queued: number;
  /** Call latency histogram: `[upperBoundSeconds, cumulativeCount]` sorted by bound, the last `Infinity`. */
  readonly latency: readonly (readonly [number, number])[];
}

/** One reading of every agent. */
export type SeriesReading = ReadonlyMap<string, AgentReading>;

/** Defaults of {@link MetricsSeries}. */
export const SERIES_DEFAULTS = Object.freeze({ intervalMs: 5000, points: 180, maxAgents: 64 });

/** Options of {@link MetricsSeries} (validated by the owner). Defaults: {@link SERIES_DEFAULTS}. */
export interface MetricsSeriesOptions {
  /** Takes a reading (`() => metrics.seriesReading()`). */
  read: () => Promise<SeriesReading>;
  clock?: Clock;
  /** Bucket width. */
  intervalMs?: number;
  /** Points kept per agent (`points × intervalMs` is the window). */
  points?: number;
  /** Agents kept; a new one evicts the one idle longest. */
  maxAgents?: number;
  /** Called when a reading fails (the point is skipped; the next interval retries). */
  onError?: (error: unknown) => void;
}

/** One bucket of one agent. */
interface Point {
  readonly at: number;
  readonly turnsPerSec: number;
  readonly p95LatencyMs: number | null;
  readonly errors: Readonly<Record<string, number>>;
  readonly restarts: number;
  readonly queueDepth: number;
}

/** The series of one agent, columnar, oldest first. `ageMs` is how long ago each bucket ended. */
export interface AgentSeries {
  ageMs: number[];
  turnsPerSec: number[];
  p95LatencyMs: (number | null)[];
  /** Failed calls in the bucket (all codes). */
  errors: number[];
  /** The same by error code (codes seen in the window only). */
  errorsByCode: Record<string, number[]>;
  restarts: number[];
  queueDepth: number[];
}

/** The body of `GET /series.json`. */
export interface SeriesView {
  intervalMs: number;
  points: number;
  /** `intervalMs × points`. */
  windowMs: number;
  /** True when each agent's last point is the bucket in progress (from the last sample to now). */
  partial: boolean;
  agents: Record<string, AgentSeries>;
}

const EMPTY: AgentReading = Object.freeze({ calls: 0, errors: Object.freeze({}), restarts: 0, queued: 0, latency: Object.freeze([]) });

/** A counter's increase; a lower value means the counter was reset, so all of it is new. */
const increase = (cur: number, prev: number): number => (cur >= prev ? cur - prev : cur);

/** The point between two readings of one agent, `seconds` apart. */
export function pointBetween(prev: AgentReading | undefined, cur: AgentReading, seconds: number, at: number): Point {
  const p = prev ?? EMPTY;
  const errors: Record<string, number> = {};
  for (const [code, n] of Object.entries(cur.errors)) {
    const d = increase(n, p.errors[code] ?? 0);
    if (d > 0) errors[code] = d;
  }
  const before = new Map(p.latency);
  const reset = cur.latency.some(([le, n]) => n < (before.get(le) ?? 0));
  const buckets = cur.latency.map(([le, n]) => [le, reset ? n : n - (before.get(le) ?? 0)] as const);
  const p95 = bucketQuantile(0.95, buckets);
  return {
    at,
    turnsPerSec: seconds > 0 ? increase(cur.calls, p.calls) / seconds : 0,
    p95LatencyMs: p95 === null ? null : p95 * 1000,
    errors,
    restarts: increase(cur.restarts, p.restarts),
    queueDepth: cur.queued,
  };
}

/**
 * Builds a reading from prom-client values of `agent_calls_total` (agent, outcome, code),
 * `agent_call_duration_seconds` (agent, outcome, le), `restarts_total` (supervisor, child) and
 * `agent_queue_depth` (agent).
 */
export function readingFromMetrics(m: { calls: MetricValues; duration: MetricValues; restarts: MetricValues; queued: MetricValues }): SeriesReading {
  const acc = new Map<string, { calls: number; errors: Record<string, number>; restarts: number; queued: number; latency: Map<number, number> }>();
  const of = (agent: string) => {
    let a = acc.get(agent);
    if (a === undefined) acc.set(agent, (a = { calls: 0, errors: {}, restarts: 0, queued: 0, latency: new Map() }));
    return a;
  };
  for (const v of m.calls.values) {
    const a = of(String(v.labels.agent ?? ''));
    a.calls += v.value;
    const code = String(v.labels.code ?? 'none');
    if (code !== 'none') a.errors[code] = (a.errors[code] ?? 0) + v.value;
  }
  for (const v of m.duration.values) {
    if (v.metricName?.endsWith('_bucket') !== true) continue;
    const a = of(String(v.labels.agent ?? ''));
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    a.latency.set(le, (a.latency.get(le) ?? 0) + v.value);
  }
  for (const v of m.restarts.values) {
    const sup = String(v.labels.supervisor ?? '');
    if (sup.startsWith('agent:')) of(sup.slice('agent:'.length)).restarts += v.value;
  }
  for (const v of m.queued.values) of(String(v.labels.agent ?? '')).queued += v.value;
  const out = new Map<string, AgentReading>();
  for (const [agent, a] of acc) out.set(agent, { ...a, latency: [...a.latency.entries()].sort((x, y) => x[0] - y[0]) });
  return out;
}

/** Samples readings into per-agent rings; see the module comment. */
export class MetricsSeries {
  readonly #read: () => Promise<SeriesReading>;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #points: number;
  readonly #maxAgents: number;
  readonly #onError: (error: unknown) => void;
  readonly #rings = new Map<string, { ring: Ring<Point>; activeAt: number }>();
  #last: { at: number; reading: SeriesReading } | undefined;
  #sampling: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #closed = false;

  /** Takes the baseline reading now and samples every `intervalMs` until `close()`. */
  constructor(options: MetricsSeriesOptions) {
    this.#read = options.read;
    this.#clock = options.clock ?? realClock;
    this.#intervalMs = options.intervalMs ?? SERIES_DEFAULTS.intervalMs;
    this.#points = options.points ?? SERIES_DEFAULTS.points;
    this.#maxAgents = options.maxAgents ?? SERIES_DEFAULTS.maxAgents;
    this.#onError = options.onError ?? (() => {});
    this.#sample();
    this.#timer = this.#clock.setTimeout(this.#tick, this.#intervalMs);
  }

  readonly #tick = (): void => {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(this.#tick, this.#intervalMs);
    this.#sample();
  };

  /** Starts a sample unless one is running (a slow read never piles up). */
  #sample(): void {
    this.#sampling ??= this.#read()
      .then((reading) => this.#record(this.#clock.now(), reading), this.#onError)
      .finally(() => (this.#sampling = undefined));
  }

  #record(at: number, reading: SeriesReading): void {
    if (this.#closed) return;
    const last = this.#last;
    this.#last = { at, reading };
    if (last === undefined) return; // the baseline
    const seconds = (at - last.at) / 1000;
    for (const [agent, cur] of reading) {
      const point = pointBetween(last.reading.get(agent), cur, seconds, at);
      let entry = this.#rings.get(agent);
      if (entry === undefined) {
        this.#evictFor();
        this.#rings.set(agent, (entry = { ring: new Ring(this.#points), activeAt: at }));
      }
      entry.ring.push(point);
      if (point.turnsPerSec > 0 || point.restarts > 0 || point.queueDepth > 0 || Object.keys(point.errors).length > 0) entry.activeAt = at;
    }
  }

  /** Makes room for one more agent: drops the one idle longest. */
  #evictFor(): void {
    if (this.#rings.size < this.#maxAgents) return;
    let oldest: string | undefined;
    let at = Infinity;
    for (const [agent, e] of this.#rings) if (e.activeAt < at) [oldest, at] = [agent, e.activeAt];
    if (oldest !== undefined) this.#rings.delete(oldest);
  }

  /**
   * The series of every agent, oldest point first, plus the bucket in progress (from the last
   * sample to now, from a fresh reading) as each agent's last point when `partial` is true.
   */
  async view(): Promise<SeriesView> {
    await this.#sampling; // the baseline (or a running sample) first
    const base = { intervalMs: this.#intervalMs, points: this.#points, windowMs: this.#intervalMs * this.#points };
    const last = this.#last;
    const reading = last === undefined || this.#closed ? undefined : await this.#read().catch((err: unknown) => void this.#onError(err));
    const now = this.#clock.now();
    const partial = last !== undefined && reading !== undefined && now > last.at;
    const agents: Record<string, AgentSeries> = {};
    const names = new Set([...this.#rings.keys(), ...(partial ? reading.keys() : [])]);
    for (const agent of names) {
      const points = this.#rings.get(agent)?.ring.toArray() ?? [];
      const cur = partial ? reading.get(agent) : undefined;
      if (partial && cur !== undefined) points.push(pointBetween(last.reading.get(agent), cur, (now - last.at) / 1000, now));
      if (points.length > 0) agents[agent] = columns(points, now);
    }
    return { ...base, partial, agents };
  }

  /** Stops sampling (clears the timer). The points stay readable. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function columns(points: readonly Point[], now: number): AgentSeries {
  const codes = new Set(points.flatMap((p) => Object.keys(p.errors)));
  const errorsByCode: Record<string, number[]> = {};
  for (const code of [...codes].sort()) errorsByCode[code] = points.map((p) => p.errors[code] ?? 0);
  return {
    ageMs: points.map((p) => now - p.at),
    turnsPerSec: points.map((p) => p.turnsPerSec),
    p95LatencyMs: points.map((p) => p.p95LatencyMs),
    errors: points.map((p) => Object.values(p.errors).reduce((s, n) => s + n, 0)),
    errorsByCode,
    restarts: points.map((p) => p.restarts),
    queueDepth: points.map((p) => p.queueDepth),
  };
}
