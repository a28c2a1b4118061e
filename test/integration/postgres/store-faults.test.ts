// PostgresHistoryStore under injected faults on a real server: a backend terminated mid-commit,
// the server stopped immediately mid-commit and restarted, the server down, and schema
// version checks. Every acked turn must be present exactly once afterwards.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { TurnInput } from '../../../src/conversation/store.ts';
import { PostgresConversationLease, PostgresHistoryStore } from '../../../src/postgres/index.ts';
import { turnMessages } from '../../fixtures/pydantic-messages.ts';
import { usePostgres } from '../../helpers/postgres.ts';
import { codedRejection as rejection } from '../../helpers/errors.ts';

const db = usePostgres();

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

let n = 0;
async function open(options: { schema?: string; migrate?: boolean } = {}): Promise<PostgresHistoryStore> {
  const s = await PostgresHistoryStore.open({ connectionString: db.server.connectionString, schema: options.schema ?? `faults_${++n}`, migrate: options.migrate ?? true });
  cleanup.push(() => s.close());
  return s;
}

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db.server.connectionString, application_name: 'test-admin' });
  c.on('error', () => undefined); // a server stop ends this connection too; the test checks the store, not the admin client
  await c.connect();
  cleanup.push(() => c.end().catch(() => undefined));
  return c;
}

function turn(conversationId: string, turnId: string): TurnInput {
  return { conversationId, turnId, agent: 'bot', at: 1_700_000_000_000, messages: turnMessages(`p-${turnId}`, `a-${turnId}`) };
}


/**
 * Holds the conversation row's lock from another connection so the store's commit blocks
 * inside its transaction, and resolves with the blocked backend's pid once it waits.
 */
async function blockCommits(store: PostgresHistoryStore, conversationId: string): Promise<{ blocked: () => Promise<number>; release: () => Promise<void> }> {
  const admin = await client();
  await admin.query('BEGIN');
  await admin.query(`SELECT 1 FROM ${store.schema}.conversations WHERE id = $1 FOR UPDATE`, [conversationId]);
  return {
    async blocked() {
      for (let i = 0; i < 10_000; i++) {
        const r = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'synapse' AND wait_event_type = 'Lock'");
        if (r.rows[0] !== undefined) return r.rows[0].pid;
      }
      throw new Error('the commit never blocked');
    },
    async release() {
      await admin.query('ROLLBACK').catch(() => undefined); // gone with the server in the stop test
    },
  };
}

describe('PostgresHistoryStore faults', () => {
  it('a backend terminated mid-commit → SYN_ERR_STORE_IO; a retry with the same turn id commits exactly once', async () => {
    const s = await open();
    expect(await s.commit(turn('c', 't1'))).toBe('committed');
    const block = await blockCommits(s, 'c');
    const pending = rejection(s.commit(turn('c', 't2'))); // handled from the start: it rejects while we wait below
    const pid = await block.blocked();
    const admin = await client();
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await pending;
    expect(err).toMatchObject({ code: 'SYN_ERR_STORE_IO', details: { op: 'commit', sqlState: '57P01' } });
    await block.release();
    expect(await s.commit(turn('c', 't2'))).toBe('committed');
    expect(await s.commit(turn('c', 't2'))).toBe('duplicate');
    expect((await s.load('c')).map((t) => t.turnId)).toEqual(['t1', 't2']);
  });

  it('server stopped immediately mid-commit → SYN_ERR_STORE_IO; after restart every acked turn is there and the retry commits once', async () => {
    const s = await open();
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) {
      expect(await s.commit(turn('c', `t${i}`))).toBe('committed');
      acked.push(`t${i}`);
    }
    const block = await blockCommits(s, 'c');
    const pending = rejection(s.commit(turn('c', 'lost'))); // handled from the start: it rejects while the server stops
    await block.blocked();
    await db.server.stop('immediate');
    expect((await pending).code).toBe('SYN_ERR_STORE_IO');
    // Down: a coded error, not a hang.
    expect(await rejection(s.load('c'))).toMatchObject({ code: 'SYN_ERR_STORE_IO', details: { op: 'load', errno: 'ECONNREFUSED' } });
    expect(await rejection(s.commit(turn('c', 'lost')))).toMatchObject({ code: 'SYN_ERR_STORE_IO', details: { op: 'commit' } });
    const lease = new PostgresConversationLease({ store: s });
    expect(await rejection(lease.acquire({ conversationId: 'c', turnId: 'lost', policy: 'queue' }))).toMatchObject({ code: 'SYN_ERR_STORE_IO', details: { op: 'lease acquire', errno: 'ECONNREFUSED' } });
    await lease.close();
    await db.server.start();
    expect(await s.commit(turn('c', 'lost'))).toBe('committed');
    expect(await s.commit(turn('c', 'lost'))).toBe('duplicate');
    expect((await s.load('c')).map((t) => t.turnId)).toEqual([...acked, 'lost']);
  });

  it('open refuses an unmigrated schema and a newer one with SYN_ERR_STORE_SCHEMA, changing nothing', async () => {
    const unmigrated = await rejection(PostgresHistoryStore.open({ connectionString: db.server.connectionString, schema: 'never_migrated' }));
    expect(unmigrated).toMatchObject({ code: 'SYN_ERR_STORE_SCHEMA', details: { schema: 'never_migrated', found: null, expected: 1, option: 'migrate' } });
    const admin = await client();
    expect((await admin.query("SELECT 1 FROM pg_namespace WHERE nspname = 'never_migrated'")).rows).toEqual([]);

    const s = await open({ schema: 'from_the_future' });
    await s.close();
    await admin.query('UPDATE from_the_future.synapse_schema_version SET version = 99');
    for (const migrate of [false, true]) {
      const newer = await rejection(PostgresHistoryStore.open({ connectionString: db.server.connectionString, schema: 'from_the_future', migrate }));
      expect(newer).toMatchObject({ code: 'SYN_ERR_STORE_SCHEMA', details: { found: 99, expected: 1 } });
    }
  });

  it('migrate is idempotent and safe to race; a migrated schema opens without migrate', async () => {
    const stores = await Promise.all([0, 1, 2].map(() => open({ schema: 'raced' })));
    await stores[0]!.commit(turn('c', 't'));
    const plain = await open({ schema: 'raced', migrate: false });
    expect((await plain.load('c')).map((t) => t.turnId)).toEqual(['t']);
  });

  it('a pool passed in is used and not ended by close; connection refused at open → SYN_ERR_STORE_IO', async () => {
    const pool = new pg.Pool({ connectionString: db.server.connectionString });
    pool.on('error', () => undefined); // the pool's owner (this test) handles idle-connection errors, as pg requires
    cleanup.push(() => pool.end());
    const s = await PostgresHistoryStore.open({ pool, schema: 'own_pool', migrate: true });
    await s.commit(turn('c', 't'));
    await s.close();
    expect((await pool.query('SELECT count(*)::int AS n FROM own_pool.turns')).rows[0]).toEqual({ n: 1 });
    const dead = `postgres://postgres:x@127.0.0.1:${db.server.port === 1 ? 2 : 1}/postgres`;
    expect(await rejection(PostgresHistoryStore.open({ connectionString: dead }))).toMatchObject({ code: 'SYN_ERR_STORE_IO', details: { op: 'open', errno: 'ECONNREFUSED' } });
    expect(await rejection(PostgresHistoryStore.open({ pool, connectionString: dead }))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION' });
    expect(await rejection(PostgresHistoryStore.open({ connectionString: dead, schema: 'Bad-Name' }))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'PostgresHistoryStore.schema' } });
  });
});
