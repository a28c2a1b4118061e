import { afterEach, describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/supervisor/index.ts';
import type { ChildSpec, Strategy } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

const backoff = { minMs: 100, maxMs: 1_000, resetAfterMs: 10_000 };

async function start(children: ChildSpec[], opts: { strategy?: Strategy; intensity?: number; periodMs?: number; rand?: () => number } = {}) {
  const sup = await startSupervisor(rig.runtime, { intensity: 100, rand: () => 0.5, ...opts, children });
  rig.journal.length = 0;
  return sup;
}

describe('backoff', () => {
  it('delays restarts by nextDelay with the injected rand; no ref and nextRestartAt while waiting', async () => {
    rig = new Rig();
    const sup = await start([{ id: 'a', start: rig.worker('a'), backoff }]);
    const expected = [100, 150, 250, 450, 550, 550]; // 100 + 0.5·(min(1000, 100·2^n) − 100)
    for (const [n, delay] of expected.entries()) {
      await rig.poke(await sup.childRef('a'), 'crash');
      const crashedAt = rig.clock.now();
      expect(await sup.whichChildren()).toMatchObject([{ id: 'a', state: 'backoff', nextRestartAt: crashedAt + delay, restarts: n }]);
      expect((await sup.whichChildren())[0]!.ref).toBeUndefined();
      await rig.clock.advance(delay - 1);
      expect(await sup.childRef('a')).toBeUndefined();
      await rig.clock.advance(1);
      expect((await sup.childRef('a'))?.isAlive()).toBe(true);
    }
    expect(rig.ofType('supervisor.restart_scheduled').map((e) => [e.delayMs, e.attempt, e.startup])).toEqual(
      expected.map((d, n) => [d, n + 1, false]),
    );
    expect(rig.journal.filter((l) => l.startsWith('start:'))).toEqual(['start:a:1', 'start:a:2', 'start:a:3', 'start:a:4', 'start:a:5', 'start:a:6']);
  });

  it('resets the attempt counter once the child stayed up resetAfterMs', async () => {
    rig = new Rig();
    const sup = await start([{ id: 'a', start: rig.worker('a'), backoff }]);
    for (let i = 0; i < 3; i++) {
      await rig.poke(await sup.childRef('a'), 'crash');
      await rig.clock.runAll();
    }
    await rig.clock.advance(9_999); // up for 9 999 ms: not enough
    await rig.poke(await sup.childRef('a'), 'crash');
    expect(rig.ofType('supervisor.restart_scheduled').at(-1)).toMatchObject({ delayMs: 450, attempt: 4 });
    await rig.clock.runAll();
    await rig.clock.advance(10_000); // up for 10 000 ms: reset
    await rig.poke(await sup.childRef('a'), 'crash');
    expect(rig.ofType('supervisor.restart_scheduled').at(-1)).toMatchObject({ delayMs: 100, attempt: 1 });
  });

  it('start-up failures of a restart are counted apart and retried with growing backoff', async () => {
    rig = new Rig();
    const sup = await start([{ id: 'a', start: rig.worker('a'), backoff }]);
    rig.script('a').failInit = true;
    await rig.poke(await sup.childRef('a'), 'crash');
    await rig.clock.advance(100); // first restart: init fails
    await rig.clock.advance(150); // second: fails
    expect(await sup.whichChildren()).toMatchObject([{ state: 'backoff', restarts: 0, startupFailures: 2 }]);
    rig.script('a').failInit = false;
    await rig.clock.advance(250); // third: succeeds
    expect(await sup.whichChildren()).toMatchObject([{ state: 'running', restarts: 1, startupFailures: 2 }]);
    expect(rig.ofType('supervisor.restart_scheduled').map((e) => [e.delayMs, e.startup])).toEqual([
      [100, false],
      [150, true],
      [250, true],
    ]);
    expect(rig.journal).toEqual(['start:a:1', 'init-failed:a', 'start:a:2', 'init-failed:a', 'start:a:3']);
  });

  it('a restart whose init exceeds startTimeoutMs is killed and counted as a start-up failure', async () => {
    rig = new Rig();
    const sup = await start([{ id: 'a', start: rig.worker('a'), backoff: false, startTimeoutMs: 500 }]);
    rig.script('a').hangInit = true;
    await rig.poke(await sup.childRef('a'), 'crash'); // immediate restart, init hangs
    expect(rig.liveCount()).toBe(2);
    rig.script('a').hangInit = false;
    await rig.clock.advance(500); // timeout → killed → retried at once, succeeds
    expect(await sup.whichChildren()).toMatchObject([{ state: 'running', restarts: 1, startupFailures: 1 }]);
    expect(rig.liveCount()).toBe(2);
  });

  it('a group restart waits for the backoff of the crashed child, the whole group in backoff', async () => {
    rig = new Rig();
    const sup = await start(
      ['a', 'b', 'c'].map((id) => ({ id, start: rig.worker(id), backoff })),
      { strategy: 'rest_for_one' },
    );
    await rig.poke(await sup.childRef('b'), 'crash');
    expect(rig.journal).toEqual(['stop:c']);
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'backoff', 'backoff']);
    await rig.clock.advance(100);
    expect(rig.journal).toEqual(['stop:c', 'start:b:1', 'start:c:1']);
    expect((await sup.whichChildren()).map((c) => c.state)).toEqual(['running', 'running', 'running']);
  });

  it('terminateChild during backoff cancels the pending restart', async () => {
    rig = new Rig();
    const sup = await start([{ id: 'a', start: rig.worker('a'), backoff }]);
    await rig.poke(await sup.childRef('a'), 'crash');
    await sup.terminateChild('a');
    expect(await sup.whichChildren()).toMatchObject([{ state: 'stopped' }]);
    expect(rig.clock.pending).toBe(0);
    await rig.clock.advance(5_000);
    expect(await sup.childRef('a')).toBeUndefined();
  });
});
