import { afterEach, describe, expect, it } from 'vitest';
import type { ChildSpec, RestartType, Strategy } from '../../../src/supervisor/index.ts';
import { startSupervisor } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

/** Children without backoff (pure OTP) unless a test says otherwise. */
function specs(ids: string[], extra: Partial<ChildSpec> = {}): ChildSpec[] {
  return ids.map((id) => ({ id, start: rig.worker(id), backoff: false, ...extra }));
}

async function start(strategy: Strategy, children: ChildSpec[]) {
  const sup = await startSupervisor(rig.runtime, { strategy, intensity: 100, children });
  rig.journal.length = 0;
  return sup;
}

describe('one_for_one', () => {
  it('restarts only the crashed child, with a new incarnation', async () => {
    rig = new Rig();
    const sup = await start('one_for_one', specs(['a', 'b', 'c']));
    const before = await sup.childRef('b');
    await rig.poke(before, 'crash');
    const after = await sup.childRef('b');
    expect(after).toBeDefined();
    expect(after!.id).not.toBe(before!.id);
    expect(after!.isAlive()).toBe(true);
    expect(rig.journal).toEqual(['start:b:1']);
    const which = await sup.whichChildren();
    expect(which.map((c) => c.restarts)).toEqual([0, 1, 0]);
    expect(rig.ofType('supervisor.child_exited')).toMatchObject([{ child: 'b', abnormal: true }]);
    expect(rig.ofType('supervisor.restarted')).toMatchObject([{ child: 'b', actor: after!.id, attempt: 1 }]);
  });

  const cases: [RestartType, 'crash' | 'normal' | 'shutdown' | 'kill', boolean][] = [
    ['permanent', 'normal', true],
    ['permanent', 'shutdown', true],
    ['permanent', 'crash', true],
    ['permanent', 'kill', true],
    ['transient', 'normal', false],
    ['transient', 'shutdown', false],
    ['transient', 'crash', true],
    ['transient', 'kill', true],
    ['temporary', 'crash', false],
    ['temporary', 'normal', false],
  ];
  it.each(cases)('%s child exiting with %s → restarted: %s', async (restart, how, restarted) => {
    rig = new Rig();
    const sup = await start('one_for_one', specs(['a'], { restart }));
    const ref = await sup.childRef('a');
    if (how === 'kill') {
      ref!.kill();
      await rig.settle();
    } else await rig.poke(ref, how);
    const which = await sup.whichChildren();
    if (restarted) {
      expect(which).toMatchObject([{ id: 'a', state: 'running', restarts: 1 }]);
    } else if (restart === 'temporary') {
      expect(which).toEqual([]); // OTP: a temporary child is forgotten when it exits
    } else {
      expect(which).toMatchObject([{ id: 'a', state: 'stopped', restarts: 0 }]); // transient: spec kept
      expect(which[0]!.ref).toBeUndefined();
    }
  });
});

describe('group strategies', () => {
  it('one_for_all: stops the siblings in reverse start order, then restarts all in start order', async () => {
    rig = new Rig();
    const sup = await start('one_for_all', specs(['a', 'b', 'c', 'd']));
    await rig.poke(await sup.childRef('b'), 'crash');
    expect(rig.journal).toEqual(['stop:d', 'stop:c', 'stop:a', 'start:a:1', 'start:b:1', 'start:c:1', 'start:d:1']);
    expect((await sup.whichChildren()).map((c) => [c.id, c.state, c.restarts])).toEqual([
      ['a', 'running', 1],
      ['b', 'running', 1],
      ['c', 'running', 1],
      ['d', 'running', 1],
    ]);
    expect(rig.ofType('supervisor.restart_scheduled')).toHaveLength(1); // one restart event for the group
  });

  it('rest_for_one: stops and restarts only the children started after the crashed one', async () => {
    rig = new Rig();
    const sup = await start('rest_for_one', specs(['a', 'b', 'c', 'd']));
    const a = await sup.childRef('a');
    await rig.poke(await sup.childRef('b'), 'crash');
    expect(rig.journal).toEqual(['stop:d', 'stop:c', 'start:b:1', 'start:c:1', 'start:d:1']);
    expect(await sup.childRef('a')).toBe(a);
  });

  it('temporary siblings are stopped and removed, not restarted, in a group restart', async () => {
    rig = new Rig();
    const children = specs(['a', 'b', 'c']);
    children[2] = { ...children[2]!, restart: 'temporary' };
    children[0] = { ...children[0]!, restart: 'temporary' };
    const sup = await start('one_for_all', children);
    await rig.poke(await sup.childRef('b'), 'crash');
    expect(rig.journal).toEqual(['stop:c', 'stop:a', 'start:b:1']);
    expect((await sup.whichChildren()).map((c) => c.id)).toEqual(['b']);
  });

  it('a transient sibling that had exited normally is started again by a group restart (OTP)', async () => {
    rig = new Rig();
    const children = specs(['a', 'b']);
    children[0] = { ...children[0]!, restart: 'transient' };
    const sup = await start('one_for_all', children);
    await rig.poke(await sup.childRef('a'), 'normal');
    expect((await sup.whichChildren())[0]).toMatchObject({ id: 'a', state: 'stopped' });
    await rig.poke(await sup.childRef('b'), 'crash');
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'running']);
  });

  it('a crashed temporary child triggers no group restart', async () => {
    rig = new Rig();
    const children = specs(['a', 'b']);
    children[1] = { ...children[1]!, restart: 'temporary' };
    const sup = await start('one_for_all', children);
    const a = await sup.childRef('a');
    await rig.poke(await sup.childRef('b'), 'crash');
    expect(rig.journal).toEqual([]);
    expect(await sup.childRef('a')).toBe(a);
    expect((await sup.whichChildren()).map((c) => c.id)).toEqual(['a']);
  });
});
