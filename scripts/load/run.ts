/**
 * One load run, as a function (the CLI in `scripts/load.ts` and the integration test both call
 * it): start a system, spawn the agents, drive turns for the configured duration with optional
 * chaos, let in-flight turns settle, verify every acknowledged turn against the committed
 * history, sample resources, stop everything, and return a {@link LoadSummary}.
 */
import { cpus } from 'node:os';
import { realClock } from '../../src/clock.ts';
import type { SpawnAgentOptions } from '../../src/agent/options.ts';
import { Synapse, type SynapseOptions } from '../../src/system.ts';
import type { ChaosKind, LoadConfig } from './args.ts';
import { Chaos, type ChaosCounts, type ChaosEvent } from './chaos.ts';
import { Driver, type DriverCounters } from './driver.ts';
import { ResourceSampler, type NodeUsage, type ProcessUsage } from './resources.ts';
import { workerSlots } from './targets.ts';
import { verifyConversations, type Verification } from './verify.ts';

/** The agent every load conversation talks to: the support example plus the garbage hook. */
export const LOAD_AGENT_REF = 'scripts/load/agent.py:agent';

/** Everything a load run measured. Stable shape (also written by `--json`). */
export interface LoadSummary {
  readonly config: Omit<LoadConfig, 'progress' | 'json'>;
  readonly machine: { node: string; cpu: string; cores: number };
  readonly startedAt: string;
  /** From the first turn to the last settled turn. */
  readonly elapsedMs: number;
  readonly turns: { started: number; acked: number; failed: number; retries: number; replayed: number };
  /** Acknowledged turns per second over `elapsedMs`. */
  readonly throughput: number;
  /** Latency of acknowledged attempts, ms. */
  readonly latencyMs: { count: number; p50: number; p95: number; p99: number; max: number; mean: number };
  /** Every attempt by outcome: `ok` or an error code. */
  readonly outcomes: Record<string, number>;
  readonly restarts: number;
  readonly crashes: number;
  readonly agents: readonly { id: string; state: string; restarts: number; crashes: number }[];
  readonly chaos: { counts: Record<ChaosKind, ChaosCounts>; events: readonly ChaosEvent[] };
  readonly verification: Verification & { crossTalk: number; historyMismatch: number };
  readonly resources: { node: NodeUsage; python: readonly ProcessUsage[] };
  /** True when no acknowledged turn was lost or duplicated and no reply or history was crossed. */
  readonly ok: boolean;
}

/** A progress snapshot, about once a second. */
export interface LoadProgress {
  readonly elapsedMs: number;
  readonly durationMs: number;
  readonly counters: Readonly<DriverCounters>;
  readonly restarts: number;
  readonly chaosFired: number;
  /** Acknowledged turns per second over the last interval. */
  readonly recentThroughput: number;
}

/** Extra knobs for tests and the bench (not CLI flags). */
export interface LoadHooks {
  readonly onProgress?: (progress: LoadProgress) => void;
  /** Merged into `Synapse.start` options (e.g. `stateDir`). */
  readonly system?: Omit<SynapseOptions, 'clock'>;
  /** Merged into every `spawnAgent` call (e.g. `python.heartbeatTimeoutMs`). */
  readonly agent?: Partial<Omit<SpawnAgentOptions, 'id' | 'agent' | 'workers'>>;
  /** Aborts the run early (the run still settles, verifies and stops cleanly). */
  readonly signal?: AbortSignal;
}

/**
 * Runs a load test.
 * @throws whatever `Synapse.start` / `spawnAgent` throw (e.g. SYN_ERR_STARTUP_FAILED); the system is stopped first.
 */
export async function runLoad(config: LoadConfig, hooks: LoadHooks = {}): Promise<LoadSummary> {
  const clock = realClock;
  // Synapse's timers are unref'ed (a library must not hold the process open); while every
  // worker is down in a restart backoff nothing else would keep Node alive, so the run holds
  // one ref'ed handle until it is over.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  let system;
  try {
    system = await Synapse.start({ logLevel: (process.env.SYNAPSE_LOG_LEVEL as 'silent' | undefined) ?? 'silent', metrics: false, ...hooks.system });
  } catch (error) {
    clearInterval(keepAlive);
    throw error;
  }
  let chaos: Chaos | undefined;
  let sampler: ResourceSampler | undefined;
  try {
    const ids = Array.from({ length: config.agents }, (_, i) => `support-${i}`);
    await Promise.all(ids.map((id) => system.spawnAgent({ ...hooks.agent, id, agent: LOAD_AGENT_REF, workers: config.workers })));
    const slots = () => workerSlots(system);
    sampler = new ResourceSampler({ clock, targets: () => slots().flatMap((s) => (s.pid === undefined ? [] : [{ pid: s.pid, agent: s.agent, worker: s.worker }])) });
    const driver = new Driver({
      system,
      agents: ids,
      conversations: config.conversations,
      concurrency: config.concurrency,
      timeoutMs: config.timeoutMs,
      retries: config.retries,
      maxTurns: config.turnsPerConversation,
      seed: config.seed,
      now: () => clock.now(),
      delay: (ms) => new Promise<void>((resolve) => void clock.setTimeout(resolve, ms)),
    });
    const restarts = () => ids.reduce((n, id) => n + system.agentStatus(id).restarts, 0);

    const startedAt = new Date().toISOString();
    const t0 = clock.now();
    chaos = new Chaos({ rates: config.chaos, seed: config.seed, clock, slots });
    const running = driver.start();
    await new Promise<void>((resolve) => {
      let lastAcked = 0;
      let lastAt = t0;
      const finish = (): void => {
        clock.clearTimeout(end);
        clock.clearTimeout(tick);
        hooks.signal?.removeEventListener('abort', finish);
        resolve();
      };
      const end = clock.setTimeout(finish, config.durationMs);
      let tick = clock.setTimeout(function progress() {
        const now = clock.now();
        const c = driver.counters;
        hooks.onProgress?.({ elapsedMs: now - t0, durationMs: config.durationMs, counters: c, restarts: restarts(), chaosFired: chaos?.fired ?? 0, recentThroughput: ((c.acked - lastAcked) * 1000) / Math.max(1, now - lastAt) });
        lastAcked = c.acked;
        lastAt = now;
        tick = clock.setTimeout(progress, 1000);
      }, 1000);
      if (hooks.signal?.aborted === true) finish();
      else hooks.signal?.addEventListener('abort', finish, { once: true });
    });
    driver.stop();
    chaos.close(); // also resumes SIGSTOPped workers so nothing stays frozen while turns settle
    await running;
    const elapsedMs = clock.now() - t0;
    await sampler.sample();

    const verification = await verifyConversations(driver.records(), (id) => system.history(id));
    const c = driver.counters;
    const agents = ids.map((id) => {
      const s = system.agentStatus(id);
      return { id, state: s.state, restarts: s.restarts, crashes: s.crashes };
    });
    const ok = verification.lost === 0 && verification.duplicated === 0 && verification.outOfOrder === 0 && verification.foreign === 0 && verification.danglingToolCalls === 0 && c.crossTalk === 0;
    const { progress: _p, json: _j, ...shownConfig } = config;
    const cpu = cpus();
    return {
      config: shownConfig,
      machine: { node: process.version, cpu: cpu[0]?.model.trim() ?? 'unknown', cores: cpu.length },
      startedAt,
      elapsedMs: Math.round(elapsedMs),
      turns: { started: c.started, acked: c.acked, failed: c.failed, retries: c.retries, replayed: c.replayed },
      throughput: Math.round((c.acked * 1000 * 100) / elapsedMs) / 100,
      latencyMs: driver.latency.summary(),
      outcomes: { ...c.outcomes },
      restarts: agents.reduce((n, a) => n + a.restarts, 0),
      crashes: agents.reduce((n, a) => n + a.crashes, 0),
      agents,
      chaos: { counts: chaos.counts, events: chaos.events },
      verification: { ...verification, crossTalk: c.crossTalk, historyMismatch: c.historyMismatch },
      resources: { node: sampler.node(), python: sampler.python() },
      ok,
    };
  } finally {
    chaos?.close();
    await sampler?.close();
    await system.stop();
    clearInterval(keepAlive);
  }
}
