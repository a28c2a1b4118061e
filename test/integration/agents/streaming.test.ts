// streamMessage against real Python: deltas, tool events, the final result; a crash mid-stream;
// breaking out of the loop cancels the turn.
import { describe, expect, it } from 'vitest';
import type { ActorSystem, StreamItem } from '../../../src/system.ts';
import { example, fixture, nextEvent, rejection, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
useSystem(async (s) => {
  system = s;
  await Promise.all([
    system.spawnAgent({ id: 'support', agent: example('support.py') }),
    system.spawnAgent({ id: 'faults', agent: fixture('faults.py'), restart: { backoff: { minMs: 10, maxMs: 50 } } }),
  ]);
});

describe('streamMessage', () => {
  it('yields tool events and text deltas that concatenate to the output, then ends with the result', async () => {
    const items: StreamItem[] = [];
    for await (const item of system.streamMessage('support', { prompt: 'refund order 42' }, { conversationId: 'stream-1' })) items.push(item);
    const last = items.at(-1)!;
    expect(last.kind).toBe('result');
    if (last.kind !== 'result') throw new Error('unreachable');
    expect(last.output).toBe('[support] order 42 is shipped, refund issued for order 42 (re: refund order 42) history=0');
    expect(last).toMatchObject({ conversationId: 'stream-1', replayed: false });
    expect(items.filter((e) => e.kind === 'result')).toHaveLength(1);
    const text = items.flatMap((e) => (e.kind === 'text_delta' ? [e.delta] : [])).join('');
    expect(text).toBe(last.output);
    const tools = items.filter((e) => e.kind === 'tool_call' || e.kind === 'tool_result').map((e) => `${e.kind}:${(e as { tool: string }).tool}`);
    expect(tools).toEqual(['tool_call:lookup_order', 'tool_result:lookup_order', 'tool_call:refund', 'tool_result:refund']);
    // Tool events come before the answer's text.
    const firstDelta = items.findIndex((e) => e.kind === 'text_delta');
    const lastTool = items.findLastIndex((e) => e.kind === 'tool_result');
    expect(lastTool).toBeLessThan(firstDelta);
    expect(await system.history('stream-1')).toEqual(last.messages);
  });

  it('a crash mid-stream: the deltas already sent are delivered, then the iterator throws SYN_ERR_AGENT_CRASHED', async () => {
    const pid = system.agentStatus('faults').pids[0]!;
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'faults');
    const items: StreamItem[] = [];
    const error = await rejection(
      (async () => {
        for await (const item of system.streamMessage('faults', { prompt: 'crash_mid_stream' }, { conversationId: 'stream-crash' })) items.push(item);
      })(),
    );
    expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(error.details).toMatchObject({ exitCode: 18, pid });
    expect(items.every((e) => e.kind === 'text_delta')).toBe(true);
    expect(items.map((e) => (e as { delta: string }).delta).join('')).toBe('partial answer then ');
    expect(await system.history('stream-crash')).toEqual([]);
    expect((await ready).pid).not.toBe(pid);
    const again = await system.sendMessage('faults', { prompt: 'after crash' }, { conversationId: 'stream-crash' });
    expect(again.output).toBe('[faults] ok (re: after crash)');
  });

  it('breaking out of the loop cancels the turn; nothing is committed; the worker stays', async () => {
    const pid = system.agentStatus('support').pids[0]!;
    const failed = nextEvent(system, 'turn.failed', (e) => e.conversationId === 'stream-break');
    let seen = 0;
    for await (const item of system.streamMessage('support', { prompt: 'order 7 please' }, { conversationId: 'stream-break' })) {
      expect(item.kind).not.toBe('result');
      seen++;
      break;
    }
    expect(seen).toBe(1);
    expect((await failed).code).toBe('SYN_ERR_ABORTED');
    expect(await system.history('stream-break')).toEqual([]);
    expect(system.agentStatus('support')).toMatchObject({ pids: [pid], inFlight: 0, crashes: 0 });
    // The conversation is free again and starts from an empty history.
    const r = await system.sendMessage('support', { prompt: 'order 7 please' }, { conversationId: 'stream-break' });
    expect(r.output).toBe('[support] order 7 is processing (re: order 7 please) history=0');
  });

  it('a stream of a failing run throws its coded error; invalid input throws from the iterator', async () => {
    const error = await rejection(
      (async () => {
        for await (const _ of system.streamMessage('faults', { prompt: 'raise_error x' })) void _;
      })(),
    );
    expect(error.code).toBe('SYN_ERR_AGENT_FAILED');
    const bad = await rejection(
      (async () => {
        for await (const _ of system.streamMessage('support', { prompt: 42 } as never)) void _;
      })(),
    );
    expect(bad.code).toBe('SYN_ERR_INVALID_ARGUMENT');
  });
});
