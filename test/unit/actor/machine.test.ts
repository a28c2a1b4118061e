import { assign, createMachine, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { fromMachine, isStateMachine } from '../../../src/actor/machine.ts';
import { flush, makeRuntime, rejectsWith, throwsWith } from './helpers.ts';

const counter = setup({
  types: { context: {} as { count: number }, events: {} as { type: 'inc' } | { type: 'finish' } | { type: 'explode' }, input: {} as { start: number } | undefined },
  actions: {
    explode: () => {
      throw new Error('action exploded');
    },
  },
}).createMachine({
  id: 'counter',
  context: ({ input }) => ({ count: input?.start ?? 0 }),
  initial: 'active',
  states: {
    active: {
      on: {
        inc: { actions: assign({ count: ({ context }) => context.count + 1 }) },
        finish: 'done',
        explode: { actions: 'explode' },
      },
    },
    done: { type: 'final' },
  },
});

describe('xstate machine as a behaviour', () => {
  it('spawn(machine) detects the machine; each message is an event; call replies with the snapshot', async () => {
    const { runtime } = makeRuntime();
    expect(isStateMachine(counter)).toBe(true);
    expect(isStateMachine({ handle() {} })).toBe(false);
    const ref = runtime.spawn(counter);
    ref.send({ type: 'inc' });
    ref.send({ type: 'inc' });
    expect(await ref.call({ type: 'inc' })).toEqual({ value: 'active', context: { count: 3 }, status: 'active' });
  });

  it('fromMachine passes input', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn(fromMachine(counter, { input: { start: 41 } }));
    expect((await ref.call({ type: 'inc' })).context).toEqual({ count: 42 });
  });

  it("reaching a final state replies, then exits with 'normal'", async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn(counter);
    const reply = await ref.call({ type: 'finish' });
    expect(reply.status).toBe('done');
    expect(await ref.exited).toBe('normal');
  });

  it('a machine error crashes the actor; the caller gets ACTOR_EXITED with the error as cause', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn(counter);
    const err = await rejectsWith(ref.call({ type: 'explode' }), 'SYN_ERR_ACTOR_EXITED');
    expect((err.cause as Error).message).toBe('action exploded');
    expect(((await ref.exited) as Error).message).toBe('action exploded');
  });

  it('an error while starting the machine fails init (START_FAILED)', async () => {
    const { runtime } = makeRuntime();
    const broken = createMachine({
      entry: () => {
        throw new Error('entry exploded');
      },
    });
    const ref = runtime.spawn(broken);
    const err = await rejectsWith(ref.started, 'SYN_ERR_START_FAILED');
    expect((err.cause as Error).message).toBe('entry exploded');
  });

  it('delayed transitions run on the injected clock and are cancelled when the actor exits', async () => {
    const { runtime, clock } = makeRuntime();
    const timed = createMachine({
      initial: 'waiting',
      states: { waiting: { after: { 1000: 'ready' } }, ready: { after: { 1000: 'gone' } }, gone: { type: 'final' } },
    });
    const ref = runtime.spawn(timed);
    await ref.started;
    expect(clock.pending).toBe(1);
    await clock.advance(1000);
    expect((await ref.call({ type: 'noop' }, { timeout: Infinity })).value).toBe('ready');
    ref.kill();
    expect(clock.pending).toBe(0);

    const ref2 = runtime.spawn(timed);
    await ref2.started;
    await clock.advance(2000);
    expect(await ref2.exited).toBe('normal'); // final state reached outside any handler
  });

  it('an error raised outside a handler (delayed event) crashes the actor', async () => {
    const { runtime, clock } = makeRuntime();
    const m = createMachine({
      initial: 'a',
      states: {
        a: {
          after: {
            10: {
              actions: () => {
                throw new Error('late explosion');
              },
            },
          },
        },
      },
    });
    const ref = runtime.spawn(m);
    await ref.started;
    await clock.advance(10);
    await flush();
    expect(((await ref.exited) as Error).message).toBe('late explosion');
  });

  it('a message that is not an xstate event crashes the actor with INVALID_ARGUMENT', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn(counter) as unknown as { call(m: unknown): Promise<unknown>; exited: Promise<unknown> };
    const err = await rejectsWith(ref.call('inc'), 'SYN_ERR_ACTOR_EXITED');
    expect((err.cause as { code: string }).code).toBe('SYN_ERR_INVALID_ARGUMENT');
  });

  it('validates fromMachine arguments', () => {
    throwsWith(() => fromMachine({} as never), 'SYN_ERR_INVALID_ARGUMENT');
    throwsWith(() => fromMachine(counter, { inputs: 1 } as never), 'SYN_ERR_INVALID_OPTION');
  });

  it('two spawns of one fromMachine behaviour have independent state', async () => {
    const { runtime } = makeRuntime();
    const behaviour = fromMachine(counter);
    const a = runtime.spawn(behaviour);
    const b = runtime.spawn(behaviour);
    await a.call({ type: 'inc' });
    await a.call({ type: 'inc' });
    expect((await b.call({ type: 'inc' })).context).toEqual({ count: 1 });
  });
});
