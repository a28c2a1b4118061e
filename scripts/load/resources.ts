/**
 * CPU and RSS of Node and of every Python worker during a run, sampled from `/proc` (via
 * `src/observe/procstat.ts`) on a fixed period of the injected clock. Processes that die
 * mid-run (chaos) keep their last sample. Bounded: at most `maxProcesses` pids are tracked.
 */
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { readProcStat } from '../../src/observe/procstat.ts';

/** A process to sample, with a label for the report. */
export interface SampledTarget {
  readonly pid: number;
  readonly agent: string;
  readonly worker: number;
}

/** Resource use of one Python process over the time it was observed. */
export interface ProcessUsage {
  readonly agent: string;
  readonly worker: number;
  readonly pid: number;
  /** Alive at the last sample. */
  readonly alive: boolean;
  /** CPU seconds since the process started (at its last sample). */
  readonly cpuSeconds: number;
  /** Average CPU use over the observed window, in % of one core (null if sampled once). */
  readonly cpuPercent: number | null;
  readonly rssBytes: number;
  readonly maxRssBytes: number;
}

/** Resource use of the Node process. */
export interface NodeUsage {
  readonly cpuSeconds: number;
  readonly cpuPercent: number;
  readonly rssBytes: number;
  readonly maxRssBytes: number;
  readonly heapUsedBytes: number;
}

interface Track {
  target: SampledTarget;
  firstAt: number;
  firstCpu: number;
  lastAt: number;
  lastCpu: number;
  rss: number;
  maxRss: number;
  alive: boolean;
  samples: number;
}

/** Options of {@link ResourceSampler}. */
export interface ResourceSamplerOptions {
  readonly clock: Clock;
  /** The Python processes to sample now. */
  readonly targets: () => readonly SampledTarget[];
  /** Sampling period (default 1000 ms). */
  readonly periodMs?: number;
  /** Most processes tracked (default 1000; later ones are ignored). */
  readonly maxProcesses?: number;
}

/** Samples resources until `close()`. */
export class ResourceSampler {
  readonly #o: ResourceSamplerOptions;
  readonly #tracks = new Map<number, Track>();
  readonly #startCpu = process.cpuUsage();
  readonly #startAt: number;
  #maxNodeRss = process.memoryUsage().rss;
  #timer: TimerHandle | undefined;
  #closed = false;
  #inFlight: Promise<void> | undefined;

  constructor(options: ResourceSamplerOptions) {
    this.#o = options;
    this.#startAt = options.clock.now();
    this.#tick();
  }

  /** Takes one sample of every process now (also done on every period). */
  sample(): Promise<void> {
    this.#inFlight ??= this.#sample().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #sample(): Promise<void> {
    this.#maxNodeRss = Math.max(this.#maxNodeRss, process.memoryUsage().rss);
    const now = this.#o.clock.now();
    const max = this.#o.maxProcesses ?? 1000;
    for (const target of this.#o.targets()) {
      if (!this.#tracks.has(target.pid) && this.#tracks.size >= max) continue;
      const stat = await readProcStat(target.pid).catch(() => undefined);
      const track = this.#tracks.get(target.pid);
      if (stat === undefined || stat.state === 'Z') {
        if (track !== undefined) track.alive = false;
        continue;
      }
      if (track === undefined) {
        this.#tracks.set(target.pid, { target, firstAt: now, firstCpu: stat.cpuSeconds, lastAt: now, lastCpu: stat.cpuSeconds, rss: stat.rssBytes, maxRss: stat.rssBytes, alive: true, samples: 1 });
      } else {
        Object.assign(track, { lastAt: now, lastCpu: stat.cpuSeconds, rss: stat.rssBytes, maxRss: Math.max(track.maxRss, stat.rssBytes), alive: true, samples: track.samples + 1 });
      }
    }
    // Processes no longer listed (replaced after a crash) are dead: mark them.
    const listed = new Set(this.#o.targets().map((t) => t.pid));
    for (const [pid, track] of this.#tracks) if (!listed.has(pid)) track.alive = false;
  }

  #tick(): void {
    if (this.#closed) return;
    void this.sample();
    this.#timer = this.#o.clock.setTimeout(() => this.#tick(), this.#o.periodMs ?? 1000);
  }

  /** Node's own use since the sampler started. */
  node(): NodeUsage {
    const cpu = process.cpuUsage(this.#startCpu);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const wall = (this.#o.clock.now() - this.#startAt) / 1000;
    const mem = process.memoryUsage();
    this.#maxNodeRss = Math.max(this.#maxNodeRss, mem.rss);
    return { cpuSeconds: round(cpuSeconds), cpuPercent: wall > 0 ? round((cpuSeconds / wall) * 100) : 0, rssBytes: mem.rss, maxRssBytes: this.#maxNodeRss, heapUsedBytes: mem.heapUsed };
  }

  /** Every Python process seen, in first-seen order. */
  python(): ProcessUsage[] {
    return [...this.#tracks.values()].map((t) => {
      const window = (t.lastAt - t.firstAt) / 1000;
      return {
        agent: t.target.agent,
        worker: t.target.worker,
        pid: t.target.pid,
        alive: t.alive,
        cpuSeconds: round(t.lastCpu),
        cpuPercent: t.samples < 2 || window <= 0 ? null : round(((t.lastCpu - t.firstCpu) / window) * 100),
        rssBytes: t.rss,
        maxRssBytes: t.maxRss,
      };
    });
  }

  /** Stops sampling (idempotent); awaits a sample in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
