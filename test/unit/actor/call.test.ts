import { describe, expect, it } from 'vitest';
import { DeadlineScheduler, type Deadline } from '../../../src/actor/deadlines.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { deferred, makeRuntime, rejectsWith, track } from './helpers.ts';

describe('call timeout (simulated clock)', () => {
  it('defaults to 5000 ms: rejects with SYN_ERR_TIMEOUT exactly when the deadline passes', async () => {
    const { runtime, clock } = makeRuntime();
    const gate = deferred();
    const ref = runtime.spawn({ handle: () => gate.promise });
    const reply = track(ref.call('x'));
    await clock.advance(4999);
    expect(reply.outcome()).toBeUndefined();
    await clock.advance(1);
    const err = await rejectsWith(reply.promise, 'SYN_ERR_TIMEOUT');
    expect(err.details).toMatchObject({ actor: ref.id, timeoutMs: 5000 });
    gate.resolve();
  });

  it('honours a custom timeout and keeps the actor alive after a timeout', async () => {
    const { runtime, clock } = makeRuntime();
    const gate = deferred();
    const ref = runtime.spawn<string, string>({ handle: async (m) => (m === 'slow' ? gate.promise.then(() => m) : m) });
    const slow = track(ref.call('slow', { timeout: 100 }));
    await clock.advance(100);
    await rejectsWith(slow.promise, 'SYN_ERR_TIMEOUT');
    gate.resolve();
    expect(await ref.call('fast', { timeout: 100 })).toBe('fast');
    expect(ref.isAlive()).toBe(true);
  });

  it('timeout Infinity never times out and arms no timer', async () => {
    const { runtime, clock } = makeRuntime();
    const gate = deferred<string>();
    const ref = runtime.spawn({ handle: () => gate.promise });
    const reply = ref.call('x', { timeout: Infinity });
    expect(clock.pending).toBe(0);
    await clock.advance(1e9);
    gate.resolve('late');
    expect(await reply).toBe('late');
  });

  it('a call that timed out before its turn is not handled', async () => {
    const { runtime, clock } = makeRuntime();
    const gate = deferred();
    const handled: string[] = [];
    const ref = runtime.spawn<string, void>({
      handle: async (m) => {
        handled.push(m);
        if (m === 'block') await gate.promise;
      },
    });
    ref.send('block');
    const queued = track(ref.call('queued', { timeout: 10 }));
    await clock.advance(10);
    await rejectsWith(queued.promise, 'SYN_ERR_TIMEOUT');
    gate.resolve();
    await ref.call('last');
    expect(handled).toEqual(['block', 'last']);
  });

  it('uses one clock timer per distinct timeout value, not one per call', async () => {
    const { runtime, clock } = makeRuntime();
    const gate = deferred();
    const ref = runtime.spawn({ handle: () => gate.promise });
    const calls = [];
    for (let i = 0; i < 50; i++) calls.push(track(ref.call(i, { timeout: 100 })));
    for (let i = 0; i < 50; i++) calls.push(track(ref.call(i, { timeout: 200 })));
    expect(clock.pending).toBe(2);
    await clock.advance(100);
    for (const c of calls.slice(0, 50)) await rejectsWith(c.promise, 'SYN_ERR_TIMEOUT');
    expect(calls.slice(50).every((c) => c.outcome() === undefined)).toBe(true);
    await clock.advance(100);
    for (const c of calls.slice(50)) await rejectsWith(c.promise, 'SYN_ERR_TIMEOUT');
    expect(clock.pending).toBe(0);
    gate.resolve();
  });

  it('staggered deadlines with the same timeout each expire on time', async () => {
    const { runtime, clock } = makeRuntime();
    const ref = runtime.spawn({ handle: () => new Promise(() => {}) });
    const a = track(ref.call('a', { timeout: 100 }));
    await clock.advance(30);
    const b = track(ref.call('b', { timeout: 100 }));
    await clock.advance(70);
    await rejectsWith(a.promise, 'SYN_ERR_TIMEOUT');
    expect(b.outcome()).toBeUndefined();
    await clock.advance(30);
    await rejectsWith(b.promise, 'SYN_ERR_TIMEOUT');
    ref.kill();
  });

  it('rejects bad call options with SYN_ERR_INVALID_OPTION naming the option', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({ handle: () => 1 });
    const bad = [{ timeout: -1 }, { timeout: '5' }, { timeout: Number.NaN }, { signal: {} }, { retries: 3 }];
    for (const options of bad) {
      const err = await rejectsWith(ref.call(1, options as never), 'SYN_ERR_INVALID_OPTION');
      expect(String(err.details.option)).toMatch(/timeout|signal|retries/);
    }
  });
});

describe('call abort', () => {
  it('an already aborted signal rejects with SYN_ERR_ABORTED without queuing', async () => {
    const { runtime } = makeRuntime();
    const handled: unknown[] = [];
    const ref = runtime.spawn({ handle: (m: unknown) => void handled.push(m) });
    const controller = new AbortController();
    const reason = new Error('user gave up');
    controller.abort(reason);
    const err = await rejectsWith(ref.call('x', { signal: controller.signal }), 'SYN_ERR_ABORTED');
    expect(err.cause).toBe(reason);
    await ref.call('y');
    expect(handled).toEqual(['y']);
  });

  it('aborting a pending call rejects it and removes the listener on settle', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const ref = runtime.spawn({ handle: () => gate.promise });
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      add(...args);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    }) as typeof signal.removeEventListener;
    const reply = ref.call('x', { signal });
    expect(added).toBe(1);
    controller.abort();
    await rejectsWith(reply, 'SYN_ERR_ABORTED');
    expect(removed).toBe(1);
    gate.resolve();
  });

  it('a call that settles normally removes its abort listener', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({ handle: () => 'ok' });
    const controller = new AbortController();
    let removed = 0;
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    }) as typeof remove;
    expect(await ref.call('x', { signal: controller.signal })).toBe('ok');
    expect(removed).toBe(1);
    controller.abort(); // no effect any more
  });
});

describe('DeadlineScheduler', () => {
  class Entry implements Deadline {
    deadline = 0;
    settled = false;
    expired = 0;
    expire(): void {
      this.expired++;
      this.settled = true;
    }
  }

  it('expires entries in deadline order and re-arms for the next live one', () => {
    const clock = new SimulatedClock();
    const scheduler = new DeadlineScheduler(clock);
    const a = new Entry();
    const b = new Entry();
    scheduler.add(a, 10);
    clock.tick(5);
    scheduler.add(b, 10);
    expect(clock.pending).toBe(1);
    clock.tick(5);
    expect([a.expired, b.expired]).toEqual([1, 0]);
    expect(clock.pending).toBe(1);
    clock.tick(5);
    expect([a.expired, b.expired]).toEqual([1, 1]);
    expect(clock.pending).toBe(0);
    expect(scheduler.armedTimers).toBe(0);
  });

  it('skips settled entries and disarms when nothing live remains', () => {
    const clock = new SimulatedClock();
    const scheduler = new DeadlineScheduler(clock);
    const entries = Array.from({ length: 10 }, () => new Entry());
    for (const e of entries) scheduler.add(e, 50);
    for (const e of entries) e.settled = true;
    clock.tick(50);
    expect(entries.every((e) => e.expired === 0)).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('stays small under many sequential settled entries (prunes on push, compacts)', () => {
    const clock = new SimulatedClock();
    const scheduler = new DeadlineScheduler(clock);
    const live = new Entry();
    scheduler.add(live, 1000); // an old unsettled head blocks head-pruning
    for (let i = 0; i < 20_000; i++) {
      const e = new Entry();
      scheduler.add(e, 1000);
      e.settled = true;
    }
    clock.tick(1000);
    expect(live.expired).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('reuses a timeout value after its queue emptied; close() still cancels that timer', () => {
    // Guards the scheduler's last-used-queue shortcut: a queue removed when it emptied must
    // not be reused behind the map's back (its timer would escape close()).
    const clock = new SimulatedClock();
    const scheduler = new DeadlineScheduler(clock);
    const a = new Entry();
    scheduler.add(a, 10);
    clock.tick(10);
    expect(a.expired).toBe(1);
    expect(scheduler.armedTimers).toBe(0);
    const b = new Entry();
    scheduler.add(b, 10);
    expect(scheduler.armedTimers).toBe(1);
    expect(clock.pending).toBe(1);
    scheduler.close();
    expect(clock.pending).toBe(0);
    expect(b.expired).toBe(0);
  });

  it('alternating timeout values each expire on time', () => {
    const clock = new SimulatedClock();
    const scheduler = new DeadlineScheduler(clock);
    const entries = Array.from({ length: 6 }, () => new Entry());
    entries.forEach((e, i) => scheduler.add(e, i % 2 === 0 ? 10 : 20));
    expect(scheduler.armedTimers).toBe(2);
    clock.tick(10);
    expect(entries.map((e) => e.expired)).toEqual([1, 0, 1, 0, 1, 0]);
    clock.tick(10);
    expect(entries.map((e) => e.expired)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(clock.pending).toBe(0);
  });

  it('close() cancels every timer', () => {
    const clock = new SimulatedClock();
    const scheduler = new DeadlineScheduler(clock);
    scheduler.add(new Entry(), 10);
    scheduler.add(new Entry(), 20);
    expect(clock.pending).toBe(2);
    scheduler.close();
    scheduler.close();
    expect(clock.pending).toBe(0);
  });
});
