import { describe, expect, it } from 'vitest';
import type { ActorContext, TimerRef } from '../../../src/actor/types.ts';
import { makeRuntime, throwsWith } from './helpers.ts';

type Msg = string | ((ctx: ActorContext) => unknown);

function ticker(seen: string[]) {
  return {
    handle(m: Msg, ctx: ActorContext<Msg>) {
      if (typeof m === 'function') return m(ctx as ActorContext);
      seen.push(m);
      return undefined;
    },
  };
}

describe('ctx.sendAfter', () => {
  it('delivers after the delay on the injected clock, in time order', async () => {
    const { runtime, clock } = makeRuntime();
    const seen: string[] = [];
    const ref = runtime.spawn(ticker(seen));
    // timeout: Infinity so the call arms no deadline timer and clock.pending counts only ours.
    await ref.call(
      (ctx) => {
        ctx.sendAfter('late', 200);
        ctx.sendAfter('early', 100);
      },
      { timeout: Infinity },
    );
    await clock.advance(99);
    expect(seen).toEqual([]);
    await clock.advance(1);
    expect(seen).toEqual(['early']);
    await clock.advance(100);
    expect(seen).toEqual(['early', 'late']);
    expect(clock.pending).toBe(0);
  });

  it('cancel() returns true once, false after firing or cancelling', async () => {
    const { runtime, clock } = makeRuntime();
    const seen: string[] = [];
    const ref = runtime.spawn(ticker(seen));
    const [a, b] = (await ref.call((ctx) => [ctx.sendAfter('a', 10), ctx.sendAfter('b', 10)])) as TimerRef[];
    expect(a!.cancel()).toBe(true);
    expect(a!.cancel()).toBe(false);
    await clock.advance(10);
    expect(b!.cancel()).toBe(false);
    expect(seen).toEqual(['b']);
  });

  it('all timers of an actor are cancelled when it exits (stop, kill, crash)', async () => {
    for (const end of ['stop', 'kill', 'crash'] as const) {
      const { runtime, clock } = makeRuntime();
      const seen: string[] = [];
      const ref = runtime.spawn(ticker(seen));
      const other = runtime.spawn(ticker(seen));
      await ref.call(
        (ctx) => {
          ctx.sendAfter('self', 50);
          ctx.sendAfter('other', 50, other);
        },
        { timeout: Infinity },
      );
      expect([...runtime.actors()].find((i) => i.id === ref.id)!.timers).toBe(2);
      expect(clock.pending).toBe(2);
      if (end === 'stop') await ref.stop();
      else if (end === 'kill') ref.kill();
      else {
        ref.send((() => {
          throw new Error('crash');
        }) as never);
        await ref.exited;
      }
      expect(clock.pending).toBe(0);
      await clock.advance(100);
      expect(seen).toEqual([]);
    }
  });

  it('a timer to a target that died meanwhile is dropped silently', async () => {
    const { runtime, clock } = makeRuntime();
    const seen: string[] = [];
    const ref = runtime.spawn(ticker(seen));
    const other = runtime.spawn(ticker(seen));
    await ref.call((ctx) => void ctx.sendAfter('x', 10, other));
    other.kill();
    await clock.advance(10);
    expect(ref.isAlive()).toBe(true);
    expect(seen).toEqual([]);
  });

  it('validates its arguments', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn(ticker([]));
    const errors = (await ref.call((ctx) =>
      [-1, Number.NaN, Infinity, '5'].map((ms) => {
        try {
          ctx.sendAfter('x', ms as number);
          return 'no error';
        } catch (e) {
          return (e as { code: string }).code;
        }
      }),
    )) as string[];
    expect(errors).toEqual(Array(4).fill('SYN_ERR_INVALID_ARGUMENT'));
    const err = (await ref.call((ctx) => {
      try {
        ctx.sendAfter('x', 1, {} as never);
      } catch (e) {
        return e;
      }
      return undefined;
    })) as { code: string };
    expect(err.code).toBe('SYN_ERR_INVALID_ARGUMENT');
    throwsWith(() => {
      throw err;
    }, 'SYN_ERR_INVALID_ARGUMENT');
  });
});
