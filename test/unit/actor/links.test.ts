import { describe, expect, it } from 'vitest';
import { ActorRuntime } from '../../../src/actor/runtime.ts';
import { DownSignal, ExitSignal, type ActorContext, type ActorRef, type Behaviour } from '../../../src/actor/types.ts';
import { deferred, flush, makeRuntime, throwsWith } from './helpers.ts';

/** An actor that records every message it gets and can be told to run a function with its context. */
function recorder(): { behaviour: Behaviour<unknown, unknown>; seen: unknown[]; next: () => Promise<unknown> } {
  const seen: unknown[] = [];
  const waiters: (() => void)[] = [];
  let cursor = 0;
  const next = async (): Promise<unknown> => {
    while (cursor >= seen.length) await new Promise<void>((resolve) => waiters.push(resolve));
    return seen[cursor++];
  };
  return {
    seen,
    next,
    behaviour: {
      handle(m, ctx) {
        if (typeof m === 'function') return (m as (c: ActorContext) => unknown)(ctx);
        seen.push(m);
        for (const wake of waiters.splice(0)) wake();
        return undefined;
      },
    },
  };
}

const worker: Behaviour<string, string> = {
  handle(m) {
    if (m === 'crash') throw new Error('worker crashed');
    return m;
  },
};

describe('links', () => {
  it('an abnormal exit kills a non-trapping linked actor with the same reason, both ways', async () => {
    const { runtime } = makeRuntime();
    const a = runtime.spawn(worker);
    const b = runtime.spawn(worker, { linkTo: a });
    const c = runtime.spawn(worker, { linkTo: b });
    c.send('crash');
    const reason = await a.exited;
    expect(reason).toBeInstanceOf(Error);
    expect(await b.exited).toBe(reason);
    expect(await c.exited).toBe(reason);
  });

  it("a normal exit does not propagate to non-trapping links", async () => {
    const { runtime } = makeRuntime();
    const a = runtime.spawn(worker);
    const b = runtime.spawn(worker, { linkTo: a });
    await b.stop('normal');
    await flush();
    expect(a.isAlive()).toBe(true);
  });

  it("'shutdown' is abnormal for links and propagates", async () => {
    const { runtime } = makeRuntime();
    const a = runtime.spawn(worker);
    const b = runtime.spawn(worker, { linkTo: a });
    await b.stop('shutdown');
    expect(await a.exited).toBe('shutdown');
  });

  it("kill propagates as 'killed'", async () => {
    const { runtime } = makeRuntime();
    const a = runtime.spawn(worker);
    const b = runtime.spawn(worker, { linkTo: a });
    b.kill();
    expect(await b.exited).toBe('kill');
    expect(await a.exited).toBe('killed');
  });

  it('a trapping actor gets ExitSignal messages (including normal) instead of dying', async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const sup = runtime.spawn(rec.behaviour, { trapExit: true });
    const w1 = runtime.spawn(worker, { linkTo: sup });
    const w2 = runtime.spawn(worker, { linkTo: sup });
    const w3 = runtime.spawn(worker, { linkTo: sup });
    w1.send('crash');
    await w1.exited;
    await w2.stop('normal');
    w3.kill();
    await sup.call(() => undefined);
    expect(sup.isAlive()).toBe(true);
    const signals = rec.seen as ExitSignal[];
    expect(signals.map((s) => [s.type, s.from.id, typeof s.reason === 'string' ? s.reason : 'error'])).toEqual([
      ['EXIT', w1.id, 'error'],
      ['EXIT', w2.id, 'normal'],
      ['EXIT', w3.id, 'killed'],
    ]);
    expect(signals[0]).toBeInstanceOf(ExitSignal);
  });

  it('kill cannot be trapped by the killed actor itself', async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const sup = runtime.spawn(rec.behaviour, { trapExit: true });
    sup.kill();
    expect(await sup.exited).toBe('kill');
  });

  it('ctx.trapExit toggles at run time; ctx.link/unlink are bidirectional', async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const a = runtime.spawn(rec.behaviour);
    const b = runtime.spawn(worker);
    const c = runtime.spawn(worker);
    await a.call((ctx: ActorContext) => {
      ctx.trapExit(true);
      ctx.link(b);
      ctx.link(c);
      ctx.unlink(c);
      ctx.link(ctx.self); // linking to self is a no-op
    });
    const info = [...runtime.actors()].find((i) => i.id === a.id)!;
    expect(info.links).toEqual([b.id]);
    expect(info.trapExit).toBe(true);
    c.send('crash');
    b.send('crash');
    const signal = (await rec.next()) as ExitSignal;
    expect(signal.from).toBe(b);
    await a.call((ctx: ActorContext) => ctx.trapExit(false));
    const d = runtime.spawn(worker, { linkTo: a });
    d.send('crash');
    expect(await a.exited).toBeInstanceOf(Error);
  });

  it('linking to a dead actor throws NO_PROC; spawn linkTo a dead actor throws NO_PROC', async () => {
    const { runtime } = makeRuntime();
    const dead = runtime.spawn(worker);
    dead.kill();
    const a = runtime.spawn(recorder().behaviour);
    const err = await a.call((ctx: ActorContext) => {
      try {
        ctx.link(dead);
        return undefined;
      } catch (e) {
        return e;
      }
    });
    expect((err as { code: string }).code).toBe('SYN_ERR_NO_PROC');
    throwsWith(() => runtime.spawn(worker, { linkTo: dead }), 'SYN_ERR_NO_PROC');
  });

  it('refs from another runtime are rejected', async () => {
    const { runtime } = makeRuntime();
    const other = new ActorRuntime();
    const foreign = other.spawn(worker);
    throwsWith(() => runtime.spawn(worker, { linkTo: foreign }), 'SYN_ERR_INVALID_ARGUMENT');
    throwsWith(() => runtime.spawn(worker, { linkTo: { id: 'x' } as unknown as ActorRef }), 'SYN_ERR_INVALID_ARGUMENT');
    await other.shutdown();
  });

  it('a long chain of links propagates without growing the stack', async () => {
    const { runtime } = makeRuntime();
    let prev = runtime.spawn(worker);
    const first = prev;
    for (let i = 0; i < 20_000; i++) prev = runtime.spawn(worker, { linkTo: prev });
    first.kill();
    expect(await prev.exited).toBe('killed');
    expect(runtime.size).toBe(0);
  });
});

describe('monitors', () => {
  it('delivers one DOWN with the exit reason, then forgets the monitor', async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const watcher = runtime.spawn(rec.behaviour);
    const target = runtime.spawn(worker);
    const mon = await watcher.call((ctx: ActorContext) => ctx.monitor(target));
    target.send('crash');
    const down = (await rec.next()) as DownSignal;
    expect(down).toBeInstanceOf(DownSignal);
    expect(down.type).toBe('DOWN');
    expect(down.monitor).toBe(mon);
    expect(down.actor).toBe(target);
    expect(down.reason).toBeInstanceOf(Error);
    await watcher.call(() => undefined);
    expect(rec.seen).toHaveLength(1);
    expect(watcher.isAlive()).toBe(true); // monitors never kill
  });

  it("monitoring a dead actor gives DOWN 'noproc' immediately", async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const watcher = runtime.spawn(rec.behaviour);
    const dead = runtime.spawn(worker);
    dead.kill();
    await watcher.call((ctx: ActorContext) => void ctx.monitor(dead));
    const down = (await rec.next()) as DownSignal;
    expect(down.reason).toBe('noproc');
    expect(down.actor).toBe(dead);
  });

  it("a killed target is reported as 'killed'; normal exits are reported too", async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const watcher = runtime.spawn(rec.behaviour);
    const t1 = runtime.spawn(worker);
    const t2 = runtime.spawn(worker);
    await watcher.call((ctx: ActorContext) => {
      ctx.monitor(t1);
      ctx.monitor(t2);
    });
    t1.kill();
    await t2.stop('normal');
    await watcher.call(() => undefined);
    expect((rec.seen as DownSignal[]).map((d) => d.reason)).toEqual(['killed', 'normal']);
  });

  it('demonitor prevents the DOWN; two monitors give two DOWNs', async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const watcher = runtime.spawn(rec.behaviour);
    const target = runtime.spawn(worker);
    await watcher.call((ctx: ActorContext) => {
      const m1 = ctx.monitor(target);
      ctx.monitor(target);
      ctx.monitor(target);
      ctx.demonitor(m1);
      ctx.demonitor(m1); // idempotent
    });
    target.kill();
    await watcher.call(() => undefined);
    expect(rec.seen).toHaveLength(2);
  });

  it('monitors held by an exiting actor are removed from their targets', async () => {
    const { runtime } = makeRuntime();
    const watcher = runtime.spawn(recorder().behaviour);
    const target = runtime.spawn(worker);
    await watcher.call((ctx: ActorContext) => void ctx.monitor(target));
    watcher.kill();
    target.kill(); // must not try to deliver to the dead watcher
    await flush();
    expect(runtime.size).toBe(0);
  });

  it('EXIT/DOWN signals are never dropped by a full mailbox and do not use its capacity', async () => {
    const { runtime } = makeRuntime();
    const rec = recorder();
    const gate = deferred();
    const sup = runtime.spawn<unknown, unknown>(
      { handle: (m, ctx) => (m === 'block' ? gate.promise : rec.behaviour.handle(m, ctx)) },
      { trapExit: true, mailbox: { capacity: 1, overflow: 'reject' } },
    );
    const target = runtime.spawn(worker);
    await sup.call((ctx: ActorContext) => void ctx.monitor(target));
    const linked = [runtime.spawn(worker, { linkTo: sup }), runtime.spawn(worker, { linkTo: sup })];
    sup.send('block');
    await flush();
    sup.send('user message'); // fills the capacity
    throwsWith(() => sup.send('overflow'), 'SYN_ERR_MAILBOX_FULL');
    for (const l of linked) l.kill();
    target.kill();
    expect([...runtime.actors()].find((i) => i.id === sup.id)!.mailboxDepth).toBe(4);
    throwsWith(() => sup.send('still full'), 'SYN_ERR_MAILBOX_FULL');
    gate.resolve();
    for (let i = 0; i < 4; i++) await rec.next();
    expect(rec.seen[0]).toBe('user message');
    expect(rec.seen.slice(1).map((m) => (m as ExitSignal | DownSignal).type)).toEqual(['EXIT', 'EXIT', 'DOWN']);
  });
});
