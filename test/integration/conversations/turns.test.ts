// Conversations through the system API with real Python: history continues, concurrent turns
// on one conversation are serialized, turn ids make retries idempotent.
import { describe, expect, it } from 'vitest';
import { isWellFormed } from '../../../src/conversation/history.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { example, exchanges, fixture, rejection, startSystem, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
useSystem(async (s) => {
  system = s;
  await Promise.all([
    system.spawnAgent({ id: 'support', agent: example('support.py') }),
    system.spawnAgent({ id: 'counter', agent: fixture('counter.py') }),
    system.spawnAgent({ id: 'faults', agent: fixture('faults.py'), restart: { backoff: { minMs: 10, maxMs: 50 } } }),
  ]);
});

describe('conversations', () => {
  it('sendMessage with conversationId continues the conversation; history() returns the messages', async () => {
    const a = await system.sendMessage('support', { prompt: 'where is order 42?' });
    expect(a.output).toBe('[support] order 42 is shipped (re: where is order 42?) history=0');
    const b = await system.sendMessage('support', { prompt: 'and order 7?' }, { conversationId: a.conversationId });
    expect(b.output).toBe('[support] order 7 is processing (re: and order 7?) history=1');
    expect(b.conversationId).toBe(a.conversationId);
    const c = await system.sendMessage('support', { prompt: 'refund order 13' }, { conversationId: a.conversationId });
    expect(c.output).toBe('[support] order 13 is delivered, refund issued for order 13 (re: refund order 13) history=2');
    const history = await system.history(a.conversationId);
    expect(history).toEqual([...a.messages, ...b.messages, ...c.messages]);
    expect(isWellFormed(history)).toBe(true);
    expect(exchanges(history).map((x) => x.prompt)).toEqual(['where is order 42?', 'and order 7?', 'refund order 13']);
    // history() returns a copy.
    (await system.history(a.conversationId)).length = 0;
    expect(await system.history(a.conversationId)).toHaveLength(history.length);
  });

  it('an unknown conversation has an empty history; malformed ids → SYN_ERR_INVALID_ARGUMENT', async () => {
    expect(await system.history('never-used')).toEqual([]);
    for (const id of ['', ' x', 'a\nb', 'z'.repeat(201), '\ud800', 7, null]) {
      const error = await rejection(system.history(id as string));
      expect(error.code).toBe('SYN_ERR_INVALID_ARGUMENT');
    }
  });

  it('50 concurrent turns on one conversation → exactly 50 well-formed turns, each prompt followed by its own answer', async () => {
    const conversationId = 'fifty';
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => system.sendMessage('counter', { prompt: `msg ${i}` }, { conversationId })));
    // Serialized in call order: the i-th call saw i earlier turns.
    results.forEach((r, i) => expect(r.output).toBe(`turns=${i + 1}`));
    const history = await system.history(conversationId);
    expect(isWellFormed(history)).toBe(true);
    const ex = exchanges(history);
    expect(ex).toHaveLength(50);
    ex.forEach((x, i) => expect(x).toEqual({ prompt: `msg ${i}`, answer: `turns=${i + 1}` }));
    expect(new Set(results.map((r) => r.turnId)).size).toBe(50);
  });

  it('retry with the same turnId after success is replayed, not run again', async () => {
    const conversationId = 'idem-ok';
    const first = await system.sendMessage('counter', { prompt: 'once' }, { conversationId, turnId: 'turn-1' });
    expect(first).toMatchObject({ output: 'turns=1', replayed: false, turnId: 'turn-1' });
    const routed: unknown[] = [];
    const off = system.on('message.routed', (e) => routed.push(e));
    const again = await system.sendMessage('counter', { prompt: 'once' }, { conversationId, turnId: 'turn-1' });
    off();
    expect(again).toMatchObject({ output: 'turns=1', replayed: true, turnId: 'turn-1', conversationId });
    expect(again.messages).toEqual(first.messages);
    expect(routed).toEqual([]);
    expect(exchanges(await system.history(conversationId))).toHaveLength(1);
    // The same turn id sent to another agent is a caller bug, not a replay of counter's answer.
    const other = await rejection(system.sendMessage('faults', { prompt: 'once' }, { conversationId, turnId: 'turn-1' }));
    expect(other).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { argument: 'turnId', committedBy: 'counter' } });
    expect(exchanges(await system.history(conversationId))).toHaveLength(1);
  });

  it('retry with the same turnId after a failure runs and commits once', async () => {
    const conversationId = 'idem-fail';
    await system.sendMessage('counter', { prompt: 'first' }, { conversationId });
    const failed = await rejection(system.sendMessage('faults', { prompt: 'raise_error boom' }, { conversationId, turnId: 'retry-me' }));
    expect(failed.code).toBe('SYN_ERR_AGENT_FAILED');
    expect(exchanges(await system.history(conversationId))).toHaveLength(1);
    const retried = await system.sendMessage('counter', { prompt: 'second' }, { conversationId, turnId: 'retry-me' });
    expect(retried).toMatchObject({ output: 'turns=2', replayed: false });
    const replayed = await system.sendMessage('counter', { prompt: 'second' }, { conversationId, turnId: 'retry-me' });
    expect(replayed).toMatchObject({ output: 'turns=2', replayed: true });
    const history = await system.history(conversationId);
    expect(exchanges(history).map((x) => x.prompt)).toEqual(['first', 'second']);
    expect(isWellFormed(history)).toBe(true);
  });

  it('concurrent retries of one turn id run it once', async () => {
    const conversationId = 'idem-race';
    const results = await Promise.all(Array.from({ length: 5 }, () => system.sendMessage('counter', { prompt: 'same' }, { conversationId, turnId: 'race' })));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    for (const r of results) expect(r.output).toBe('turns=1');
    expect(exchanges(await system.history(conversationId))).toHaveLength(1);
  });
});

describe("conversations: policy 'reject'", () => {
  it('a second concurrent turn on a busy conversation → SYN_ERR_CONVERSATION_BUSY; other conversations are unaffected', async () => {
    const { system: sys, stopAndCheck: stop } = await startSystem({ conversations: { policy: 'reject' } });
    try {
      await sys.spawnAgent({ id: 'faults', agent: fixture('faults.py') });
      const slow = sys.sendMessage('faults', { prompt: 'slow 0.3' }, { conversationId: 'busy' });
      const busy = await rejection(sys.sendMessage('faults', { prompt: 'hello' }, { conversationId: 'busy' }));
      expect(busy.code).toBe('SYN_ERR_CONVERSATION_BUSY');
      expect(busy.details.conversationId).toBe('busy');
      const other = await sys.sendMessage('faults', { prompt: 'hello' }, { conversationId: 'free' });
      expect(other.output).toBe('[faults] ok (re: hello)');
      expect((await slow).output).toBe('[faults] slow done after 0.3s (re: slow 0.3)');
      // Free again once the first turn committed.
      expect((await sys.sendMessage('faults', { prompt: 'hello' }, { conversationId: 'busy' })).output).toBe('[faults] ok (re: hello)');
      expect(exchanges(await sys.history('busy')).map((x) => x.prompt)).toEqual(['slow 0.3', 'hello']);
    } finally {
      await stop(true);
    }
  });
});
