/**
 * The {@link HistoryStore} contract as a function of a store factory: every store (memory,
 * journal, PostgreSQL) runs exactly these cases. Applied by
 * test/unit/conversation/store-contract.test.ts and test/integration/postgres/store-contract.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { historyOf } from '../../src/conversation/store.ts';
import type { HistoryStore, TurnInput } from '../../src/conversation/store.ts';
import { isSynapseError } from '../../src/errors.ts';
import { turnMessages } from '../fixtures/pydantic-messages.ts';

/** Opens a fresh, empty store with these limits (or rejects as the store's open does); the caller cleans it up. */
export type StoreFactory = (limits?: { maxTurnBytes?: number; maxMessagesPerConversation?: number }) => Promise<HistoryStore>;

function turn(conversationId: string, turnId: string, extra: Partial<TurnInput> = {}): TurnInput {
  return { conversationId, turnId, agent: 'bot', at: 1_700_000_000_000, messages: turnMessages(`p-${turnId}`, `a-${turnId}`), ...extra };
}

async function rejectCode(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return isSynapseError(err) ? { code: err.code, ...err.details } : err;
  }
}

export function describeStoreContract(name: string, make: StoreFactory): void {
  describe(name, () => {
    it('commits and loads turns in order, with output and usage', async () => {
      const s = await make();
      expect(await s.load('c1')).toEqual([]);
      expect(await s.commit(turn('c1', 't1', { output: { answer: 42 }, usage: { requests: 1 } }))).toBe('committed');
      expect(await s.commit(turn('c1', 't2'))).toBe('committed');
      const turns = await s.load('c1');
      expect(turns.map((t) => t.turnId)).toEqual(['t1', 't2']);
      expect(turns[0]).toEqual({ conversationId: 'c1', turnId: 't1', agent: 'bot', at: 1_700_000_000_000, messages: turnMessages('p-t1', 'a-t1'), output: { answer: 42 }, usage: { requests: 1 } });
      expect(turns[1]!.output).toBeUndefined();
      expect(historyOf(turns)).toEqual([...turnMessages('p-t1', 'a-t1'), ...turnMessages('p-t2', 'a-t2')]);
      expect(await s.getTurn('c1', 't1')).toEqual(turns[0]);
      expect(await s.getTurn('c1', 'nope')).toBeUndefined();
      expect(await s.hasTurn('c1', 't2')).toBe(true);
      expect(await s.hasTurn('c2', 't2')).toBe(false);
    });

    it('a second commit of a turn id is a no-op returning duplicate', async () => {
      const s = await make();
      expect(await s.commit(turn('c1', 't1'))).toBe('committed');
      expect(await s.commit(turn('c1', 't1', { messages: turnMessages('other', 'other') }))).toBe('duplicate');
      const turns = await s.load('c1');
      expect(turns).toHaveLength(1);
      expect(turns[0]!.messages).toEqual(turnMessages('p-t1', 'a-t1'));
      // the same turn id in another conversation is a different turn
      expect(await s.commit(turn('c2', 't1'))).toBe('committed');
    });

    it('concurrent commits: different conversations all land, one conversation keeps call order and no duplicates', async () => {
      const s = await make();
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        ops.push(s.commit(turn(`conv-${i % 4}`, `t${i}`)));
        ops.push(s.commit(turn(`conv-${i % 4}`, `t${i}`))); // a racing retry
      }
      const outcomes = await Promise.all(ops);
      expect(outcomes.filter((o) => o === 'committed')).toHaveLength(20);
      for (let c = 0; c < 4; c++) {
        const ids = (await s.load(`conv-${c}`)).map((t) => t.turnId);
        expect(ids).toEqual([0, 1, 2, 3, 4].map((k) => `t${k * 4 + c}`));
      }
      expect((await s.list()).sort()).toEqual(['conv-0', 'conv-1', 'conv-2', 'conv-3']);
    });

    it('rejects bad ids and bad turns with SYN_ERR_INVALID_ARGUMENT', async () => {
      const s = await make();
      expect(await rejectCode(s.commit(turn('', 't')))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'conversationId' });
      expect(await rejectCode(s.commit(turn('c', 'a\nb')))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'turnId' });
      expect(await rejectCode(s.commit(turn('c', 't', { agent: '' })))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'agent' });
      expect(await rejectCode(s.commit(turn('c', 't', { messages: 'x' as never })))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'messages' });
      expect(await rejectCode(s.commit(turn('c', 't', { at: Number.NaN })))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'at' });
      expect(await rejectCode(s.commit(turn('c', 't', { output: 10n })))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'turn' });
      expect(await rejectCode(s.load('x'.repeat(201)))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'conversationId' });
      expect(await rejectCode(s.getTurn('c', ''))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'turnId' });
      expect(await s.list()).toEqual([]);
    });

    it('enforces maxTurnBytes and maxMessagesPerConversation without committing', async () => {
      const s = await make({ maxTurnBytes: 2_000, maxMessagesPerConversation: 5 });
      expect(await rejectCode(s.commit(turn('c', 'big', { output: 'x'.repeat(2_000) })))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'turn' });
      expect(await s.commit(turn('c', 't1'))).toBe('committed'); // 2 messages
      expect(await s.commit(turn('c', 't2'))).toBe('committed'); // 4 messages
      expect(await rejectCode(s.commit(turn('c', 't3')))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'messages', current: 4, adding: 2, max: 5 });
      expect((await s.load('c')).map((t) => t.turnId)).toEqual(['t1', 't2']);
      expect(await s.commit(turn('other', 't3'))).toBe('committed');
    });

    it('stores a copy: mutating the committed messages afterwards changes nothing', async () => {
      const s = await make();
      const messages = turnMessages('p', 'a');
      await s.commit(turn('c', 't', { messages }));
      (messages[0] as { kind: string }).kind = 'mutated';
      messages.push({ kind: 'request', parts: [] });
      expect((await s.load('c'))[0]!.messages).toEqual(turnMessages('p', 'a'));
    });

    it('keeps values exactly: a null output, a NUL character, unicode, key order, fractional at', async () => {
      const s = await make();
      const messages = [{ kind: 'request', parts: [{ part_kind: 'user-prompt', content: 'nul\u0000 é 😀 "q"', z: 1, a: 2 }] }, { kind: 'response', parts: [] }];
      await s.commit(turn('c', 't', { messages, output: null, usage: { b: 1, a: [1.5, -0.25, 1e21] }, at: 1_700_000_000_000.5 }));
      const [stored] = await s.load('c');
      expect(stored).toEqual({ conversationId: 'c', turnId: 't', agent: 'bot', at: 1_700_000_000_000.5, messages, output: null, usage: { b: 1, a: [1.5, -0.25, 1e21] } });
      expect(Object.keys(stored!.messages[0] as object)).toEqual(['kind', 'parts']);
      expect(Object.keys((stored!.messages[0] as { parts: object[] }).parts[0]!)).toEqual(['part_kind', 'content', 'z', 'a']);
    });

    it('delete removes a conversation', async () => {
      const s = await make();
      await s.commit(turn('c', 't'));
      expect(await s.delete('c')).toBe(true);
      expect(await s.delete('c')).toBe(false);
      expect(await s.load('c')).toEqual([]);
      expect(await s.hasTurn('c', 't')).toBe(false);
      expect(await s.commit(turn('c', 't'))).toBe('committed');
    });

    it('close is idempotent and later calls reject with SYN_ERR_SHUTDOWN', async () => {
      const s = await make();
      const pending = s.commit(turn('c', 't'));
      await Promise.all([s.close(), s.close()]);
      expect(await pending).toBe('committed');
      await s.close();
      expect(await rejectCode(s.load('c'))).toMatchObject({ code: 'SYN_ERR_SHUTDOWN' });
      expect(await rejectCode(s.commit(turn('c', 't2')))).toMatchObject({ code: 'SYN_ERR_SHUTDOWN' });
    });

    it('rejects unknown and ill-typed options with SYN_ERR_INVALID_OPTION', async () => {
      await expect(make({ maxTurnBytes: 0 })).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: expect.stringMatching(/maxTurnBytes$/) } });
      await expect(make({ bogus: 1 } as never)).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: expect.stringMatching(/bogus$/) } });
    });
  });
}
