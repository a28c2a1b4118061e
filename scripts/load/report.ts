/**
 * Human-readable output of the load tool: the live progress line and the final summary
 * (markdown-ish text, readable in a terminal and pasteable into docs/benchmarks.md).
 */
import type { LoadProgress, LoadSummary } from './run.ts';

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** One progress line, e.g. `[12s/60s] 310 turns/s · acked 3712 · failed 0 · errors 4 · in flight 16 · restarts 2 · chaos 3`. */
export function formatProgress(p: LoadProgress): string {
  const c = p.counters;
  const errors = Object.entries(c.outcomes).reduce((n, [k, v]) => (k === 'ok' ? n : n + v), 0);
  const secs = (ms: number): string => `${Math.floor(ms / 1000)}s`;
  return (
    `[${secs(p.elapsedMs)}/${secs(p.durationMs)}] ${p.recentThroughput.toFixed(0)} turns/s · acked ${c.acked} · failed ${c.failed} · ` +
    `errors ${errors} · in flight ${c.inFlight} · restarts ${p.restarts} · chaos ${p.chaosFired}`
  );
}

/** The end-of-run summary. */
export function formatSummary(s: LoadSummary): string {
  const cfg = s.config;
  const chaos = Object.entries(cfg.chaos).map(([k, r]) => `${k}=${r}/s`).join(',') || 'none';
  const v = s.verification;
  const lines = [
    `## Load run ${s.startedAt}`,
    '',
    `agents ${cfg.agents} × workers ${cfg.workers} · conversations ${cfg.conversations} (${cfg.turnsPerConversation} turns each) · concurrency ${cfg.concurrency} · duration ${cfg.durationMs / 1000}s · timeout ${cfg.timeoutMs / 1000}s · retries ${cfg.retries} · seed ${cfg.seed} · chaos ${chaos}`,
    `machine: Node ${s.machine.node}, ${s.machine.cpu}, ${s.machine.cores} cores`,
    '',
    `turns: started ${s.turns.started}, acked ${s.turns.acked}, failed ${s.turns.failed} (retries ${s.turns.retries}, replayed ${s.turns.replayed}) in ${(s.elapsedMs / 1000).toFixed(1)} s → ${s.throughput} turns/s`,
    `latency (acked attempts, ms): p50 ${s.latencyMs.p50} · p95 ${s.latencyMs.p95} · p99 ${s.latencyMs.p99} · max ${s.latencyMs.max} · mean ${s.latencyMs.mean}`,
    `outcomes (every attempt): ${Object.entries(s.outcomes).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(' · ')}`,
    `restarts ${s.restarts} · crashes ${s.crashes} · agents: ${s.agents.map((a) => `${a.id} ${a.state} (restarts ${a.restarts})`).join(', ')}`,
    `chaos: ${Object.entries(s.chaos.counts).map(([k, n]) => `${k} fired ${n.fired} skipped ${n.skipped}`).join(' · ')}`,
    '',
    `verification against system.history: ${v.conversations} conversations, ${v.ackedTurns} acked turns → lost ${v.lost} · duplicated ${v.duplicated} · out of order ${v.outOfOrder} · foreign ${v.foreign} · dangling tool calls ${v.danglingToolCalls} · cross-talk ${v.crossTalk} · history mismatch ${v.historyMismatch} · failed-but-committed ${v.phantom}`,
    ...v.examples.map((e) => `  ! ${e}`),
    '',
    `resources: node cpu ${s.resources.node.cpuPercent}% (${s.resources.node.cpuSeconds} s) · rss ${mib(s.resources.node.rssBytes)} (max ${mib(s.resources.node.maxRssBytes)})`,
    ...s.resources.python.map(
      (p) =>
        `  python ${p.agent}/${p.worker} pid ${p.pid}${p.alive ? '' : ' (gone)'}: cpu ${p.cpuPercent === null ? 'n/a' : `${p.cpuPercent}%`} (${p.cpuSeconds} s total) · rss ${mib(p.rssBytes)} (max ${mib(p.maxRssBytes)})`,
    ),
    '',
    s.ok ? 'RESULT: ok — every acknowledged turn is committed exactly once' : 'RESULT: FAILED — see verification above',
  ];
  return lines.join('\n');
}
