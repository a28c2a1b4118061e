// #16 front-side faults on the cluster harness (test/helpers/cluster.ts): a front killed -9 while
// it holds a conversation's lease (the other front takes the conversation over once the TTL
// passes), and a front paused (SIGSTOP) past its lease then resumed (its late commit is fenced,
// nothing is committed twice). Each scenario ends with the harness's kit checks.
import { describe, expect, it } from 'vitest';
import { CallLedger, type Outcome } from '../../src/testing/index.ts';
import { useCluster, type ClusterFront } from '../helpers/cluster.ts';

const LEASE_TTL_MS = 2_000;
// hostLostMs above the pause: a resumed front's first timers are its lease's (renew fails: fenced),
// not a host_lost verdict on hosts it merely could not hear while it was stopped.
const cluster = useCluster({ hostLostMs: 6_000, keepaliveMs: 200, leaseTtlMs: LEASE_TTL_MS, leaseRenewMs: 500 });

const answerOf = (o: Outcome): string => String((o as { value: { output: unknown } }).value.output);

/** Starts a long stream on `front`; `underWay` resolves at its first delta (the front holds the lease, a host runs it). */
function startStream(ledger: CallLedger, front: ClusterFront, conversationId: string, turnId: string, words = 40, ms = 50) {
  let seen: () => void = () => {};
  const underWay = new Promise<void>((resolve) => (seen = resolve));
  const prompt = `fault ${turnId} words=${words} ms=${ms}`;
  const outcome = cluster.turn(ledger, front, { cmd: 'stream', conversationId, turnId, prompt, onDelta: () => seen() });
  return { prompt, outcome, underWay };
}

describe('a front killed -9 while it holds a conversation lease', () => {
  it('its call fails front_exited; the other front takes the conversation over after the TTL and commits once', async () => {
    const ledger = new CallLedger();
    const [fa, fb] = cluster.fronts as [ClusterFront, ClusterFront];
    const first = startStream(ledger, fa, 'fk-1', 'fk1');
    await first.underWay;
    const killedAt = performance.now();
    await fa.kill('SIGKILL');
    const lost = await first.outcome;
    expect(lost.ok ? 'ok' : lost.code).toBe('SYN_ERR_SHUTDOWN');
    // The dead front's lease is held until its TTL: front-b's turn (policy queue) waits it out.
    const next = await cluster.turn(ledger, fb, { conversationId: 'fk-1', turnId: 'fk2', prompt: 'after the kill fk2' });
    expect(next.ok).toBe(true);
    expect(performance.now() - killedAt).toBeGreaterThanOrEqual(LEASE_TTL_MS * 0.5); // it did wait for the expiry (less the lease's age at the kill)
    // The killed turn, retried on front-b with its turn id, commits once (it was never committed).
    const retry = await cluster.turn(ledger, fb, { conversationId: 'fk-1', turnId: 'fk1', prompt: first.prompt });
    expect(retry.ok).toBe(true);
    await fa.restart();
    await cluster.check(ledger, { allowedCodes: ['SYN_ERR_SHUTDOWN'] });
    const rows = await cluster.admin.query('SELECT turn_id FROM synapse.turns WHERE conversation_id = $1 ORDER BY seq', ['fk-1']);
    expect(rows.rows.map((r: { turn_id: string }) => r.turn_id)).toEqual(['fk2', 'fk1']);
  }, 60_000);
});

describe('a front paused (SIGSTOP) past its lease, then SIGCONT', () => {
  it('the other front takes over; the resumed front does not commit its late turn (fenced), nothing twice', async () => {
    const ledger = new CallLedger();
    const [fa, fb] = cluster.fronts as [ClusterFront, ClusterFront];
    const paused = startStream(ledger, fa, 'fp-1', 'fp1', 20, 20);
    await paused.underWay;
    fa.stop();
    // front-b waits for the paused front's lease to expire (it cannot renew), then commits.
    const other = await cluster.turn(ledger, fb, { conversationId: 'fp-1', turnId: 'fp2', prompt: 'while paused fp2' });
    expect(other.ok).toBe(true);
    expect(answerOf(other)).toMatch(/^\[host-[a-z]\]/);
    fa.cont();
    const late = await paused.outcome;
    expect(late.ok ? 'ok' : late.code).toBe('SYN_ERR_LEASE_LOST');
    await cluster.check(ledger, { allowedCodes: ['SYN_ERR_LEASE_LOST'] });
    const rows = await cluster.admin.query('SELECT turn_id FROM synapse.turns WHERE conversation_id = $1 ORDER BY seq', ['fp-1']);
    expect(rows.rows.map((r: { turn_id: string }) => r.turn_id)).toEqual(['fp2']);
  }, 60_000);
});
