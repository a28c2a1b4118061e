// PostgresConversationLease under the TurnSerializer, several "fronts" (each its own pool,
// store, lease and serializer, as separate processes would have) sharing one real PostgreSQL
// database: only the holder commits, `reject` across fronts, takeover on release (NOTIFY) and
// on expiry (the database clock), fencing of an expired holder, renewal, and the same turn id
// on two fronts.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryHistoryStore } from '../../../src/conversation/store.ts';
import { TurnSerializer, type TurnContext } from '../../../src/conversation/turns.ts';
import { PostgresConversationLease, PostgresHistoryStore, type PostgresConversationLeaseOptions } from '../../../src/postgres/index.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { turnMessages } from '../../fixtures/pydantic-messages.ts';
import { usePostgres } from '../../helpers/postgres.ts';
import { codedRejection as rejection } from '../../helpers/errors.ts';
import { answer, deferred, gated } from '../../helpers/turns.ts';

const db = usePostgres({ admin: true });

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Front {
  readonly store: PostgresHistoryStore;
  readonly lease: PostgresConversationLease;
  readonly turns: TurnSerializer;
  readonly pool: pg.Pool;
}

let schemaN = 0;
let schema = '';
async function front(policy: 'queue' | 'reject', lease: Omit<PostgresConversationLeaseOptions, 'store'> = {}): Promise<Front> {
  const pool = new pg.Pool({ connectionString: db.server.connectionString, max: 4, application_name: 'synapse' });
  pool.on('error', () => undefined); // the pool's owner (this test) handles idle-connection errors, as pg requires
  const store = await PostgresHistoryStore.open({ pool, schema, migrate: true });
  const l = new PostgresConversationLease({ store, ...lease });
  const turns = new TurnSerializer({ store, lease: l, policy });
  cleanup.push(async () => {
    await turns.close();
    await l.close();
    await store.close();
    await pool.end();
  });
  return { store, lease: l, turns, pool };
}



/** Turn ids and sequences as stored, and whether any lease is still live. */
async function rows(conversationId: string): Promise<{ turns: Array<[string, number]>; liveLeases: number }> {
  const t = await db.admin.query<{ turn_id: string; seq: number }>(`SELECT turn_id, seq::int FROM ${schema}.turns WHERE conversation_id = $1 ORDER BY seq`, [conversationId]);
  const l = await db.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.conversations WHERE lease_expires >= clock_timestamp()`);
  return { turns: t.rows.map((r) => [r.turn_id, r.seq]), liveLeases: l.rows[0]!.n };
}

/** Connections a front has checked out of its pool right now. */
const checkedOut = (f: Front): number => f.pool.totalCount - f.pool.idleCount;

describe('PostgresConversationLease', () => {
  it('only the holder commits; reject across fronts → SYN_ERR_CONVERSATION_BUSY; a queued front takes over on release; no connection held during the run', async () => {
    schema = `lease_${++schemaN}`;
    const a = await front('queue');
    const b = await front('reject');
    // A queued front that could only learn of the release by NOTIFY: polls once a minute.
    const c = await front('queue', { pollMaxMs: 60_000 });
    const runA = gated('a');
    const ra = a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, runA.fn);
    await runA.started;
    expect(checkedOut(a)).toBe(0);
    const inTx = await db.admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'synapse' AND state LIKE 'idle in transaction%'");
    expect(inTx.rows[0]).toEqual({ n: 0 });

    const busy = await rejection(b.turns.run({ conversationId: 'conv', turnId: 't-b', agent: 'bot' }, answer('b')));
    expect(busy).toMatchObject({ code: 'SYN_ERR_CONVERSATION_BUSY', details: { conversationId: 'conv', turnId: 't-b', holder: a.lease.owner } });

    let seenByC: readonly unknown[] | undefined;
    const rc = c.turns.run({ conversationId: 'conv', turnId: 't-c', agent: 'bot' }, async (ctx) => {
      seenByC = ctx.history;
      return answer('c')();
    });
    runA.open();
    expect((await ra).replayed).toBe(false);
    expect((await rc).output).toBe('c');
    expect(seenByC).toEqual(turnMessages('p-a', 'a-a')); // C ran after A committed, on A's history
    expect(await rows('conv')).toEqual({ turns: [['t-a', 0], ['t-c', 1]], liveLeases: 0 });
    expect([checkedOut(a), checkedOut(b), checkedOut(c)]).toEqual([0, 0, 0]);
  }, 30_000);

  it('a holder whose lease expired (its renewals paused) is fenced with SYN_ERR_LEASE_LOST, nothing committed; its retry commits once, after the new holder', async () => {
    schema = `lease_${++schemaN}`;
    const paused = new SimulatedClock(); // never advanced: this front's renewal timer never fires
    const a = await front('queue', { ttlMs: 300, renewMs: 100, clock: paused });
    const b = await front('queue');
    const runA = gated('a');
    const ra = rejection(a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, runA.fn));
    await runA.started;
    // B waits for A's 300 ms lease to run out on the database clock, then takes it and runs.
    const runB = gated('b');
    const rb = b.turns.run({ conversationId: 'conv', turnId: 't-b', agent: 'bot' }, runB.fn);
    await runB.started;
    // A finishes while B holds the lease and has not committed: the sequence still matches,
    // the token does not.
    runA.open();
    expect(await ra).toMatchObject({ code: 'SYN_ERR_LEASE_LOST', details: { conversationId: 'conv', turnId: 't-a', token: '1' } });
    expect((await rows('conv')).turns).toEqual([]);
    runB.open();
    expect((await rb).replayed).toBe(false);
    expect((await rows('conv')).turns).toEqual([['t-b', 0]]);
    // Retryable with the same turn id: runs once, commits after B's turn; a further retry replays.
    const retry = await a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, answer('a'));
    expect(retry).toMatchObject({ replayed: false, output: 'a' });
    expect((await a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, answer('never'))).replayed).toBe(true);
    expect(await rows('conv')).toEqual({ turns: [['t-b', 0], ['t-a', 1]], liveLeases: 0 });
  }, 30_000);

  it('renewals extend the lease; a renewal that finds it taken over aborts the run with SYN_ERR_LEASE_LOST', async () => {
    schema = `lease_${++schemaN}`;
    const clock = new SimulatedClock();
    const a = await front('queue', { ttlMs: 30_000, renewMs: 10_000, clock });
    const b = await front('reject');
    const started = deferred<TurnContext>();
    const ra = rejection(
      a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, async (ctx) => {
        started.resolve(ctx);
        await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('run cancelled')), { once: true }));
        throw new Error('unreachable');
      }),
    );
    const ctx = await started.promise;
    const expiry = async (): Promise<number> => (await db.admin.query<{ e: Date }>(`SELECT lease_expires AS e FROM ${schema}.conversations WHERE id = 'conv'`)).rows[0]!.e.getTime();
    const before = await expiry();
    await clock.advance(10_000);
    const renewed = await waitFor(async () => (await expiry()) > before);
    expect(renewed).toBe(true);
    expect(ctx.signal.aborted).toBe(false);
    // The lease runs out while this front is paused (simulated on the database clock), B takes it over.
    await db.admin.query(`UPDATE ${schema}.conversations SET lease_expires = clock_timestamp() - interval '1 second' WHERE id = 'conv'`);
    expect((await b.turns.run({ conversationId: 'conv', turnId: 't-b', agent: 'bot' }, answer('b'))).replayed).toBe(false);
    await clock.advance(10_000); // A's next renewal finds the token gone
    expect(await ra).toMatchObject({ code: 'SYN_ERR_LEASE_LOST', details: { conversationId: 'conv', turnId: 't-a' } });
    expect(ctx.signal.reason).toMatchObject({ code: 'SYN_ERR_LEASE_LOST' });
    expect(await rows('conv')).toEqual({ turns: [['t-b', 0]], liveLeases: 0 });
  }, 30_000);

  it('the same turn id on two fronts at once: one run, one row, the second front replays', async () => {
    schema = `lease_${++schemaN}`;
    const a = await front('queue');
    const b = await front('queue');
    const runA = gated('a');
    const ra = a.turns.run({ conversationId: 'conv', turnId: 'same', agent: 'bot' }, runA.fn);
    await runA.started;
    let bRan = false;
    const rb = b.turns.run({ conversationId: 'conv', turnId: 'same', agent: 'bot' }, async () => {
      bRan = true;
      return answer('b')();
    });
    runA.open();
    expect((await ra).replayed).toBe(false);
    expect(await rb).toMatchObject({ replayed: true, output: 'a' });
    expect(bRan).toBe(false);
    expect(await rows('conv')).toEqual({ turns: [['same', 0]], liveLeases: 0 });
  }, 30_000);

  it('a queued wait ends on abort (SYN_ERR_ABORTED) and on close (SYN_ERR_SHUTDOWN), releasing the LISTEN connection', async () => {
    schema = `lease_${++schemaN}`;
    const a = await front('queue');
    const b = await front('queue');
    const runA = gated('a');
    const ra = a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, runA.fn);
    await runA.started;
    const ac = new AbortController();
    const rb = rejection(b.turns.run({ conversationId: 'conv', turnId: 't-b', agent: 'bot', signal: ac.signal }, answer('b')));
    await waitFor(async () => checkedOut(b) === 1); // the LISTEN connection of B's wait
    ac.abort();
    expect((await rb).code).toBe('SYN_ERR_ABORTED');
    await waitFor(async () => checkedOut(b) === 0);
    expect(checkedOut(b)).toBe(0);
    const waiting = rejection(b.lease.acquire({ conversationId: 'conv', turnId: 't-c', policy: 'queue' }));
    await waitFor(async () => checkedOut(b) === 1);
    await b.lease.close();
    expect((await waiting).code).toBe('SYN_ERR_SHUTDOWN');
    expect(checkedOut(b)).toBe(0);
    runA.open();
    await ra;
  }, 30_000);

  it('rejects bad options with SYN_ERR_INVALID_OPTION', async () => {
    schema = `lease_${++schemaN}`;
    const a = await front('queue');
    expect(() => new PostgresConversationLease({ store: a.store, ttlMs: 1_000, renewMs: 1_000 })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'PostgresConversationLease.renewMs' }) }));
    expect(() => new PostgresConversationLease({ store: new MemoryHistoryStore() as never })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'PostgresConversationLease.store' }) }));
    expect(() => new TurnSerializer({ store: new MemoryHistoryStore(), lease: a.lease })).toThrow(expect.objectContaining({ code: 'SYN_ERR_INVALID_OPTION', details: expect.objectContaining({ option: 'TurnSerializer.lease' }) }));
  });
});

/** Re-checks `cond` after each database round trip (no timers), up to 1 000 times. */
async function waitFor(cond: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 1_000; i++) {
    if (await cond()) return true;
    await db.admin.query('SELECT 1');
  }
  return false;
}
