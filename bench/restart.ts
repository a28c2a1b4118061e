/**
 * Restart latency benchmark (`npx tsx bench/restart.ts`): kill -9 of an agent's worker → the
 * replacement worker is ready (the `worker.ready` event), through the whole system (crash
 * detection, supervisor restart, worker init), side by side in one run:
 *
 * - default: `spares: 0`, `python.zygote` on (the Linux default) — the restart forks the zygote;
 * - naive: `spares: 0`, `zygote: false` — the restart spawns a fresh interpreter that imports pydantic-ai;
 * - warm spare: `spares: 1`, `zygote: false` — the restart assigns the agent's warm spare (`init` → `ready`).
 *   Before each sample the bench waits until the pool has refilled (steady state; the refill
 *   runs off the restart path).
 *
 * - warm spare, plain handler: the same with `examples/agents/noop.py:handler` (a module that
 *   imports nothing), isolating the mechanism from the user module's own import time.
 *
 * The spawn and spare rows opt out of the zygote so they measure what they did before it became
 * the default (bench/zygote.ts compares the three start paths, memory included).
 *
 * All run with `restart.backoff` 0/0: the backoff delay (default minMs 100 ms, growing with
 * consecutive restarts) adds to the restart time in production and is not what is measured.
 * After each restart of the pydantic-ai agent a turn is sent and must succeed.
 *
 * Env: BENCH_QUICK=1 (3 samples each) or BENCH_RESTARTS=N (default 15).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Synapse } from '../src/system.ts';
import type { ActorSystem } from '../src/system.ts';
import { formatMachineInfo } from './lib/machine.ts';
import { markdownTable, summarize } from './lib/stats.ts';
import type { Summary } from './lib/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PYTHON = process.env.SYNAPSE_PYTHON ?? `${ROOT}.venv/bin/python`;
const N = process.env.BENCH_QUICK === '1' ? 3 : Number(process.env.BENCH_RESTARTS ?? 15);
const AGENT = 'test/fixtures/agents/counter.py:agent'; // a pydantic-ai Agent (FunctionModel): real import, no network
const PLAIN = 'examples/agents/noop.py:handler'; // a plain handler: its module imports nothing

/** Debug log lines of the `spare.ready` event, awaited by agent id (no polling). */
class SpareWatch {
  readonly #waiters: { agent: string; resolve: (pid: number) => void }[] = [];
  readonly #ready = new Map<string, number[]>();
  readonly log = pino(
    { level: 'debug' },
    new Writable({
      write: (chunk: Buffer, _enc, callback) => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (!line.includes('"event":"spare.ready"')) continue;
          const r = JSON.parse(line) as { agent: string; pythonPid: number };
          const w = this.#waiters.findIndex((x) => x.agent === r.agent);
          if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(r.pythonPid);
          else this.#ready.set(r.agent, [...(this.#ready.get(r.agent) ?? []), r.pythonPid]);
        }
        callback();
      },
    }),
  );

  /** The next (or an already reported, not yet consumed) warm spare of `agent`. */
  next(agent: string): Promise<number> {
    const queued = this.#ready.get(agent);
    if (queued !== undefined && queued.length > 0) return Promise.resolve(queued.shift()!);
    return new Promise((resolve) => this.#waiters.push({ agent, resolve }));
  }
}

interface Sample {
  readonly killToReadyMs: number;
  /** The worker's init (spawn or assign → ready), from the `worker.ready` event. */
  readonly initMs: number;
  readonly fromSpare: boolean;
}

function nextReady(system: ActorSystem, agent: string): Promise<{ pid: number; startupMs: number; at: number }> {
  return new Promise((resolve) => {
    const off = system.on('worker.ready', (e) => {
      if (e.agent !== agent) return;
      off();
      resolve({ pid: e.pid, startupMs: e.startupMs, at: performance.now() });
    });
  });
}

async function measure(system: ActorSystem, watch: SpareWatch, id: string, spares: number, zygote: boolean, agent = AGENT): Promise<Sample[]> {
  await system.spawnAgent({ id, agent, spares, python: { zygote }, restart: { backoff: { minMs: 0, maxMs: 0 }, intensity: 1_000 } });
  const samples: Sample[] = [];
  for (let i = 0; i < N; i++) {
    const spare = spares > 0 ? await watch.next(id) : undefined; // steady state: the pool is full
    const victim = system.agentStatus(id).pids[0]!;
    const ready = nextReady(system, id);
    const t0 = performance.now();
    process.kill(victim, 'SIGKILL');
    const r = await ready;
    samples.push({ killToReadyMs: r.at - t0, initMs: r.startupMs, fromSpare: spare !== undefined && r.pid === spare });
    if (agent !== AGENT) continue; // a plain handler returns no messages: not a committable turn
    const turn = await system.sendMessage(id, { prompt: 'ping' });
    if (turn.output !== 'turns=1') throw new Error(`unexpected output after restart: ${String(turn.output)}`);
  }
  await system.stopAgent(id);
  return samples;
}

function versions(): Record<string, string> {
  const out = execFileSync(PYTHON, ['-c', 'import sys, importlib.metadata as m; print(sys.version.split()[0], m.version("pydantic-ai-slim"))'], { encoding: 'utf8' }).trim();
  const [python, pydanticAi] = out.split(' ');
  return { Python: `${python} (${PYTHON})`, 'pydantic-ai-slim': pydanticAi ?? '?' };
}

const ms = (s: Summary): string => `${s.p50.toFixed(0)} ms`;

async function main(): Promise<void> {
  const machine = formatMachineInfo(undefined, versions());
  const stateDir = mkdtempSync(join(tmpdir(), 'synapse-bench-restart-'));
  const watch = new SpareWatch();
  const system = await Synapse.start({ logger: watch.log, logLevel: 'debug', stateDir, metrics: false });
  try {
    const forked = await measure(system, watch, 'default', 0, true);
    const naive = await measure(system, watch, 'naive', 0, false);
    const warm = await measure(system, watch, 'warm', 1, false);
    const plain = await measure(system, watch, 'plain', 1, false, PLAIN);
    const rows = [
      { name: 'default: zygote (spares: 0)', samples: forked },
      { name: 'naive (spares: 0, zygote: false)', samples: naive },
      { name: 'warm spare (spares: 1, zygote: false)', samples: warm },
      { name: 'warm spare, plain handler', samples: plain },
    ].map(({ name, samples }) => {
      const total = summarize(samples.map((s) => s.killToReadyMs));
      const init = summarize(samples.map((s) => s.initMs));
      return [name, String(total.n), ms(total), `${total.p95.toFixed(0)} ms`, `${total.min.toFixed(0)}–${total.max.toFixed(0)} ms`, ms(init), `${samples.filter((s) => s.fromSpare).length}/${samples.length}`];
    });
    console.log('## Restart latency\n');
    console.log(machine);
    console.log(`\nkill -9 of the worker → replacement \`worker.ready\` (system API, restart backoff 0/0), ${N} samples each, one run:\n`);
    console.log(markdownTable(['variant', 'n', 'p50', 'p95', 'range', 'worker init p50', 'served by spare'], rows));
  } finally {
    await system.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
