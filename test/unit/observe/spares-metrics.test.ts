// Idle warm spares in metrics: count per agent and RSS per spare pid, read from the `spares`
// source at scrape time; a dead pid is left out; a throwing source is counted, not fatal.
import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sampleValue } from './prom-text.ts';
import { useOwnedMetrics } from './owned-metrics.ts';

const metrics = useOwnedMetrics();

const DEAD_PID = 2 ** 30; // above any Linux pid_max: never a live process

describe.skipIf(process.platform !== 'linux')('spare metrics', () => {
  it('reports idle spares per agent and the RSS of each live spare (this Node process stands in for one)', async () => {
    const m = metrics();
    let spares = [
      { agent: 'bot', pids: [process.pid, DEAD_PID] },
      { agent: 'idle', pids: [] },
    ];
    m.setSources({ spares: () => spares });
    let exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'synapse_agent_spares_idle', { agent: 'bot' })).toBe(2);
    expect(sampleValue(exp, 'synapse_agent_spares_idle', { agent: 'idle' })).toBe(0);
    expect(sampleValue(exp, 'synapse_python_spare_rss_bytes', { agent: 'bot', pid: String(process.pid) })).toBeGreaterThan(1024 * 1024);
    expect(exp.samples.filter((s) => s.name === 'synapse_python_spare_rss_bytes')).toHaveLength(1); // the dead pid is left out
    const snap = await m.snapshot();
    expect(snap.spares.idle).toEqual({ bot: 2, idle: 0 });
    expect(snap.spares.processes).toEqual([{ agent: 'bot', pid: process.pid, rssBytes: expect.any(Number) }]);

    // A spare taken by a worker disappears from the spare series at the next scrape.
    spares = [{ agent: 'bot', pids: [] }];
    exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'synapse_agent_spares_idle', { agent: 'bot' })).toBe(0);
    expect(exp.samples.filter((s) => s.name === 'synapse_python_spare_rss_bytes')).toHaveLength(0);
  });

  it('counts a throwing spares source instead of failing the scrape', async () => {
    const m = metrics();
    m.setSources({
      spares: () => {
        throw new Error('source bug');
      },
    });
    const exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'synapse_metrics_collect_errors_total', { source: 'spares' })).toBe(2); // count + RSS
  });

  it('without a spares source the snapshot has empty spares', async () => {
    expect((await metrics().snapshot()).spares).toEqual({ idle: {}, processes: [] });
  });
});
