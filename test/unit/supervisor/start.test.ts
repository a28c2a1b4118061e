import { afterEach, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { startSupervisor, supervisor } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

describe('supervisor start', () => {
  it('starts children in order, each init completing before the next starts', async () => {
    rig = new Rig();
    const sup = await startSupervisor(rig.runtime, {
      children: ['a', 'b', 'c'].map((id) => ({ id, start: rig.worker(id) })),
    });
    expect(rig.journal).toEqual(['start:a:0', 'start:b:0', 'start:c:0']);
    const which = await sup.whichChildren();
    expect(which.map((c) => [c.id, c.state, c.restarts, c.startupFailures])).toEqual([
      ['a', 'running', 0, 0],
      ['b', 'running', 0, 0],
      ['c', 'running', 0, 0],
    ]);
    expect(which.every((c) => c.ref?.isAlive() === true)).toBe(true);
    expect(rig.ofType('supervisor.child_started').map((e) => e.child)).toEqual(['a', 'b', 'c']);
    expect(await sup.countChildren()).toEqual({ specs: 3, active: 3, supervisors: 0, workers: 3 });
  });

  it('a child whose init fails fails the supervisor (START_FAILED) after stopping the started ones in reverse', async () => {
    rig = new Rig();
    rig.script('c').failInit = true;
    const err = await startSupervisor(rig.runtime, {
      name: 'top',
      children: ['a', 'b', 'c', 'd'].map((id) => ({ id, start: rig.worker(id) })),
    }).catch((e: unknown) => e);
    expect(isSynapseError(err, 'SYN_ERR_START_FAILED')).toBe(true);
    expect(rig.journal).toEqual(['start:a:0', 'start:b:0', 'start:c:0', 'init-failed:c', 'stop:b', 'stop:a']);
    await rig.settle();
    expect(rig.runtime.whereis('top')).toBeUndefined();
    expect(rig.liveCount()).toBe(0);
  });

  it('a child whose init exceeds startTimeoutMs is killed and fails the supervisor start', async () => {
    rig = new Rig();
    rig.script('b').hangInit = true;
    const starting = startSupervisor(rig.runtime, {
      children: [
        { id: 'a', start: rig.worker('a') },
        { id: 'b', start: rig.worker('b'), startTimeoutMs: 2000 },
      ],
    }).catch((e: unknown) => e);
    await rig.clock.advance(1999);
    expect(rig.liveCount()).toBe(3); // supervisor, a, b (still starting)
    await rig.clock.advance(1);
    const err = await starting;
    expect(isSynapseError(err, 'SYN_ERR_START_FAILED')).toBe(true);
    expect(rig.journal).toEqual(['start:a:0', 'start:b:0', 'stop:a']);
  });

  it('a supervisor behaviour used as a child: its init failure is the parent child-start failure', async () => {
    rig = new Rig();
    rig.script('x2').failInit = true;
    const err = await startSupervisor(rig.runtime, {
      children: [
        { id: 'w', start: rig.worker('w') },
        {
          id: 'sub',
          type: 'supervisor',
          start: () => supervisor({ children: [{ id: 'x1', start: rig.worker('x1') }, { id: 'x2', start: rig.worker('x2') }] }),
        },
      ],
    }).catch((e: unknown) => e);
    expect(isSynapseError(err, 'SYN_ERR_START_FAILED')).toBe(true);
    expect(rig.journal).toEqual(['start:w:0', 'start:x1:0', 'start:x2:0', 'init-failed:x2', 'stop:x1', 'stop:w']);
  });
});

describe('supervisor options', () => {
  it.each([
    [{ strategy: 'one_for_two' }, 'supervisor.strategy'],
    [{ intensity: -1 }, 'supervisor.intensity'],
    [{ periodMs: 0 }, 'supervisor.periodMs'],
    [{ bogus: 1 }, 'supervisor.bogus'],
    [{ children: 'x' }, 'supervisor.children'],
    [{ children: [{ id: 'a' }] }, 'supervisor.children[0].start'],
    [{ children: [{ id: 'a', start: () => ({ handle() {} }), shutdown: -5 }] }, 'supervisor.children[0].shutdown'],
    [{ children: [{ id: 'a', start: () => ({ handle() {} }), restart: 'sometimes' }] }, 'supervisor.children[0].restart'],
    [{ children: [{ id: 'a', start: () => ({ handle() {} }), backoff: { minMs: 10 } }] }, 'supervisor.children[0].backoff.maxMs'],
    [{ children: [{ id: 'a', start: () => ({ handle() {} }), backoff: { minMs: 10, maxMs: 5, resetAfterMs: 1 } }] }, 'supervisor.children[0].backoff.maxMs'],
    [{ children: [{ id: 'a', start: () => ({ handle() {} }), extra: true }] }, 'supervisor.children[0].extra'],
    [
      {
        children: [
          { id: 'a', start: () => ({ handle() {} }) },
          { id: 'a', start: () => ({ handle() {} }) },
        ],
      },
      'supervisor.children[1].id',
    ],
  ])('rejects %j naming %s', (options, option) => {
    rig = new Rig();
    let caught: unknown;
    try {
      supervisor(options as never);
    } catch (e) {
      caught = e;
    }
    expect(isSynapseError(caught, 'SYN_ERR_INVALID_OPTION')).toBe(true);
    expect((caught as { details: { option: string } }).details.option).toBe(option);
  });
});
