// #16 store-side fault on the cluster harness (test/helpers/cluster.ts): PostgreSQL stopped
// immediately (SIGQUIT, no checkpoint: crash recovery on restart) while a front's commit is
// inside its transaction, with other turns in flight on both fronts, then restarted. The commit
// caught mid-way fails SYN_ERR_STORE_IO (outcome unknown) and so do calls made while the server
// is down (coded, none hangs); after the restart every turn acked before the stop is there, the
// retries with the same turn ids commit once, and the kit's checks hold.
//
// "Mid-commit" is made deterministic the way test/integration/postgres/store-faults.test.ts does
// it: an admin connection holds the conversation row's lock, so the front's fenced commit
// (`UPDATE … SET next_seq = next_seq + 1 …`) blocks inside its transaction; the server is stopped
// once pg_stat_activity shows that statement waiting on the lock.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { CallLedger } from '../../src/testing/index.ts';
import { useCluster, type ClusterFront } from '../helpers/cluster.ts';

const cluster = useCluster({ hostLostMs: 3_000, keepaliveMs: 200, leaseTtlMs: 2_000, leaseRenewMs: 500 });

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Holds `conversations` row `id` locked from its own connection (which the server stop ends). */
async function lockConversation(id: string): Promise<void> {
  const c = new pg.Client({ connectionString: cluster.pg.connectionString, application_name: 'test-lock' });
  c.on('error', () => undefined); // the immediate stop kills this connection: expected
  await c.connect();
  cleanup.push(() => c.end().catch(() => undefined));
  await c.query('BEGIN');
  await c.query('SELECT 1 FROM synapse.conversations WHERE id = $1 FOR UPDATE', [id]);
}

/** Resolves once a front's fenced commit waits on the row lock (bounded number of polls: a round trip each, no sleep). */
async function commitBlocked(): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    const r = await cluster.admin.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'synapse' AND wait_event_type = 'Lock' AND query LIKE '%SET next_seq = next_seq + 1%'");
    if (r.rows.length > 0) return;
  }
  throw new Error('the commit never blocked on the row lock');
}

describe('PostgreSQL stopped immediately mid-commit, then restarted', () => {
  it('the caught commit and calls meanwhile fail SYN_ERR_STORE_IO; after restart every acked turn is there once and retries commit once', async () => {
    const ledger = new CallLedger();
    const [fa, fb] = cluster.fronts as [ClusterFront, ClusterFront];
    // Acked history on three shared conversations, from both fronts.
    for (let round = 0; round < 2; round++) {
      const acked = await Promise.all([0, 1, 2].map((c) => cluster.turn(ledger, (round + c) % 2 === 0 ? fa : fb, { conversationId: `pgc-${c}`, turnId: `pre-${c}-${round}`, prompt: `before pre-${c}-${round}` })));
      for (const o of acked) expect(o.ok).toBe(true);
    }
    const before = (await cluster.admin.query<{ n: number }>("SELECT count(*)::int AS n FROM synapse.turns WHERE conversation_id LIKE 'pgc-%'")).rows[0]!.n;
    expect(before).toBe(6);

    // The victim: a stream on front-a whose commit will block on the locked row.
    let underWay: () => void = () => {};
    const started = new Promise<void>((resolve) => (underWay = resolve));
    const victim = { conversationId: 'pgc-0', turnId: 'mid', prompt: 'mid-commit words=8 ms=20' };
    const victimOutcome = cluster.turn(ledger, fa, { ...victim, cmd: 'stream', onDelta: () => underWay() });
    await started; // lease acquired, history loaded, the run is on a host
    await lockConversation('pgc-0');
    // Other turns in flight on both fronts when the server goes (each at some step of its turn).
    const others = [1, 2].map((c) => ({ conversationId: `pgc-${c}`, turnId: `inflight-${c}`, prompt: `in flight ${c} words=10 ms=30` }));
    const othersOutcome = others.map((t, i) => cluster.turn(ledger, i === 0 ? fb : fa, { ...t, cmd: 'stream' }));
    await commitBlocked();
    await cluster.stopPostgres('immediate');

    const caught = await victimOutcome;
    expect(caught.ok ? 'ok' : caught.code).toBe('SYN_ERR_STORE_IO');
    // While the server is down: a coded error, not a hang (the lease acquire cannot reach it).
    const down = await cluster.turn(ledger, fb, { conversationId: 'pgc-down', turnId: 'down', prompt: 'while down' });
    expect(down.ok ? 'ok' : down.code).toBe('SYN_ERR_STORE_IO');
    for (const o of await Promise.all(othersOutcome)) expect(o.ok ? 'ok' : o.code).toMatch(/^(ok|SYN_ERR_STORE_IO|SYN_ERR_LEASE_LOST)$/);

    await cluster.startPostgres();
    // Every turn acked before the stop survived the crash (fsync=off loses nothing on a process crash).
    const after = (await cluster.admin.query<{ turn_id: string }>("SELECT turn_id FROM synapse.turns WHERE conversation_id LIKE 'pgc-%'")).rows.map((r) => r.turn_id);
    for (const e of ledger.entries) if (e.outcome?.ok === true) expect(after).toContain(String(e.meta.turnId));
    // Retries with the same turn ids, on the other front: each commits once (or replays its commit).
    const retried = await Promise.all([
      cluster.retryUntilOk(ledger, fb, victim),
      cluster.retryUntilOk(ledger, fa, { conversationId: 'pgc-down', turnId: 'down', prompt: 'while down' }),
      ...others.map((t, i) => cluster.retryUntilOk(ledger, i === 0 ? fa : fb, t)),
    ]);
    for (const o of retried) expect(o.ok).toBe(true);
    expect(cluster.runsOf(victim.prompt)).toBeGreaterThanOrEqual(2); // ran before the stop and again on retry: committed once (checked below)
    await cluster.check(ledger, { allowedCodes: ['SYN_ERR_STORE_IO', 'SYN_ERR_LEASE_LOST'] });
    console.info(`postgres stop: outcomes ${JSON.stringify(ledger.outcomes())}`);
    const rows = await cluster.admin.query<{ turn_id: string }>('SELECT turn_id FROM synapse.turns WHERE conversation_id = $1 ORDER BY seq', ['pgc-0']);
    expect(rows.rows.map((r) => r.turn_id)).toEqual(['pre-0-0', 'pre-0-1', 'mid']);
  }, 90_000); // hang guard
});
