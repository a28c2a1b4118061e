// Synapse.start({ history, lease }) end to end: two systems ("fronts") in one process, each with
// its own pool, PostgresHistoryStore and PostgresConversationLease on one real PostgreSQL
// database, each running a real Python agent. With `policy: 'reject'` a turn on a conversation
// another front is running fails SYN_ERR_CONVERSATION_BUSY; only the holder commits; a turn id
// committed by one front replays on the other.
import { describe, expect, it } from 'vitest';
import { PostgresConversationLease, PostgresHistoryStore } from '../../../src/postgres/index.ts';
import { usePostgres } from '../../helpers/postgres.ts';
import { fixture, rejection, startSystem } from '../../helpers/system.ts';

const db = usePostgres({ admin: true });

async function frontSystem() {
  const history = await PostgresHistoryStore.open({ connectionString: db.server.connectionString, schema: 'fronts', migrate: true, poolSize: 4 });
  const lease = new PostgresConversationLease({ store: history });
  const s = await startSystem({ history, lease, conversations: { policy: 'reject' } });
  await s.system.spawnAgent({ id: 'bot', agent: fixture('faults.py') });
  return s;
}

/** Re-checks `cond` after each database round trip (no timers). */
async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 10_000; i++) if (await cond()) return;
  throw new Error('condition never held');
}

const liveLeases = async (): Promise<number> => (await db.admin.query<{ n: number }>('SELECT count(*)::int AS n FROM fronts.conversations WHERE lease_expires >= clock_timestamp()')).rows[0]!.n;

describe('Synapse.start({ lease }) across two fronts', () => {
  it('reject across fronts → SYN_ERR_CONVERSATION_BUSY; only the holder commits; a committed turn id replays on the other front', async () => {
    const [a, b] = await Promise.all([frontSystem(), frontSystem()]);
    try {
      const first = a.system.sendMessage('bot', { prompt: 'slow 1.5' }, { conversationId: 'c', turnId: 't1' });
      await waitFor(async () => (await liveLeases()) === 1); // A holds the lease while its Python run sleeps
      const busy = await rejection(b.system.sendMessage('bot', { prompt: 'hello' }, { conversationId: 'c', turnId: 't2' }));
      expect(busy).toMatchObject({ code: 'SYN_ERR_CONVERSATION_BUSY', details: { conversationId: 'c', turnId: 't2' } });
      expect((await first).output).toMatch(/slow done/);

      const second = await b.system.sendMessage('bot', { prompt: 'hello' }, { conversationId: 'c', turnId: 't2' });
      expect(second.replayed).toBe(false);
      const replay = await b.system.sendMessage('bot', { prompt: 'slow 1.5' }, { conversationId: 'c', turnId: 't1' });
      expect(replay).toMatchObject({ replayed: true, output: (await first).output });

      const rows = await db.admin.query<{ turn_id: string; seq: number }>("SELECT turn_id, seq::int FROM fronts.turns WHERE conversation_id = 'c' ORDER BY seq");
      expect(rows.rows).toEqual([{ turn_id: 't1', seq: 0 }, { turn_id: 't2', seq: 1 }]);
      expect(await liveLeases()).toBe(0);
      expect(await a.system.history('c')).toEqual(await b.system.history('c'));
    } finally {
      await a.stopAndCheck(true);
      await b.stopAndCheck();
    }
  }, 120_000);

  it('a lease on another store than history is refused with SYN_ERR_INVALID_OPTION', async () => {
    const history = await PostgresHistoryStore.open({ connectionString: db.server.connectionString, schema: 'fronts', migrate: true, poolSize: 1 });
    try {
      const lease = new PostgresConversationLease({ store: history });
      const err = await rejection(startSystem({ history: { dir: '/nonexistent-never-opened' }, lease }));
      expect(err).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'lease' } });
    } finally {
      await history.close();
    }
  });
});
