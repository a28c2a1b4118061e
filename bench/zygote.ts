/**
 * Zygote benchmark (`npx tsx bench/zygote.ts`): how workers start, side by side in one run —
 *
 * - spawn: `spares: 0` — every (re)start spawns an interpreter that imports pydantic-ai;
 * - warm spare: `spares: 1` — a restart assigns the agent's idle spare (one extra interpreter per agent);
 * - zygote: `python: { zygote: true }`, `spares: 0` — every (re)start is a fork of the zygote.
 *
 * Measured: kill -9 → replacement `worker.ready` (p50/p95, restart backoff 0/0, a turn after each
 * restart must succeed); the time until 20 agents (one worker each, started together) are all
 * ready; PSS and RSS of each idle worker from `/proc/<pid>/smaps_rollup` (PSS splits shared
 * pages among their sharers, so it is the fair per-worker cost of copy-on-write children).
 *
 * Env: BENCH_QUICK=1 (3 restarts, 5 agents) or BENCH_RESTARTS=N (default 15), BENCH_AGENTS=N (default 20).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Synapse } from '../src/system.ts';
import type { ActorSystem } from '../src/system.ts';
import { formatMachineInfo } from './lib/machine.ts';
import { markdownTable, summarize } from './lib/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PYTHON = process.env.SYNAPSE_PYTHON ?? `${ROOT}.venv/bin/python`;
const QUICK = process.env.BENCH_QUICK === '1';
const N = QUICK ? 3 : Number(process.env.BENCH_RESTARTS ?? 15);
const AGENTS = QUICK ? 5 : Number(process.env.BENCH_AGENTS ?? 20);
const AGENT = 'test/fixtures/agents/counter.py:agent'; // a pydantic-ai Agent (FunctionModel): real import, no network
const restart = { backoff: { minMs: 0, maxMs: 0 }, intensity: 1_000 };

type Variant = 'spawn' | 'warm spare' | 'zygote';
const VARIANTS: readonly Variant[] = ['spawn', 'warm spare', 'zygote'];

function options(variant: Variant): { spares: number; python: { zygote: boolean } } {
  return { spares: variant === 'warm spare' ? 1 : 0, python: { zygote: variant === 'zygote' } };
}

/** `{ pss, rss }` in MiB from `/proc/<pid>/smaps_rollup`. */
function memory(pid: number): { pss: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { pss: kb('Pss') / 1024, rss: kb('Rss') / 1024 };
}

function nextReady(system: ActorSystem, agent: string): Promise<{ pid: number; at: number }> {
  return new Promise((resolve) => {
    const off = system.on('worker.ready', (e) => {
      if (e.agent !== agent) return;
      off();
      resolve({ pid: e.pid, at: performance.now() });
    });
  });
}

/** `spare.ready` events by agent, consumed in order (a pool refilled after a restart). */
class SpareWatch {
  readonly #waiters: { agent: string; resolve: (pid: number) => void }[] = [];
  readonly #ready = new Map<string, number[]>();

  constructor(system: ActorSystem) {
    system.on('spare.ready', (e) => {
      const w = this.#waiters.findIndex((x) => x.agent === e.agent);
      if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(e.pid);
      else this.#ready.set(e.agent, [...(this.#ready.get(e.agent) ?? []), e.pid]);
    });
  }

  /** The next (or an already reported, not yet consumed) warm spare of `agent`. */
  next(agent: string): Promise<number> {
    const queued = this.#ready.get(agent);
    if (queued !== undefined && queued.length > 0) return Promise.resolve(queued.shift()!);
    return new Promise((resolve) => this.#waiters.push({ agent, resolve }));
  }
}

async function restarts(system: ActorSystem, watch: SpareWatch, variant: Variant): Promise<number[]> {
  const id = `restart-${variant.replace(' ', '-')}`;
  await system.spawnAgent({ id, agent: AGENT, restart, ...options(variant) });
  const samples: number[] = [];
  for (let i = 0; i < N; i++) {
    if (variant === 'warm spare') await watch.next(id); // steady state: the pool is full
    const victim = system.agentStatus(id).pids[0]!;
    const ready = nextReady(system, id);
    const t0 = performance.now();
    process.kill(victim, 'SIGKILL');
    samples.push((await ready).at - t0);
    const turn = await system.sendMessage(id, { prompt: 'ping' });
    if (turn.output !== 'turns=1') throw new Error(`unexpected output after restart: ${String(turn.output)}`);
  }
  await system.stopAgent(id);
  return samples;
}

async function fleet(system: ActorSystem, variant: Variant): Promise<{ readyMs: number; pss: number[]; rss: number[] }> {
  const ids = Array.from({ length: AGENTS }, (_, i) => `fleet-${variant.replace(' ', '-')}-${i}`);
  const t0 = performance.now();
  await Promise.all(ids.map((id) => system.spawnAgent({ id, agent: AGENT, python: { ...options(variant).python, startTimeoutMs: 120_000 } })));
  const readyMs = performance.now() - t0;
  for (const id of ids) await system.sendMessage(id, { prompt: 'warm up' }); // idle after one turn
  const pids = ids.flatMap((id) => system.agentStatus(id).pids);
  const mem = pids.map(memory);
  for (const id of ids) await system.stopAgent(id);
  return { readyMs, pss: mem.map((m) => m.pss), rss: mem.map((m) => m.rss) };
}

/** A warm-spare agent's worker and spare, idle (the spare is the price of the fast restart). */
async function spareCost(system: ActorSystem, watch: SpareWatch): Promise<{ pss: number; rss: number }> {
  await system.spawnAgent({ id: 'spare-cost', agent: AGENT, spares: 1 });
  const spare = await watch.next('spare-cost');
  await system.sendMessage('spare-cost', { prompt: 'warm up' });
  const mem = [...system.agentStatus('spare-cost').pids, spare].map(memory);
  await system.stopAgent('spare-cost');
  return { pss: mem.reduce((a, m) => a + m.pss, 0), rss: mem.reduce((a, m) => a + m.rss, 0) };
}

function versions(): Record<string, string> {
  const out = execFileSync(PYTHON, ['-c', 'import sys, importlib.metadata as m; print(sys.version.split()[0], m.version("pydantic-ai-slim"))'], { encoding: 'utf8' }).trim();
  const [python, pydanticAi] = out.split(' ');
  return { Python: `${python} (${PYTHON})`, 'pydantic-ai-slim': pydanticAi ?? '?' };
}

const f0 = (n: number): string => n.toFixed(0);
const mib = (xs: readonly number[]): string => (xs.length === 0 ? '—' : `${summarize(xs).p50.toFixed(1)} MiB`);

async function main(): Promise<void> {
  const machine = formatMachineInfo(undefined, versions());
  const stateDir = mkdtempSync(join(tmpdir(), 'synapse-bench-zygote-'));
  const system = await Synapse.start({ logger: pino({ level: 'silent' }), stateDir, metrics: false });
  const watch = new SpareWatch(system);
  try {
    const rows: string[][] = [];
    let zygotePss = NaN;
    for (const variant of VARIANTS) {
      const r = summarize(await restarts(system, watch, variant));
      const started = variant === 'warm spare' ? undefined : await fleet(system, variant);
      if (variant === 'zygote') {
        // Our zygotes: children of this Node process running `--zygote` (others' may run on the machine).
        const z = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'synapse_bridge --zygote'], { encoding: 'utf8' }).trim().split('\n').map(Number);
        zygotePss = z.map((pid) => memory(pid).pss).reduce((a, b) => a + b, 0);
      }
      const spare = variant === 'warm spare' ? await spareCost(system, watch) : undefined;
      rows.push([
        variant,
        String(r.n),
        `${f0(r.p50)} ms`,
        `${f0(r.p95)} ms`,
        started === undefined ? '— (a spare does not speed up a first start)' : `${f0(started.readyMs)} ms`,
        spare === undefined ? mib(started!.pss) : `${spare.pss.toFixed(1)} MiB (worker + spare)`,
        spare === undefined ? mib(started!.rss) : `${spare.rss.toFixed(1)} MiB (worker + spare)`,
      ]);
    }
    const [l1, l5, l15] = loadavg();
    console.log('## Zygote\n');
    console.log(machine);
    console.log(`- Load average at the end (1/5/15 min): ${l1!.toFixed(2)} / ${l5!.toFixed(2)} / ${l15!.toFixed(2)}`);
    console.log(`\nkill -9 → replacement \`worker.ready\` (${N} samples each, restart backoff 0/0); ${AGENTS} agents started together → all ready; memory of each idle worker (p50 over the ${AGENTS}):\n`);
    console.log(markdownTable(['variant', 'n', 'kill → ready p50', 'p95', `${AGENTS} agents ready`, 'PSS per idle worker', 'RSS per idle worker'], rows));
    console.log(`\nThe zygote itself (shared by all zygote workers, paid once): PSS ${zygotePss.toFixed(1)} MiB.`);
  } finally {
    await system.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
