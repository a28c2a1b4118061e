/**
 * Shutdown benchmark (`npx tsx bench/stop.ts`): `system.stop()` of N agents, each with a turn
 * in flight (issue #13: "`system.stop()` with 20 agents mid-run takes about one agent's
 * shutdown, not twenty"), side by side in one run with the floor — one agent stopped alone —
 * and with the same N agents stopped one after the other (`stopAgent` in sequence, what a
 * sequential shutdown would cost).
 *
 * Each agent is `test/fixtures/agents/faults.py:agent` (a pydantic-ai Agent) with one worker
 * and a `slow 60` turn handed to it (awaited through `message.routed`), so each stop is a
 * mid-run graceful stop: cancel the run, `shutdown` frame, process exit. The three shapes
 * alternate for `BENCH_STOP_ROUNDS` rounds (default 3; BENCH_QUICK=1: 1 round, N = 8).
 */
import { fileURLToPath } from 'node:url';
import { Synapse } from '../src/system.ts';
import type { ActorSystem } from '../src/system.ts';
import { formatMachineInfo } from './lib/machine.ts';
import { markdownTable, summarize } from './lib/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const QUICK = process.env.BENCH_QUICK === '1';
const N = Number(process.env.BENCH_STOP_AGENTS ?? (QUICK ? 8 : 20));
const ROUNDS = Number(process.env.BENCH_STOP_ROUNDS ?? (QUICK ? 1 : 3));
const AGENT = `${ROOT}test/fixtures/agents/faults.py:agent`;

/** A system with `n` agents, each with one `slow 60` turn routed to its worker. */
async function busySystem(n: number): Promise<{ system: ActorSystem; ids: string[] }> {
  const system = await Synapse.start({ logLevel: 'silent' });
  const ids = Array.from({ length: n }, (_, i) => `stop-${i}`);
  await Promise.all(ids.map((id) => system.spawnAgent({ id, agent: AGENT, workers: 1, spares: 0 })));
  const routed = new Set<string>();
  const allRouted = new Promise<void>((resolve) => {
    const on = (e: { agent: string }): void => {
      routed.add(e.agent);
      if (routed.size === n) {
        system.events.off('message.routed', on);
        resolve();
      }
    };
    system.events.on('message.routed', on);
  });
  for (const id of ids) system.sendMessage(id, { prompt: 'slow 60' }).catch(() => undefined); // fails with the stop
  await allRouted;
  return { system, ids };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const one: number[] = [];
const together: number[] = [];
const sequential: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  {
    const { system } = await busySystem(1);
    one.push(await timed(() => system.stop()));
  }
  {
    const { system } = await busySystem(N);
    together.push(await timed(() => system.stop()));
  }
  {
    const { system, ids } = await busySystem(N);
    sequential.push(
      await timed(async () => {
        for (const id of ids) await system.stopAgent(id);
      }),
    );
    await system.stop();
  }
}

const s1 = summarize(one);
const sN = summarize(together);
const sSeq = summarize(sequential);
const ms = (x: number): string => `${x.toFixed(0)} ms`;
process.stdout.write(`\n## Shutdown: system.stop() of ${N} agents mid-run (bench/stop.ts)\n\n`);
process.stdout.write(`${formatMachineInfo(undefined, { rounds: String(ROUNDS) })}\n\n`);
process.stdout.write(
  `${markdownTable(
    ['shape', 'median', 'min', 'max', 'vs one agent'],
    [
      ['system.stop(), 1 agent mid-run (floor)', ms(s1.median), ms(s1.min), ms(s1.max), '1.0×'],
      [`system.stop(), ${N} agents mid-run`, ms(sN.median), ms(sN.min), ms(sN.max), `${(sN.median / s1.median).toFixed(1)}×`],
      [`${N} × stopAgent in sequence`, ms(sSeq.median), ms(sSeq.min), ms(sSeq.max), `${(sSeq.median / s1.median).toFixed(1)}×`],
    ],
  )}\n`,
);
