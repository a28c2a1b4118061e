// Human in the loop (issue #12) through the public API with real Python: a turn that calls a tool
// needing approval or an external tool ends with `result.deferred`; the next turn answers with
// `{ toolResults }` and pydantic-ai resumes with `deferred_tool_results`. Any other turn on such a
// conversation fails fast (SYN_ERR_DEFERRED_PENDING, nothing committed, worker unharmed), and the
// pending state comes back from the durable journal after a restart.
import { describe, expect, it } from 'vitest';
import { isWellFormed } from '../../../src/conversation/history.ts';
import type { ActorSystem, SendResult, StreamItem } from '../../../src/system.ts';
import { example, rejection, startSystem, tempDir, useAgents } from '../../helpers/system.ts';

let system: ActorSystem;
const python = { startTimeoutMs: 90_000 }; // for the agents spawned inside a test
useAgents(
  (s) => (system = s),
  [
    { id: 'support', agent: example('approval.py') },
    { id: 'plain', agent: example('approval.py', 'plain_agent') },
    { id: 'chat', agent: example('chat_handler.py', 'handler') },
  ],
);

function only(r: SendResult, list: 'approvals' | 'calls'): string {
  expect(r.deferred?.[list]).toHaveLength(1);
  return r.deferred![list][0]!.toolCallId;
}

describe('deferred tools (real Python)', () => {
  it('approval: the turn ends deferred, keeps the pending call; approving runs the tool (streamed) and answers', async () => {
    const first = await system.sendMessage('support', { prompt: 'refund 42 30' });
    expect(first).toMatchObject({ output: null, outputType: 'DeferredToolRequests', deferred: { approvals: [{ tool: 'refund', args: { order_id: 42, amount: 30 } }], calls: [] } });
    const id = only(first, 'approvals');
    const history = await system.history(first.conversationId);
    expect(history.at(-1)).toMatchObject({ kind: 'response', parts: [{ part_kind: 'tool-call', tool_call_id: id }] });
    const items: StreamItem[] = [];
    for await (const item of system.streamMessage('support', { toolResults: { approvals: { [id]: true } } }, { conversationId: first.conversationId })) items.push(item);
    expect(items).toContainEqual(expect.objectContaining({ kind: 'tool_result', tool: 'refund', toolCallId: id }));
    const done = items.at(-1) as SendResult & { kind: 'result' };
    expect(done).toMatchObject({ kind: 'result', output: 'refund: refunded $30.00 on order 42', outputType: 'str' });
    expect(done.deferred).toBeUndefined();
    const after = await system.history(first.conversationId);
    expect(after).toHaveLength(history.length + 2); // the tool return request and the answer: no new user prompt
    expect(isWellFormed(after)).toBe(true);
  });

  it('denial and an external value reach the model; an ordinary tool called beside them ran at once', async () => {
    const first = await system.sendMessage('support', { prompt: 'both 7 10' });
    const approval = only(first, 'approvals');
    const call = only(first, 'calls');
    expect(first.deferred?.calls[0]).toMatchObject({ tool: 'courier_quote', args: { order_id: 7 } });
    const done = await system.sendMessage('support', { toolResults: { approvals: { [approval]: { denied: 'over the limit' } }, calls: { [call]: { price: '$4' } } } }, { conversationId: first.conversationId });
    expect(done.output).toBe("order_status: order 7 delivered; refund: over the limit; courier_quote: {'price': '$4'}");
    expect(isWellFormed(await system.history(first.conversationId))).toBe(true);
  });

  it('approval with other arguments, and a prompt beside the answers', async () => {
    const first = await system.sendMessage('support', { prompt: 'refund 5 500' });
    const id = only(first, 'approvals');
    const done = await system.sendMessage('support', { toolResults: { approvals: { [id]: { approved: true, overrideArgs: { order_id: 5, amount: 50 } } } }, prompt: 'capped at 50' }, { conversationId: first.conversationId });
    expect(done.output).toBe('refund: refunded $50.00 on order 5');
    expect(done.messages[0]).toMatchObject({ kind: 'request', parts: expect.arrayContaining([expect.objectContaining({ part_kind: 'user-prompt', content: 'capped at 50' })]) });
  });

  it('a plain prompt on a conversation with pending calls fails fast naming them; nothing committed; the proper resume works', async () => {
    const first = await system.sendMessage('support', { prompt: 'quote 9' });
    const id = only(first, 'calls');
    const before = await system.history(first.conversationId);
    const status = system.agentStatus('support');
    const error = await rejection(system.sendMessage('support', { prompt: 'hello?' }, { conversationId: first.conversationId }));
    expect(error).toMatchObject({ code: 'SYN_ERR_DEFERRED_PENDING', details: { conversationId: first.conversationId, pending: [id] } });
    expect(error.message).toContain(id);
    expect(await system.history(first.conversationId)).toEqual(before);
    expect(system.agentStatus('support')).toMatchObject({ pids: status.pids, restarts: 0, inFlight: 0 });
    const done = await system.sendMessage('support', { toolResults: { calls: { [id]: 12.5 } } }, { conversationId: first.conversationId });
    expect(done.output).toBe('courier_quote: 12.5');
  });

  it('toolResults naming unknown ids, missing ids or the wrong list: SYN_ERR_DEFERRED_PENDING, nothing committed', async () => {
    const first = await system.sendMessage('support', { prompt: 'both 3 1' });
    const approval = only(first, 'approvals');
    const call = only(first, 'calls');
    const c = { conversationId: first.conversationId };
    const before = await system.history(first.conversationId);
    const unknown = await rejection(system.sendMessage('support', { toolResults: { approvals: { [approval]: true, nope: true }, calls: { [call]: 1 } } }, c));
    expect(unknown).toMatchObject({ code: 'SYN_ERR_DEFERRED_PENDING', details: { pending: [approval, call], unknown: ['nope'], missing: [] } });
    const missing = await rejection(system.sendMessage('support', { toolResults: { approvals: { [approval]: true } } }, c));
    expect(missing).toMatchObject({ code: 'SYN_ERR_DEFERRED_PENDING', details: { missing: [call] } });
    const misplaced = await rejection(system.sendMessage('support', { toolResults: { calls: { [approval]: 'ran it myself', [call]: 1 } } }, c));
    expect(misplaced).toMatchObject({ code: 'SYN_ERR_DEFERRED_PENDING', details: { misplaced: [approval] } });
    expect(await system.history(first.conversationId)).toEqual(before);
    expect((await system.sendMessage('support', { toolResults: { approvals: { [approval]: false }, calls: { [call]: 1 } } }, c)).output).toBe(
      'order_status: order 3 delivered; refund: The tool call was denied.; courier_quote: 1',
    );
  });

  it('toolResults with nothing pending, or malformed: SYN_ERR_INVALID_ARGUMENT before anything runs', async () => {
    const text = await system.sendMessage('support', { prompt: 'hi' });
    expect(text).toMatchObject({ output: 'echo: hi', outputType: 'str' });
    expect(text.deferred).toBeUndefined();
    const c = { conversationId: text.conversationId };
    expect(await rejection(system.sendMessage('support', { toolResults: { approvals: { x: true } } }, c))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { argument: 'message.toolResults' } });
    expect((await rejection(system.sendMessage('support', { toolResults: { approvals: { x: true } } }))).code).toBe('SYN_ERR_INVALID_ARGUMENT'); // a new conversation
    expect((await rejection(system.sendMessage('chat', { toolResults: { calls: { x: 1 } } }))).code).toBe('SYN_ERR_INVALID_ARGUMENT');
    for (const bad of [{ approvals: { x: 'yes' } }, { approvals: { x: { approved: false } } }, { calls: [] }, {}, { other: {} }, null]) {
      const error = await rejection(system.sendMessage('support', { toolResults: bad } as never, c));
      expect(error.code).toBe('SYN_ERR_INVALID_ARGUMENT');
      expect(String(error.details.argument)).toMatch(/^message\.toolResults/);
    }
    expect((await rejection(system.sendMessage('support', { toolResults: { calls: { x: 1 } }, extra: 1 } as never, c))).details.argument).toBe('message.extra');
    expect(await system.history(text.conversationId)).toHaveLength(2);
  });

  it('an agent without DeferredToolRequests among its output types fails the turn (pydantic-ai says why), no restart', async () => {
    const status = system.agentStatus('plain');
    const error = await rejection(system.sendMessage('plain', { prompt: 'quote 1' }, { conversationId: 'plain-deferred-1' }));
    expect(error.code).toBe('SYN_ERR_AGENT_FAILED');
    expect(error.message).toContain('`DeferredToolRequests` is not among output types');
    expect(await system.history('plain-deferred-1')).toEqual([]);
    expect(system.agentStatus('plain')).toMatchObject({ pids: status.pids, restarts: 0 });
  });
});

describe('deferred tools across a restart (durable history)', () => {
  it('the pending calls (and their kinds) come back from the journal; a replay of the deferred turn returns it', async () => {
    const history = tempDir('synapse-deferred-');
    const withSystem = async <T>(fn: (s: ActorSystem) => Promise<T>): Promise<T> => {
      const started = await startSystem({ history: { dir: history.dir } });
      try {
        await started.system.spawnAgent({ id: 'support', agent: example('approval.py'), python });
        return await fn(started.system);
      } finally {
        await started.stopAndCheck(true); // only its own workers: the file's shared system is still up
      }
    };
    try {
      const first = await withSystem((s) => s.sendMessage('support', { prompt: 'both 8 20' }));
      const approval = only(first, 'approvals');
      const call = only(first, 'calls');
      await withSystem(async (s) => {
        const c = { conversationId: first.conversationId };
        expect(await rejection(s.sendMessage('support', { prompt: 'anyone?' }, c))).toMatchObject({ code: 'SYN_ERR_DEFERRED_PENDING', details: { pending: [approval, call] } });
        expect(await rejection(s.sendMessage('support', { toolResults: { approvals: { [approval]: true, [call]: true } } }, c))).toMatchObject({ details: { misplaced: [call] } });
        const replay = await s.sendMessage('support', { prompt: 'ignored on replay' }, { ...c, turnId: first.turnId });
        expect(replay).toMatchObject({ replayed: true, output: null, outputType: 'DeferredToolRequests', deferred: first.deferred });
        const done = await s.sendMessage('support', { toolResults: { approvals: { [approval]: true }, calls: { [call]: '$9' } } }, c);
        expect(done.output).toBe('order_status: order 8 delivered; refund: refunded $20.00 on order 8; courier_quote: $9');
        expect(isWellFormed(await s.history(first.conversationId))).toBe(true);
      });
    } finally {
      history.remove();
    }
  });
});
