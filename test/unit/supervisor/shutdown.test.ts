import { afterEach, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { startSupervisor, supervisor, supervisorClient } from '../../../src/supervisor/index.ts';
import type { ShutdownSpec } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

describe('shutdown', () => {
  it('stopping the supervisor stops children in reverse start order (nested supervisors included)', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      children: [
        { id: 'a', start: rig.worker('a') },
        { id: 'sub', type: 'supervisor', start: () => supervisor({ children: [{ id: 'x', start: rig.worker('x') }, { id: 'y', start: rig.worker('y') }] }) },
        { id: 'b', start: rig.worker('b') },
      ],
    });
    await sup.stop();
    expect(rig.journal.filter((l) => l.startsWith('stop:'))).toEqual(['stop:b', 'stop:y', 'stop:x', 'stop:a']);
    expect(rig.liveCount()).toBe(0);
  });

  it('children added with startChild are stopped first (appended to the start order)', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { children: [{ id: 'a', start: rig.worker('a') }] });
    await sup.startChild({ id: 'b', start: rig.worker('b') });
    await sup.stop();
    expect(rig.journal).toEqual(['start:a:0', 'start:b:0', 'stop:b', 'stop:a']);
  });

  it('a child that ignores stop is killed after `shutdown` ms on the clock', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      children: [
        { id: 'a', start: rig.worker('a') },
        { id: 'slow', start: rig.worker('slow'), shutdown: 3000 },
      ],
    });
    rig.script('slow').hangTerminate = true;
    const slow = (await sup.childRef('slow'))!;
    let stopped = false;
    const stopping = sup.stop().then(() => (stopped = true));
    await rig.clock.advance(2999);
    expect(slow.isAlive()).toBe(true);
    expect(rig.journal).toEqual(['start:a:0', 'start:slow:0', 'stop:slow']); // a waits behind slow
    await rig.clock.advance(1);
    expect(await slow.exited).toBe('kill');
    await stopping;
    expect(stopped).toBe(true);
    expect(rig.journal.at(-1)).toBe('stop:a');
    expect(rig.ofType('supervisor.child_exited').map((e) => [e.child, e.reason])).toEqual([
      ['slow', 'kill'],
      ['a', 'shutdown'],
    ]);
  });

  it.each<[ShutdownSpec, number | 'never', boolean]>([
    ['brutal_kill', 0, false],
    [500, 500, true],
    ['infinity', 'never', true],
  ])('shutdown %j: killed after %s ms, terminate ran: %s', async (shutdown, killedAfter, terminateRan) => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { children: [{ id: 'a', start: rig.worker('a'), shutdown }] });
    rig.script('a').hangTerminate = true;
    const a = (await sup.childRef('a'))!;
    const terminating = sup.terminateChild('a');
    await rig.settle();
    if (killedAfter === 'never') {
      await rig.clock.advance(1_000_000);
      expect(a.isAlive()).toBe(true); // infinity really waits
      rig.script('a').hangTerminate = false;
      a.kill(); // release it so the test can finish
    } else if (killedAfter > 0) {
      await rig.clock.advance(killedAfter - 1);
      expect(a.isAlive()).toBe(true);
      await rig.clock.advance(1);
    }
    await terminating;
    expect(a.isAlive()).toBe(false);
    expect(rig.journal.includes('stop:a')).toBe(terminateRan);
    expect(await sup.whichChildren()).toMatchObject([{ id: 'a', state: 'stopped' }]);
  });
});

describe('runtime shutdown', () => {
  it('runtime.shutdown (children stopped before their supervisor) leaves no actor and no timer behind', async () => {
    rig = new Rig();
    await startSupervisor(rig.runtime, {
      strategy: 'one_for_all',
      children: [
        { id: 'a', start: rig.worker('a'), backoff: false },
        { id: 'b', start: rig.worker('b'), backoff: false },
        { id: 'sub', type: 'supervisor', backoff: false, start: () => supervisor({ children: [{ id: 'x', start: rig.worker('x'), backoff: false }] }) },
      ],
    });
    await rig.close();
    expect(rig.liveCount()).toBe(0);
    expect(rig.clock.pending).toBe(0);
    // Restarts attempted while the runtime stops fail with SYSTEM_STOPPED and are not retried.
    const scheduled = rig.ofType('supervisor.restart_scheduled');
    expect(scheduled.length).toBeGreaterThan(0);
    expect(scheduled.every((e) => !e.startup)).toBe(true);
  });
});

describe('manual child operations', () => {
  it('terminateChild keeps the spec; restartChild starts it again; deleteChild forgets it', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { children: [{ id: 'a', start: rig.worker('a') }] });
    await sup.terminateChild('a');
    expect(await sup.whichChildren()).toMatchObject([{ id: 'a', state: 'stopped', restarts: 0 }]);
    const ref = await sup.restartChild('a');
    expect(ref?.isAlive()).toBe(true);
    expect(await sup.childRef('a')).toBe(ref);
    await expect(sup.restartChild('a')).rejects.toMatchObject({ code: 'SYN_ERR_CHILD_RUNNING' });
    await expect(sup.deleteChild('a')).rejects.toMatchObject({ code: 'SYN_ERR_CHILD_RUNNING' });
    await sup.terminateChild('a');
    await sup.deleteChild('a');
    expect(await sup.whichChildren()).toEqual([]);
    await expect(sup.terminateChild('a')).rejects.toMatchObject({ code: 'SYN_ERR_NO_CHILD' });
  });

  it('terminateChild of a temporary child forgets it', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { children: [{ id: 't', start: rig.worker('t'), restart: 'temporary' }] });
    await sup.terminateChild('t');
    expect(await sup.whichChildren()).toEqual([]);
  });

  it('startChild: duplicate id → NAME_TAKEN; failing init → START_FAILED and the child is not kept; bad spec → INVALID_OPTION', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, { children: [{ id: 'a', start: rig.worker('a') }] });
    await expect(sup.startChild({ id: 'a', start: rig.worker('a') })).rejects.toMatchObject({ code: 'SYN_ERR_NAME_TAKEN' });
    rig.script('bad').failInit = true;
    const err = await sup.startChild({ id: 'bad', start: rig.worker('bad') }).catch((e: unknown) => e);
    expect(isSynapseError(err, 'SYN_ERR_START_FAILED')).toBe(true);
    expect((await sup.whichChildren()).map((c) => c.id)).toEqual(['a']);
    await expect(sup.startChild({ id: 'c', start: rig.worker('c'), shutdown: 'soon' as never })).rejects.toMatchObject({
      code: 'SYN_ERR_INVALID_OPTION',
      details: { option: 'spec.shutdown' },
    });
    expect(sup.ref.isAlive()).toBe(true);
  });

  it('a supervisor exits with its parent when a non-child link exits abnormally', async () => {
    rig = new Rig();
    const parent = rig.runtime.spawn({ handle: () => undefined });
    const sub = rig.runtime.spawn(supervisor({ children: [{ id: 'x', start: rig.worker('x') }] }), { linkTo: parent, trapExit: true });
    await sub.started;
    parent.kill();
    expect(await sub.exited).toBe('killed');
    expect(rig.journal).toEqual(['start:x:0', 'stop:x']);
    expect(supervisorClient(sub).ref).toBe(sub);
  });
});
