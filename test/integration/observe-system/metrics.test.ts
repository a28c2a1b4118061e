// Metrics and health of a real system over real HTTP: call counters by outcome and code,
// restarts, worker crashes, Python RSS per live pid; /healthz; the JSON snapshot agrees.
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { example, fixture, nextEvent, rejection, startSystem, tempDir, useSystem } from '../../helpers/system.ts';
import { parsePrometheusText, sampleValue } from '../../unit/observe/prom-text.ts';

let system: ActorSystem;
let crashedPid: number;

useSystem(async (s) => {
  system = s;
  await Promise.all([
    system.spawnAgent({ id: 'support', agent: example('support.py') }),
    system.spawnAgent({ id: 'faults', agent: fixture('faults.py'), restart: { backoff: { minMs: 10, maxMs: 50 } } }),
  ]);
  // Traffic: 3 ok, 1 failure, 1 timeout (interruption), 1 crash (defect) → restart.
  await Promise.all([1, 2, 3].map((i) => system.sendMessage('support', { prompt: `order ${i}` })));
  expect((await rejection(system.sendMessage('faults', { prompt: 'raise_error x' }))).code).toBe('SYN_ERR_AGENT_FAILED');
  expect((await rejection(system.sendMessage('faults', { prompt: 'slow 5' }, { timeoutMs: 100 }))).code).toBe('SYN_ERR_TIMEOUT');
  crashedPid = system.agentStatus('faults').pids[0]!;
  const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'faults');
  expect((await rejection(system.sendMessage('faults', { prompt: 'crash_in_tool' }))).code).toBe('SYN_ERR_AGENT_CRASHED');
  await ready;
}, { system: { metrics: { port: 0 } } });

async function get(path: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(new URL(path, system.observeUrl));
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('observability of a running system', () => {
  it('serves on 127.0.0.1 at an ephemeral port', () => {
    expect(system.observeUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('/metrics: calls by outcome/code, turns, restarts, crashes, Python RSS per live pid', async () => {
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    const exp = parsePrometheusText(res.body);
    const calls = (labels: Record<string, string>) => sampleValue(exp, 'synapse_agent_calls_total', labels);
    expect(calls({ agent: 'support', outcome: 'ok', code: 'none' })).toBe(3);
    expect(calls({ agent: 'faults', outcome: 'failure', code: 'SYN_ERR_AGENT_FAILED' })).toBe(1);
    expect(calls({ agent: 'faults', outcome: 'interruption', code: 'SYN_ERR_TIMEOUT' })).toBe(1);
    expect(calls({ agent: 'faults', outcome: 'defect', code: 'SYN_ERR_AGENT_CRASHED' })).toBe(1);
    expect(sampleValue(exp, 'synapse_turns_total', { agent: 'support', outcome: 'committed' })).toBe(3);
    expect(sampleValue(exp, 'synapse_turns_total', { agent: 'faults', outcome: 'failed' })).toBe(3);
    expect(sampleValue(exp, 'synapse_restarts_total', { supervisor: 'agent:faults', child: 'worker:0' })).toBe(1);
    expect(sampleValue(exp, 'synapse_worker_crashes_total', { agent: 'faults', code: 'SYN_ERR_AGENT_CRASHED' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_count', { agent: 'support', outcome: 'ok' })).toBe(3);
    // One RSS series per live worker, none for the crashed one.
    const rss = exp.samples.filter((s) => s.name === 'synapse_python_rss_bytes');
    const live = [...system.agentStatus('support').pids, ...system.agentStatus('faults').pids];
    expect(rss.map((s) => Number(s.labels.pid)).sort()).toEqual([...live].sort());
    for (const s of rss) expect(s.value).toBeGreaterThan(10 * 1024 * 1024);
    expect(rss.some((s) => Number(s.labels.pid) === crashedPid)).toBe(false);
    expect(sampleValue(exp, 'synapse_agent_in_flight', { agent: 'support' })).toBe(0);
    expect(sampleValue(exp, 'synapse_agent_quarantined', { agent: 'faults' })).toBe(0);
  });

  it('system.metrics() JSON agrees with the text', async () => {
    const snap = await system.metrics();
    expect(snap.agents.support!.calls.byOutcome).toMatchObject({ ok: 3, failure: 0, defect: 0 });
    expect(snap.agents.faults!.calls.byOutcome).toMatchObject({ ok: 0, failure: 1, defect: 1, interruption: 1 });
    expect(snap.agents.faults!.calls.byCode).toMatchObject({ SYN_ERR_AGENT_FAILED: 1, SYN_ERR_AGENT_CRASHED: 1, SYN_ERR_TIMEOUT: 1 });
    expect(snap.agents.faults!.workerCrashes).toBe(1);
    expect(snap.supervisors['agent:faults']!.restarts['worker:0']).toBe(1);
    expect(snap.python.map((p) => p.pid).sort()).toEqual([...system.agentStatus('support').pids, ...system.agentStatus('faults').pids].sort());
    const json = await get('/metrics.json');
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body).agents.support.calls.total).toBe(3);
  });

  it('/healthz: ok with every agent ready, a stopped agent leaves the report; /inspect shows the tree; unknown path → 404', async () => {
    const ok = await get('/healthz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ status: 'ok', agents: { support: { healthy: true, readyWorkers: 1 }, faults: { healthy: true, readyWorkers: 1 } } });
    const tree = JSON.parse((await get('/inspect')).body);
    expect(JSON.stringify(tree)).toContain(`"pid":${system.agentStatus('support').pids[0]}`);
    await system.stopAgent('faults');
    const after = JSON.parse((await get('/healthz')).body);
    expect(after.agents.faults).toBeUndefined();
    expect(after.status).toBe('ok');
    expect((await get('/nope')).status).toBe(404);
  });
});

describe('a failed Synapse.start releases what it took', () => {
  it('metrics port in use → SYN_ERR_START_FAILED; the history dir lock is released', async () => {
    const port = Number(new URL(system.observeUrl!).port);
    const tmp = tempDir('synapse-startfail-');
    try {
      const error = await rejection(startSystem({ history: { dir: tmp.dir }, metrics: { port } }));
      expect(error.code).toBe('SYN_ERR_START_FAILED');
      const again = await startSystem({ history: { dir: tmp.dir } });
      await again.stopAndCheck(true);
    } finally {
      tmp.remove();
    }
  });
});
