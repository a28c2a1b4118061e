import { afterEach, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { dynamicSupervisor, startDynamicSupervisor, startSupervisor, dynamicSupervisorClient } from '../../../src/supervisor/index.ts';
import { SUP } from '../../../src/supervisor/messages.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

describe('dynamic supervisor', () => {
  it('adds children at run time, restarts them one_for_one, forgets terminated ones', async () => {
    rig = new Rig();
    const dyn = await startDynamicSupervisor(rig.runtime, { name: 'agents', intensity: 10 });
    expect(await dyn.whichChildren()).toEqual([]);
    await dyn.startChild({ id: 'a', start: rig.worker('a'), backoff: false });
    await dyn.startChild({ id: 'b', start: rig.worker('b'), backoff: false });
    const a = await dyn.childRef('a');
    await rig.poke(await dyn.childRef('b'), 'crash');
    expect(await dyn.childRef('a')).toBe(a); // one_for_one
    expect((await dyn.whichChildren()).map((c) => [c.id, c.restarts])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    await dyn.terminateChild('a');
    expect((await dyn.whichChildren()).map((c) => c.id)).toEqual(['b']);
    await dyn.startChild({ id: 'a', start: rig.worker('a') }); // id free again
    expect(rig.ofType('supervisor.child_started').every((e) => e.supervisor === 'agents')).toBe(true);
  });

  it('ids are unique (NAME_TAKEN) and maxChildren bounds the children (OVERLOADED)', async () => {
    rig = new Rig();
    const dyn = await startDynamicSupervisor(rig.runtime, { maxChildren: 2 });
    await dyn.startChild({ id: 'a', start: rig.worker('a') });
    await expect(dyn.startChild({ id: 'a', start: rig.worker('a') })).rejects.toMatchObject({ code: 'SYN_ERR_NAME_TAKEN' });
    await dyn.startChild({ id: 'b', start: rig.worker('b') });
    const err = await dyn.startChild({ id: 'c', start: rig.worker('c') }).catch((e: unknown) => e);
    expect(isSynapseError(err, 'SYN_ERR_OVERLOADED')).toBe(true);
    expect(rig.journal).toEqual(['start:a:0', 'start:b:0']);
  });

  it('a transient child exiting normally and a temporary child exiting are forgotten', async () => {
    rig = new Rig();
    const dyn = await startDynamicSupervisor(rig.runtime);
    await dyn.startChild({ id: 'tr', start: rig.worker('tr'), restart: 'transient' });
    await dyn.startChild({ id: 'te', start: rig.worker('te'), restart: 'temporary' });
    await rig.poke(await dyn.childRef('tr'), 'normal');
    await rig.poke(await dyn.childRef('te'), 'crash');
    expect(await dyn.whichChildren()).toEqual([]);
  });

  it('same backoff and intensity rules: escalates after too many restarts', async () => {
    rig = new Rig();
    const dyn = await startDynamicSupervisor(rig.runtime, { intensity: 1, periodMs: 1000, rand: () => 0 });
    await dyn.startChild({ id: 'a', start: rig.worker('a'), backoff: { minMs: 50, maxMs: 50, resetAfterMs: 1000 } });
    await dyn.startChild({ id: 'b', start: rig.worker('b') });
    await rig.poke(await dyn.childRef('a'), 'crash');
    expect(await dyn.whichChildren()).toMatchObject([{ id: 'a', state: 'backoff', nextRestartAt: rig.clock.now() + 50 }, { id: 'b' }]);
    await rig.clock.advance(50);
    const exited = dyn.ref.exited;
    await rig.poke(await dyn.childRef('a'), 'crash');
    await rig.clock.advance(50);
    expect(await exited).toBe('shutdown');
    expect(rig.journal.slice(-1)).toEqual(['stop:b']);
  });

  it('rejects static-only requests and bad options', async () => {
    rig = new Rig();
    expect(() => dynamicSupervisor({ strategy: 'one_for_all' } as never)).toThrow(/Unknown option "dynamicSupervisor.strategy"/);
    expect(() => dynamicSupervisor({ maxChildren: 0 })).toThrow(/maxChildren/);
    const dyn = await startDynamicSupervisor(rig.runtime);
    const reply = (await dyn.ref.call({ [SUP]: 'deleteChild', id: 'x' }, { timeout: Infinity })) as { ok: boolean; error: unknown };
    expect(reply.ok).toBe(false);
    expect(isSynapseError(reply.error, 'SYN_ERR_INVALID_ARGUMENT')).toBe(true);
  });

  it('works as the child of a static supervisor', async () => {
    rig = new Rig();
    const top = await startSupervisor(rig.runtime, { children: [{ id: 'pool', type: 'supervisor', start: () => dynamicSupervisor() }] });
    const pool = dynamicSupervisorClient((await top.childRef('pool'))!);
    await pool.startChild({ id: 'w1', start: rig.worker('w1') });
    expect(await top.countChildren()).toEqual({ specs: 1, active: 1, supervisors: 1, workers: 0 });
    await top.stop();
    expect(rig.journal).toEqual(['start:w1:0', 'stop:w1']);
  });
});
