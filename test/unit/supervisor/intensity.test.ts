import { afterEach, describe, expect, it } from 'vitest';
import { startSupervisor, supervisor, supervisorClient } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

describe('restart intensity', () => {
  it('more than `intensity` restarts within periodMs: stops children in reverse order, escalates, exits shutdown', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      intensity: 2,
      periodMs: 1000,
      children: ['a', 'b', 'c'].map((id) => ({ id, start: rig.worker(id), backoff: false as const })),
    });
    rig.journal.length = 0;
    await rig.poke(await sup.childRef('b'), 'crash');
    await rig.clock.advance(10);
    await rig.poke(await sup.childRef('b'), 'crash');
    await rig.clock.advance(10);
    expect(sup.ref.isAlive()).toBe(true);
    const exited = sup.ref.exited;
    await rig.poke(await sup.childRef('b'), 'crash'); // 3rd restart within 1000 ms > 2
    expect(await exited).toBe('shutdown');
    expect(rig.journal).toEqual(['start:b:1', 'start:b:2', 'stop:c', 'stop:a']);
    expect(rig.ofType('supervisor.intensity_exceeded')).toMatchObject([{ restarts: 3, intensity: 2, periodMs: 1000 }]);
    expect(rig.ofType('supervisor.escalated')).toMatchObject([{ reason: 'shutdown' }]);
    expect(rig.liveCount()).toBe(0);
  });

  it('restarts spread wider than periodMs never escalate (sliding window)', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      intensity: 1,
      periodMs: 1000,
      children: [{ id: 'a', start: rig.worker('a'), backoff: false }],
    });
    for (let i = 0; i < 5; i++) {
      await rig.poke(await sup.childRef('a'), 'crash');
      await rig.clock.advance(1001);
    }
    expect(sup.ref.isAlive()).toBe(true);
    expect((await sup.whichChildren())[0]!.restarts).toBe(5);
  });

  it('a restart counts when it happens: time spent in backoff is not charged to the window', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      intensity: 1,
      periodMs: 1000,
      rand: () => 0,
      children: [{ id: 'a', start: rig.worker('a'), backoff: { minMs: 2000, maxMs: 2000, resetAfterMs: 60_000 } }],
    });
    // Two crashes 10 ms apart would exceed 1 per 1000 ms without backoff; with a 2000 ms
    // delay the restarts happen 2010 ms apart, so the supervisor survives.
    await rig.poke(await sup.childRef('a'), 'crash');
    await rig.clock.advance(2000);
    await rig.clock.advance(10);
    await rig.poke(await sup.childRef('a'), 'crash');
    await rig.clock.advance(2000);
    expect(sup.ref.isAlive()).toBe(true);
    expect((await sup.whichChildren())[0]).toMatchObject({ state: 'running', restarts: 2 });
  });

  it('failed restart attempts count toward intensity', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      intensity: 2,
      periodMs: 5000,
      children: [{ id: 'a', start: rig.worker('a'), backoff: false }],
    });
    const exited = sup.ref.exited;
    rig.script('a').failInit = true;
    await rig.poke(await sup.childRef('a'), 'crash'); // restart 1 fails → restart 2 fails → restart 3 exceeds
    expect(await exited).toBe('shutdown');
    expect(rig.ofType('supervisor.restart_scheduled').map((e) => e.startup)).toEqual([false, true, true]);
  });

  it('escalation climbs a 2-level tree: the child supervisor is restarted by its parent, then the parent escalates', async () => {
    rig = new Rig();
    const top = await startSupervisor(rig.runtime, {
      name: 'top',
      intensity: 1,
      periodMs: 10_000,
      children: [
        { id: 'w', start: rig.worker('w'), backoff: false },
        {
          id: 'sub',
          type: 'supervisor',
          backoff: false,
          start: () => supervisor({ name: 'sub', intensity: 0, periodMs: 10_000, children: [{ id: 'x', start: rig.worker('x'), backoff: false }] }),
        },
      ],
    });
    const crashX = async () => {
      const sub = supervisorClient((await top.childRef('sub'))!);
      const subExited = sub.ref.exited;
      await rig.poke(await sub.childRef('x'), 'crash');
      expect(await subExited).toBe('shutdown'); // intensity 0: the first restart already exceeds
      await rig.settle();
    };
    await crashX(); // sub escalates; top restarts sub (1 restart ≤ 1)
    expect(top.ref.isAlive()).toBe(true);
    expect((await top.whichChildren()).map((c) => [c.id, c.state, c.restarts])).toEqual([
      ['w', 'running', 0],
      ['sub', 'running', 1],
    ]);
    const topExited = top.ref.exited;
    await crashX(); // sub escalates again; top's second restart exceeds 1 per 10 s → top escalates
    expect(await topExited).toBe('shutdown');
    expect(rig.ofType('supervisor.escalated').map((e) => e.supervisor)).toEqual(['sub', 'sub', 'top']);
    // x crashes (no terminate) twice; the restarted sub starts a fresh x; top stops w on escalation.
    expect(rig.journal).toEqual(['start:w:0', 'start:x:0', 'start:x:0', 'stop:w']);
    expect(rig.liveCount()).toBe(0);
  });
});
