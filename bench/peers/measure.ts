/**
 * Closed-loop load for `bench/agents.ts`: `concurrency` callers, each sending its next turn as
 * soon as the previous one settles, for a fixed window after a warm-up. A failed call pauses
 * its caller 50 ms (the same for every contender) so a dead server is not hammered in a hot
 * loop. Latencies go into a bounded reservoir.
 */
import { Reservoir } from '../../scripts/load/samples.ts';
import { ResourceSampler } from '../../scripts/load/resources.ts';
import { realClock } from '../../src/clock.ts';
import type { Contender } from './contenders.ts';

/** One measurement window. */
export interface Window {
  readonly ok: number;
  readonly errors: number;
  readonly seconds: number;
  /** Successful turns per second. */
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  /** Failed calls / all calls, in %. */
  readonly errorRate: number;
  /** First few distinct error messages. */
  readonly errorKinds: readonly string[];
  /** Peak RSS seen during the window (sampled every 250 ms), bytes. */
  readonly nodeMaxRss: number;
  readonly pythonMaxRss: number;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Options of {@link measure}. */
export interface MeasureOptions {
  readonly concurrency: number;
  readonly seconds: number;
  readonly warmupSeconds?: number;
  /** Called once when the measured window starts (e.g. to start chaos); its return value is called at the end. */
  readonly during?: () => () => void;
}

/** Measures `contender` under closed-loop load. */
export async function measure(contender: Contender, o: MeasureOptions): Promise<Window> {
  let n = 0;
  const prompt = (): string => `Where is order ${[42, 7, 13][n++ % 3]}? (#${n})`;
  const run = async (seconds: number, record: boolean) => {
    const latency = new Reservoir(200_000, 7);
    let errors = 0;
    const kinds = new Set<string>();
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            await contender.call(prompt());
            if (record) latency.add(performance.now() - t0);
          } catch (error) {
            errors++;
            if (kinds.size < 4) kinds.add(String((error as { code?: string }).code ?? (error as Error).cause ?? (error as Error).message).slice(0, 80));
            await pause(50);
          }
        }
      }),
    );
    return { latency, errors, kinds };
  };
  if ((o.warmupSeconds ?? 1) > 0) await run(o.warmupSeconds ?? 1, false);
  const sampler = new ResourceSampler({ clock: realClock, periodMs: 250, targets: () => contender.pids().map((pid) => ({ pid, agent: contender.name, worker: 0 })) });
  const stopDuring = o.during?.();
  const t0 = performance.now();
  const r = await run(o.seconds, true);
  const seconds = (performance.now() - t0) / 1000;
  stopDuring?.();
  await sampler.sample();
  await sampler.close();
  const s = r.latency.summary();
  const node = sampler.node();
  return {
    ok: s.count,
    errors: r.errors,
    seconds,
    throughput: s.count / seconds,
    p50: s.p50,
    p99: s.p99,
    errorRate: s.count + r.errors === 0 ? 0 : (100 * r.errors) / (s.count + r.errors),
    errorKinds: [...r.kinds],
    nodeMaxRss: node.maxRssBytes,
    pythonMaxRss: sampler.python().reduce((m, p) => Math.max(m, p.maxRssBytes), 0),
  };
}

/** SIGKILLs the first Python pid of `contender` every `everyMs` until the returned stop function is called. */
export function killEvery(contender: Contender, everyMs: number, onKill: () => void = () => {}): () => void {
  const timer = setInterval(() => {
    const pid = contender.pids()[0];
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
      onKill();
    } catch {
      // exited meanwhile
    }
  }, everyMs);
  return () => clearInterval(timer);
}
