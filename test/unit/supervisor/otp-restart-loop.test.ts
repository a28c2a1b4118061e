// Ports of OTP supervisor_SUITE's restart-loop and failed-group-restart cases
// (hanging_restart_loop, hanging_restart_loop_rest_for_one, *_other_child_fails_restart)
// plus issue #13's terminate-while-restarting rule. Simulated clock throughout.
import { afterEach, describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/supervisor/index.ts';
import type { ChildSpec, Strategy, SupervisorHandle } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

/** Steps simulated time in `stepMs` steps until `done()` or `maxMs` passed; returns the ms it took. */
async function stepUntil(done: () => boolean, stepMs: number, maxMs: number): Promise<number> {
  const from = rig.clock.now();
  while (!done() && rig.clock.now() - from < maxMs) await rig.clock.advance(stepMs);
  return rig.clock.now() - from;
}

/** Resolves to a flag that turns true once `p` settled (either way). */
function track(p: Promise<unknown>): { done: boolean } {
  const flag = { done: false };
  p.then(
    () => (flag.done = true),
    () => (flag.done = true),
  );
  return flag;
}

/** Steps the clock (100 ms at a time, at most 60 s) until `p` settles, then returns it: for calls made while a restart attempt is in progress. */
async function answer<T>(p: Promise<T>): Promise<T> {
  const flag = track(p);
  await stepUntil(() => flag.done, 100, 60_000);
  return p;
}

const noBackoff = (ids: string[]): ChildSpec[] => ids.map((id) => ({ id, start: rig.worker(id), backoff: false }));

describe('a failing restart is retried through the mailbox (OTP try_again_restart)', () => {
  it('backoff false, each failed start takes 2 s: calls, terminateChild and stop get through between attempts (hanging_restart_loop)', async () => {
    rig = new Rig();
    // OTP's case uses {one_for_one, 8, 10}: 2 s per failing attempt never exceeds 8 per 10 s.
    const sup = await startSupervisor(rig.runtime, { intensity: 8, periodMs: 10_000, children: noBackoff(['a']) });
    const a = rig.script('a');
    a.failInit = true;
    a.initMs = 2_000;
    await rig.poke(await sup.childRef('a'), 'crash'); // restart attempt 1 starts (inline, as OTP)

    const which = sup.whichChildren();
    const answered = track(which);
    expect(await stepUntil(() => answered.done, 100, 60_000)).toBeLessThanOrEqual(2_000); // after the current attempt only
    expect(await which).toMatchObject([{ id: 'a', state: 'backoff', startupFailures: 1 }]);
    await expect(answer(sup.startChild({ id: 'a', start: rig.worker('a') }))).rejects.toMatchObject({ code: 'SYN_ERR_NAME_TAKEN' }); // OTP already_present
    await expect(answer(sup.restartChild('a'))).rejects.toMatchObject({ code: 'SYN_ERR_CHILD_RUNNING', details: { state: 'backoff' } }); // OTP {error, restarting}
    await expect(answer(sup.deleteChild('a'))).rejects.toMatchObject({ code: 'SYN_ERR_CHILD_RUNNING' });

    await answer(sup.terminateChild('a'));
    const attempts = rig.journal.filter((l) => l.startsWith('start:a')).length;
    await rig.clock.advance(60_000);
    expect(rig.journal.filter((l) => l.startsWith('start:a')).length).toBe(attempts); // no attempt after terminateChild
    expect(await sup.whichChildren()).toMatchObject([{ id: 'a', state: 'stopped' }]);

    a.failInit = false;
    expect((await answer(sup.restartChild('a')))?.isAlive()).toBe(true);
    a.failInit = true;
    await rig.poke(await sup.childRef('a'), 'crash');
    const stopped = track(sup.stop());
    expect(await stepUntil(() => stopped.done, 100, 60_000)).toBeLessThanOrEqual(2_000);
    expect(sup.ref.isAlive()).toBe(false);
  });

  it('all defaults, an init that hangs until startTimeoutMs: calls and stop are answered within one attempt', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { children: [{ id: 'a', start: rig.worker('a') }] });
    rig.script('a').hangInit = true;
    await rig.poke(await sup.childRef('a'), 'crash');
    await rig.clock.advance(100); // default backoff: first restart after 100 ms; its init hangs
    const which = track(sup.whichChildren());
    expect(await stepUntil(() => which.done, 1_000, 120_000)).toBeLessThanOrEqual(30_000);
    const stopped = track(sup.stop());
    expect(await stepUntil(() => stopped.done, 1_000, 120_000)).toBeLessThanOrEqual(30_000);
  });

  it('a retried restart still counts toward intensity: a start that fails at once escalates', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { intensity: 3, periodMs: 5_000, children: noBackoff(['a', 'b']) });
    rig.script('a').failInit = true;
    const exited = sup.ref.exited;
    await rig.poke(await sup.childRef('a'), 'crash');
    expect(await exited).toBe('shutdown');
    expect(rig.journal.filter((l) => l === 'init-failed:a')).toHaveLength(3); // 4th restart exceeds 3 per 5 s
    expect(rig.ofType('supervisor.restart_scheduled').map((e) => e.startup)).toEqual([false, true, true, true]);
  });
});

describe('terminating the child whose group restart is pending', () => {
  async function inBackoff(strategy: Strategy): Promise<SupervisorHandle> {
    const backoff = { minMs: 100, maxMs: 100, resetAfterMs: 10_000 };
    const sup = await startSupervisor(rig.runtime, {
      strategy,
      intensity: 100,
      children: ['a', 'b', 'c'].map((id) => ({ id, start: rig.worker(id), backoff })),
    });
    await rig.poke(await sup.childRef('b'), 'crash');
    rig.journal.length = 0;
    return sup;
  }

  it('rest_for_one: terminateChild(b) while b and c wait → c stays stopped (OTP leaves it undefined)', async () => {
    rig = new Rig();
    const sup = await inBackoff('rest_for_one');
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'backoff', 'backoff']);
    await sup.terminateChild('b');
    await rig.clock.advance(10_000);
    expect(rig.journal).toEqual([]);
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'stopped', 'stopped']);
    expect(rig.clock.pending).toBe(0);
    // restartChild brings back only the child asked for (OTP restart_child)
    await sup.restartChild('b');
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'running', 'stopped']);
  });

  it('one_for_all: terminateChild(b) while the whole group waits → every member stays stopped', async () => {
    rig = new Rig();
    const sup = await inBackoff('one_for_all');
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['backoff', 'backoff', 'backoff']);
    await sup.terminateChild('b');
    await rig.clock.advance(10_000);
    expect(rig.journal).toEqual([]);
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['stopped', 'stopped', 'stopped']);
  });

  it('terminating a dependent (c) only cancels its own restart; b is restarted', async () => {
    rig = new Rig();
    const sup = await inBackoff('rest_for_one');
    await sup.terminateChild('c');
    await rig.clock.advance(100);
    expect(rig.journal).toEqual(['start:b:1']);
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'running', 'stopped']);
  });

  it('hanging_restart_loop_rest_for_one: c2 fails to restart (2 s each); terminateChild(c2) leaves c3 stopped; stop() ends the loop', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { strategy: 'rest_for_one', intensity: 8, periodMs: 10_000, children: noBackoff(['c1', 'c2', 'c3']) });
    const c1 = await sup.childRef('c1');
    rig.journal.length = 0;
    const s2 = rig.script('c2');
    s2.failInit = true;
    s2.initMs = 2_000;
    await rig.poke(await sup.childRef('c2'), 'crash');
    await rig.clock.advance(2_000); // attempt 1 failed; attempt 2 queued through the mailbox
    expect((await answer(sup.whichChildren())).map((c) => [c.id, c.state])).toEqual([
      ['c1', 'running'],
      ['c2', 'backoff'],
      ['c3', 'backoff'],
    ]);
    expect(await answer(sup.countChildren())).toEqual({ specs: 3, active: 1, supervisors: 0, workers: 3 }); // OTP [3,1,0,3]
    await answer(sup.terminateChild('c2'));
    await rig.clock.advance(30_000);
    expect((await sup.whichChildren()).map((c) => [c.id, c.state])).toEqual([
      ['c1', 'running'],
      ['c2', 'stopped'],
      ['c3', 'stopped'],
    ]);
    expect(rig.journal.some((l) => l.startsWith('start:c3'))).toBe(false);
    expect(await sup.childRef('c1')).toBe(c1);

    s2.failInit = false;
    await answer(sup.restartChild('c2'));
    s2.failInit = true;
    await rig.poke(await sup.childRef('c2'), 'crash');
    const stopped = track(sup.stop());
    expect(await stepUntil(() => stopped.done, 100, 60_000)).toBeLessThanOrEqual(2_000);
  });
});

describe('a different child fails during a group restart', () => {
  it('one_for_all_other_child_fails_restart: the restarted c1 is stopped again, then the whole group restarts', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { strategy: 'one_for_all', intensity: 3, periodMs: 3_600_000, children: noBackoff(['c1', 'c2']) });
    rig.journal.length = 0;
    rig.script('c2').failInit = true;
    rig.script('c2').initMs = 1_000;
    const c1 = (await sup.childRef('c1'))!;
    c1.kill();
    await c1.exited;
    await rig.settle();
    await rig.clock.advance(1_000); // c2's attempt fails: the restarted c1 is stopped again, the retry starts both
    rig.script('c2').failInit = false;
    await rig.clock.advance(1_000);
    expect(rig.journal).toEqual(['stop:c2', 'start:c1:1', 'start:c2:1', 'init-failed:c2', 'stop:c1', 'start:c1:2', 'start:c2:2']);
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'running']);
  });

  it('rest_for_one_other_child_fails_restart: only c2 is retried, the restarted c1 keeps running', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { strategy: 'rest_for_one', intensity: 3, periodMs: 3_600_000, children: noBackoff(['c1', 'c2']) });
    rig.journal.length = 0;
    rig.script('c2').initMs = 1_000;
    rig.script('c2').failInit = true;
    await rig.poke(await sup.childRef('c1'), 'crash');
    await rig.clock.advance(1_000); // c2's first attempt fails
    rig.script('c2').failInit = false;
    await rig.clock.advance(1_000); // the retry (c2 only) succeeds
    expect(rig.journal).toEqual(['stop:c2', 'start:c1:1', 'start:c2:1', 'init-failed:c2', 'start:c2:2']); // no second start of c1
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'running']);
  });
});
