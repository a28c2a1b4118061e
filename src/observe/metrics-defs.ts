/**
 * The metric definitions of {@link SynapseMetrics} (./metrics.ts): names, help, labels and the
 * collect callbacks that read current values. Internal; the names are the public contract
 * (docs/observability.md).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { readProcStat } from './procstat.ts';
import type { ProcStat } from './procstat.ts';

/** What collect callbacks read from their owner. */
export interface CollectHooks {
  agents(): Iterable<{ agent: string; queued: number; inFlight: number; modelSlotsWaiting?: number }>;
  mailboxes(): Iterable<{ actor: string; depth: number }>;
  /** Idle warm spares per agent (pids). */
  spares(): Iterable<{ agent: string; pids: readonly number[] }>;
  /** One /proc sample of tracked processes, shared by concurrent collects. */
  sample(): Promise<Map<number, ProcStat>>;
  tracked(pid: number): { agent: string; worker: number } | undefined;
  /** Event-loop delay stats in ns, the monitor's resolution already subtracted (undefined when no sample yet); resets the window when due. */
  eventLoop(): Record<'min' | 'mean' | 'p50' | 'p90' | 'p99' | 'max', number> | undefined;
}

const PY_LABELS = ['agent', 'worker', 'pid'] as const;

/** Creates every metric in `registry` with names prefixed by `p`. */
export function defineMetrics(p: string, registry: Registry, buckets: readonly number[], hooks: CollectHooks) {
  const registers = [registry];
  const collectErrors = new Counter({
    name: `${p}metrics_collect_errors_total`,
    help: 'Errors while reading a metrics source at collection time.',
    labelNames: ['source'] as const,
    registers: [], // registered last (below) so one scrape already shows the errors of its own collects
  });
  const guard = async (source: string, fn: () => void | Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch {
      collectErrors.inc({ source }); // a failing source must not fail the scrape; it is counted instead
    }
  };
  const pyLabels = (pid: number): Record<(typeof PY_LABELS)[number], string> | undefined => {
    const t = hooks.tracked(pid);
    return t === undefined ? undefined : { agent: t.agent, worker: String(t.worker), pid: String(pid) };
  };

  const queueDepth: Gauge<'agent'> = new Gauge({
    name: `${p}agent_queue_depth`,
    help: 'Requests waiting in the agent queue.',
    labelNames: ['agent'] as const,
    registers,
    collect: () =>
      guard('agents', () => {
        queueDepth.reset();
        for (const a of hooks.agents()) queueDepth.inc({ agent: a.agent }, a.queued);
      }),
  });
  const inFlight: Gauge<'agent'> = new Gauge({
    name: `${p}agent_in_flight`,
    help: 'Requests being processed by the agent.',
    labelNames: ['agent'] as const,
    registers,
    collect: () =>
      guard('agents', () => {
        inFlight.reset();
        for (const a of hooks.agents()) inFlight.inc({ agent: a.agent }, a.inFlight);
      }),
  });
  const modelSlotsWaiting: Gauge<'agent'> = new Gauge({
    name: `${p}model_slots_waiting`,
    help: 'Model requests waiting for a slot of the agent rate limit (rateLimit).',
    labelNames: ['agent'] as const,
    registers,
    collect: () =>
      guard('agents', () => {
        modelSlotsWaiting.reset();
        for (const a of hooks.agents()) if (a.modelSlotsWaiting !== undefined) modelSlotsWaiting.inc({ agent: a.agent }, a.modelSlotsWaiting);
      }),
  });
  const mailboxDepth: Gauge<'actor'> = new Gauge({
    name: `${p}mailbox_depth`,
    help: 'Messages queued in actor mailboxes (summed per label).',
    labelNames: ['actor'] as const,
    registers,
    collect: () =>
      guard('mailboxes', () => {
        mailboxDepth.reset();
        for (const m of hooks.mailboxes()) mailboxDepth.inc({ actor: m.actor }, m.depth);
      }),
  });
  const pythonRss: Gauge<(typeof PY_LABELS)[number]> = new Gauge({
    name: `${p}python_rss_bytes`,
    help: 'Resident memory of each Python worker process (/proc/<pid>/statm).',
    labelNames: PY_LABELS,
    registers,
    collect: () =>
      guard('procstat', async () => {
        const stats = await hooks.sample();
        pythonRss.reset();
        for (const [pid, s] of stats) {
          const labels = pyLabels(pid);
          if (labels !== undefined) pythonRss.set(labels, s.rssBytes);
        }
      }),
  });
  const pythonCpu: Counter<(typeof PY_LABELS)[number]> = new Counter({
    name: `${p}python_cpu_seconds_total`,
    help: 'User + system CPU seconds of each Python worker process (/proc/<pid>/stat).',
    labelNames: PY_LABELS,
    registers,
    collect: () =>
      guard('procstat', async () => {
        const stats = await hooks.sample();
        pythonCpu.reset();
        for (const [pid, s] of stats) {
          const labels = pyLabels(pid);
          if (labels !== undefined) pythonCpu.inc(labels, s.cpuSeconds);
        }
      }),
  });
  const spareCount: Gauge<'agent'> = new Gauge({
    name: `${p}agent_spares_idle`,
    help: 'Warm spare Python processes idle and ready to replace a worker.',
    labelNames: ['agent'] as const,
    registers,
    collect: () =>
      guard('spares', () => {
        spareCount.reset();
        for (const s of hooks.spares()) spareCount.inc({ agent: s.agent }, s.pids.length);
      }),
  });
  const spareRss: Gauge<'agent' | 'pid'> = new Gauge({
    name: `${p}python_spare_rss_bytes`,
    help: 'Resident memory of each idle warm spare Python process (/proc/<pid>/statm).',
    labelNames: ['agent', 'pid'] as const,
    registers,
    collect: () =>
      guard('spares', async () => {
        // At most MAX_SPARES (8) per agent, read only at scrape time: cheap.
        const pids = [...hooks.spares()].flatMap((s) => s.pids.map((pid) => ({ agent: s.agent, pid })));
        const stats = await Promise.all(pids.map(({ pid }) => readProcStat(pid).catch(() => undefined)));
        spareRss.reset();
        stats.forEach((st, i) => {
          if (st !== undefined && st.state !== 'Z') spareRss.set({ agent: pids[i]!.agent, pid: String(pids[i]!.pid) }, st.rssBytes);
        });
      }),
  });
  const nodeRss: Gauge = new Gauge({
    name: `${p}node_rss_bytes`,
    help: 'Resident memory of the Node process.',
    registers,
    collect: () => nodeRss.set(process.memoryUsage().rss),
  });
  const nodeHeap: Gauge = new Gauge({
    name: `${p}node_heap_used_bytes`,
    help: 'V8 heap used by the Node process.',
    registers,
    collect: () => nodeHeap.set(process.memoryUsage().heapUsed),
  });
  const nodeCpu: Counter = new Counter({
    name: `${p}node_cpu_seconds_total`,
    help: 'User + system CPU seconds of the Node process.',
    registers,
    collect: () => {
      const cpu = process.cpuUsage();
      nodeCpu.reset();
      nodeCpu.inc((cpu.user + cpu.system) / 1e6);
    },
  });
  const eventLoopDelay: Gauge<'stat'> = new Gauge({
    name: `${p}node_eventloop_delay_seconds`,
    help: 'Node event-loop delay over the current window, by stat (min, mean, p50, p90, p99, max): how late the monitorEventLoopDelay timer fired, i.e. the recorded interval less its resolution, clamped at 0.',
    labelNames: ['stat'] as const,
    registers,
    collect: () => {
      eventLoopDelay.reset();
      const stats = hooks.eventLoop();
      if (stats !== undefined) for (const [stat, ns] of Object.entries(stats)) eventLoopDelay.set({ stat }, ns / 1e9);
    },
  });

  registry.registerMetric(collectErrors);
  return {
    collectErrors,
    callDuration: new Histogram({
      name: `${p}agent_call_duration_seconds`,
      help: 'Latency of agent calls, by outcome.',
      labelNames: ['agent', 'outcome'] as const,
      buckets: [...buckets],
      registers,
    }),
    calls: new Counter({
      name: `${p}agent_calls_total`,
      help: 'Agent calls by outcome and error code (code "none" when ok).',
      labelNames: ['agent', 'outcome', 'code'] as const,
      registers,
    }),
    modelSlotWait: new Histogram({
      name: `${p}model_slot_wait_seconds`,
      help: 'Time model requests waited for a slot of the agent rate limit (rateLimit), by outcome.',
      labelNames: ['agent', 'outcome'] as const,
      buckets: [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    remoteRuns: new Counter({
      name: `${p}remote_runs_total`,
      help: 'Remote runs of this front, by agent, outcome, error code (code "none" when ok) and host ("none" when no host took the run).',
      labelNames: ['agent', 'outcome', 'code', 'host'] as const,
      registers,
    }),
    remoteRunDuration: new Histogram({
      name: `${p}remote_run_duration_seconds`,
      help: 'Latency of remote runs on this front (dispatch to settlement, re-dispatches included), by agent, outcome and host.',
      labelNames: ['agent', 'outcome', 'host'] as const,
      buckets: [...buckets],
      registers,
    }),
    remoteServed: new Counter({
      name: `${p}remote_served_total`,
      help: 'Runs this host served for remote fronts, by agent, front, outcome and error code (code "none" when ok).',
      labelNames: ['agent', 'front', 'outcome', 'code'] as const,
      registers,
    }),
    leaseWait: new Histogram({
      name: `${p}lease_wait_seconds`,
      help: 'Time turns waited to acquire their conversation lease (e.g. PostgresConversationLease), by outcome (granted, busy, aborted, failed).',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    leaseLost: new Counter({
      name: `${p}lease_lost_total`,
      help: 'Turns that lost their conversation lease (SYN_ERR_LEASE_LOST), by reason: fenced (the commit refused the token) or renewal (a renewal found it gone; the run was stopped).',
      labelNames: ['reason'] as const,
      registers,
    }),
    storeCommitDuration: new Histogram({
      name: `${p}store_commit_duration_seconds`,
      help: 'Latency of history store commits of turns, by store kind (memory, journal, postgres) and outcome (committed, failed).',
      labelNames: ['store', 'outcome'] as const,
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    turns: new Counter({ name: `${p}turns_total`, help: 'Conversation turns by outcome (committed, failed).', labelNames: ['agent', 'outcome'] as const, registers }),
    restarts: new Counter({ name: `${p}restarts_total`, help: 'Child restarts performed by supervisors (the child came up).', labelNames: ['supervisor', 'child'] as const, registers }),
    startupFailures: new Counter({
      name: `${p}startup_failures_total`,
      help: 'Restart attempts whose child failed to start (restart attempts = this + restarts_total).',
      labelNames: ['supervisor', 'child'] as const,
      registers,
    }),
    intensityExceeded: new Counter({
      name: `${p}supervisor_intensity_exceeded_total`,
      help: 'Times a supervisor exceeded its restart intensity and shut down.',
      labelNames: ['supervisor'] as const,
      registers,
    }),
    workerCrashes: new Counter({ name: `${p}worker_crashes_total`, help: 'Python worker process crashes, by error code.', labelNames: ['agent', 'code'] as const, registers }),
    quarantined: new Gauge({ name: `${p}agent_quarantined`, help: '1 while the agent is quarantined, else 0.', labelNames: ['agent'] as const, registers }),
    mailboxDropped: new Counter({ name: `${p}mailbox_dropped_total`, help: 'Messages dropped by full mailboxes.', labelNames: ['actor'] as const, registers }),
    orphansReaped: new Counter({ name: `${p}orphans_reaped_total`, help: 'Orphaned Python processes killed at start-up.', registers }),
    queueDepth,
    inFlight,
    modelSlotsWaiting,
    mailboxDepth,
    pythonRss,
    pythonCpu,
    spareCount,
    spareRss,
    nodeRss,
    nodeHeap,
    nodeCpu,
    eventLoopDelay,
  };
}

/** Every metric of a system, by role. */
export type MetricSet = ReturnType<typeof defineMetrics>;
