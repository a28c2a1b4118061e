import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { emit } from '../../../src/observe/emit.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import { SynapseMetrics, outcomeOf } from '../../../src/observe/metrics.ts';
import { bucketQuantile } from '../../../src/observe/metrics-snapshot.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { parsePrometheusText, sampleValue } from './prom-text.ts';

const owned: SynapseMetrics[] = [];
function metrics(options: ConstructorParameters<typeof SynapseMetrics>[0] = {}): SynapseMetrics {
  const m = new SynapseMetrics(options);
  owned.push(m);
  return m;
}
afterEach(() => {
  for (const m of owned.splice(0)) m.close();
});

function drive(events: SynapseEventEmitter): void {
  emit(events, 'agent.spawned', { agent: 'bot', workers: 1 });
  emit(events, 'call.completed', { agent: 'bot', requestId: 'r1', latencyMs: 40 });
  emit(events, 'call.completed', { agent: 'bot', requestId: 'r2', latencyMs: 400 });
  emit(events, 'call.failed', { agent: 'bot', requestId: 'r3', code: 'SYN_ERR_TIMEOUT', latencyMs: 5000 });
  emit(events, 'call.failed', { agent: 'bot', requestId: 'r4', code: 'SYN_ERR_AGENT_FAILED', latencyMs: 2000 });
  emit(events, 'call.failed', { agent: 'bot', requestId: 'r5', code: 'NOT_A_CODE', latencyMs: 10 });
  emit(events, 'supervisor.restarted', { supervisor: 'agents', child: 'bot', actor: 'a2', attempt: 1 });
  emit(events, 'supervisor.restarted', { supervisor: 'agents', child: 'bot', actor: 'a3', attempt: 2 });
  emit(events, 'supervisor.intensity_exceeded', { supervisor: 'agents', restarts: 3, intensity: 2, periodMs: 5000 });
  // A crash schedules a restart (not a start-up failure); that restart fails to start and is retried (one).
  emit(events, 'supervisor.restart_scheduled', { supervisor: 'agent:bot', child: 'worker:0', delayMs: 50, attempt: 1, startup: false });
  emit(events, 'supervisor.restart_scheduled', { supervisor: 'agent:bot', child: 'worker:0', delayMs: 100, attempt: 2, startup: true });
  emit(events, 'worker.crashed', { agent: 'bot', worker: 0, pid: 999_999, code: 'SYN_ERR_AGENT_CRASHED', exitCode: null, signal: 'SIGKILL', stderrTail: '', inFlight: 1 });
  emit(events, 'agent.quarantined', { agent: 'bot', nextRetryAt: 5, crashes: 3 });
  emit(events, 'mailbox.dropped', { actor: 'x1', name: 'router', policy: 'drop-oldest', capacity: 8 });
  emit(events, 'mailbox.dropped', { actor: 'x2', policy: 'drop-oldest', capacity: 8 });
  emit(events, 'orphan.reaped', { pid: 5, pidFile: '/tmp/p' });
  emit(events, 'turn.committed', { conversationId: 'c', turnId: 't', agent: 'bot', messages: 2 });
  emit(events, 'turn.failed', { conversationId: 'c', turnId: 't2', agent: 'bot', code: 'SYN_ERR_AGENT_FAILED' });
}

describe('SynapseMetrics from events', () => {
  it('updates counters, histogram and gauges; the text parses', async () => {
    const m = metrics();
    const events = new SynapseEventEmitter();
    m.bindEvents(events);
    drive(events);
    const exp = parsePrometheusText(await m.text());
    expect(exp.types.get('synapse_agent_call_duration_seconds')).toBe('histogram');
    expect(exp.types.get('synapse_agent_calls_total')).toBe('counter');
    expect(sampleValue(exp, 'synapse_agent_calls_total', { agent: 'bot', outcome: 'ok', code: 'none' })).toBe(2);
    expect(sampleValue(exp, 'synapse_agent_calls_total', { agent: 'bot', outcome: 'interruption', code: 'SYN_ERR_TIMEOUT' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_calls_total', { agent: 'bot', outcome: 'failure', code: 'SYN_ERR_AGENT_FAILED' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_calls_total', { agent: 'bot', outcome: 'defect', code: 'other' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_count', { agent: 'bot', outcome: 'ok' })).toBe(2);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_sum', { agent: 'bot', outcome: 'ok' })).toBeCloseTo(0.44, 9);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_bucket', { agent: 'bot', outcome: 'ok', le: '0.05' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_bucket', { agent: 'bot', outcome: 'ok', le: '+Inf' })).toBe(2);
    // Failures are timed too: each outcome has its own histogram series.
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_count', { agent: 'bot', outcome: 'failure' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_sum', { agent: 'bot', outcome: 'interruption' })).toBeCloseTo(5, 9);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_count', { agent: 'bot', outcome: 'defect' })).toBe(1);
    expect(sampleValue(exp, 'synapse_restarts_total', { supervisor: 'agents', child: 'bot' })).toBe(2);
    expect(sampleValue(exp, 'synapse_supervisor_intensity_exceeded_total', { supervisor: 'agents' })).toBe(1);
    expect(sampleValue(exp, 'synapse_startup_failures_total', { supervisor: 'agent:bot', child: 'worker:0' })).toBe(1);
    expect(sampleValue(exp, 'synapse_worker_crashes_total', { agent: 'bot', code: 'SYN_ERR_AGENT_CRASHED' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_quarantined', { agent: 'bot' })).toBe(1);
    expect(sampleValue(exp, 'synapse_mailbox_dropped_total', { actor: 'router' })).toBe(1);
    expect(sampleValue(exp, 'synapse_mailbox_dropped_total', { actor: 'unnamed' })).toBe(1);
    expect(sampleValue(exp, 'synapse_orphans_reaped_total')).toBe(1);
    expect(sampleValue(exp, 'synapse_turns_total', { agent: 'bot', outcome: 'committed' })).toBe(1);
    expect(sampleValue(exp, 'synapse_node_rss_bytes')).toBeGreaterThan(0);
    expect(sampleValue(exp, 'synapse_node_cpu_seconds_total')).toBeGreaterThan(0);

    emit(events, 'agent.recovered', { agent: 'bot' });
    expect(sampleValue(parsePrometheusText(await m.text()), 'synapse_agent_quarantined', { agent: 'bot' })).toBe(0);
  });

  it('snapshot has the documented shape and agrees with the text', async () => {
    const m = metrics();
    const events = new SynapseEventEmitter();
    m.bindEvents(events);
    drive(events);
    const s = await m.snapshot();
    expect(s.agents.bot).toEqual({
      calls: {
        total: 5,
        byOutcome: { ok: 2, failure: 1, defect: 1, interruption: 1, misuse: 0 },
        byCode: { SYN_ERR_TIMEOUT: 1, SYN_ERR_AGENT_FAILED: 1, other: 1 },
      },
      latencySeconds: { count: 5, sum: expect.closeTo(7.45, 9), p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
      turns: { committed: 1, failed: 1 },
      workerCrashes: 1,
      quarantined: true,
      queued: 0,
      inFlight: 0,
    });
    expect(s.agents.bot!.latencySeconds.p50).toBeGreaterThan(0.25);
    expect(s.agents.bot!.latencySeconds.p50).toBeLessThanOrEqual(0.5);
    expect(s.supervisors).toEqual({
      agents: { restarts: { bot: 2 }, startupFailures: {}, intensityExceeded: 1 },
      'agent:bot': { restarts: {}, startupFailures: { 'worker:0': 1 }, intensityExceeded: 0 },
    });
    expect(s.mailboxes).toEqual({ router: { depth: 0, dropped: 1 }, unnamed: { depth: 0, dropped: 1 } });
    expect(s.orphansReaped).toBe(1);
    expect(s.python).toEqual([]);
    expect(s.node.rssBytes).toBeGreaterThan(0);
    expect(Object.keys(s.node.eventLoopDelaySeconds).sort()).toEqual(['max', 'mean', 'min', 'p50', 'p90', 'p99']);
    expect(typeof s.takenAt).toBe('number');
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('unbind and close stop updates; close is idempotent', async () => {
    const m = metrics();
    const events = new SynapseEventEmitter();
    const unbind = m.bindEvents(events);
    unbind();
    unbind();
    emit(events, 'orphan.reaped', { pid: 5, pidFile: '/tmp/p' });
    m.bindEvents(events);
    m.close();
    m.close();
    emit(events, 'orphan.reaped', { pid: 6, pidFile: '/tmp/p' });
    expect(sampleValue(parsePrometheusText(await m.text()), 'synapse_orphans_reaped_total')).toBe(0);
    expect(events.listenerCount('orphan.reaped')).toBe(0);
  });

  it('two systems in one process do not clash and never touch the global registry', async () => {
    const { register } = await import('prom-client');
    const before = (await register.getMetricsAsJSON()).length;
    const a = metrics();
    const b = metrics();
    a.recordCall('x', 10);
    expect(sampleValue(parsePrometheusText(await a.text()), 'synapse_agent_calls_total', { agent: 'x' })).toBe(1);
    expect(parsePrometheusText(await b.text()).samples.filter((s) => s.name === 'synapse_agent_calls_total')).toEqual([]);
    expect((await register.getMetricsAsJSON()).length).toBe(before);
  });
});

describe('SynapseMetrics sources and sampling', () => {
  it('reads agent and mailbox gauges from sources at collection time, summing duplicate labels', async () => {
    const m = metrics();
    let queued = 3;
    m.setSources({
      agents: () => [{ agent: 'bot', queued, inFlight: 2 }],
      mailboxes: () => [
        { actor: 'router', depth: 4 },
        { actor: 'router', depth: 1 },
      ],
    });
    let exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'synapse_agent_queue_depth', { agent: 'bot' })).toBe(3);
    expect(sampleValue(exp, 'synapse_agent_in_flight', { agent: 'bot' })).toBe(2);
    expect(sampleValue(exp, 'synapse_mailbox_depth', { actor: 'router' })).toBe(5);
    queued = 0;
    exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'synapse_agent_queue_depth', { agent: 'bot' })).toBe(0);
    expect((await m.snapshot()).agents.bot).toMatchObject({ queued: 0, inFlight: 2 });
  });

  it('counts a throwing source instead of failing the scrape', async () => {
    const m = metrics();
    m.setSources({
      agents: () => {
        throw new Error('source bug');
      },
    });
    const exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'synapse_metrics_collect_errors_total', { source: 'agents' })).toBe(3); // queue depth + in-flight + model slots waiting
    expect((await m.snapshot()).collectErrors.agents).toBe(5); // + the snapshot's own queue depth + in-flight reads
  });

  it.skipIf(process.platform !== 'linux')('samples RSS/CPU of tracked processes (a real Python child) from /proc', async () => {
    const m = metrics();
    const events = new SynapseEventEmitter();
    m.bindEvents(events);
    const child = spawn(join(process.cwd(), '.venv/bin/python'), ['-c', 'import sys,time; print("up", flush=True); time.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout!, 'data');
      const pid = child.pid!;
      emit(events, 'worker.ready', { agent: 'bot', worker: 1, pid, startupMs: 50 });
      const exp = parsePrometheusText(await m.text());
      const labels = { agent: 'bot', worker: '1', pid: String(pid) };
      expect(sampleValue(exp, 'synapse_python_rss_bytes', labels)).toBeGreaterThan(1024 * 1024);
      expect(sampleValue(exp, 'synapse_python_cpu_seconds_total', labels)).toBeGreaterThanOrEqual(0);
      const snap = await m.snapshot();
      expect(snap.python).toEqual([{ agent: 'bot', worker: 1, pid, rssBytes: expect.any(Number), cpuSeconds: expect.any(Number) }]);
      emit(events, 'worker.exited', { agent: 'bot', worker: 1, pid, exitCode: 0, signal: null });
      expect(parsePrometheusText(await m.text()).samples.filter((s) => s.name === 'synapse_python_rss_bytes')).toEqual([]);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('bounds tracked processes, dropping the oldest', () => {
    const m = metrics({ maxTrackedProcesses: 2 });
    m.trackProcess({ agent: 'a', worker: 0, pid: 1 });
    m.trackProcess({ agent: 'a', worker: 1, pid: 2 });
    m.trackProcess({ agent: 'a', worker: 2, pid: 3 });
    expect(m.trackedProcesses().map((p) => p.pid)).toEqual([2, 3]);
  });

  it('reports event-loop delay once real time has passed', async () => {
    const m = metrics({ eventLoopResolutionMs: 1 });
    // Let real time pass by awaiting real work (a Node child's start-up), never a sleep.
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(child, 'exit');
    const d = (await m.snapshot()).node.eventLoopDelaySeconds;
    expect(d.max).not.toBeNull();
    expect(d.min!).toBeLessThanOrEqual(d.p50!);
    expect(d.p50!).toBeLessThanOrEqual(d.p99!);
    expect(d.p99!).toBeLessThanOrEqual(d.max!);
    const exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'synapse_node_eventloop_delay_seconds', { stat: 'p99' })).toBeGreaterThan(0);
  });

  it('resets the event-loop window by the injected clock', async () => {
    const clock = new SimulatedClock();
    const m = metrics({ clock, eventLoopResolutionMs: 1, eventLoopWindowMs: 1000 });
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(child, 'exit');
    await m.snapshot(); // window not over: stats kept
    expect((await m.snapshot()).node.eventLoopDelaySeconds.max).not.toBeNull();
    clock.tick(1000);
    await m.snapshot(); // window over: reset after reading
    const after = (await m.snapshot()).node.eventLoopDelaySeconds;
    // No macrotask ran between the two snapshots, so the monitor has no sample since the reset.
    expect(after.max).toBeNull();
  });
});

describe('options and helpers', () => {
  it.each([
    [{ prefix: '9bad' }, 'metrics.prefix'],
    [{ latencyBuckets: [1, 0.5] }, 'metrics.latencyBuckets'],
    [{ latencyBuckets: [] }, 'metrics.latencyBuckets'],
    [{ labels: { a: 1 } }, 'metrics.labels.a'],
    [{ unknown: true }, 'metrics.unknown'],
  ])('rejects %j naming %s', (options, option) => {
    let caught: unknown;
    try {
      metrics(options as never);
    } catch (err) {
      caught = err;
    }
    expect(isSynapseError(caught, 'SYN_ERR_INVALID_OPTION')).toBe(true);
    expect((caught as { details: { option: string } }).details.option).toBe(option);
  });

  it('prefix and default labels apply', async () => {
    const m = metrics({ prefix: 'x_', labels: { system: 'eu' } });
    m.recordCall('bot', 5);
    const exp = parsePrometheusText(await m.text());
    expect(sampleValue(exp, 'x_agent_calls_total', { agent: 'bot', system: 'eu' })).toBe(1);
  });

  it('nodeDefaultMetrics registers prom-client defaults into our registry with the prefix', async () => {
    const m = metrics({ nodeDefaultMetrics: true });
    const exp = parsePrometheusText(await m.text());
    expect(exp.types.has('synapse_process_resident_memory_bytes')).toBe(true);
    expect(exp.types.has('synapse_nodejs_eventloop_lag_p99_seconds')).toBe(true);
  });

  it('outcomeOf maps codes to their kind', () => {
    expect(outcomeOf('SYN_ERR_TIMEOUT')).toBe('interruption');
    expect(outcomeOf('SYN_ERR_AGENT_FAILED')).toBe('failure');
    expect(outcomeOf('SYN_ERR_AGENT_CRASHED')).toBe('defect');
    expect(outcomeOf('SYN_ERR_INVALID_ARGUMENT')).toBe('misuse');
    expect(outcomeOf('whatever')).toBe('defect');
  });

  it('bucketQuantile interpolates like histogram_quantile', () => {
    const b: [number, number][] = [
      [0.1, 0],
      [0.2, 10],
      [0.4, 20],
      [Infinity, 20],
    ];
    expect(bucketQuantile(0.5, b)).toBeCloseTo(0.2, 9);
    expect(bucketQuantile(0.75, b)).toBeCloseTo(0.3, 9);
    expect(bucketQuantile(0.25, b)).toBeCloseTo(0.15, 9);
    expect(bucketQuantile(0.5, [[Infinity, 0]])).toBeNull();
    expect(bucketQuantile(0.99, [[1, 1], [Infinity, 10]])).toBe(1);
  });
});
