// Metrics of the shared-conversation path against a real PostgreSQL (test/helpers/postgres.ts):
// TurnSerializers over PostgresHistoryStore + PostgresConversationLease ("fronts" in one
// process), each reporting its turn events to a SynapseMetrics registry, read as Prometheus
// text. Lease waits (granted after a real wait, busy under policy reject), lease losses (fenced
// by the commit; lost at renewal) and store commit latency by store kind (postgres, and the
// journal store on a real directory) are each driven by the real store and lease.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { JournalHistoryStore } from '../../../src/conversation/journal.ts';
import type { HistoryStore } from '../../../src/conversation/store.ts';
import { TurnSerializer, type TurnContext } from '../../../src/conversation/turns.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import { SynapseMetrics } from '../../../src/observe/metrics.ts';
import { PostgresConversationLease, PostgresHistoryStore, type PostgresConversationLeaseOptions } from '../../../src/postgres/index.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { usePostgres } from '../../helpers/postgres.ts';
import { codedRejection } from '../../helpers/errors.ts';
import { answer, deferred, gated } from '../../helpers/turns.ts';
import { promSample } from '../../helpers/prom.ts';
import { tempDir } from '../../helpers/system.ts';

const db = usePostgres({ admin: true });

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Front {
  readonly turns: TurnSerializer;
  readonly metrics: SynapseMetrics;
}

let schemaN = 0;
let schema = '';

function observed(store: HistoryStore, lease: PostgresConversationLease | undefined, policy: 'queue' | 'reject'): Front {
  const events = new SynapseEventEmitter();
  const metrics = new SynapseMetrics();
  metrics.bindEvents(events);
  const turns = new TurnSerializer({ store, events, policy, ...(lease === undefined ? {} : { lease }) });
  cleanup.push(async () => {
    await turns.close();
    metrics.close();
  });
  return { turns, metrics };
}

async function front(policy: 'queue' | 'reject', lease: Omit<PostgresConversationLeaseOptions, 'store'> = {}): Promise<Front> {
  const pool = new pg.Pool({ connectionString: db.server.connectionString, max: 4, application_name: 'synapse' });
  pool.on('error', () => undefined);
  const store = await PostgresHistoryStore.open({ pool, schema, migrate: true });
  const l = new PostgresConversationLease({ store, ...lease });
  cleanup.push(async () => {
    await l.close();
    await store.close();
    await pool.end();
  });
  return observed(store, l, policy);
}



const codeOf = async (p: Promise<unknown>): Promise<string> => (await codedRejection(p)).code;

const text = (f: Front): Promise<string> => f.metrics.text();

describe('lease and store metrics (real PostgreSQL)', () => {
  it('lease waits: granted at once, granted after waiting for the holder (the wait is measured), busy under policy reject; postgres commit latency', async () => {
    schema = `metrics_${++schemaN}`;
    const a = await front('queue');
    const b = await front('queue');
    const c = await front('reject');
    await a.turns.run({ conversationId: 'free', turnId: 't0', agent: 'bot' }, answer('0')); // uncontended

    const runA = gated('a');
    const ra = a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, runA.fn);
    await runA.started; // A holds the lease
    const bStarted = performance.now();
    const rb = b.turns.run({ conversationId: 'conv', turnId: 't-b', agent: 'bot' }, answer('b'));
    expect(await codeOf(c.turns.run({ conversationId: 'conv', turnId: 't-c', agent: 'bot' }, answer('c')))).toBe('SYN_ERR_CONVERSATION_BUSY');
    // B is waiting in acquire (polling the database) while the holder still runs: let A run a while longer, measured.
    for (let i = 0; i < 20; i++) await db.admin.query('SELECT 1');
    runA.open();
    await ra;
    const heldFor = performance.now() - bStarted;
    await rb;

    const ta = await text(a);
    expect(promSample(ta, 'synapse_lease_wait_seconds_count', { outcome: 'granted' })).toBe(2);
    expect(promSample(ta, 'synapse_store_commit_duration_seconds_count', { store: 'postgres', outcome: 'committed' })).toBe(2);
    const commitSum = promSample(ta, 'synapse_store_commit_duration_seconds_sum', { store: 'postgres', outcome: 'committed' })!;
    expect(commitSum).toBeGreaterThan(0); // a real transaction round trip
    expect(commitSum).toBeLessThan(10);

    const tb = await text(b);
    expect(promSample(tb, 'synapse_lease_wait_seconds_count', { outcome: 'granted' })).toBe(1);
    // B's wait covered at least the time A still held the lease after B asked (less the time A took to commit and release).
    expect(promSample(tb, 'synapse_lease_wait_seconds_sum', { outcome: 'granted' })! * 1000).toBeGreaterThanOrEqual(heldFor * 0.5);

    const tc = await text(c);
    expect(promSample(tc, 'synapse_lease_wait_seconds_count', { outcome: 'busy' })).toBe(1);
    expect(promSample(tc, 'synapse_lease_wait_seconds_count', { outcome: 'granted' })).toBeUndefined();
    expect(promSample(tc, 'synapse_store_commit_duration_seconds_count', { store: 'postgres', outcome: 'committed' })).toBeUndefined(); // nothing committed
    expect(tc).not.toMatch(/^synapse_lease_lost_total\{/m);
  }, 30_000);

  it('a fenced commit (lease expired, taken over) counts a lease loss "fenced" and a failed commit', async () => {
    schema = `metrics_${++schemaN}`;
    const paused = new SimulatedClock(); // never advanced: A's renewals never run
    const a = await front('queue', { ttlMs: 300, renewMs: 100, clock: paused });
    const b = await front('queue');
    const runA = gated('a');
    const ra = codeOf(a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, runA.fn));
    await runA.started;
    const runB = gated('b');
    const rb = b.turns.run({ conversationId: 'conv', turnId: 't-b', agent: 'bot' }, runB.fn);
    await runB.started; // B took over after A's lease ran out on the database clock
    runA.open();
    expect(await ra).toBe('SYN_ERR_LEASE_LOST');
    runB.open();
    await rb;
    const ta = await text(a);
    expect(promSample(ta, 'synapse_lease_lost_total', { reason: 'fenced' })).toBe(1);
    expect(promSample(ta, 'synapse_lease_lost_total', { reason: 'renewal' })).toBeUndefined();
    expect(promSample(ta, 'synapse_store_commit_duration_seconds_count', { store: 'postgres', outcome: 'failed' })).toBe(1);
    expect(promSample(ta, 'synapse_turns_total', { agent: 'bot', outcome: 'failed' })).toBe(1);
    expect((await text(b)).match(/^synapse_lease_lost_total\{/m)).toBeNull();
  }, 30_000);

  it('a renewal that finds the lease gone counts a lease loss "renewal" (no commit attempted)', async () => {
    schema = `metrics_${++schemaN}`;
    const clock = new SimulatedClock();
    const a = await front('queue', { ttlMs: 30_000, renewMs: 10_000, clock });
    const b = await front('reject');
    const started = deferred<TurnContext>();
    const ra = codeOf(
      a.turns.run({ conversationId: 'conv', turnId: 't-a', agent: 'bot' }, async (ctx) => {
        started.resolve(ctx);
        await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('run cancelled')), { once: true }));
        throw new Error('unreachable');
      }),
    );
    await started.promise;
    await db.admin.query(`UPDATE ${schema}.conversations SET lease_expires = clock_timestamp() - interval '1 second' WHERE id = 'conv'`);
    await b.turns.run({ conversationId: 'conv', turnId: 't-b', agent: 'bot' }, answer('b'));
    await clock.advance(10_000); // A's renewal finds the token gone
    expect(await ra).toBe('SYN_ERR_LEASE_LOST');
    const ta = await text(a);
    expect(promSample(ta, 'synapse_lease_lost_total', { reason: 'renewal' })).toBe(1);
    expect(promSample(ta, 'synapse_lease_lost_total', { reason: 'fenced' })).toBeUndefined();
    expect(promSample(ta, 'synapse_store_commit_duration_seconds_count', { store: 'postgres', outcome: 'failed' })).toBeUndefined();
  }, 30_000);
});

describe('store commit latency of the journal store (real directory)', () => {
  it('is labelled store="journal"', async () => {
    const dir = tempDir('synapse-metrics-journal-');
    const store = await JournalHistoryStore.open({ dir: dir.dir, fsync: 'always' });
    cleanup.push(async () => {
      await store.close();
      dir.remove();
    });
    const f = observed(store, undefined, 'queue');
    await f.turns.run({ conversationId: 'j', turnId: 't1', agent: 'bot' }, answer('1'));
    await f.turns.run({ conversationId: 'j', turnId: 't2', agent: 'bot' }, answer('2'));
    await f.turns.run({ conversationId: 'j', turnId: 't1', agent: 'bot' }, answer('never')); // a replay: no commit
    const t = await text(f);
    expect(promSample(t, 'synapse_store_commit_duration_seconds_count', { store: 'journal', outcome: 'committed' })).toBe(2);
    expect(promSample(t, 'synapse_store_commit_duration_seconds_sum', { store: 'journal', outcome: 'committed' })).toBeGreaterThan(0);
    expect(t).not.toMatch(/^synapse_lease_wait_seconds_count\{/m); // no lease
  });
});
