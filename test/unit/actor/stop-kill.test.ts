import { describe, expect, it } from 'vitest';
import type { ExitReason } from '../../../src/actor/types.ts';
import { deferred, flush, makeRuntime, rejectsWith, throwsWith, track } from './helpers.ts';

describe('stop (graceful)', () => {
  it('stops after the current message, runs terminate, rejects queued calls with SHUTDOWN', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const log: string[] = [];
    const ref = runtime.spawn<string, string>({
      async handle(m) {
        log.push(`handle ${m}`);
        if (m === 'slow') await gate.promise;
        return m;
      },
      terminate(reason) {
        log.push(`terminate ${String(reason)}`);
      },
    });
    const current = ref.call('slow');
    const queued = track(ref.call('queued'));
    await flush();
    const stopped = ref.stop('shutdown');
    // New calls are refused while stopping; sends are accepted and discarded.
    await rejectsWith(ref.call('late'), 'SYN_ERR_SHUTDOWN');
    ref.send('discarded');
    expect(ref.isAlive()).toBe(true);
    gate.resolve();
    expect(await current).toBe('slow');
    await stopped;
    await rejectsWith(queued.promise, 'SYN_ERR_SHUTDOWN');
    expect(log).toEqual(['handle slow', 'terminate shutdown']);
    expect(await ref.exited).toBe('shutdown');
    expect(ref.isAlive()).toBe(false);
  });

  it('is idempotent: the first reason wins and a stop after exit resolves', async () => {
    const { runtime } = makeRuntime();
    let terminations = 0;
    const ref = runtime.spawn({ handle: () => undefined, terminate: () => void terminations++ });
    const a = ref.stop('normal');
    const b = ref.stop({ shutdown: 'other' });
    await Promise.all([a, b]);
    await ref.stop();
    expect(terminations).toBe(1);
    expect(await ref.exited).toBe('normal');
  });

  it('awaits an async terminate before exiting', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const ref = runtime.spawn({ handle: () => undefined, terminate: () => gate.promise });
    const stopped = track(ref.stop());
    await flush();
    expect(stopped.outcome()).toBeUndefined();
    expect(ref.isAlive()).toBe(true);
    gate.resolve();
    await stopped.promise;
    expect(ref.isAlive()).toBe(false);
  });

  it('a throwing terminate is logged and the stop reason kept', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({
      handle: () => undefined,
      terminate: () => {
        throw new Error('terminate boom');
      },
    });
    await ref.stop({ shutdown: 'x' });
    expect(await ref.exited).toEqual({ shutdown: 'x' });
  });

  it('ctx.stop from a handler replies to the current call, then exits', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn<string, string>({
      handle: (m, ctx) => {
        if (m === 'bye') ctx.stop('normal');
        return `ack ${m}`;
      },
    });
    const bye = ref.call('bye');
    const after = track(ref.call('after'));
    expect(await bye).toBe('ack bye');
    expect(await ref.exited).toBe('normal');
    await rejectsWith(after.promise, 'SYN_ERR_SHUTDOWN');
  });

  it('ctx.stop during init stops right after init (terminate runs)', async () => {
    const { runtime } = makeRuntime();
    const log: string[] = [];
    const ref = runtime.spawn({
      init: (ctx) => ctx.stop('shutdown'),
      handle: () => void log.push('handled'),
      terminate: (reason) => void log.push(`terminate ${String(reason)}`),
    });
    ref.send('x');
    await ref.started;
    expect(await ref.exited).toBe('shutdown');
    expect(log).toEqual(['terminate shutdown']);
  });
});

describe('kill (immediate)', () => {
  it('exits at once with reason kill, skips terminate, ignores the in-progress async result', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred<string>();
    let terminated = false;
    let afterAwait = false;
    const ref = runtime.spawn<string, string>({
      async handle() {
        const v = await gate.promise;
        afterAwait = true;
        return v;
      },
      terminate: () => void (terminated = true),
    });
    const inFlight = ref.call('x');
    const queued = track(ref.call('y'));
    await flush();
    ref.kill();
    expect(ref.isAlive()).toBe(false);
    const err = await rejectsWith(inFlight, 'SYN_ERR_ACTOR_EXITED');
    expect(err.cause).toBe('kill');
    await rejectsWith(queued.promise, 'SYN_ERR_ACTOR_EXITED');
    gate.resolve('late');
    await flush();
    expect(afterAwait).toBe(true); // the user's code finishes, but its result is dropped
    expect(terminated).toBe(false);
    expect(await ref.exited).toBe('kill');
    ref.kill(); // idempotent
  });

  it('kill interrupts a pending terminate', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({ handle: () => undefined, terminate: () => new Promise<void>(() => {}) });
    const stopped = ref.stop();
    ref.kill();
    await stopped;
    expect(await ref.exited).toBe('kill');
  });

  it('an actor can kill itself from its handler; the reply is dropped', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({
      handle: (_m: unknown, ctx) => {
        (ctx.self as { kill(): void }).kill();
        return 'unreachable reply';
      },
    });
    await rejectsWith(ref.call('x'), 'SYN_ERR_ACTOR_EXITED');
    throwsWith(() => ref.send('x'), 'SYN_ERR_NO_PROC');
  });

  it('exited is created lazily and resolves even when first read after exit', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({ handle: () => undefined });
    ref.kill();
    const reasons: ExitReason[] = [await ref.exited, await ref.exited];
    expect(reasons).toEqual(['kill', 'kill']);
  });
});
