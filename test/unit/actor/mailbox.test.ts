import { describe, expect, it } from 'vitest';
import { FifoQueue } from '../../../src/actor/queue.ts';
import type { SynapseEvents } from '../../../src/observe/events.ts';
import { deferred, flush, makeRuntime, rejectsWith, throwsWith, track } from './helpers.ts';

/** An actor blocked on `gate` by its first message, so later messages stay queued. */
function blocked(overflow: 'reject' | 'drop-newest' | 'drop-oldest', capacity = 2) {
  const { runtime } = makeRuntime();
  const gate = deferred();
  const seen: unknown[] = [];
  const drops: SynapseEvents['mailbox.dropped'][] = [];
  runtime.events.on('mailbox.dropped', (e) => drops.push(e));
  const ref = runtime.spawn<unknown, unknown>(
    {
      handle: (m) => {
        seen.push(m);
        return m === 'block' ? gate.promise : m;
      },
    },
    { mailbox: { capacity, overflow }, name: `blocked-${overflow}` },
  );
  ref.send('block');
  return { runtime, ref, gate, seen, drops };
}

describe('bounded mailbox', () => {
  it("'reject': a full mailbox throws MAILBOX_FULL from send and rejects call; drops are counted", async () => {
    const { runtime, ref, gate, seen, drops } = blocked('reject');
    await flush();
    ref.send(1);
    ref.send(2);
    const err = throwsWith(() => ref.send(3), 'SYN_ERR_MAILBOX_FULL');
    expect(err.details).toMatchObject({ capacity: 2, overflow: 'reject' });
    await rejectsWith(ref.call(4), 'SYN_ERR_MAILBOX_FULL');
    expect([...runtime.actors()][0]!.dropped).toBe(2);
    expect(drops).toEqual([
      { actor: ref.id, name: 'blocked-reject', policy: 'reject', capacity: 2 },
      { actor: ref.id, name: 'blocked-reject', policy: 'reject', capacity: 2 },
    ]);
    gate.resolve();
    await ref.call('end').catch(() => undefined);
    expect(seen.slice(0, 3)).toEqual(['block', 1, 2]);
  });

  it("'drop-newest': the new message is dropped silently (a dropped call rejects)", async () => {
    const { runtime, ref, gate, seen, drops } = blocked('drop-newest');
    await flush();
    ref.send(1);
    ref.send(2);
    ref.send(3);
    await rejectsWith(ref.call(4), 'SYN_ERR_MAILBOX_FULL');
    expect([...runtime.actors()][0]!.dropped).toBe(2);
    expect(drops.map((d) => d.policy)).toEqual(['drop-newest', 'drop-newest']);
    gate.resolve();
    await flush();
    expect(seen).toEqual(['block', 1, 2]);
  });

  it("'drop-oldest': the oldest queued message is dropped; a dropped call rejects", async () => {
    const { runtime, ref, gate, seen } = blocked('drop-oldest');
    await flush();
    const oldest = track(ref.call(1));
    ref.send(2);
    ref.send(3);
    await rejectsWith(oldest.promise, 'SYN_ERR_MAILBOX_FULL');
    const last = ref.call(4);
    gate.resolve();
    expect(await last).toBe(4);
    expect(seen).toEqual(['block', 3, 4]);
    expect([...runtime.actors()][0]!.dropped).toBe(2);
  });

  it('default capacity is 10 000 with overflow reject; defaultMailbox overrides it', async () => {
    const { runtime } = makeRuntime();
    const gate = deferred();
    const ref = runtime.spawn({ handle: () => gate.promise });
    ref.send('block');
    await flush();
    for (let i = 0; i < 10_000; i++) ref.send(i);
    throwsWith(() => ref.send('one too many'), 'SYN_ERR_MAILBOX_FULL');
    expect([...runtime.actors()][0]!.mailboxCapacity).toBe(10_000);
    ref.kill();
    const { runtime: small } = makeRuntime({ defaultMailbox: { capacity: 3 } });
    expect([...(small.spawn({ handle: () => undefined }), small.actors())][0]!.mailboxCapacity).toBe(3);
  });

  it('rejects bad mailbox options with SYN_ERR_INVALID_OPTION', () => {
    const { runtime } = makeRuntime();
    const h = { handle: () => undefined };
    for (const mailbox of [{ capacity: 0 }, { capacity: 1.5 }, { capacity: Infinity }, { overflow: 'block' }, { size: 3 }]) {
      throwsWith(() => runtime.spawn(h, { mailbox: mailbox as never }), 'SYN_ERR_INVALID_OPTION');
    }
  });
});

describe('FifoQueue', () => {
  it('is FIFO across growth and wrap-around', () => {
    const q = new FifoQueue<number>();
    const model: number[] = [];
    let next = 0;
    for (let round = 0; round < 200; round++) {
      const pushes = (round * 7) % 13;
      const shifts = (round * 5) % 11;
      for (let i = 0; i < pushes; i++) {
        q.push(next);
        model.push(next++);
      }
      for (let i = 0; i < shifts && model.length > 0; i++) expect(q.shift()).toBe(model.shift());
      expect(q.size).toBe(model.length);
      expect(q.peek()).toBe(model[0]);
    }
  });

  it('removeFirst and retain keep the order of the rest', () => {
    const q = new FifoQueue<number>();
    for (let i = 0; i < 20; i++) q.push(i);
    for (let i = 0; i < 5; i++) q.shift();
    for (let i = 20; i < 25; i++) q.push(i); // wraps
    expect(q.removeFirst((x) => x % 7 === 0)).toBe(7);
    expect(q.removeFirst((x) => x > 100)).toBeUndefined();
    q.retain((x) => x % 2 === 0);
    const out: number[] = [];
    q.drain((x) => out.push(x));
    expect(out).toEqual([6, 8, 10, 12, 14, 16, 18, 20, 22, 24]);
    expect(q.size).toBe(0);
  });

  it('releases large storage when drained', () => {
    const q = new FifoQueue<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    for (let i = 0; i < 5000; i++) expect(q.shift()).toBe(i);
    q.push(1);
    expect(q.shift()).toBe(1);
  });
});
