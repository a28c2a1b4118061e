import { describe, expect, it } from 'vitest';
import { isSynapseError, synErr } from '../../../src/errors.ts';
import type { SynapseError } from '../../../src/errors.ts';
import { RunTable } from '../../../src/process/runs.ts';
import type { RunHandlers, RunRequest } from '../../../src/process/runs.ts';
import type { OutboundFrame } from '../../../src/protocol/frames.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

const usage = { requests: 1, inputTokens: 2, outputTokens: 3, totalTokens: 5, toolCalls: 0 };

function setup(cancelGraceMs = 1000) {
  const clock = new SimulatedClock();
  const sent: OutboundFrame[] = [];
  const unresponsive: string[] = [];
  const released: number[] = [];
  const table = new RunTable({
    clock,
    cancelGraceMs,
    concurrency: 8,
    maxFrameBytes: 1 << 20,
    maxHistoryBytes: 1 << 24,
    send: (f) => sent.push(f),
    sendLine: () => {},
    onUnresponsive: (id) => unresponsive.push(id),
    context: () => ({ pid: 42 }),
    onFreed: () => released.push(table.size),
  });
  return { clock, sent, unresponsive, table, released };
}

/** Admits a run on a worker that loaded agent `a` and is ready. */
const add = (table: RunTable, request: RunRequest, handlers: RunHandlers) => table.admit(request, handlers, ['a'], undefined);

async function rejection(p: Promise<unknown>): Promise<SynapseError> {
  try {
    await p;
  } catch (e) {
    if (isSynapseError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const req = (id: string, extra = {}) => ({ id, agent: 'a', prompt: 'p', ...extra });

describe('RunTable', () => {
  it('settles a run with its result exactly once', async () => {
    const { table, released } = setup();
    const p = add(table, req('r1'), {});
    expect(table.result({ t: 'result', id: 'r1', output: 'ok', messages: [], usage })).toBe(true);
    expect(await p).toEqual({ output: 'ok', messages: [], usage });
    expect(released).toEqual([0]); // the slot is free again, told once
    expect(table.result({ t: 'result', id: 'r1', output: 'again', messages: [], usage })).toBe(false);
    expect(table.size).toBe(0);
  });

  it('maps error frames through the kind table with details', async () => {
    const { table } = setup();
    const p = add(table, req('r1'), {});
    table.error({ t: 'error', id: 'r1', kind: 'usage_limit', type: 'UsageLimitExceeded', message: 'too many', traceback: 'tb', retryable: false });
    const e = await rejection(p);
    expect(e).toMatchObject({ code: 'SYN_ERR_AGENT_FAILED', message: 'too many', details: { pid: 42, runId: 'r1', kind: 'usage_limit', type: 'UsageLimitExceeded', traceback: 'tb', retryable: false } });
  });

  it('Node deadline: rejects SYN_ERR_TIMEOUT, sends cancel, keeps the slot until Python answers', async () => {
    const { clock, table, sent, unresponsive, released } = setup();
    const p = rejection(add(table, req('r1', { timeoutMs: 500 }), {}));
    await clock.advance(500);
    expect((await p).code).toBe('SYN_ERR_TIMEOUT');
    expect(sent).toEqual([{ t: 'cancel', id: 'r1' }]);
    expect(table.size).toBe(1);
    expect(released).toEqual([]);
    table.error({ t: 'error', id: 'r1', kind: 'cancelled', type: 'CancelledError', message: '', traceback: '', retryable: false });
    expect(table.size).toBe(0);
    expect(released).toEqual([0]); // told once, after the slot was freed
    await clock.advance(5000);
    expect(unresponsive).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('an unacknowledged cancel reports the run as unresponsive after the grace period', async () => {
    const { clock, table, unresponsive } = setup(300);
    const ac = new AbortController();
    const p = rejection(add(table, req('r1'), { signal: ac.signal }));
    ac.abort();
    ac.abort(); // once only
    expect((await p).code).toBe('SYN_ERR_ABORTED');
    await clock.advance(299);
    expect(unresponsive).toEqual([]);
    await clock.advance(1);
    expect(unresponsive).toEqual(['r1']);
  });

  it('an abort signal cancels with SYN_ERR_ABORTED carrying the reason; listeners are removed on settle', async () => {
    const { table, sent } = setup();
    const ac = new AbortController();
    const p = rejection(add(table, req('r1'), { signal: ac.signal }));
    ac.abort(new Error('bye'));
    const e = await p;
    expect(e.code).toBe('SYN_ERR_ABORTED');
    expect((e.cause as Error).message).toBe('bye');
    expect(sent).toEqual([{ t: 'cancel', id: 'r1' }]);

    const ac2 = new AbortController();
    const q = add(table, req('r2'), { signal: ac2.signal });
    table.result({ t: 'result', id: 'r2', output: 1, messages: [], usage });
    await q;
    ac2.abort();
    expect(sent).toHaveLength(1); // no cancel for a finished run
  });

  it('failAll rejects every unsettled run once and clears timers', async () => {
    const { clock, table } = setup();
    const ac = new AbortController();
    const ps = [rejection(add(table, req('a', { timeoutMs: 1000 }), {})), rejection(add(table, req('b'), { signal: ac.signal }))];
    ac.abort();
    table.failAll(new (await import('../../../src/errors.ts')).SynapseError('SYN_ERR_AGENT_CRASHED', 'died'));
    const [a, b] = await Promise.all(ps);
    expect(a?.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(b?.code).toBe('SYN_ERR_ABORTED'); // already settled by the abort
    expect(table.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('answers tool calls: value, throw, no handler, unserialisable value', async () => {
    const sent: OutboundFrame[] = [];
    const clock = new SimulatedClock();
    const table = new RunTable({
      clock,
      cancelGraceMs: 10,
      concurrency: 8,
      maxFrameBytes: 1 << 20,
      maxHistoryBytes: 1 << 24,
      sendLine: () => {},
      send: (f) => {
        if (f.t === 'tool_result' && f.ok && typeof f.value === 'bigint') throw new Error('not serialisable');
        sent.push(f);
      },
      onUnresponsive: () => {},
      context: () => ({}),
    });
    void add(table, req('r1'), {
      onToolCall: (call) => {
        if (call.tool === 'boom') throw new Error('tool broke');
        if (call.tool === 'big') return 1n;
        return { got: call.args };
      },
    });
    void add(table, req('r2'), {});
    table.toolCall({ t: 'tool_call', id: 'r1', callId: 'c1', tool: 'ok', args: { x: 1 } });
    table.toolCall({ t: 'tool_call', id: 'r1', callId: 'c2', tool: 'boom', args: {} });
    table.toolCall({ t: 'tool_call', id: 'r1', callId: 'c3', tool: 'big', args: {} });
    table.toolCall({ t: 'tool_call', id: 'r2', callId: 'c4', tool: 'ok', args: {} });
    expect(table.toolCall({ t: 'tool_call', id: 'nope', callId: 'c5', tool: 'ok', args: {} })).toBe(false);
    await clock.advance(0);
    expect(sent).toEqual(
      expect.arrayContaining([
        { t: 'tool_result', id: 'r1', callId: 'c1', ok: true, value: { got: { x: 1 } } },
        { t: 'tool_result', id: 'r1', callId: 'c2', ok: false, error: 'tool broke' },
        { t: 'tool_result', id: 'r1', callId: 'c3', ok: false, error: 'not serialisable' },
        { t: 'tool_result', id: 'r2', callId: 'c4', ok: false, error: 'No handler for tool "ok"' },
      ]),
    );
    expect(sent).toHaveLength(4);
  });

  it('aborts the tool signal when the run is cancelled, and sends nothing for it afterwards', async () => {
    const { clock, table, sent } = setup();
    let signal: AbortSignal | undefined;
    let finish!: (v: unknown) => void;
    const ac = new AbortController();
    void rejection(
      add(table, req('r1'), {
        signal: ac.signal,
        onToolCall: (call) => {
          signal = call.signal;
          return new Promise((resolve) => (finish = resolve));
        },
      }),
    );
    table.toolCall({ t: 'tool_call', id: 'r1', callId: 'c1', tool: 't', args: {} });
    await clock.advance(0);
    ac.abort();
    expect(signal?.aborted).toBe(true);
    table.error({ t: 'error', id: 'r1', kind: 'cancelled', type: 'CancelledError', message: '', traceback: '', retryable: false });
    finish('late');
    await clock.advance(0);
    expect(sent).toEqual([{ t: 'cancel', id: 'r1' }]);
  });

  describe('model slots (rateLimit)', () => {
    it('grants through onModelSlot with the run deadline, releases on model_slot_release with its tokens', async () => {
      const { table, sent, clock } = setup();
      const calls: { deadlineAt: number | undefined; estTokens: number | undefined }[] = [];
      const releases: (number | undefined)[] = [];
      const p = add(table, req('r1', { timeoutMs: 5000 }), {
        onModelSlot: (call) => {
          calls.push({ deadlineAt: call.deadlineAt, estTokens: call.estTokens });
          return Promise.resolve({ release: (n?: number) => void releases.push(n) });
        },
      });
      expect(table.modelSlot({ t: 'model_slot', id: 'r1', callId: 'm1', estTokens: 7 })).toBe(true);
      await clock.advance(0);
      expect(calls).toEqual([{ deadlineAt: 5000, estTokens: 7 }]);
      expect(sent).toEqual([{ t: 'model_slot_grant', id: 'r1', callId: 'm1' }]);
      expect(table.modelSlotRelease({ t: 'model_slot_release', id: 'r1', callId: 'm1', tokens: 42 })).toBe(true);
      expect(table.modelSlotRelease({ t: 'model_slot_release', id: 'r1', callId: 'm1', tokens: 42 })).toBe(true); // once only
      expect(releases).toEqual([42]);
      expect(table.modelSlot({ t: 'model_slot', id: 'nope', callId: 'm2' })).toBe(false);
      expect(table.modelSlotRelease({ t: 'model_slot_release', id: 'nope', callId: 'm2' })).toBe(false);
      table.result({ t: 'result', id: 'r1', output: 'ok', messages: [], usage });
      await p;
    });

    it('a slot still held when the run ends (or its worker dies) is released; a waiting one is aborted', async () => {
      const { table, clock } = setup();
      const releases: string[] = [];
      let waiting: AbortSignal | undefined;
      const handlers: RunHandlers = {
        onModelSlot: (call) => {
          if (call.callId === 'wait') {
            waiting = call.signal;
            return new Promise(() => {});
          }
          return Promise.resolve({ release: () => void releases.push(call.runId) });
        },
      };
      const p1 = add(table, req('r1'), handlers);
      const p2 = add(table, req('r2'), handlers);
      table.modelSlot({ t: 'model_slot', id: 'r1', callId: 'm1' });
      table.modelSlot({ t: 'model_slot', id: 'r2', callId: 'm1' });
      table.modelSlot({ t: 'model_slot', id: 'r2', callId: 'wait' });
      await clock.advance(0);
      table.error({ t: 'error', id: 'r1', kind: 'agent', type: 'ValueError', message: 'x', traceback: '', retryable: false });
      expect(releases).toEqual(['r1']);
      expect(waiting?.aborted).toBe(false);
      table.failAll(rejectionError());
      expect(releases).toEqual(['r1', 'r2']);
      expect(waiting?.aborted).toBe(true);
      await rejection(p1);
      await rejection(p2);
    });

    it('a refused slot interrupts the run with the refusal (cancel sent); no grant', async () => {
      const { table, sent, clock } = setup();
      const refusal = rejectionError();
      const p = rejection(add(table, req('r1'), { onModelSlot: () => Promise.reject(refusal) }));
      table.modelSlot({ t: 'model_slot', id: 'r1', callId: 'm1' });
      await clock.advance(0);
      expect(await p).toBe(refusal);
      expect(sent).toEqual([{ t: 'cancel', id: 'r1' }]);
      table.modelSlot({ t: 'model_slot', id: 'r1', callId: 'm2' }); // Python is letting go: ignored
      await clock.advance(0);
      expect(sent).toEqual([{ t: 'cancel', id: 'r1' }]);
    });

    it('without onModelSlot a model_slot is granted at once', () => {
      const { table, sent } = setup();
      void add(table, req('r1'), {});
      table.modelSlot({ t: 'model_slot', id: 'r1', callId: 'm1' });
      expect(sent).toEqual([{ t: 'model_slot_grant', id: 'r1', callId: 'm1' }]);
    });
  });
});

function rejectionError(): SynapseError {
  return synErr('SYN_ERR_PROVIDER', 'would pass the deadline', { category: 'rate_limit', retryAfterMs: 1000, retryable: true });
}
