// The synapse/testing kit itself: the chaos driver against real Python workers, and the
// invariant checkers catching what they must catch (each checker is shown to fail).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { synErr } from '../../src/errors.ts';
import {
  CallLedger,
  FaultInvariantError,
  chaos,
  checkHistory,
  checkRestartsWithinPolicy,
  describeSchedule,
  faultSchedule,
  historyViolations,
  restartViolations,
  type Recorded,
} from '../../src/testing/index.ts';
import { FAST, fixtureRef, rejection, useFaultHarness } from './faults/helpers.ts';

const harness = useFaultHarness();
const counter = fixtureRef('counter.py', 'agent');
const faults = fixtureRef('faults.py', 'agent');

describe('chaos driver (real Python)', () => {
  it('kill: SIGKILL → crashed → replaced by a new pid; restarts within policy', async () => {
    const { system, events, spawn } = await harness();
    await spawn('k', counter);
    const c = chaos(system);
    const [before] = c.workers('k');
    const mark = events.mark();
    expect(c.kill('k')).toBe(before!.pid);
    const crashed = await events.waitFor('worker.crashed', (e) => e.agent === 'k', { after: mark });
    expect(crashed).toMatchObject({ pid: before!.pid, signal: 'SIGKILL', code: 'SYN_ERR_AGENT_CRASHED' });
    const ready = await events.waitFor('worker.ready', (e) => e.agent === 'k', { after: mark });
    expect(ready.pid).not.toBe(before!.pid);
    expect((await system.sendMessage('k', { prompt: 'hi' })).output).toBe('turns=1');
    checkRestartsWithinPolicy(events, { k: FAST.restart });
    expect(c.log).toHaveLength(1);
    c.close();
  });

  it('pause shorter than the heartbeat timeout: the worker survives and answers after SIGCONT', async () => {
    const { system, events, spawn } = await harness();
    await spawn('p', counter);
    const c = chaos(system);
    const pid = c.workers('p')[0]!.pid;
    const paused = c.pause('p', 300);
    const reply = system.sendMessage('p', { prompt: 'during pause' });
    expect(await paused).toBe(pid);
    expect((await reply).output).toBe('turns=1');
    expect(system.agentStatus('p').pids).toEqual([pid]);
    expect(events.of('worker.crashed')).toEqual([]);
    c.close();
  });

  it('pause longer than the heartbeat timeout: SYN_ERR_HEARTBEAT_TIMEOUT, replaced', async () => {
    const { system, events, spawn } = await harness();
    await spawn('hb', counter);
    const c = chaos(system);
    const pid = c.workers('hb')[0]!.pid;
    const mark = events.mark();
    void c.pause('hb', 10_000);
    const crashed = await events.waitFor('worker.crashed', (e) => e.agent === 'hb', { after: mark });
    expect(crashed).toMatchObject({ pid, code: 'SYN_ERR_HEARTBEAT_TIMEOUT' });
    await events.waitFor('worker.ready', (e) => e.agent === 'hb', { after: mark });
    c.close(); // SIGCONT to a dead pid is harmless
    expect((await system.sendMessage('hb', { prompt: 'x' })).output).toBe('turns=1');
  });

  it('garbage: in-flight turn fails with SYN_ERR_PROTOCOL, worker replaced, history untouched', async () => {
    const { system, events, spawn } = await harness();
    await spawn('g', faults);
    const first = await system.sendMessage('g', { prompt: 'hello' });
    const c = chaos(system);
    const mark = events.mark();
    const inFlight = system.sendMessage('g', { prompt: 'slow 5' }, { conversationId: first.conversationId });
    await events.waitFor('message.routed', (e) => e.agent === 'g', { after: mark });
    c.garbage('g');
    expect((await rejection(inFlight)).code).toBe('SYN_ERR_PROTOCOL');
    await events.waitFor('worker.ready', (e) => e.agent === 'g', { after: mark });
    await checkHistory(system, [first]);
    expect(await system.history(first.conversationId)).toEqual(first.messages);
  });

  it('actions on an agent with no live worker are skipped, not thrown', async () => {
    const { system } = await harness();
    const c = chaos(system);
    expect(c.kill('nope')).toBeUndefined();
    expect(await c.pause('nope', 10)).toBeUndefined();
    expect(c.garbage('nope')).toBeUndefined();
    expect(c.log.map((a) => a.pid)).toEqual([undefined, undefined, undefined]);
  });
});

describe('invariant checkers catch violations', () => {
  it('CallLedger: pending, uncoded and unexpected codes are violations; coded errors and values are not', async () => {
    const ledger = new CallLedger();
    await ledger.track('ok', Promise.resolve(1));
    await ledger.track('coded', Promise.reject(synErr('SYN_ERR_TIMEOUT', 't')));
    expect(ledger.violations()).toEqual([]);
    await ledger.track('bare', Promise.reject(new Error('boom')));
    void ledger.track('hang', new Promise(() => {}));
    const v = ledger.violations({ allowedCodes: ['SYN_ERR_AGENT_CRASHED'] });
    expect(v.join('\n')).toMatch(/#3 bare: rejected with an uncoded error: Error: boom/);
    expect(v.join('\n')).toMatch(/#4 hang: never settled/);
    expect(v.join('\n')).toMatch(/#2 coded: unexpected code SYN_ERR_TIMEOUT/);
    await expect(ledger.settled(20)).rejects.toBeInstanceOf(FaultInvariantError);
    expect(ledger.outcomes()).toEqual({ ok: 1, SYN_ERR_TIMEOUT: 1, UNCODED: 1, PENDING: 1 });
  });

  it('CallLedger streams: a result then an error is two settlements; items after the result are late', async () => {
    async function* twice() {
      yield { kind: 'result' };
      yield { kind: 'text_delta' };
      throw synErr('SYN_ERR_PROTOCOL', 'late');
    }
    const ledger = new CallLedger();
    await ledger.trackStream('s', twice(), (i) => i.kind === 'result');
    expect(ledger.violations().join('\n')).toMatch(/settled 2 times[\s\S]*1 stream item\(s\) after the final one/);
  });

  it('checkHistory: a lost, duplicated or reordered acked turn and a malformed history are reported', async () => {
    const req = (p: string) => ({ kind: 'request', parts: [{ part_kind: 'user-prompt', content: p }] });
    const res = (p: string) => ({ kind: 'response', parts: [{ part_kind: 'text', content: `re ${p}` }] });
    const store: Record<string, unknown[]> = {
      a: [req('1'), res('1'), req('2'), res('2')],
      dup: [req('1'), res('1'), req('1'), res('1')],
      bad: [res('x')],
    };
    const sys = { history: async (id: string) => store[id] ?? [] };
    const t = (c: string, p: string) => ({ conversationId: c, turnId: `${c}${p}`, messages: [req(p), res(p)], prompt: p });
    expect(await historyViolations(sys, [t('a', '1'), t('a', '2')])).toEqual([]);
    const v = (await historyViolations(sys, [t('a', '2'), t('a', '1'), t('a', '3'), t('dup', '1'), t('bad', 'x')])).join('\n');
    expect(v).toMatch(/a turn a1: at message 0, before the turn acked before it/);
    expect(v).toMatch(/a turn a3: acked but not in history/);
    expect(v).toMatch(/dup turn dup1: in history 2 times/);
    expect(v).toMatch(/bad: history not well-formed at message 0/);
    await expect(checkHistory(sys, [t('a', '3')])).rejects.toBeInstanceOf(FaultInvariantError);
  });

  it('checkRestartsWithinPolicy: delays out of bounds, early restarts and missing escalations are reported', () => {
    const ev = (type: string, t: number, rest: Record<string, unknown>) => ({ type, t, ...rest }) as unknown as Recorded;
    const sched = (t: number, delayMs: number) => ev('supervisor.restart_scheduled', t, { supervisor: 'agent:x', child: 'worker:0', delayMs, attempt: 5, startup: false });
    const restarted = (t: number) => ev('supervisor.restarted', t, { supervisor: 'agent:x', child: 'worker:0', actor: 'a', attempt: 1 });
    const policy = { x: { intensity: 2, periodMs: 1_000, backoff: { minMs: 10, maxMs: 100 } } };
    expect(restartViolations([sched(0, 10), restarted(10), sched(500, 20), restarted(520)], policy, { toleranceMs: 5 })).toEqual([]);
    const v = restartViolations([sched(0, 500), restarted(100), sched(200, 10), sched(300, 10), sched(400, 10)], policy, { toleranceMs: 5 }).join('\n');
    expect(v).toMatch(/restart 5 delay 500 ms outside backoff \[10, 100\]/);
    expect(v).toMatch(/restarted 400 ms before its 500 ms backoff elapsed/);
    expect(v).toMatch(/restart 3 within 1000 ms .* was not followed by an escalation/);
    expect(() => checkRestartsWithinPolicy([sched(0, 500)], policy)).toThrow(FaultInvariantError);
    // Exponential cap: the first restart (attempt 1) may wait at most minMs.
    const first = ev('supervisor.restart_scheduled', 0, { supervisor: 'agent:x', child: 'worker:0', delayMs: 15, attempt: 1, startup: false });
    expect(restartViolations([first], policy).join('\n')).toMatch(/restart 1 delay 15 ms outside backoff \[10, 10\]/);
  });

  it('faultSchedule: valid steps within bounds; describeSchedule names each', () => {
    fc.assert(
      fc.property(faultSchedule({ agents: ['a', 'b'], conversations: 2, maxSteps: 8, workers: 2, pauseMs: { min: 5, max: 9 } }), (steps) => {
        expect(steps.length).toBeGreaterThanOrEqual(1);
        expect(steps.length).toBeLessThanOrEqual(8);
        for (const s of steps) {
          if ('agent' in s) expect(['a', 'b']).toContain(s.agent);
          if (s.kind === 'pause') expect(s.ms).toBeGreaterThanOrEqual(5);
          if (s.kind === 'send') expect(s.prompt.split(' ')[0]).not.toMatch(/^(slow|hang|garbage|alloc)$/);
        }
        expect(describeSchedule(steps).split('\n')).toHaveLength(steps.length);
      }),
      { numRuns: 100 },
    );
  });
});

