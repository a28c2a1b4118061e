// Property: under any interleaving of concurrent turns, failures, malformed outputs, retries
// and aborts across a few conversations, each conversation's history is exactly the acked
// turns in ack order, none twice, and always well-formed. Interleavings come from
// fc.scheduler(): every turn's Python run and every store commit is a scheduled task.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWellFormed } from '../../src/conversation/history.ts';
import { MemoryHistoryStore, historyOf } from '../../src/conversation/store.ts';
import type { CommitOutcome, HistoryStore, TurnInput } from '../../src/conversation/store.ts';
import { TurnSerializer } from '../../src/conversation/turns.ts';
import type { TurnResult } from '../../src/conversation/turns.ts';
import { isSynapseError } from '../../src/errors.ts';
import { toolCallResponse, turnMessages, userRequest } from '../fixtures/pydantic-messages.ts';

type Outcome = 'ok' | 'fail' | 'malformed';
interface Cmd {
  conv: number;
  turn: number; // small range: repeats are retries of the same turn id
  outcome: Outcome;
  tools: number;
  abort: boolean;
}

const cmdArb: fc.Arbitrary<Cmd> = fc.record({
  conv: fc.nat({ max: 2 }),
  turn: fc.nat({ max: 7 }),
  outcome: fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'fail', 'malformed'),
  tools: fc.nat({ max: 2 }),
  abort: fc.boolean(),
});

/** A store whose commits complete only when the scheduler says so (a slow fsync). */
function scheduledStore(inner: HistoryStore, s: fc.Scheduler): HistoryStore {
  return {
    load: (c) => inner.load(c),
    getTurn: (c, t) => inner.getTurn(c, t),
    hasTurn: (c, t) => inner.hasTurn(c, t),
    list: () => inner.list(),
    delete: (c) => inner.delete(c),
    close: () => inner.close(),
    commit: async (turn: TurnInput): Promise<CommitOutcome> => {
      await s.schedule(Promise.resolve(), `commit ${turn.conversationId}/${turn.turnId}`);
      return inner.commit(turn);
    },
  };
}

describe('TurnSerializer property', () => {
  it('history = exactly the acked turns in order, none twice, always well-formed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(cmdArb, { minLength: 1, maxLength: 25 }), fc.constantFrom<'queue' | 'reject'>('queue', 'queue', 'reject'), async (s, cmds, policy) => {
        const inner = new MemoryHistoryStore();
        const turns = new TurnSerializer({ store: scheduledStore(inner, s), policy, maxQueue: 8 });
        const acked = new Map<string, string[]>(); // conversation → turn ids in ack order (fresh commits)
        const replayed: Array<[string, string]> = [];
        const settled: string[] = [];

        const calls = cmds.map((cmd, i) => {
          const conversationId = `conv-${cmd.conv}`;
          const turnId = `turn-${cmd.turn}`;
          const ac = new AbortController();
          if (cmd.abort) void s.schedule(Promise.resolve(), `abort call ${i}`).then(() => ac.abort());
          const call = s
            .schedule(Promise.resolve(), `start call ${i}`)
            .then(() =>
              turns.run({ conversationId, turnId, agent: 'bot', signal: ac.signal }, async () => {
                await s.schedule(Promise.resolve(), `python run ${i}`);
                if (cmd.outcome === 'fail') throw Object.assign(new Error('agent raised'), { code: 'SYN_ERR_AGENT_FAILED' });
                if (cmd.outcome === 'malformed') return { messages: [userRequest(`q${i}`), toolCallResponse([{ id: `dangling-${i}`, tool: 't' }])] };
                return { messages: turnMessages(`q${i}`, `a${i}`, { tools: cmd.tools, tag: `${i}` }), output: `a${i}` };
              }),
            )
            .then(
              (r: TurnResult) => {
                settled.push(`ok ${i}`);
                if (r.replayed) replayed.push([conversationId, turnId]);
                else acked.set(conversationId, [...(acked.get(conversationId) ?? []), turnId]);
              },
              (err: unknown) => {
                settled.push(`err ${i}`);
                // every rejection is a coded error
                if (!isSynapseError(err) && (err as { code?: unknown }).code !== 'SYN_ERR_AGENT_FAILED') throw err;
              },
            );
          return call;
        });
        await s.waitFor(Promise.all(calls));

        expect(settled).toHaveLength(cmds.length); // every call settled exactly once
        for (const conversationId of ['conv-0', 'conv-1', 'conv-2']) {
          const stored = await inner.load(conversationId);
          const ids = stored.map((t) => t.turnId);
          expect(ids).toEqual(acked.get(conversationId) ?? []);
          expect(new Set(ids).size).toBe(ids.length);
          expect(isWellFormed(historyOf(stored))).toBe(true);
        }
        for (const [c, t] of replayed) expect(acked.get(c)).toContain(t);
        expect(turns.pending('conv-0') + turns.pending('conv-1') + turns.pending('conv-2')).toBe(0);
        await turns.close();
      }),
      // 200 runs by default; FC_NUM_RUNS (test/setup.ts) raises it for the long run.
      { ...(process.env.FC_NUM_RUNS === undefined ? { numRuns: 200 } : {}), timeout: 10_000 },
    );
  });
});
