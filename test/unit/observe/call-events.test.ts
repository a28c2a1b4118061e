// `call.failed` carries `latencyMs` (admission → failure, queue time included) on the router's
// clock, and the metrics put failures into the latency histogram under their outcome.
import { describe, expect, it } from 'vitest';
import { AgentRouter, type RunResult, type WorkerSlot } from '../../../src/agent/router.ts';
import { synErr } from '../../../src/errors.ts';
import { SynapseEventEmitter, type SynapseEvents } from '../../../src/observe/events.ts';
import { SynapseMetrics } from '../../../src/observe/metrics.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { parsePrometheusText, sampleValue } from './prom-text.ts';

function setup() {
  const clock = new SimulatedClock();
  const events = new SynapseEventEmitter();
  const failed: SynapseEvents['call.failed'][] = [];
  const completed: SynapseEvents['call.completed'][] = [];
  events.on('call.failed', (e) => failed.push(e));
  events.on('call.completed', (e) => completed.push(e));
  const router = new AgentRouter({ agent: 'bot', workers: 1, queueCapacity: 4, timeoutMs: 1_000, whenUnavailable: 'queue', clock, events });
  const runs: { settled: boolean; resolve: (r: RunResult) => void; reject: (e: unknown) => void }[] = [];
  const slot: WorkerSlot = {
    index: 0,
    pid: 4242,
    free: () => 1 - runs.filter((r) => !r.settled).length,
    run: () =>
      new Promise((resolve, reject) => {
        const run = { settled: false, resolve: (r: RunResult) => ((run.settled = true), resolve(r)), reject: (e: unknown) => ((run.settled = true), reject(e)) };
        runs.push(run);
      }),
  };
  return { clock, events, router, slot, runs, failed, completed };
}

const usage = { requests: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, toolCalls: 0 };

describe('call.failed latency', () => {
  it('measures a run that failed on the worker from admission, queue time included', async () => {
    const { clock, router, slot, runs, failed } = setup();
    const p = router.request({ prompt: 'x', history: [], conversationId: 'c1', turnId: 't1' });
    p.catch(() => {});
    await clock.advance(40); // queued: no worker yet
    router.attach(slot);
    await clock.advance(210);
    runs[0]!.reject(synErr('SYN_ERR_AGENT_FAILED', 'boom'));
    await expect(p).rejects.toMatchObject({ code: 'SYN_ERR_AGENT_FAILED' });
    expect(failed).toEqual([{ agent: 'bot', requestId: expect.any(String), code: 'SYN_ERR_AGENT_FAILED', latencyMs: 250, conversationId: 'c1', turnId: 't1' }]);
  });

  it('measures a request that timed out while still queued', async () => {
    const { clock, router, failed } = setup();
    const p = router.request({ prompt: 'x', history: [], timeoutMs: 100 });
    p.catch(() => {});
    await clock.advance(100);
    await expect(p).rejects.toMatchObject({ code: 'SYN_ERR_TIMEOUT' });
    expect(failed.map((e) => [e.code, e.latencyMs])).toEqual([['SYN_ERR_TIMEOUT', 100]]);
  });

  it('completed and failed calls land in the histogram under their outcome', async () => {
    const { clock, events, router, slot, runs } = setup();
    const metrics = new SynapseMetrics({ clock });
    try {
      metrics.bindEvents(events);
      router.attach(slot);
      const ok = router.request({ prompt: 'a', history: [] });
      await clock.advance(30);
      runs[0]!.resolve({ output: 'fine', messages: [], usage });
      await ok;
      const bad = router.request({ prompt: 'b', history: [] });
      bad.catch(() => {});
      await clock.advance(1_999); // past the router's 1 s default: once dispatched the worker owns the deadline, so only the worker's error settles it
      runs[1]!.reject(synErr('SYN_ERR_AGENT_CRASHED', 'gone'));
      await expect(bad).rejects.toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED' });
      const exp = parsePrometheusText(await metrics.text());
      expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_count', { agent: 'bot', outcome: 'ok' })).toBe(1);
      expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_sum', { agent: 'bot', outcome: 'ok' })).toBeCloseTo(0.03, 9);
      expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_count', { agent: 'bot', outcome: 'defect' })).toBe(1);
      expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_sum', { agent: 'bot', outcome: 'defect' })).toBeCloseTo(1.999, 9);
      expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_bucket', { agent: 'bot', outcome: 'defect', le: '1' })).toBe(0);
      expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_bucket', { agent: 'bot', outcome: 'defect', le: '2.5' })).toBe(1);
    } finally {
      metrics.close();
    }
  });
});
