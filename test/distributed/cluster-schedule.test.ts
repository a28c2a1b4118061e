// #16 randomized fault schedules on the cluster harness (test/helpers/cluster.ts: NATS,
// PostgreSQL, 2 hosts, 2 fronts as processes, real Python agents): sends from both fronts over a
// few shared conversations interleaved with faults drawn from {kill -9 a host (then restart it),
// SIGSTOP a host for a while then SIGCONT, kill -9 a front (then restart it), kill -9 the NATS
// server (then restart it)}. After each run every unacked turn is retried with its turn id until
// acked, then the harness's checks run: every call settled once (value or coded error), every
// acked turn in PostgreSQL exactly once in ack order, contiguous sequences, no lease left, no
// leaked Python process on any host.
//
// CI: 3 runs of ≤ 10 steps (no shrinking: each run costs seconds of real processes).
// The seed is printed at the start; replay a run with
//   FC_SEED=<seed> [FC_PATH=<path>] npx vitest run test/distributed/cluster-schedule.test.ts
// and run longer with FC_NUM_RUNS=20.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallLedger, replayParameters, type Outcome } from '../../src/testing/index.ts';
import { useCluster, type ClusterFront } from '../helpers/cluster.ts';

const HOST_LOST_MS = 1_000;
const cluster = useCluster({ hostLostMs: HOST_LOST_MS, keepaliveMs: 200, leaseTtlMs: 2_000, leaseRenewMs: 500, acceptTimeoutMs: 1_000 });

/** One step of a cluster schedule. */
type Step =
  | { readonly kind: 'send'; readonly front: number; readonly conversation: number; readonly stream: boolean; readonly words: number; readonly wait: 'none' | 'underway' | 'settled' }
  | { readonly kind: 'killHost'; readonly host: number }
  | { readonly kind: 'pauseHost'; readonly host: number; readonly ms: number }
  | { readonly kind: 'killFront'; readonly front: number }
  | { readonly kind: 'natsRestart' }
  | { readonly kind: 'barrier' };

const CONVERSATIONS = 3;

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('send' as const), front: fc.integer({ min: 0, max: 1 }), conversation: fc.integer({ min: 0, max: CONVERSATIONS - 1 }), stream: fc.boolean(), words: fc.integer({ min: 2, max: 40 }), wait: fc.constantFrom('none' as const, 'none' as const, 'underway' as const, 'settled' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('killHost' as const), host: fc.integer({ min: 0, max: 1 }) }) },
  // Below and above hostLostMs: a pause the fronts ride out, and one they call host_lost.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pauseHost' as const), host: fc.integer({ min: 0, max: 1 }), ms: fc.integer({ min: 300, max: 1_600 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('killFront' as const), front: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'natsRestart' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'barrier' as const }) },
);
const schedule = fc.array(step, { minLength: 4, maxLength: 10 });

function describeSteps(steps: readonly Step[]): string {
  return steps.map((s, i) => `${i}: ${JSON.stringify(s)}`).join('\n');
}

/** The codes a call may fail with under these faults (anything else fails the run). */
const ALLOWED = ['SYN_ERR_AGENT_CRASHED', 'SYN_ERR_AGENT_UNAVAILABLE', 'SYN_ERR_SHUTDOWN', 'SYN_ERR_LEASE_LOST', 'SYN_ERR_TIMEOUT'];

let runNo = 0;

async function runSchedule(steps: readonly Step[], totals: Record<string, number>): Promise<void> {
  const run = ++runNo;
  const ledger = new CallLedger();
  const fronts = cluster.fronts as readonly ClusterFront[];
  const turns = new Map<string, { conversationId: string; turnId: string; prompt: string; front: ClusterFront }>();
  const calls: Promise<Outcome>[] = [];
  let n = 0;
  for (const s of steps) {
    totals[s.kind] = (totals[s.kind] ?? 0) + 1;
    switch (s.kind) {
      case 'send': {
        const front = fronts[s.front]!;
        const turn = { conversationId: `sch${run}-c${s.conversation}`, turnId: `r${run}t${n++}`, prompt: '' };
        turn.prompt = `sched ${turn.turnId} words=${s.words} ms=30`;
        turns.set(turn.turnId, { ...turn, front });
        let seen: () => void = () => {};
        const underWay = new Promise<void>((resolve) => (seen = resolve));
        const outcome = cluster.turn(ledger, front, { ...turn, cmd: s.stream ? 'stream' : 'send', onDelta: () => seen() });
        calls.push(outcome);
        if (s.wait === 'settled') await outcome;
        else if (s.wait === 'underway' && s.stream) await Promise.race([underWay, outcome]);
        break;
      }
      case 'killHost':
        await cluster.hosts[s.host]!.kill('SIGKILL');
        await cluster.hosts[s.host]!.restart(); // its successor reaps the dead one's workers from the pid file
        break;
      case 'pauseHost': {
        const host = cluster.hosts[s.host]!;
        host.stop();
        await new Promise((r) => setTimeout(r, s.ms)); // the fault's duration
        host.cont();
        break;
      }
      case 'killFront':
        await fronts[s.front]!.kill('SIGKILL'); // its pending calls fail SYN_ERR_SHUTDOWN front_exited
        await fronts[s.front]!.restart(); // same front id: a new process; its old leases expire after the TTL
        break;
      case 'natsRestart':
        await cluster.nats.stop('SIGKILL');
        await cluster.nats.start();
        break;
      case 'barrier':
        await Promise.all(calls);
        break;
    }
  }
  await Promise.all(calls);
  // Recovery: every turn not acked is retried with its turn id on its front until acked (it
  // commits once, or replays the commit a lost answer hid).
  const acked = new Set(ledger.entries.filter((e) => e.outcome?.ok === true).map((e) => String(e.meta.turnId)));
  const retries = [...turns.values()].filter((t) => !acked.has(t.turnId)).map((t) => cluster.retryUntilOk(ledger, t.front, t));
  for (const o of await Promise.all(retries)) expect(o.ok ? 'ok' : o.code).toBe('ok');
  for (const [k, v] of Object.entries(ledger.outcomes())) totals[k] = (totals[k] ?? 0) + v;
  await cluster.check(ledger, { allowedCodes: ALLOWED });
  // Every booked turn is in PostgreSQL exactly once (the retries acked them all).
  const rows = await cluster.admin.query<{ turn_id: string }>('SELECT turn_id FROM synapse.turns WHERE conversation_id LIKE $1', [`sch${run}-%`]);
  expect(rows.rows.map((r) => r.turn_id).sort()).toEqual([...turns.keys()].sort());
}

describe('randomized cluster fault schedules (seeded, replayable)', () => {
  it('invariants hold under random sends from both fronts and host / front / NATS faults', async () => {
    const replay = replayParameters();
    const seed = replay.seed ?? (Date.now() ^ (process.pid << 8)) | 0;
    console.info(`cluster schedule: seed=${seed}${replay.path === undefined ? '' : ` path=${replay.path}`} — replay: FC_SEED=${seed} npx vitest run test/distributed/cluster-schedule.test.ts`);
    const totals: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(schedule, async (steps) => {
        try {
          await runSchedule(steps, totals);
        } catch (error) {
          console.error(`cluster schedule failed (seed=${seed}):\n${describeSteps(steps)}`);
          throw error;
        }
      }),
      { ...replay, seed, numRuns: process.env.FC_NUM_RUNS === undefined ? 3 : Number(process.env.FC_NUM_RUNS), endOnFailure: true, timeout: 120_000 },
    );
    console.info(`cluster schedule: steps and outcomes ${JSON.stringify(totals)}`);
  }, 600_000); // hang guard (CI: 3 runs take well under it)
});
