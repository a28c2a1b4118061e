/**
 * The per-agent time series, sampled from a real `SynapseMetrics` on the simulated clock (no
 * sleeps): points per interval, rates, p95 from histogram deltas, errors by code, restarts,
 * queue depth, the bucket in progress, bounded rings, failed readings, and the timer cleared
 * on close.
 */
import { describe, expect, it } from 'vitest';
import { emit } from '../../../src/observe/emit.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import { MetricsSeries, SERIES_DEFAULTS, pointBetween } from '../../../src/observe/series.ts';
import type { AgentReading, SeriesReading } from '../../../src/observe/series.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { useOwnedMetrics } from './owned-metrics.ts';

const metrics = useOwnedMetrics();

describe('MetricsSeries', () => {
  it('turns counter increases into one point per interval (turns/s, p95, errors by code, restarts, queue)', async () => {
    const m = metrics();
    const events = new SynapseEventEmitter();
    m.bindEvents(events);
    let queued = 0;
    m.setSources({ agents: () => [{ agent: 'support', queued, inFlight: 0 }] });
    const clock = new SimulatedClock(1_000);
    const series = new MetricsSeries({ read: () => m.seriesReading(), clock, intervalMs: 5000, points: 3 });
    expect(SERIES_DEFAULTS).toMatchObject({ intervalMs: 5000, points: 180 });

    for (let i = 0; i < 10; i++) m.recordCall('support', 20); // 10 calls in the 1st bucket, 20 ms
    m.recordCall('support', 800, 'SYN_ERR_PROVIDER');
    m.recordCall('support', 800, 'SYN_ERR_PROVIDER');
    m.recordCall('support', 5, 'SYN_ERR_TIMEOUT');
    emit(events, 'supervisor.restarted', { supervisor: 'agent:support', child: 'worker:0', actor: 'a1', attempt: 1 });
    emit(events, 'supervisor.restarted', { supervisor: 'agents', child: 'other', actor: 'a2', attempt: 1 }); // not an agent's own supervisor
    queued = 4;
    await clock.advance(5000);

    let view = await series.view();
    expect(view).toMatchObject({ intervalMs: 5000, points: 3, windowMs: 15_000, partial: false });
    let s = view.agents.support!;
    expect(s.ageMs).toEqual([0]);
    expect(s.turnsPerSec).toEqual([13 / 5]);
    expect(s.errors).toEqual([3]);
    expect(s.errorsByCode).toEqual({ SYN_ERR_PROVIDER: [2], SYN_ERR_TIMEOUT: [1] });
    expect(s.restarts).toEqual([1]);
    expect(s.queueDepth).toEqual([4]);
    expect(s.p95LatencyMs[0]).toBeGreaterThan(500); // 2 of 13 calls took 800 ms: p95 is in their bucket

    // A quiet bucket: rates and counts are increases, not totals; p95 null without calls.
    queued = 0;
    await clock.advance(5000);
    s = (await series.view()).agents.support!;
    expect(s.turnsPerSec).toEqual([13 / 5, 0]);
    expect(s.errors).toEqual([3, 0]);
    expect(s.restarts).toEqual([1, 0]);
    expect(s.p95LatencyMs).toEqual([s.p95LatencyMs[0], null]);
    expect(s.ageMs).toEqual([5000, 0]);

    // The bucket in progress is the last point, from a fresh reading.
    m.recordCall('support', 20);
    await clock.advance(1000);
    view = await series.view();
    s = view.agents.support!;
    expect(view.partial).toBe(true);
    expect(s.turnsPerSec.at(-1)).toBe(1);
    expect(s.ageMs).toEqual([6000, 1000, 0]);

    // Bounded: after many intervals only `points` remain.
    await clock.advance(5000 * 10);
    expect((await series.view()).agents.support!.ageMs).toHaveLength(3 + 1);

    series.close();
    expect(clock.pending).toBe(0);
    series.close(); // idempotent
  });

  it('skips a failed reading (reported), never runs two readings at once, and stops on close', async () => {
    const clock = new SimulatedClock();
    const errors: unknown[] = [];
    let calls = 0;
    let running = 0;
    let overlap = false;
    let fail = false;
    let slow: Promise<void> | undefined;
    const read = async (): Promise<SeriesReading> => {
      running += 1;
      overlap ||= running > 1;
      calls += 1;
      const n = calls;
      try {
        if (slow !== undefined) await slow;
        if (fail) throw new Error('boom');
        return new Map([['a', { calls: n * 10, errors: {}, restarts: 0, queued: 0, latency: [] }]]);
      } finally {
        running -= 1;
      }
    };
    const series = new MetricsSeries({ read, clock, intervalMs: 100, points: 10, onError: (e) => errors.push(e) });
    await clock.advance(0); // the baseline (reading 1)
    let release!: () => void;
    slow = new Promise<void>((r) => (release = r));
    await clock.advance(100); // reading 2 starts and hangs
    await clock.advance(100); // due again: skipped, reading 2 is still running
    expect(calls).toBe(2);
    release();
    slow = undefined;
    await clock.advance(0);
    fail = true;
    await clock.advance(100); // reading 3 fails: reported, no point
    expect(errors).toEqual([new Error('boom')]);
    expect(overlap).toBe(false);
    fail = false;
    const view = await series.view();
    expect(view.agents.a!.turnsPerSec).toHaveLength(2); // reading 2's point + the bucket in progress
    expect(view.agents.a!.turnsPerSec[0]).toBe(10 / 0.2); // 10 more calls, 200 ms after the baseline (when reading 2 finished)
    series.close();
    expect(clock.pending).toBe(0);
    const before = calls;
    await clock.advance(1000);
    expect(calls).toBe(before); // no sampling after close
  });

  it('treats a counter that went down as reset, and evicts the agent idle longest beyond maxAgents', async () => {
    const r = (calls: number, restarts = 0): AgentReading => ({ calls, errors: { X: calls }, restarts, queued: 0, latency: [[Infinity, calls]] });
    expect(pointBetween(r(10, 2), r(3, 1), 1, 0)).toMatchObject({ turnsPerSec: 3, errors: { X: 3 }, restarts: 1 });

    const clock = new SimulatedClock();
    let reading: SeriesReading = new Map([['a', r(0)]]);
    const series = new MetricsSeries({ read: async () => reading, clock, intervalMs: 10, points: 5, maxAgents: 2 });
    await clock.advance(0);
    reading = new Map([
      ['a', r(1)],
      ['b', r(0)],
    ]);
    await clock.advance(10);
    reading = new Map([
      ['a', r(2)],
      ['b', r(0)],
      ['c', r(1)],
    ]);
    await clock.advance(10);
    series.close();
    const view = await series.view();
    expect(Object.keys(view.agents).sort()).toEqual(['a', 'c']); // b was idle longest
    expect(view.partial).toBe(false); // closed: no fresh reading
  });
});
