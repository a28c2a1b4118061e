import { afterEach, describe, expect, it } from 'vitest';
import { isWellFormed } from '../../../src/conversation/history.ts';
import { MemoryHistoryStore, historyOf } from '../../../src/conversation/store.ts';
import type { HistoryStore } from '../../../src/conversation/store.ts';
import { TurnSerializer } from '../../../src/conversation/turns.ts';
import type { TurnContext, TurnOutput } from '../../../src/conversation/turns.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import { answerOf, promptOf, textResponse, toolCallResponse, turnMessages, userRequest } from '../../fixtures/pydantic-messages.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function setup(options: Partial<ConstructorParameters<typeof TurnSerializer>[0]> = {}): { store: HistoryStore; turns: TurnSerializer } {
  const store = options.store ?? new MemoryHistoryStore();
  const turns = new TurnSerializer({ store, ...options });
  cleanup.push(() => store.close(), () => turns.close());
  return { store, turns };
}

/** A deferred: a turn fn whose completion the test controls. */
function gate<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A fake Python run: answers `prompt` with a tool round, checking it saw the full history. */
function answering(prompt: string, seen?: unknown[][]) {
  return async (ctx: TurnContext): Promise<TurnOutput<string>> => {
    seen?.push([...ctx.history]);
    await Promise.resolve(); // let other turns try to interleave
    return { messages: turnMessages(prompt, `answer to ${prompt}`, { tools: 1, tag: ctx.turnId }), output: `answer to ${prompt}`, usage: { requests: 2 } };
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return isSynapseError(err) ? err.code : String(err);
  }
}

describe('TurnSerializer', () => {
  it('50 concurrent turns on one conversation commit 50 well-formed turns in order, each prompt followed by its own answer', async () => {
    const { store, turns } = setup();
    const seen: unknown[][] = [];
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => turns.run({ conversationId: 'c', turnId: `t${i}`, agent: 'bot' }, answering(`q${i}`, seen))),
    );
    expect(results.map((r) => r.output)).toEqual(Array.from({ length: 50 }, (_, i) => `answer to q${i}`));
    const stored = await store.load('c');
    expect(stored.map((t) => t.turnId)).toEqual(Array.from({ length: 50 }, (_, i) => `t${i}`));
    const history = historyOf(stored);
    expect(isWellFormed(history)).toBe(true);
    const prompts = history.map(promptOf).filter((p) => p !== undefined);
    const answers = history.map(answerOf).filter((a) => a !== undefined);
    expect(prompts).toEqual(Array.from({ length: 50 }, (_, i) => `q${i}`));
    expect(answers).toEqual(prompts.map((p) => `answer to ${p}`));
    // each turn saw exactly the turns before it
    expect(seen.map((h) => h.length)).toEqual(Array.from({ length: 50 }, (_, i) => i * 4));
    expect(turns.pending('c')).toBe(0);
  });

  it('different conversations run concurrently', async () => {
    const { turns } = setup();
    const a = gate();
    const b = gate();
    const started: string[] = [];
    const ra = turns.run({ conversationId: 'a', turnId: 't', agent: 'bot' }, async () => {
      started.push('a');
      await a.promise;
      return { messages: turnMessages('pa', 'xa') };
    });
    const rb = turns.run({ conversationId: 'b', turnId: 't', agent: 'bot' }, async () => {
      started.push('b');
      await b.promise;
      return { messages: turnMessages('pb', 'xb') };
    });
    await new Promise<void>((r) => setImmediate(r));
    expect(started.sort()).toEqual(['a', 'b']);
    b.resolve();
    a.resolve();
    expect((await Promise.all([ra, rb])).map((r) => r.replayed)).toEqual([false, false]);
  });

  it('reject policy: a second turn while one runs fails with SYN_ERR_CONVERSATION_BUSY', async () => {
    const { store, turns } = setup({ policy: 'reject' });
    const g = gate();
    const first = turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, async () => {
      await g.promise;
      return { messages: turnMessages('p1', 'a1') };
    });
    expect(await codeOf(turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot' }, answering('p2')))).toBe('SYN_ERR_CONVERSATION_BUSY');
    expect(await codeOf(turns.run({ conversationId: 'other', turnId: 't2', agent: 'bot' }, answering('p2')))).toBe('resolved');
    g.resolve();
    await first;
    expect(await codeOf(turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot' }, answering('p2')))).toBe('resolved');
    expect((await store.load('c')).map((t) => t.turnId)).toEqual(['t1', 't2']);
  });

  it('queue is bounded per conversation: over maxQueue → SYN_ERR_OVERLOADED', async () => {
    const { store, turns } = setup({ maxQueue: 2 });
    const g = gate();
    const running = turns.run({ conversationId: 'c', turnId: 't0', agent: 'bot' }, async () => {
      await g.promise;
      return { messages: turnMessages('p0', 'a0') };
    });
    const q1 = turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, answering('p1'));
    const q2 = turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot' }, answering('p2'));
    expect(turns.pending('c')).toBe(3);
    expect(await codeOf(turns.run({ conversationId: 'c', turnId: 't3', agent: 'bot' }, answering('p3')))).toBe('SYN_ERR_OVERLOADED');
    g.resolve();
    await Promise.all([running, q1, q2]);
    expect((await store.load('c')).map((t) => t.turnId)).toEqual(['t0', 't1', 't2']);
  });

  it('a failed turn commits nothing and the next turn proceeds', async () => {
    const events = new SynapseEventEmitter();
    const log: string[] = [];
    events.on('turn.committed', (e) => log.push(`committed ${e.turnId} ${e.messages}`));
    events.on('turn.failed', (e) => log.push(`failed ${e.turnId} ${e.code}`));
    const { store, turns } = setup({ events });
    const boom = Object.assign(new Error('python raised'), { code: 'SYN_ERR_AGENT_FAILED' });
    const failing = turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, async () => {
      throw boom;
    });
    const next = turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot' }, answering('p2'));
    await expect(failing).rejects.toBe(boom);
    await next;
    expect((await store.load('c')).map((t) => t.turnId)).toEqual(['t2']);
    expect(log).toEqual(['failed t1 SYN_ERR_AGENT_FAILED', 'committed t2 4']);
  });

  it.each([
    ['no messages', () => ({ messages: [] })],
    ['not an array', () => ({ messages: 'x' as never })],
    ['a dangling tool call', () => ({ messages: [userRequest('p'), toolCallResponse([{ id: 'c1', tool: 't' }])] })],
    ['a response without a request', () => ({ messages: [textResponse('x')] })],
  ])('messages with %s are rejected with SYN_ERR_PROTOCOL and nothing is committed', async (_name, out) => {
    const { store, turns } = setup();
    await turns.run({ conversationId: 'c', turnId: 't0', agent: 'bot' }, answering('p0'));
    const err = await turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, async () => out()).catch((e: unknown) => e);
    expect(isSynapseError(err, 'SYN_ERR_PROTOCOL')).toBe(true);
    expect((await store.load('c')).map((t) => t.turnId)).toEqual(['t0']);
  });

  it('allowPendingToolCalls accepts a turn ending on open calls; the next turn must answer them', async () => {
    const { store, turns } = setup({ allowPendingToolCalls: true });
    await turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, async () => ({ messages: [userRequest('p'), toolCallResponse([{ id: 'd1', tool: 'approve' }])] }));
    expect(await codeOf(turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot' }, answering('p2')))).toBe('SYN_ERR_PROTOCOL');
    expect((await store.load('c')).map((t) => t.turnId)).toEqual(['t1']);
  });

  it('a deferred turn may end on open calls (no option needed); the next turn sees them pending; a retry returns deferred', async () => {
    const { store, turns } = setup();
    const deferred = { approvals: [{ toolCallId: 'd1', tool: 'approve', args: {} }], calls: [] };
    const open = async (): Promise<TurnOutput> => ({ messages: [userRequest('p'), toolCallResponse([{ id: 'd1', tool: 'approve' }])], output: null, deferred });
    const first = await turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, open);
    expect(first.deferred).toEqual(deferred);
    expect((await store.getTurn('c', 't1'))?.deferred).toEqual(deferred);
    expect(await turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, open)).toMatchObject({ replayed: true, deferred });
    let pending: TurnContext['pending'] | undefined;
    await turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot' }, async (ctx) => {
      pending = ctx.pending;
      return { messages: [{ kind: 'request', parts: [{ part_kind: 'tool-return', tool_name: 'approve', tool_call_id: 'd1', content: 'ok' }] }, textResponse('done')] };
    });
    expect(pending).toEqual([{ toolCallId: 'd1', tool: 'approve', kind: 'approval' }]);
    // Without `deferred`, open calls are still refused.
    expect(await codeOf(turns.run({ conversationId: 'c2', turnId: 't1', agent: 'bot' }, async () => ({ messages: [userRequest('p'), toolCallResponse([{ id: 'x', tool: 't' }])] })))).toBe('SYN_ERR_PROTOCOL');
  });

  it('a retry with the same turn id returns the stored result without calling fn', async () => {
    const { store, turns } = setup();
    const first = await turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, answering('p1'));
    let calls = 0;
    const retry = await turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, async () => {
      calls++;
      return { messages: turnMessages('other', 'other') };
    });
    expect(calls).toBe(0);
    expect(retry).toEqual({ ...first, replayed: true });
    expect(first.replayed).toBe(false);
    expect(await store.load('c')).toHaveLength(1);
  });

  it('a retry racing the original (both queued) is not duplicated', async () => {
    const { store, turns } = setup();
    let calls = 0;
    const fn = async (ctx: TurnContext): Promise<TurnOutput<string>> => {
      calls++;
      return answering('p1')(ctx);
    };
    const [a, b] = await Promise.all([turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, fn), turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, fn)]);
    expect(calls).toBe(1);
    expect([a.replayed, b.replayed]).toEqual([false, true]);
    expect(b.output).toBe(a.output);
    expect(await store.load('c')).toHaveLength(1);
  });

  it('aborting a queued turn removes it with SYN_ERR_ABORTED; a running turn gets the signal', async () => {
    const { store, turns } = setup();
    const g = gate();
    let runningSignal: AbortSignal | undefined;
    const ac1 = new AbortController();
    const running = turns.run({ conversationId: 'c', turnId: 't0', agent: 'bot', signal: ac1.signal }, async (ctx) => {
      runningSignal = ctx.signal;
      await g.promise;
      return { messages: turnMessages('p0', 'a0') };
    });
    const ac = new AbortController();
    let called = false;
    const queued = turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot', signal: ac.signal }, async () => {
      called = true;
      return { messages: turnMessages('p1', 'a1') };
    });
    expect(turns.pending('c')).toBe(2);
    ac.abort(new Error('user gave up'));
    expect(await codeOf(queued)).toBe('SYN_ERR_ABORTED');
    expect(turns.pending('c')).toBe(1);
    ac1.abort();
    expect(runningSignal?.aborted).toBe(true);
    g.resolve(); // fn still produced a result after the caller gave up: it is discarded, nothing committed
    expect(await codeOf(running)).toBe('SYN_ERR_ABORTED');
    expect(called).toBe(false);
    expect(await store.load('c')).toEqual([]);
    const pre = new AbortController();
    pre.abort();
    expect(await codeOf(turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot', signal: pre.signal }, answering('p2')))).toBe('SYN_ERR_ABORTED');
  });

  it('close rejects queued turns with SYN_ERR_SHUTDOWN, aborts running ones, and is idempotent', async () => {
    const { store, turns } = setup();
    const running = turns.run({ conversationId: 'c', turnId: 't0', agent: 'bot' }, (ctx) =>
      new Promise<TurnOutput>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })),
    );
    const queued = turns.run({ conversationId: 'c', turnId: 't1', agent: 'bot' }, answering('p1'));
    const closing = Promise.all([turns.close(), turns.close()]);
    expect(await codeOf(queued)).toBe('SYN_ERR_SHUTDOWN');
    expect(await codeOf(running)).toBe('SYN_ERR_SHUTDOWN');
    await closing;
    expect(await codeOf(turns.run({ conversationId: 'c', turnId: 't2', agent: 'bot' }, answering('p2')))).toBe('SYN_ERR_SHUTDOWN');
    expect(await store.load('c')).toEqual([]);
  });

  it('validates ids and options', async () => {
    const { turns } = setup();
    expect(await codeOf(turns.run({ conversationId: '', agent: 'bot' }, answering('p')))).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(await codeOf(turns.run({ conversationId: 'c', turnId: 'a\u0000', agent: 'bot' }, answering('p')))).toBe('SYN_ERR_INVALID_ARGUMENT');
    const generated = await turns.run({ conversationId: 'c', agent: 'bot' }, answering('p'));
    expect(generated.turnId).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(() => new TurnSerializer({ store: new MemoryHistoryStore(), policy: 'drop' as never })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'TurnSerializer.policy' }) }));
    expect(() => new TurnSerializer({ store: {} as never })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION' }));
    expect(() => new TurnSerializer({ store: new MemoryHistoryStore(), extra: 1 } as never)).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION' }));
  });
});
