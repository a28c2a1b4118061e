// Ports of OTP supervisor_SUITE cases for `ignore`, significant children / auto_shutdown,
// simple_one_for_one shutdown, and the intensity-window validation of issue #13.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { dynamicSupervisor, dynamicSupervisorClient, intensityExceeded, recordRestart, startDynamicSupervisor, startSupervisor, supervisor, supervisorClient } from '../../../src/supervisor/index.ts';
import type { AutoShutdown, ChildSpec, Strategy } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

describe.each(['start', 'init', 'async-init'] as const)('ignore (sup_start_ignore_*) returned by the child\'s %s', (via) => {
  const newRig = (): Rig => Object.assign(new Rig(), { ignoreVia: via });

  it('sup_start_ignore_child: startChild reports ignore (undefined); the spec is kept, stopped; restartChild starts it later', async () => {
    rig = newRig();
    const sup = await startSupervisor(rig.runtime, {});
    rig.script('child1').ignore = true;
    expect(await sup.startChild({ id: 'child1', start: rig.ignorable('child1') })).toBeUndefined();
    const c2 = await sup.startChild({ id: 'child2', start: rig.worker('child2') });
    expect((await sup.whichChildren()).map((c) => [c.id, c.state, c.ref])).toEqual([
      ['child1', 'stopped', undefined],
      ['child2', 'running', c2],
    ]);
    expect(await sup.countChildren()).toEqual({ specs: 2, active: 1, supervisors: 0, workers: 2 }); // OTP [2,1,0,2]
    expect(await sup.restartChild('child1')).toBeUndefined(); // still ignoring
    rig.script('child1').ignore = false;
    expect((await sup.restartChild('child1'))?.isAlive()).toBe(true);
    expect(rig.journal).toEqual(['ignore:child1', 'start:child2:0', 'ignore:child1', 'start:child1:0']);
  });

  it('sup_start_ignore_temporary_child: an ignored temporary child in the initial children is not kept', async () => {
    rig = newRig();
    rig.script('child1').ignore = true;
    const sup = await startSupervisor(rig.runtime, {
      children: [
        { id: 'child1', start: rig.ignorable('child1'), restart: 'temporary' },
        { id: 'child2', start: rig.worker('child2'), restart: 'temporary' },
      ],
    });
    expect((await sup.whichChildren()).map((c) => c.id)).toEqual(['child2']);
    expect(await sup.countChildren()).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 }); // OTP [1,1,0,1]
  });

  it('sup_start_ignore_temporary_child_start_child: an ignored temporary child added with startChild is not kept', async () => {
    rig = newRig();
    const sup = await startSupervisor(rig.runtime, {});
    rig.script('child1').ignore = true;
    expect(await sup.startChild({ id: 'child1', start: rig.ignorable('child1'), restart: 'temporary' })).toBeUndefined();
    await sup.startChild({ id: 'child2', start: rig.worker('child2'), restart: 'temporary' });
    expect((await sup.whichChildren()).map((c) => c.id)).toEqual(['child2']);
  });

  it.each(['temporary', 'permanent'] as const)('sup_start_ignore_%s_child_start_child_simple: a dynamic supervisor does not add an ignored child', async (restart) => {
    rig = newRig();
    const dyn = await startDynamicSupervisor(rig.runtime);
    rig.script('x').ignore = true;
    expect(await dyn.startChild({ id: 'x', start: rig.ignorable('x'), restart })).toBeUndefined();
    await dyn.startChild({ id: 'y', start: rig.worker('y'), restart });
    expect((await dyn.whichChildren()).map((c) => c.id)).toEqual(['y']);
    expect(await dyn.countChildren()).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 });
    await dyn.stop();
    expect(await dyn.ref.exited).toBe('shutdown');
  });

  it.each(['transient', 'permanent'] as const)('simple_one_for_one_restart_ignore (%s): a restart returning ignore removes the child from a dynamic supervisor', async (restart) => {
    rig = newRig();
    const dyn = await startDynamicSupervisor(rig.runtime, { intensity: 10 });
    await dyn.startChild({ id: 'x', start: rig.ignorable('x'), restart, backoff: false });
    const first = (await dyn.childRef('x'))!;
    first.kill();
    await rig.settle();
    const second = (await dyn.childRef('x'))!;
    expect(second.id).not.toBe(first.id);
    rig.script('x').ignore = true;
    second.kill();
    await rig.settle();
    expect(await dyn.whichChildren()).toEqual([]);
  });

  it('a static supervisor keeps a permanent child whose restart returned ignore, stopped and not retried', async () => {
    rig = newRig();
    const sup = await startSupervisor(rig.runtime, { children: [{ id: 'a', start: rig.ignorable('a'), backoff: false }] });
    rig.script('a').ignore = true;
    await rig.poke(await sup.childRef('a'), 'crash');
    await rig.clock.advance(60_000);
    expect(await sup.whichChildren()).toMatchObject([{ id: 'a', state: 'stopped', restarts: 0 }]);
    expect(rig.journal.filter((l) => l === 'ignore:a')).toHaveLength(1);
  });
});

describe('significant children and autoShutdown', () => {
  const child = (id: string, restart: 'transient' | 'temporary', significant: boolean): ChildSpec => ({ id, start: rig.worker(id), restart, significant, backoff: false });

  async function withThree(autoShutdown: AutoShutdown, restart: 'transient' | 'temporary', strategy: Strategy = 'one_for_one') {
    const sup = await startSupervisor(rig.runtime, { strategy, intensity: 5, autoShutdown, children: [] });
    for (const spec of [child('child1', restart, autoShutdown !== 'never'), child('child2', restart, autoShutdown !== 'never'), child('child3', restart, false)]) await sup.startChild(spec);
    return sup;
  }

  it.each(['temporary', 'transient'] as const)('nonsignificant_%s: no exit of a non-significant child shuts the supervisor down, whatever autoShutdown', async (restart) => {
    for (const autoShutdown of ['never', 'any_significant', 'all_significant'] as const) {
      rig = new Rig();
      const sup = await startSupervisor(rig.runtime, { intensity: 10, autoShutdown });
      await sup.startChild(child('c', restart, false));
      await sup.terminateChild('c');
      if (restart === 'transient') await sup.restartChild('c');
      else await sup.startChild(child('c', restart, false));
      for (const how of ['kill', 'crash', 'normal'] as const) {
        const ref = await sup.childRef('c');
        if (how === 'kill') {
          ref!.kill();
          await rig.settle();
        } else await rig.poke(ref, how);
        expect(sup.ref.isAlive()).toBe(true);
        if (restart === 'temporary' && how !== 'normal') await sup.startChild(child('c', restart, false));
      }
      await sup.stop();
      await rig.close();
    }
    rig = new Rig();
  });

  it('significant_temporary: terminateChild does not trigger; kill, crash or normal exit shuts down with any_significant', async () => {
    rig = new Rig();
    const sup1 = await withThree('any_significant', 'temporary');
    await sup1.terminateChild('child1');
    expect(sup1.ref.isAlive()).toBe(true);
    await sup1.startChild(child('child1', 'temporary', true));
    const c1 = (await sup1.childRef('child1'))!;
    c1.kill();
    expect(await sup1.ref.exited).toBe('shutdown');
    expect(rig.liveCount()).toBe(0);

    for (const how of ['crash', 'normal'] as const) {
      const sup = await withThree('any_significant', 'temporary');
      rig.journal.length = 0;
      await rig.poke(await sup.childRef('child1'), how);
      expect(await sup.ref.exited).toBe('shutdown');
      expect(rig.journal.slice(-2)).toEqual(['stop:child3', 'stop:child2']); // the rest stopped in reverse start order
    }
  });

  it.each(['temporary', 'transient'] as const)('significant_%s with all_significant: shuts down when the last significant child exits', async (restart) => {
    rig = new Rig();
    const sup = await withThree('all_significant', restart);
    await rig.poke(await sup.childRef('child1'), 'normal');
    expect(sup.ref.isAlive()).toBe(true);
    await rig.poke(await sup.childRef('child2'), 'normal');
    expect(await sup.ref.exited).toBe('shutdown');
  });

  it('significant_transient with any_significant: a crash or kill restarts it; a normal exit shuts down', async () => {
    rig = new Rig();
    const sup = await withThree('any_significant', 'transient');
    await sup.terminateChild('child1');
    expect(sup.ref.isAlive()).toBe(true);
    await sup.restartChild('child1');
    (await sup.childRef('child1'))!.kill();
    await rig.settle();
    await rig.poke(await sup.childRef('child1'), 'crash');
    expect((await sup.whichChildren())[0]).toMatchObject({ id: 'child1', state: 'running', restarts: 2 });
    await rig.poke(await sup.childRef('child1'), 'normal');
    expect(await sup.ref.exited).toBe('shutdown');
  });

  it('all_significant: a significant child stopped by terminateChild no longer counts as running (OTP pid undefined)', async () => {
    rig = new Rig();
    const sup = await withThree('all_significant', 'transient');
    await sup.terminateChild('child1');
    await rig.poke(await sup.childRef('child2'), 'normal');
    expect(await sup.ref.exited).toBe('shutdown');
  });

  it.each<[Strategy, AutoShutdown]>([
    ['one_for_one', 'any_significant'],
    ['one_for_all', 'any_significant'],
    ['rest_for_one', 'any_significant'],
    ['one_for_one', 'all_significant'],
    ['one_for_all', 'all_significant'],
    ['rest_for_one', 'all_significant'],
  ])('significant_bystander (%s, %s): significant children stopped by a sibling restart do not trigger', async (strategy, autoShutdown) => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      strategy,
      intensity: 5,
      autoShutdown,
      children: [child('child1', 'transient', true), child('child2', 'transient', false), child('child3', 'transient', true)],
    });
    (await sup.childRef('child2'))!.kill();
    await rig.settle();
    expect(sup.ref.isAlive()).toBe(true);
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'running', 'running']);
  });

  it('significant_escalation: auto shutdown climbs through a significant child supervisor, not through a non-significant one', async () => {
    for (const significant of [true, false]) {
      rig = new Rig();
      const top = await startSupervisor(rig.runtime, { autoShutdown: 'any_significant' });
      const subRef = await top.startChild({ id: 'sup1', type: 'supervisor', restart: 'transient', significant, start: () => supervisor({ autoShutdown: 'any_significant' }) });
      const sub = supervisorClient(subRef!);
      await sub.startChild(child('child1', 'transient', true));
      await rig.poke(await sub.childRef('child1'), 'normal');
      expect(await sub.ref.exited).toBe('shutdown');
      await rig.settle();
      expect(top.ref.isAlive()).toBe(!significant);
      await rig.close();
    }
    rig = new Rig();
  });

  it('bad combinations are SYN_ERR_INVALID_OPTION (OTP bad_combination), and significant_simple: none in a dynamic supervisor', async () => {
    rig = new Rig();
    const start = rig.worker('x');
    expect(() => supervisor({ autoShutdown: 'any_significant', children: [{ id: 'x', start, significant: true }] })).toThrow(
      expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'supervisor.children[0].significant' }) }),
    );
    expect(() => supervisor({ children: [{ id: 'x', start, restart: 'transient', significant: true }] })).toThrow(
      expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'supervisor.children[0].significant' }) }),
    );
    expect(() => supervisor({ autoShutdown: 'sometimes' as never })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION' }));
    expect(() => dynamicSupervisor({ autoShutdown: 'any_significant' } as never)).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION' }));
    const never = await startSupervisor(rig.runtime, {});
    await expect(never.startChild({ id: 'x', start, restart: 'transient', significant: true })).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'spec.significant' } });
    await expect(never.startChild({ id: 'x', start, significant: true })).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'spec.significant' } });
    const dyn = dynamicSupervisorClient((await never.startChild({ id: 'pool', type: 'supervisor', start: () => dynamicSupervisor() }))!);
    await expect(dyn.startChild({ id: 'x', start, restart: 'temporary', significant: true })).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'spec.significant' } });
    expect(await never.whichChildren()).toMatchObject([{ id: 'pool', state: 'running' }]);
  });
});

describe('dynamic supervisor shutdown is concurrent (simple_one_for_one_shutdown)', () => {
  it('10 children that each take 1 s to stop: the supervisor stops in ~1 s, not 10 s', async () => {
    rig = new Rig();
    const dyn = await startDynamicSupervisor(rig.runtime);
    for (let i = 0; i < 10; i++) {
      rig.script(`w${i}`).terminateMs = 1_000;
      await dyn.startChild({ id: `w${i}`, start: rig.worker(`w${i}`), shutdown: 5_000 });
    }
    let done = false;
    const stopping = dyn.stop().then(() => (done = true));
    const from = rig.clock.now();
    while (!done && rig.clock.now() - from < 20_000) await rig.clock.advance(100);
    await stopping;
    expect(rig.clock.now() - from).toBeLessThanOrEqual(1_100);
    expect(rig.journal.filter((l) => l.startsWith('stop:'))).toHaveLength(10);
  });

  it('each child keeps its own shutdown bound: a hung child is killed after its `shutdown` ms while the others stop', async () => {
    rig = new Rig();
    const dyn = await startDynamicSupervisor(rig.runtime);
    rig.script('hung').hangTerminate = true;
    await dyn.startChild({ id: 'hung', start: rig.worker('hung'), shutdown: 2_000 });
    await dyn.startChild({ id: 'ok', start: rig.worker('ok') });
    const hung = (await dyn.childRef('hung'))!;
    let done = false;
    const stopping = dyn.stop().then(() => (done = true));
    await rig.clock.advance(1_999);
    expect(done).toBe(false);
    await rig.clock.advance(1);
    await stopping;
    expect(await hung.exited).toBe('kill');
  });
});

describe('intensity window', () => {
  it.each([Infinity, -Infinity, Number.NaN, 0])('periodMs %s is rejected with SYN_ERR_INVALID_OPTION (both supervisor kinds)', (periodMs) => {
    rig = new Rig();
    expect(() => supervisor({ periodMs })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'supervisor.periodMs' }) }));
    expect(() => dynamicSupervisor({ periodMs })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'dynamicSupervisor.periodMs' }) }));
  });

  it('recordRestart keeps at most intensity + 1 stamps and decides exactly like the unbounded window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 200 }),
        (intensity, periodMs, gaps) => {
          const limit = { intensity, periodMs };
          let bounded: number[] = [];
          const all: number[] = [];
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            all.push(now);
            bounded = recordRestart(bounded, now, limit);
            expect(bounded.length).toBeLessThanOrEqual(intensity + 1);
            expect(intensityExceeded(bounded, now, limit)).toBe(intensityExceeded(all, now, limit));
          }
        },
      ),
    );
  });
});
