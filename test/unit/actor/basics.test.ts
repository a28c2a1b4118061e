import { describe, expect, it } from 'vitest';
import { IGNORE, type ActorContext, type Behaviour } from '../../../src/actor/types.ts';
import { deferred, flush, makeRuntime, rejectsWith, throwsWith } from './helpers.ts';

describe('actor basics: one message at a time, FIFO', () => {
  it('handles sent messages in order and replies to call with the handler result', async () => {
    const { runtime } = makeRuntime();
    const seen: number[] = [];
    const ref = runtime.spawn<number, number[]>({
      handle: (m) => {
        seen.push(m);
        return [...seen];
      },
    });
    for (let i = 0; i < 100; i++) ref.send(i);
    const reply = await ref.call(100);
    expect(reply).toEqual(Array.from({ length: 101 }, (_, i) => i));
  });

  it('does not handle synchronously inside send', () => {
    const { runtime } = makeRuntime();
    const seen: string[] = [];
    const ref = runtime.spawn<string, void>({ handle: (m) => void seen.push(m) });
    ref.send('a');
    expect(seen).toEqual([]);
  });

  it('awaits an async handler before the next message (no overlap)', async () => {
    const { runtime } = makeRuntime();
    const gates = [deferred(), deferred(), deferred()];
    const log: string[] = [];
    let active = 0;
    const ref = runtime.spawn<number, number>({
      async handle(i) {
        active++;
        expect(active).toBe(1);
        log.push(`start ${i}`);
        await gates[i]!.promise;
        log.push(`end ${i}`);
        active--;
        return i;
      },
    });
    const replies = [ref.call(0), ref.call(1), ref.call(2)];
    await flush();
    expect(log).toEqual(['start 0']);
    gates[2]!.resolve();
    gates[1]!.resolve();
    await flush();
    expect(log).toEqual(['start 0']);
    gates[0]!.resolve();
    expect(await Promise.all(replies)).toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('preserves per-sender order across interleaved sync and async handlers', async () => {
    const { runtime } = makeRuntime();
    const seen: number[] = [];
    const ref = runtime.spawn<number, void>({
      handle: (m) => {
        seen.push(m);
        return m % 3 === 0 ? Promise.resolve() : undefined;
      },
    });
    for (let i = 0; i < 50; i++) ref.send(i);
    await ref.call(-1);
    expect(seen).toEqual([...Array.from({ length: 50 }, (_, i) => i), -1]);
  });

  it('yields a macrotask after a long burst but keeps order', async () => {
    const { runtime } = makeRuntime();
    let count = 0;
    const ref = runtime.spawn<number, number>({ handle: (m) => (count = m === count ? count + 1 : -1e9) });
    for (let i = 0; i < 5000; i++) ref.send(i);
    expect(await ref.call(5000)).toBe(5001);
  });

  it('queues a message the actor sends itself behind everything already queued', async () => {
    const { runtime } = makeRuntime();
    const seen: string[] = [];
    const ref = runtime.spawn<string, void>({
      handle(m, ctx) {
        seen.push(m);
        if (m === 'a') {
          ctx.self.send('c');
        }
      },
    });
    ref.send('a');
    ref.send('b');
    await ref.call('d');
    await ref.call('e');
    expect(seen).toEqual(['a', 'b', 'd', 'c', 'e']);
  });

  it('gives the handler a context bound to the actor', async () => {
    const { runtime, clock } = makeRuntime();
    let seen: ActorContext | undefined;
    const ref = runtime.spawn({ handle: (_m: unknown, ctx) => void (seen = ctx) }, { name: 'ctx-test' });
    await ref.call('x');
    expect(seen!.self).toBe(ref);
    expect(seen!.system).toBe(runtime);
    expect(seen!.clock).toBe(clock);
    expect(typeof seen!.log.info).toBe('function');
  });
});

describe('init and started', () => {
  it('runs init before the first message; started resolves after init', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const log: string[] = [];
    const ref = runtime.spawn<string, void>({
      async init() {
        log.push('init start');
        await gate.promise;
        log.push('init end');
      },
      handle: (m) => void log.push(m),
    });
    ref.send('m1');
    let started = false;
    void ref.started.then(() => (started = true));
    await flush();
    expect(log).toEqual(['init start']);
    expect(started).toBe(false);
    gate.resolve();
    await ref.started;
    await ref.call('m2');
    expect(log).toEqual(['init start', 'init end', 'm1', 'm2']);
  });

  it('started resolves at once for a behaviour without init', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({ handle: () => undefined });
    await expect(ref.started).resolves.toBeUndefined();
  });

  it('a throwing init crashes the actor: started rejects START_FAILED, queued calls ACTOR_EXITED', async () => {
    const { runtime } = makeRuntime();
    const boom = new Error('init boom');
    const ref = runtime.spawn({
      init() {
        throw boom;
      },
      handle: () => 'never',
    });
    const queued = ref.call('x');
    const err = await rejectsWith(ref.started, 'SYN_ERR_START_FAILED');
    expect(err.cause).toBe(boom);
    expect((await rejectsWith(queued, 'SYN_ERR_ACTOR_EXITED')).cause).toBe(boom);
    expect(await ref.exited).toBe(boom);
    expect(ref.isAlive()).toBe(false);
  });

  it.each(['sync', 'async'] as const)("an init returning 'ignore' (%s) starts nothing: exit 'normal', started rejects START_FAILED ignored, no terminate, queued calls ACTOR_EXITED", async (mode) => {
    const { runtime } = makeRuntime();
    const handled: unknown[] = [];
    let terminated = false;
    const ref = runtime.spawn({
      init: () => (mode === 'sync' ? IGNORE : Promise.resolve(IGNORE)),
      handle: (m) => void handled.push(m),
      terminate: () => void (terminated = true),
    });
    const queued = ref.call('x');
    expect(await ref.exited).toBe('normal');
    expect((await rejectsWith(ref.started, 'SYN_ERR_START_FAILED')).details).toMatchObject({ ignored: true });
    await rejectsWith(queued, 'SYN_ERR_ACTOR_EXITED');
    expect([handled, terminated, ref.isAlive()]).toEqual([[], false, false]);
  });

  it('an async init rejection crashes the actor; started accessed late still rejects', async () => {
    const { runtime } = makeRuntime();
    const boom = new Error('async init boom');
    const ref = runtime.spawn({ init: () => Promise.reject(boom), handle: () => 1 });
    expect(await ref.exited).toBe(boom);
    expect((await rejectsWith(ref.started, 'SYN_ERR_START_FAILED')).cause).toBe(boom);
  });

  it('killing during an async init rejects started and ignores the later init result', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const handled: unknown[] = [];
    const ref = runtime.spawn({ init: () => gate.promise, handle: (m: unknown) => void handled.push(m) });
    const started = ref.started;
    await flush();
    ref.kill();
    gate.resolve();
    expect((await rejectsWith(started, 'SYN_ERR_START_FAILED')).cause).toBe('kill');
    await flush();
    expect(handled).toEqual([]);
  });
});

describe('crashes', () => {
  it('a throwing handler crashes the actor; the caller and queued callers get ACTOR_EXITED with the cause', async () => {
    const { runtime } = makeRuntime();
    const boom = new Error('boom');
    const ref = runtime.spawn<string, string>({
      handle: (m) => {
        if (m === 'crash') throw boom;
        return m;
      },
    });
    const first = ref.call('crash');
    const second = ref.call('after');
    ref.send('dropped');
    expect((await rejectsWith(first, 'SYN_ERR_ACTOR_EXITED')).cause).toBe(boom);
    expect((await rejectsWith(second, 'SYN_ERR_ACTOR_EXITED')).cause).toBe(boom);
    expect(await ref.exited).toBe(boom);
  });

  it('an async handler rejection crashes the actor', async () => {
    const { runtime } = makeRuntime();
    const boom = new Error('async boom');
    const ref = runtime.spawn({ handle: async () => Promise.reject(boom) });
    const err = await rejectsWith(ref.call('x'), 'SYN_ERR_ACTOR_EXITED');
    expect(err.cause).toBe(boom);
    expect(await ref.exited).toBe(boom);
  });

  it('wraps a thrown non-Error so it can never look like a clean exit', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({
      handle: () => {
        throw 'normal';
      },
    });
    ref.send('x');
    const reason = await ref.exited;
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error).cause).toBe('normal');
  });

  it('send to a dead actor throws NO_PROC and call rejects with it', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({ handle: () => 1 });
    ref.kill();
    throwsWith(() => ref.send('x'), 'SYN_ERR_NO_PROC');
    await rejectsWith(ref.call('x'), 'SYN_ERR_NO_PROC');
  });

  it('context operations after exit throw NO_PROC', async () => {
    const { runtime } = makeRuntime();
    let ctx: ActorContext | undefined;
    const ref = runtime.spawn({ handle: (_m: unknown, c) => void (ctx = c) });
    await ref.call(1);
    ref.kill();
    throwsWith(() => ctx!.sendAfter('x', 1), 'SYN_ERR_NO_PROC');
    throwsWith(() => ctx!.trapExit(true), 'SYN_ERR_NO_PROC');
    expect(() => ctx!.stop()).not.toThrow();
  });

  it('rejects a value that is not a behaviour', () => {
    const { runtime } = makeRuntime();
    throwsWith(() => runtime.spawn({} as Behaviour), 'SYN_ERR_INVALID_ARGUMENT');
    throwsWith(() => runtime.spawn(null as unknown as Behaviour), 'SYN_ERR_INVALID_ARGUMENT');
  });
});
