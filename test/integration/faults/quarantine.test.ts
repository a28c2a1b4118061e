// Crash during init on a restart, rapid crashes → backoff → intensity → quarantine: calls fail
// fast with SYN_ERR_AGENT_UNAVAILABLE + nextRetryAt, no restart storm while quarantined, and
// recovery — by itself once the fault is gone, or at once with system.restartAgent(id).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRestartsWithinPolicy, chaos } from '../../../src/testing/index.ts';
import { fixtureRef, localFixture, median, rejection, useFaultHarness } from './helpers.ts';

const harness = useFaultHarness();
const POLICY = { intensity: 2, periodMs: 20_000, backoff: { minMs: 50, maxMs: 400 }, quarantine: { minMs: 1_500, maxMs: 3_000 } };
let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function flakyAgent(mode: 'raise' | 'exit') {
  dir = mkdtempSync(join(tmpdir(), 'synapse-flaky-'));
  const marker = join(dir, 'marker');
  const h = await harness();
  await h.spawn('q', localFixture('flaky_import.py'), { restart: POLICY, python: { env: { SYNAPSE_FAULT_MARKER: marker } } });
  await h.spawn('bystander', fixtureRef('counter.py', 'agent'));
  const first = await h.system.sendMessage('q', { prompt: 'before' });
  expect(first.output).toBe('turns=1');
  writeFileSync(marker, mode); // from now on every (re)start of q fails during init
  return { ...h, marker, first, fix: () => rmSync(marker, { force: true }) };
}

/** Time of `n` rejected calls to a quarantined agent: each must be SYN_ERR_AGENT_UNAVAILABLE with nextRetryAt. */
async function fastFailures(system: Awaited<ReturnType<typeof flakyAgent>>['system'], n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const error = await rejection(system.sendMessage('q', { prompt: `while quarantined ${i}` }));
    times.push(performance.now() - t0);
    expect(error.code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    expect(error.details.nextRetryAt).toBeTypeOf('number');
    expect(error.details.nextRetryAt as number).toBeGreaterThan(system.clock.now() - 1);
  }
  return times;
}

describe('crash during init on a restart → quarantine', () => {
  it('import raises on restart: backoff, intensity, quarantine (fast SYN_ERR_AGENT_UNAVAILABLE), no restart storm, self-recovery once fixed', async () => {
    const { system, events, fix, first } = await flakyAgent('raise');
    const bystander = system.agentStatus('bystander');
    const t0 = system.clock.now();
    chaos(system).kill('q');

    const quarantined = await events.waitFor('agent.quarantined', (e) => e.agent === 'q', { timeoutMs: 60_000 });
    const failures = events.of('supervisor.restart_scheduled', (e) => e.supervisor === 'agent:q');
    // One crash, then failed restarts (counted as start-up failures) until intensity 2 is exceeded.
    expect(failures.map((e) => e.startup)).toEqual([false, true, true]);
    expect(events.of('supervisor.escalated', (e) => e.supervisor === 'agent:q')).toHaveLength(1);
    expect(system.agentStatus('q')).toMatchObject({ state: 'quarantined', nextRetryAt: quarantined.nextRetryAt });

    const times = await fastFailures(system, 9);
    expect(median(times)).toBeLessThan(50);
    // A turn on an existing conversation is refused the same way and its history is untouched.
    expect((await rejection(system.sendMessage('q', { prompt: 'x' }, { conversationId: first.conversationId }))).code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    expect(await system.history(first.conversationId)).toEqual(first.messages);

    // Still broken at the first retry: quarantined again, with a later nextRetryAt. No spin in between.
    const again = await events.waitFor('agent.quarantined', (e) => e.agent === 'q' && e.nextRetryAt > quarantined.nextRetryAt, { timeoutMs: 60_000 });
    const between = events.of('supervisor.restart_scheduled', (e) => e.supervisor === 'agent:q' && e.t > quarantined.t && e.t < quarantined.nextRetryAt - 50);
    expect(between).toEqual([]);

    fix();
    const mark = events.mark();
    await events.waitFor('agent.recovered', (e) => e.agent === 'q', { after: mark, timeoutMs: 60_000 });
    await events.waitFor('worker.ready', (e) => e.agent === 'q', { after: mark, timeoutMs: 60_000 });
    expect((await system.sendMessage('q', { prompt: 'after' }, { conversationId: first.conversationId })).output).toBe('turns=2');
    expect(system.agentStatus('q').state).toBe('ready');

    // Bounded restart rate: over the whole episode, attempts ≤ (intensity + 1) per quarantine cycle + 1.
    const elapsed = system.clock.now() - t0;
    const attempts = events.of('supervisor.restart_scheduled', (e) => e.supervisor === 'agent:q' || e.child === 'q').length;
    expect(attempts).toBeLessThanOrEqual((Math.floor(elapsed / POLICY.quarantine.minMs) + 1) * (POLICY.intensity + 2));
    expect(again.nextRetryAt).toBeGreaterThan(quarantined.nextRetryAt);
    checkRestartsWithinPolicy(events, { q: POLICY });

    // The bystander agent never noticed.
    expect(system.agentStatus('bystander')).toMatchObject({ state: 'ready', pids: bystander.pids, restarts: 0 });
  });

  it('process exits before ready on restart: quarantined; restartAgent fails while broken, recovers at once when fixed', async () => {
    const { system, events, fix, first } = await flakyAgent('exit');
    chaos(system).kill('q');
    await events.waitFor('agent.quarantined', (e) => e.agent === 'q', { timeoutMs: 60_000 });
    const startFailures = events.of('worker.crashed', (e) => e.agent === 'q');
    expect(startFailures.length).toBeGreaterThanOrEqual(1); // the kill; the failed starts never became workers
    // While quarantined, callers learn why: the interpreter's exit before ready (code 21).
    const quarantinedCall = await rejection(system.sendMessage('q', { prompt: 'while quarantined' }));
    expect(quarantinedCall.details.startupFailure).toMatchObject({ code: 'SYN_ERR_STARTUP_FAILED', exitCode: 21, signal: null });

    const stillBroken = await rejection(system.restartAgent('q'));
    expect(stillBroken.code).toBe('SYN_ERR_STARTUP_FAILED');
    expect(stillBroken.details).toMatchObject({ exitCode: 21 });
    // Nothing retries a failed manual restart: calls fail fast with its cause (no nextRetryAt), not at their deadline.
    const refused = await rejection(system.sendMessage('q', { prompt: 'after a failed restartAgent' }, { timeoutMs: 60_000 }));
    expect(refused.code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    expect(refused.details.nextRetryAt).toBeUndefined();
    expect(refused.details.startupFailure).toMatchObject({ code: 'SYN_ERR_STARTUP_FAILED', exitCode: 21 });
    expect(system.agentStatus('q').startupFailure).toMatchObject({ exitCode: 21 });

    fix();
    const status = await system.restartAgent('q');
    expect(status).toMatchObject({ state: 'ready' });
    expect(status.pids).toHaveLength(1);
    expect((await system.sendMessage('q', { prompt: 'after' }, { conversationId: first.conversationId })).output).toBe('turns=2');
  });
});

describe('rapid crashes after start', () => {
  it('each crash restarts after a growing, jittered backoff; past the intensity the agent is quarantined, then restarts by itself', async () => {
    const { system, events, spawn } = await harness();
    const policy = { intensity: 3, periodMs: 20_000, backoff: { minMs: 100, maxMs: 1_000 }, quarantine: { minMs: 800, maxMs: 800 } };
    await spawn('r', fixtureRef('faults.py', 'agent'), { restart: policy });
    const codes: string[] = [];
    // Crash it as soon as it is back, until it is quarantined.
    while (system.agentStatus('r').state !== 'quarantined') {
      const mark = events.mark();
      const error = await rejection(system.sendMessage('r', { prompt: 'crash_in_tool' }));
      codes.push(error.code);
      if (error.code !== 'SYN_ERR_AGENT_CRASHED') break;
      await Promise.race([
        events.waitFor('worker.ready', (e) => e.agent === 'r', { after: mark }),
        events.waitFor('agent.quarantined', (e) => e.agent === 'r', { after: mark }),
      ]);
    }
    expect(codes).toEqual(Array(policy.intensity + 1).fill('SYN_ERR_AGENT_CRASHED'));
    const scheduled = events.of('supervisor.restart_scheduled', (e) => e.supervisor === 'agent:r');
    expect(scheduled.map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    // Restarts really waited for their delay (start of the next incarnation ≥ scheduled + delay).
    const restarted = events.of('supervisor.restarted', (e) => e.supervisor === 'agent:r');
    expect(restarted).toHaveLength(policy.intensity);
    for (const [i, r] of restarted.entries()) expect(r.t).toBeGreaterThanOrEqual(scheduled[i]!.t + scheduled[i]!.delayMs - 5);
    checkRestartsWithinPolicy(events, { r: policy });
    expect((await rejection(system.sendMessage('r', { prompt: 'hi' }))).code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    // The quarantine ends by itself (the fault is in the prompt, not the agent).
    await events.waitFor('agent.recovered', (e) => e.agent === 'r', { timeoutMs: 30_000 });
    await events.waitFor('worker.ready', (e) => e.agent === 'r' && e.t > scheduled.at(-1)!.t, { timeoutMs: 30_000 });
    expect((await system.sendMessage('r', { prompt: 'hi' })).output).toBe('[faults] ok (re: hi)');
  });
});

describe('a crash loop fails callers fast, with the cause (#13)', () => {
  /** One call with a 3 s deadline (the callers): its error and how long the caller waited. */
  async function probe(system: Awaited<ReturnType<typeof flakyAgent>>['system'], prompt: string) {
    const t0 = performance.now();
    const error = await rejection(system.sendMessage('q', { prompt }, { timeoutMs: 3_000 }));
    return { error, ms: performance.now() - t0 };
  }

  it('after a failed start, queued and new calls fail at once with nextRetryAt and the Python error; restarts / startupFailures / crashes stay truthful across quarantine cycles; recovery after the fix', async () => {
    const { system, events, fix, first } = await flakyAgent('raise');
    const ofQ = (e: { supervisor: string; child: string }) => e.supervisor === 'agent:q' || (e.supervisor === 'synapse.agents' && e.child === 'q');
    const failedStarts = () => events.of('supervisor.restart_scheduled', (e) => ofQ(e) && e.startup);
    const attempts = () => failedStarts().length + events.of('supervisor.restarted', ofQ).length;
    const mark = events.mark();
    const tFault = system.clock.now();
    chaos(system).kill('q');
    const crashed = await events.waitFor('worker.crashed', (e) => e.agent === 'q', { after: mark, timeoutMs: 60_000 });

    // A crash after ready queues calls for the restart. This one is sent before any restart attempt
    // could fail (that takes an interpreter start), with a deadline far beyond one attempt.
    expect(failedStarts()).toEqual([]);
    const tSent = system.clock.now();
    const queued = rejection(system.sendMessage('q', { prompt: 'sent before the first failed start' }, { timeoutMs: 60_000 }));
    const early = await queued;
    const tEarly = system.clock.now();
    const firstFailed = failedStarts()[0]!;
    expect(firstFailed).toMatchObject({ supervisor: 'agent:q', child: 'worker:0' });
    expect(early.code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    // Rejected by the first failed attempt itself, in the step that schedules its retry — not at
    // its deadline, nor at quarantine: fault → first fast rejection is one restart attempt.
    const rejectedAt = events.of('call.failed', (e) => e.agent === 'q' && e.code === 'SYN_ERR_AGENT_UNAVAILABLE', mark)[0]!;
    expect(failedStarts().filter((e) => e.t < rejectedAt.t)).toEqual([]);
    expect(Math.abs(firstFailed.t - rejectedAt.t)).toBeLessThan(50);
    // Its wait in the router (admission → rejection) ends with that attempt, far inside its 60 s deadline.
    expect(rejectedAt.latencyMs).toBeLessThanOrEqual(firstFailed.t - tSent + 50);
    const nextRetryAt = early.details.nextRetryAt as number;
    expect(nextRetryAt).toBeGreaterThanOrEqual(crashed.t + firstFailed.delayMs);
    expect(nextRetryAt).toBeLessThanOrEqual(firstFailed.t + firstFailed.delayMs);
    // The caller learns why: the start-up error itself (also the error's cause), ≤ 50 ms after it happened.
    expect(early.details.startupFailure).toMatchObject({ code: 'SYN_ERR_STARTUP_FAILED', exitCode: 2, signal: null });
    const failure = early.details.startupFailure as Record<string, unknown> & { at: number };
    expect(failure.at).toBeGreaterThanOrEqual(crashed.t);
    expect(rejectedAt.t - failure.at).toBeLessThan(50);
    expect(`${String(failure.traceback)}\n${String(failure.stderrTail)}`).toContain('refusing to import');
    expect(early.message).toContain('refusing to import');
    expect(early.cause).toMatchObject({ code: 'SYN_ERR_STARTUP_FAILED' });

    // During the loop every call is refused at once, carrying the failure; none waits for its deadline.
    const probes: Awaited<ReturnType<typeof probe>>[] = [];
    const probeN = async (n: number, label: string) => {
      for (let i = 0; i < n; i++) probes.push(await probe(system, `${label} ${i}`));
    };
    await probeN(5, 'failing');
    const q1 = await events.waitFor('agent.quarantined', (e) => e.agent === 'q', { after: mark, timeoutMs: 60_000 });
    await probeN(5, 'quarantined');
    // The retry after quarantine fails at start-up too: quarantined again, with that newer failure.
    const q2 = await events.waitFor('agent.quarantined', (e) => e.agent === 'q' && e.t > q1.t, { timeoutMs: 60_000 });
    const status = system.agentStatus('q');
    // Truthful counts: each attempt once, whether it came up or not (here: 2 worker restarts and 1
    // agent restart, all failed at start-up); the only crash after ready is the kill.
    expect(status).toMatchObject({ state: 'quarantined', restarts: attempts(), startupFailures: failedStarts().length, crashes: 1 });
    expect(status.startupFailures).toBeGreaterThanOrEqual(3);
    expect(status.startupFailure!.at).toBeGreaterThan(q1.t);
    const m = await system.metrics();
    const metricFailures = (m.supervisors['agent:q']?.startupFailures['worker:0'] ?? 0) + (m.supervisors['synapse.agents']?.startupFailures.q ?? 0);
    expect(metricFailures).toBe(status.startupFailures);
    await probeN(5, 'quarantined again');
    for (const p of probes) {
      expect(p.error.code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
      expect(p.error.details.startupFailure).toMatchObject({ code: 'SYN_ERR_STARTUP_FAILED', exitCode: 2 });
    }
    expect(probes.slice(-5).every((p) => (p.error.details.startupFailure as { at: number }).at > q1.t)).toBe(true);
    expect(median(probes.map((p) => p.ms))).toBeLessThan(50);
    expect(Math.max(...probes.map((p) => p.ms))).toBeLessThan(3_000); // the deadline never decides
    expect(events.of('call.failed', (e) => e.agent === 'q' && e.code === 'SYN_ERR_TIMEOUT', mark)).toEqual([]);

    // Fixed: the first successful start closes the breaker; the refused callers were not retried.
    const tFix = system.clock.now();
    const fixMark = events.mark();
    fix();
    const recovered = await events.waitFor('agent.recovered', (e) => e.agent === 'q', { after: fixMark, timeoutMs: 60_000 });
    // At most the attempt under way when fixing can still fail; the next one comes up.
    expect(events.of('supervisor.restart_scheduled', (e) => ofQ(e) && e.startup, fixMark).length).toBeLessThanOrEqual(1);
    const after = await system.sendMessage('q', { prompt: 'after' }, { conversationId: first.conversationId });
    expect(after.output).toBe('turns=2'); // only the turn before the fault and this one ran
    const final = system.agentStatus('q');
    expect(final).toMatchObject({ state: 'ready', restarts: attempts(), startupFailures: failedStarts().length, crashes: 1 });
    expect(final.startupFailure).toBeUndefined();
    expect(events.of('message.routed', (e) => e.agent === 'q', mark)).toHaveLength(1);
    console.info(
      `[#13 crash loop] fault→first fast rejection ${Math.round(rejectedAt.t - tFault)} ms (start-up failure at ${Math.round(failure.at - tFault)} ms); ` +
        `caller sent before it waited ${Math.round(tEarly - tSent)} ms; probes median ${median(probes.map((p) => p.ms)).toFixed(1)} ms, max ${Math.max(...probes.map((p) => p.ms)).toFixed(1)} ms; ` +
        `fix→recovered ${Math.round(recovered.t - tFix)} ms; restarts ${final.restarts}, startupFailures ${final.startupFailures}, crashes ${final.crashes}; q2 nextRetryAt-q2 ${Math.round(q2.nextRetryAt - q2.t)} ms`,
    );
  });
});
