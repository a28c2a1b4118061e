import { describe, expect, it, vi } from 'vitest';
import { ActorRuntime, ACTOR_RUNTIME_DEFAULTS } from '../../../src/actor/runtime.ts';
import type { ActorContext } from '../../../src/actor/types.ts';
import { SynapseEventEmitter, type InspectEvent } from '../../../src/observe/events.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { captureLogger, deferred, flush, makeRuntime, rejectsWith, throwsWith } from './helpers.ts';

const noop = { handle: () => undefined };

describe('ActorRuntime options', () => {
  it('rejects unknown keys and bad types with SYN_ERR_INVALID_OPTION naming the option', () => {
    const cases: [unknown, string][] = [
      [{ clocks: 1 }, 'clocks'],
      [{ clock: {} }, 'clock'],
      [{ log: console }, 'log'],
      [{ events: {} }, 'events'],
      [{ defaultMailbox: { capacity: -1 } }, 'defaultMailbox.capacity'],
      [{ defaultMailbox: { overflow: 'wait' } }, 'defaultMailbox.overflow'],
    ];
    for (const [options, option] of cases) {
      const err = throwsWith(() => new ActorRuntime(options as never), 'SYN_ERR_INVALID_OPTION');
      expect(err.details.option).toBe(option);
    }
    throwsWith(() => new ActorRuntime('fast' as never), 'SYN_ERR_INVALID_OPTION');
  });

  it('rejects unknown spawn options', () => {
    const { runtime } = makeRuntime();
    const err = throwsWith(() => runtime.spawn(noop, { nmae: 'x' } as never), 'SYN_ERR_INVALID_OPTION');
    expect(err.details.option).toBe('spawn options.nmae');
    throwsWith(() => runtime.spawn(noop, { trapExit: 'yes' } as never), 'SYN_ERR_INVALID_OPTION');
  });

  it('uses the documented defaults', () => {
    const runtime = new ActorRuntime();
    expect(ACTOR_RUNTIME_DEFAULTS.mailbox).toEqual({ capacity: 10_000, overflow: 'reject' });
    expect(runtime.log.level).toBe('silent');
    expect(runtime.events).toBeInstanceOf(SynapseEventEmitter);
    expect(Object.isFrozen(ACTOR_RUNTIME_DEFAULTS)).toBe(true);
  });
});

describe('shutdown', () => {
  it('stops every live actor in reverse spawn order, is idempotent, then spawn throws SYSTEM_STOPPED', async () => {
    const { runtime, clock } = makeRuntime();
    const order: string[] = [];
    const refs = ['a', 'b', 'c', 'd'].map((name) =>
      runtime.spawn({ handle: () => undefined, terminate: (reason) => void order.push(`${name}:${String(reason)}`) }, { name }),
    );
    await refs[0]!.call('x'); // arms a deadline timer that shutdown must clear
    refs[1]!.kill();
    const first = runtime.shutdown();
    expect(runtime.shutdown()).toBe(first);
    expect(runtime.stopped).toBe(true);
    throwsWith(() => runtime.spawn(noop), 'SYN_ERR_SYSTEM_STOPPED');
    await first;
    expect(order).toEqual(['d:shutdown', 'c:shutdown', 'a:shutdown']);
    expect(runtime.size).toBe(0);
    expect(clock.pending).toBe(0);
    await runtime.close();
  });

  it('waits for async terminate; kills an actor that does not stop within the timeout', async () => {
    const { runtime, clock } = makeRuntime();
    const gate = deferred();
    const slowTerm = runtime.spawn({ handle: () => undefined, terminate: () => gate.promise });
    const hung = runtime.spawn({ handle: () => new Promise(() => {}) });
    hung.send('hang');
    await flush();
    const done = runtime.shutdown({ timeout: 100 });
    await clock.advance(100);
    expect(await hung.exited).toBe('kill');
    expect(slowTerm.isAlive()).toBe(true);
    gate.resolve();
    await done;
    expect(await slowTerm.exited).toBe('shutdown');
  });

  it('validates shutdown options', () => {
    const { runtime } = makeRuntime();
    throwsWith(() => runtime.shutdown({ timeout: -5 }), 'SYN_ERR_INVALID_OPTION');
  });

  it('supports await using', async () => {
    const clock = new SimulatedClock();
    let ref;
    {
      await using runtime = new ActorRuntime({ clock });
      ref = runtime.spawn(noop);
    }
    expect(ref.isAlive()).toBe(false);
  });

  it('an actor spawned by a terminate during shutdown is refused', async () => {
    const { runtime } = makeRuntime();
    let error: unknown;
    runtime.spawn({
      handle: () => undefined,
      terminate: (_r, ctx) => {
        try {
          ctx.system.spawn(noop);
        } catch (e) {
          error = e;
        }
      },
    });
    await runtime.shutdown();
    expect((error as { code: string }).code).toBe('SYN_ERR_SYSTEM_STOPPED');
  });
});

describe('events and logs', () => {
  it('emits actor.spawned / stopped / crashed with ids, names and reasons', async () => {
    const { runtime } = makeRuntime();
    const events: InspectEvent[] = [];
    for (const type of ['actor.spawned', 'actor.stopped', 'actor.crashed'] as const) {
      runtime.events.on(type, (e) => events.push({ type, at: 0, ...e } as InspectEvent));
    }
    const parent = runtime.spawn(noop, { name: 'parent', trapExit: true });
    const child = runtime.spawn(
      {
        handle: () => {
          throw new Error('kaput');
        },
      },
      { linkTo: parent },
    );
    child.send('x');
    await child.exited;
    await parent.stop({ shutdown: 'done' });
    expect(events.map((e) => ({ ...e, error: undefined }))).toEqual([
      { type: 'actor.spawned', at: 0, actor: parent.id, name: 'parent', parent: undefined, error: undefined },
      { type: 'actor.spawned', at: 0, actor: child.id, name: undefined, parent: parent.id, error: undefined },
      { type: 'actor.crashed', at: 0, actor: child.id, name: undefined, reason: 'Error: kaput', error: undefined },
      { type: 'actor.stopped', at: 0, actor: parent.id, name: 'parent', reason: '{shutdown, done}', error: undefined },
    ]);
    expect((events[2] as { error?: unknown }).error).toBeInstanceOf(Error);
  });

  it('logs each lifecycle event once, through its event log, at the documented level (debug spawn/stop/kill, warn crash)', async () => {
    const { log, lines } = captureLogger('debug');
    const { runtime } = makeRuntime({ log }); // owns its emitter, so it logs its events itself
    const a = runtime.spawn(noop, { name: 'alpha', logContext: { agent: 'support' } });
    await a.stop();
    runtime.spawn(noop, { name: 'beta' }).kill();
    const c = runtime.spawn({
      handle: () => {
        throw new Error('bad');
      },
    });
    c.send(1);
    await c.exited;
    const rows = lines.map((l) => [l.level, l.msg, l.actor, l.name]);
    expect(rows).toEqual([
      [20, 'actor.spawned', a.id, 'alpha'],
      [20, 'actor.stopped', a.id, 'alpha'],
      [20, 'actor.spawned', expect.any(String), 'beta'],
      [20, 'actor.stopped', expect.any(String), 'beta'],
      [20, 'actor.spawned', c.id, undefined],
      [40, 'actor.crashed', c.id, undefined],
    ]);
    expect(lines[3]!.reason).toBe('kill');
    expect(lines[5]!.error).toBe('Error: bad');
    expect((lines[5]!.err as { message: string }).message).toBe('bad'); // the stack: the logger is at debug
  });

  it('leaves logging events to the owner of an emitter it is given', async () => {
    const { log, lines } = captureLogger('debug');
    const { runtime } = makeRuntime({ log, events: new SynapseEventEmitter() });
    await runtime.spawn(noop).stop();
    expect(lines).toEqual([]);
  });

  it('ctx.log carries the actor context', async () => {
    const { log, lines } = captureLogger('info');
    const { runtime } = makeRuntime({ log });
    const ref = runtime.spawn({ handle: (_m: unknown, ctx) => ctx.log.info('hello') }, { name: 'logger-test' });
    await ref.call(1);
    expect(lines).toEqual([expect.objectContaining({ msg: 'hello', actor: ref.id, name: 'logger-test' })]);
  });

  it('a throwing event listener does not break the actor loop; the error is rethrown on a fresh macrotask', async () => {
    const { runtime } = makeRuntime();
    const boom = new Error('listener boom');
    runtime.events.on('actor.stopped', () => {
      throw boom;
    });
    const scheduled: (() => void)[] = [];
    const spy = vi.spyOn(globalThis, 'setImmediate').mockImplementation(((fn: () => void) => {
      scheduled.push(fn);
      return 0 as never;
    }) as never);
    try {
      const ref = runtime.spawn(noop);
      const other = runtime.spawn<number, number>({ handle: (m) => m * 2 });
      await ref.stop();
      expect(await ref.exited).toBe('normal');
      expect(await other.call(21)).toBe(42);
    } finally {
      spy.mockRestore();
      runtime.events.removeAllListeners('actor.stopped');
    }
    expect(scheduled).toHaveLength(1);
    expect(() => scheduled[0]!()).toThrow(boom);
  });
});

describe('actors() inspection', () => {
  it('lists live actors in spawn order with mailbox depth, parent, links and status', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const sup = runtime.spawn(noop, { name: 'sup', trapExit: true });
    const busy = runtime.spawn({ handle: () => gate.promise }, { linkTo: sup });
    busy.send('block');
    busy.send('queued 1');
    busy.send('queued 2');
    await flush();
    const dead = runtime.spawn(noop);
    dead.kill();
    const infos = [...runtime.actors()];
    expect(infos.map((i) => i.id)).toEqual([sup.id, busy.id]);
    expect(infos[0]).toMatchObject({ name: 'sup', status: 'idle', trapExit: true, links: [busy.id], parent: undefined, mailboxDepth: 0 });
    expect(infos[1]).toMatchObject({ status: 'running', parent: sup.id, links: [sup.id], mailboxDepth: 2, dropped: 0, timers: 0, monitors: 0 });
    expect(infos[1]!.ref).toBe(busy);
    gate.resolve();
  });

  it('reports starting and stopping states', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const starting = runtime.spawn({ init: () => gate.promise, handle: () => undefined });
    const stopping = runtime.spawn({ handle: () => undefined, terminate: () => gate.promise });
    void stopping.stop();
    await flush();
    expect([...runtime.actors()].map((i) => i.status)).toEqual(['starting', 'stopping']);
    gate.resolve();
    await stopping.exited;
    await starting.started;
  });
});

describe('misc', () => {
  it('ctx.system.spawn from a handler creates a sibling in the same runtime', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn({ handle: (_m: unknown, ctx: ActorContext) => ctx.system.spawn(noop, { name: 'kid' }) });
    const kid = await ref.call('spawn');
    expect(runtime.whereis('kid')).toBe(kid);
  });

  it('a call to an actor of a stopped runtime rejects NO_PROC', async () => {
    const { runtime } = makeRuntime();
    const ref = runtime.spawn(noop);
    await runtime.shutdown();
    await rejectsWith(ref.call(1), 'SYN_ERR_NO_PROC');
  });
});
