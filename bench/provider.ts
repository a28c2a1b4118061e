/**
 * Provider-path benchmark (`npx tsx bench/provider.ts`, also run by `npm run bench`): one
 * pydantic-ai agent on the real provider path (`OpenAIChatModel` → openai SDK → httpx → HTTP,
 * bench/provider/agent.py) against one loopback OpenAI-compatible server (LLMock, PyPI
 * `llmock`, bench/provider/server.py), side by side in one run:
 *
 *   (a) the floor: the same agent in-process in one Python process, N turns in flight with
 *       asyncio tasks (bench/provider/inproc.py, on uvloop like the workers);
 *   (b) Synapse, 1 worker; (c) Synapse, 2 workers — `concurrency` per worker = ⌈max N / workers⌉;
 *
 * at each N (closed loop: N callers, each sends its next turn when the previous one settles;
 * warm-up window, then the measured window; the three alternate level by level). Then an
 * I/O-bound run: `BENCH_PROVIDER_IO_TURNS` turns fired at once over 2 workers against a server
 * that answers after `BENCH_PROVIDER_IO_LATENCY_MS`, with Node and Python RSS sampled.
 *
 * Env knobs (all optional): `BENCH_QUICK=1` (1 s windows, N = 1,8,32, 1 000 I/O turns);
 * `BENCH_PROVIDER_SECONDS` (window, default 4), `BENCH_PROVIDER_WARMUP` (default 1),
 * `BENCH_PROVIDER_LEVELS` (default 1,8,32,128,1000), `BENCH_PROVIDER_ROUNDS` (alternating rounds per
 * N below 1000, median reported; default 2, quick 1; N ≥ 1000 gets one), `BENCH_PROVIDER_IO_TURNS` (default 10000),
 * `BENCH_PROVIDER_IO_LATENCY_MS` (default 2000), `BENCH_PROVIDER_IO_GC` (the workers' `python.gcThresholds` in the I/O run,
 * default `700,10,100`; empty: CPython's), `BENCH_PROVIDER_IO_CONCURRENCY` (runs per worker in
 * Python in the I/O run, default 1000 = the provider client's connection limit; the rest queue in Node), `BENCH_PROVIDER_ONLY` (`grid`, `io`, `sizing`,
 * comma-separated; default all three), `BENCH_PROVIDER_SIZING_TURNS` (200) and
 * `BENCH_PROVIDER_SIZING_LATENCY_MS` (400) for the sizing table, `BENCH_PROFILE_DIR` (cProfile every Python side into `<dir>/<pid>.prof`, see
 * bench/provider/agent.py — for finding where the time goes, never for the reported figures),
 * `BENCH_DIAG_DIR` (GC pauses and GIL starvation per Python side, bench/provider/diag.py, and the
 * first Python traceback of each I/O-run error kind in `<dir>/errors.txt`; diagnostics only).
 *
 * Prints markdown (machine info first).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Reservoir } from '../scripts/load/samples.ts';
import { ResourceSampler } from '../scripts/load/resources.ts';
import { readProcStat } from '../src/observe/procstat.ts';
import { realClock } from '../src/clock.ts';
import { Synapse, type ActorSystem } from '../src/system.ts';
import { formatMachineInfo } from './lib/machine.ts';
import { markdownTable, percentile } from './lib/stats.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = process.env.SYNAPSE_PYTHON ?? join(ROOT, '.venv', 'bin', 'python');
const QUICK = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';

function knob(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!(Number.isFinite(value) && value >= min && value <= max)) throw new Error(`${name} must be a number in [${min}, ${max}], got ${raw}`);
  return value;
}
const SECONDS = knob('BENCH_PROVIDER_SECONDS', QUICK ? 1 : 4, 0.1, 600);
const WARMUP = knob('BENCH_PROVIDER_WARMUP', 1, 0, 600);
const LEVELS = (process.env.BENCH_PROVIDER_LEVELS ?? (QUICK ? '1,8,32' : '1,8,32,128,1000')).split(',').map(Number);
if (LEVELS.some((l) => !Number.isInteger(l) || l < 1 || l > 10_000)) throw new Error(`BENCH_PROVIDER_LEVELS must be integers in 1..10000, got ${process.env.BENCH_PROVIDER_LEVELS}`);
const IO_TURNS = knob('BENCH_PROVIDER_IO_TURNS', QUICK ? 1_000 : 10_000, 1, 100_000);
const IO_GC_RAW = process.env.BENCH_PROVIDER_IO_GC ?? '700,10,100';
/** The workers' `python.gcThresholds` in the I/O run (`BENCH_PROVIDER_IO_GC`; empty: CPython's default). */
const IO_GC = IO_GC_RAW === '' ? undefined : (IO_GC_RAW.split(',').map(Number) as [number, number, number]);
// Default: the provider client's connection limit (pydantic-ai/openai: 1 000 per process). More runs
// per worker only wait in httpx's pool, in Python's heap, lengthening every full collection.
const IO_CONCURRENCY = knob('BENCH_PROVIDER_IO_CONCURRENCY', 1_000, 1, 100_000);
const IO_LATENCY_MS = knob('BENCH_PROVIDER_IO_LATENCY_MS', 2_000, 0, 60_000);
const ONLY = new Set((process.env.BENCH_PROVIDER_ONLY ?? 'grid,io,sizing').split(','));
const DIAG_DIR = process.env.BENCH_DIAG_DIR;
const SIZING_TURNS = knob('BENCH_PROVIDER_SIZING_TURNS', 200, 1, 10_000);
const SIZING_LATENCY_MS = knob('BENCH_PROVIDER_SIZING_LATENCY_MS', 400, 0, 60_000);
const ROUNDS = knob('BENCH_PROVIDER_ROUNDS', QUICK ? 1 : 2, 1, 20);
const AGENT = 'bench/provider/agent.py:agent';
const TURN_TIMEOUT_MS = 600_000;

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const pythonEnv = (baseUrl: string): Record<string, string> => ({
  BENCH_OPENAI_BASE_URL: baseUrl,
  SYNAPSE_ALLOW_MODEL_REQUESTS: '1',
  ...(process.env.BENCH_PROFILE_DIR === undefined ? {} : { BENCH_PROFILE_DIR: process.env.BENCH_PROFILE_DIR }),
  ...(process.env.BENCH_DIAG_DIR === undefined ? {} : { BENCH_DIAG_DIR: process.env.BENCH_DIAG_DIR }),
});

// ─── children ────────────────────────────────────────────────────────────────

/** A Python child speaking one JSON line each way; `close()` ends its stdin, SIGKILLs after 10 s, awaits the exit. */
interface LineChild {
  readonly child: ChildProcess;
  readonly lines: Interface;
  next(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

async function startLineChild(args: string[], env: Record<string, string>): Promise<LineChild> {
  const child = spawn(PYTHON, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  let waiter: ((line: string) => void) | undefined;
  lines.on('line', (line) => {
    if (waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w(line);
    } else queue.push(line);
  });
  const next = (): Promise<Record<string, unknown>> =>
    Promise.race([
      new Promise<string>((resolve) => {
        const queued = queue.shift();
        if (queued !== undefined) resolve(queued);
        else waiter = resolve;
      }),
      exited.then(([code, signal]) => {
        throw new Error(`${args[0]} exited (${String(code ?? signal)}): ${stderr}`);
      }),
    ]).then((line) => JSON.parse(line) as Record<string, unknown>);
  let closing: Promise<void> | undefined;
  return {
    child,
    lines,
    next,
    close() {
      closing ??= (async () => {
        lines.close();
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.stdin!.end();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        try {
          await exited;
        } finally {
          clearTimeout(kill);
        }
      })();
      return closing;
    },
  };
}

/** LLMock on a free loopback port, answering after `latencyMs`; resolves with its OpenAI base URL. */
async function startServer(latencyMs: number): Promise<LineChild & { baseUrl: string }> {
  const server = await startLineChild([join(ROOT, 'bench/provider/server.py'), '--latency-ms', String(latencyMs)], {});
  try {
    const { url } = (await server.next()) as { url: string };
    return Object.assign(server, { baseUrl: `${url}/v1` });
  } catch (error) {
    await server.close();
    throw error;
  }
}

/** CPU seconds (user + system) of `pid` so far, 0 if it is gone. */
async function cpuOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  return (await readProcStat(pid).catch(() => undefined))?.cpuSeconds ?? 0;
}

// ─── contenders ──────────────────────────────────────────────────────────────

/** One measured window. */
interface Result {
  readonly ok: number;
  readonly errors: number;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  /** Python CPU (all the contender's Python processes) per successful turn, ms. */
  readonly pyCpuMsPerTurn: number;
  /** Server (LLMock) CPU per successful turn, ms. */
  readonly serverCpuMsPerTurn: number;
  /** This Node process's CPU per successful turn, ms (≈ 0 for the in-process floor). */
  readonly nodeCpuMsPerTurn: number;
}

const nodeCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Field-wise median of the rounds' results (errors: summed). */
function medianResult(rs: readonly Result[]): Result {
  const m = (pick: (r: Result) => number): number => percentile(rs.map(pick), 50);
  return {
    ok: rs.reduce((a, r) => a + r.ok, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    throughput: m((r) => r.throughput),
    p50: m((r) => r.p50),
    p99: m((r) => r.p99),
    pyCpuMsPerTurn: m((r) => r.pyCpuMsPerTurn),
    serverCpuMsPerTurn: m((r) => r.serverCpuMsPerTurn),
    nodeCpuMsPerTurn: m((r) => r.nodeCpuMsPerTurn),
  };
}

interface Contender {
  readonly name: string;
  measure(n: number, serverPid: number): Promise<Result>;
  close(): Promise<void>;
}

async function startInproc(baseUrl: string): Promise<Contender> {
  const py = await startLineChild([join(ROOT, 'bench/provider/inproc.py')], pythonEnv(baseUrl));
  try {
    await py.next(); // {"ready": true}
  } catch (error) {
    await py.close();
    throw error;
  }
  return {
    name: 'in-process pydantic-ai (1 process)',
    async measure(n, serverPid) {
      if (WARMUP > 0) {
        py.child.stdin!.write(`${JSON.stringify({ n, warmup: 0, seconds: WARMUP })}\n`);
        await py.next();
      }
      const [cpu0, srv0, node0] = [await cpuOf(py.child.pid), await cpuOf(serverPid), nodeCpu()];
      py.child.stdin!.write(`${JSON.stringify({ n, warmup: 0, seconds: SECONDS })}\n`);
      const r = (await py.next()) as { ok: number; errors: number; seconds: number; latenciesMs: number[] };
      const [cpu1, srv1, node1] = [await cpuOf(py.child.pid), await cpuOf(serverPid), nodeCpu()];
      return {
        ok: r.ok,
        errors: r.errors,
        throughput: r.ok / r.seconds,
        p50: percentile(r.latenciesMs, 50),
        p99: percentile(r.latenciesMs, 99),
        pyCpuMsPerTurn: ((cpu1 - cpu0) * 1000) / r.ok,
        serverCpuMsPerTurn: ((srv1 - srv0) * 1000) / r.ok,
        nodeCpuMsPerTurn: ((node1 - node0) * 1000) / r.ok,
      };
    },
    close: () => py.close(),
  };
}

async function startSynapse(baseUrl: string, workers: number, concurrency: number, gcThresholds?: readonly [number, number, number]): Promise<Contender & { system: ActorSystem }> {
  const system = await Synapse.start({ logLevel: 'silent', metrics: false });
  try {
    const python = { env: pythonEnv(baseUrl), ...(gcThresholds === undefined ? {} : { gcThresholds }) };
    await system.spawnAgent({ id: 'bench', agent: AGENT, workers, concurrency, queue: 100_000, timeoutMs: TURN_TIMEOUT_MS, python });
  } catch (error) {
    await system.stop();
    throw error;
  }
  let seq = 0;
  const call = (): Promise<unknown> => system.sendMessage('bench', { prompt: `Where is order ${++seq}?` });
  const window = async (n: number, seconds: number, latency: Reservoir | undefined): Promise<{ errors: number; seconds: number }> => {
    const end = performance.now() + seconds * 1000;
    let errors = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: n }, async () => {
        while (performance.now() < end) {
          const s = performance.now();
          try {
            await call();
            latency?.add(performance.now() - s);
          } catch (error) {
            if (errors++ === 0) process.stderr.write(`  synapse: turn failed: ${String((error as { code?: string }).code ?? error)} ${(error as Error).message}\n`);
            await new Promise<void>((resolve) => setTimeout(resolve, 50));
          }
        }
      }),
    );
    return { errors, seconds: (performance.now() - t0) / 1000 };
  };
  const pyCpu = async (): Promise<number> => {
    let sum = 0;
    for (const pid of system.agentStatus('bench').pids) sum += await cpuOf(pid);
    return sum;
  };
  return {
    name: `Synapse (${workers} worker${workers === 1 ? '' : 's'})`,
    system,
    async measure(n, serverPid) {
      if (WARMUP > 0) await window(n, WARMUP, undefined);
      const latency = new Reservoir(200_000, 7);
      const [cpu0, srv0, node0] = [await pyCpu(), await cpuOf(serverPid), nodeCpu()];
      const r = await window(n, SECONDS, latency);
      const [cpu1, srv1, node1] = [await pyCpu(), await cpuOf(serverPid), nodeCpu()];
      const s = latency.summary();
      return {
        ok: s.count,
        errors: r.errors,
        throughput: s.count / r.seconds,
        p50: s.p50,
        p99: s.p99,
        pyCpuMsPerTurn: ((cpu1 - cpu0) * 1000) / s.count,
        serverCpuMsPerTurn: ((srv1 - srv0) * 1000) / s.count,
        nodeCpuMsPerTurn: ((node1 - node0) * 1000) / s.count,
      };
    },
    async close() {
      if (process.env.BENCH_PROFILE_DIR !== undefined) {
        // bench/provider/agent.py dumps its profile on SIGUSR1: watch for the files (10 s at most).
        const dir = process.env.BENCH_PROFILE_DIR;
        const want = new Set(system.agentStatus('bench').pids.map((pid) => `${pid}.prof`));
        const watcher = watch(dir);
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          const check = (): void => {
            for (const name of [...want]) if (existsSync(join(dir, name))) want.delete(name);
            if (want.size === 0) resolve();
          };
          watcher.on('change', check);
          timer = setTimeout(resolve, 10_000);
          for (const name of want) process.kill(Number(name.split('.')[0]), 'SIGUSR1');
          check();
        });
        clearTimeout(timer);
        watcher.close();
      }
      await system.stop();
    },
  };
}

// ─── runs ────────────────────────────────────────────────────────────────────

const out: string[] = [];
const say = (text = ''): void => {
  out.push(text);
  process.stdout.write(`${text}\n`);
};

async function grid(): Promise<boolean> {
  const maxN = Math.max(...LEVELS);
  say(`### Throughput and latency at N in flight (latency-free server: CPU-bound, the hard case for overhead)`);
  say();
  const server = await startServer(0);
  const cs: Contender[] = [];
  const rows: string[][] = [];
  const ratios: string[] = [];
  let allMet = true;
  try {
    cs.push(await startInproc(server.baseUrl));
    cs.push(await startSynapse(server.baseUrl, 1, maxN));
    cs.push(await startSynapse(server.baseUrl, 2, Math.ceil(maxN / 2)));
    for (const n of LEVELS) {
      // ROUNDS alternating rounds (a b c, c b a, …) so a slow phase of a shared machine hits
      // every contender alike; each cell is the median over the rounds.
      const perContender: Result[][] = cs.map(() => []);
      // N ≥ 1000: one round (each window drains 1000 turns; two rounds would blow the time budget).
      for (let round = 0; round < (n >= 1000 ? 1 : ROUNDS); round++) {
        const order = round % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
        for (const i of order) {
          const r = await cs[i]!.measure(n, server.child.pid!);
          perContender[i]!.push(r);
          process.stderr.write(`  N=${n} round ${round} ${cs[i]!.name}: ${f(r.throughput)} turns/s p50 ${f(r.p50)} p99 ${f(r.p99)} ms, CPU/turn py ${f(r.pyCpuMsPerTurn, 2)} node ${f(r.nodeCpuMsPerTurn, 2)} server ${f(r.serverCpuMsPerTurn, 2)} ms, errors ${r.errors}\n`);
        }
      }
      const results = perContender.map(medianResult);
      const floor = results[0]!.throughput;
      results.forEach((r, i) => {
        const ratio = r.throughput / floor;
        rows.push([String(n), cs[i]!.name, f(r.throughput), i === 0 ? '1.00× (floor)' : `${f(ratio, 2)}×`, f(r.p50), f(r.p99), f(r.pyCpuMsPerTurn, 2), f(r.nodeCpuMsPerTurn, 2), f(r.serverCpuMsPerTurn, 2), String(r.errors)]);
      });
      const r1 = results[1]!.throughput / floor;
      const r2 = results[2]!.throughput / floor;
      if (r1 < 0.95) allMet = false;
      ratios.push(`- N=${n}: 1 worker ${f(r1, 2)}× in-process (${r1 >= 0.95 ? 'meets' : 'below'} ≥ 0.95×); 2 workers ${f(r2, 2)}×.`);
    }
  } finally {
    for (const c of cs) await c.close();
    await server.close();
  }
  say(markdownTable(['N in flight', 'contender', 'turns/s', 'vs in-process', 'p50 ms', 'p99 ms', 'Python CPU ms/turn', 'Node CPU ms/turn', 'server CPU ms/turn', 'errors'], rows));
  say();
  say(ratios.join('\n'));
  say();
  return allMet;
}

async function ioBound(): Promise<void> {
  say(`### I/O-bound: ${IO_TURNS} turns in flight over 2 workers (server answers after ${IO_LATENCY_MS} ms)`);
  say();
  const server = await startServer(IO_LATENCY_MS);
  // Runs each worker holds in Python; the rest wait in the agent's queue in Node (see IO_CONCURRENCY).
  const concurrency = Math.min(IO_CONCURRENCY, Math.ceil(IO_TURNS / 2));
  say(`\`concurrency\` per worker: ${concurrency} (the other turns wait in the agent's queue in Node). \`python.gcThresholds\`: ${IO_GC === undefined ? "unset (CPython's 700, 10, 10)" : `[${IO_GC.join(', ')}]`}.`);
  say();
  let syn: (Contender & { system: ActorSystem }) | undefined;
  try {
    syn = await startSynapse(server.baseUrl, 2, concurrency, IO_GC);
    const system = syn.system;
    // Warm both workers' connection pools and imports with a few turns, then settle the baseline.
    await Promise.all(Array.from({ length: 16 }, () => system.sendMessage('bench', { prompt: 'warm-up' })));
    const pids = system.agentStatus('bench').pids;
    const baseNode = process.memoryUsage().rss;
    const basePy = await Promise.all(pids.map(async (pid) => (await readProcStat(pid))?.rssBytes ?? 0));
    const sampler = new ResourceSampler({ clock: realClock, periodMs: 250, targets: () => pids.map((pid, worker) => ({ pid, agent: 'bench', worker })) });
    const latency = new Reservoir(200_000, 11);
    let errors = 0;
    const kinds = new Set<string>();
    const traced = new Set<string>(); // BENCH_DIAG_DIR: the first traceback of each kind goes to <dir>/errors.txt
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: IO_TURNS }, async (_, i) => {
        const s = performance.now();
        try {
          await system.sendMessage('bench', { prompt: `Where is order ${i}?` });
          latency.add(performance.now() - s);
        } catch (error) {
          errors++;
          const e = error as { code?: string; message?: string; details?: { category?: string } };
          const kind = `${e.code ?? ''} ${e.details?.category ?? ''}: ${String(e.message).slice(0, 100)}`;
          if (DIAG_DIR !== undefined && !traced.has(kind) && traced.add(kind)) appendFileSync(join(DIAG_DIR, 'errors.txt'), `${kind}\n${String((e.details as { traceback?: unknown } | undefined)?.traceback ?? '')}\n\n`);
          if (kinds.size < 4) kinds.add(kind);
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    await sampler.sample();
    await sampler.close();
    const node = sampler.node();
    const py = sampler.python();
    const s = latency.summary();
    const perK = IO_TURNS / 1000;
    const pyPeak = py.map((p) => p.maxRssBytes);
    const pyGrowth = py.reduce((sum, p, i) => sum + (p.maxRssBytes - basePy[i]!), 0);
    say(
      markdownTable(
        ['turns', 'ok', 'errors', 'wall s', 'turns/s', 'p50 ms', 'p99 ms', 'Node RSS before → peak', 'Node Δ per 1000 in flight', 'Python RSS before → peak (per worker)', 'Python Δ per 1000 in flight (both workers)'],
        [
          [
            String(IO_TURNS),
            String(s.count),
            `${errors}${kinds.size > 0 ? ` (${[...kinds].join('; ')})` : ''}`,
            f(wall),
            f(s.count / wall),
            f(s.p50),
            f(s.p99),
            `${mib(baseNode)} → ${mib(node.maxRssBytes)}`,
            mib((node.maxRssBytes - baseNode) / perK),
            basePy.map((b, i) => `${mib(b)} → ${mib(pyPeak[i] ?? 0)}`).join(', '),
            mib(pyGrowth / perK),
          ],
        ],
      ),
    );
    say();
    say(`LLMock CPU since it started: ${f(await cpuOf(server.child.pid), 1)} s. Node RSS is the whole bench process (it also holds the ${IO_TURNS} callers' promises). Python Δ: the sum over both workers of (peak − RSS after a 16-turn warm-up).`);
    say();
  } finally {
    await syn?.close();
    await server.close();
  }
}

/**
 * Sizing for remote models (issue #15 §1, docs/providers.md "Sizing"): `SIZING_TURNS` turns fired
 * at once against a server answering after `SIZING_LATENCY_MS`, for each workers × concurrency
 * pair; wall time, throughput, latency and Python CPU per turn. The default `concurrency` is
 * chosen from this table.
 */
async function sizing(): Promise<void> {
  const configs: Array<[number, number]> = [
    [1, 16],
    [1, 32],
    [1, 64],
    [1, 128],
    [1, SIZING_TURNS],
    [2, 16],
    [2, 32],
    [2, 64],
    [2, Math.ceil(SIZING_TURNS / 2)],
  ];
  say(`### Sizing: ${SIZING_TURNS} turns at once, server answers after ${SIZING_LATENCY_MS} ms (workers × concurrency)`);
  say();
  const server = await startServer(SIZING_LATENCY_MS);
  const rows: string[][] = [];
  try {
    for (const [workers, concurrency] of configs) {
      const syn = await startSynapse(server.baseUrl, workers, concurrency);
      try {
        const system = syn.system;
        await Promise.all(Array.from({ length: 2 * workers }, () => system.sendMessage('bench', { prompt: 'warm-up' })));
        const pids = system.agentStatus('bench').pids;
        const cpu0 = (await Promise.all(pids.map(cpuOf))).reduce((a, b) => a + b, 0);
        const latencies: number[] = [];
        let errors = 0;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: SIZING_TURNS }, async (_, i) => {
            const s0 = performance.now();
            try {
              await system.sendMessage('bench', { prompt: `Where is order ${i}?` });
              latencies.push(performance.now() - s0);
            } catch {
              errors++;
            }
          }),
        );
        const wall = (performance.now() - t0) / 1000;
        const cpu1 = (await Promise.all(pids.map(cpuOf))).reduce((a, b) => a + b, 0);
        const waves = Math.ceil(SIZING_TURNS / (workers * concurrency));
        rows.push([`${workers} × ${concurrency}`, String(waves), f(wall, 2), f(latencies.length / wall), f(percentile(latencies, 50)), f(percentile(latencies, 99)), f(((cpu1 - cpu0) * 1000) / Math.max(1, latencies.length), 2), String(errors)]);
        process.stderr.write(`  sizing ${workers}×${concurrency}: ${f(wall, 2)} s, errors ${errors}\n`);
      } finally {
        await syn.close();
      }
    }
  } finally {
    await server.close();
  }
  say(markdownTable(['workers × concurrency', 'waves (turns ÷ slots)', 'wall s', 'turns/s', 'p50 ms', 'p99 ms', 'Python CPU ms/turn', 'errors'], rows));
  say();
  say(`Floor: one wave = ${SIZING_LATENCY_MS} ms plus the CPU of ${SIZING_TURNS} turns spread over the workers' cores.`);
  say();
}

function versions(): string {
  return execFileSync(PYTHON, ['-c', "import sys, importlib.metadata as m; print(sys.version.split()[0], *(p + ' ' + m.version(p) for p in ('pydantic-ai-slim', 'openai', 'httpx', 'uvloop', 'llmock')), sep=', ')"], {
    encoding: 'utf8',
  }).trim();
}

say(`## Provider path — ${new Date().toISOString().slice(0, 10)}`);
say();
const envShown = Object.entries(process.env)
  .filter(([k]) => k === 'BENCH_QUICK' || k.startsWith('BENCH_PROVIDER_') || k === 'BENCH_PROFILE_DIR')
  .map(([k, v]) => `${k}=${v} `)
  .join('');
say(`Command: \`${envShown}npx tsx bench/provider.ts${QUICK && process.env.BENCH_QUICK !== '1' ? ' --quick' : ''}\`; ${SECONDS} s windows after a ${WARMUP} s warm-up window, closed-loop callers; N = ${LEVELS.join(', ')}; ${ROUNDS} alternating round(s) per N below 1000 (one at N ≥ 1000), cells are medians over rounds. Throughput = successful turns / time from the first call to the last settled one (the tail of the window included, the same on both sides).`);
say();
say(formatMachineInfo(undefined, { Python: versions() }));
say('- Agent: bench/provider/agent.py (`OpenAIChatModel` + `OpenAIProvider(base_url=…)`, no tools: one model request per turn); server: LLMock (bench/provider/server.py, static answers, non-streamed).');
say('- Synapse: 1 or 2 workers, `concurrency` = ⌈max N / workers⌉ per worker, `logLevel: silent`, `metrics: false`, in-memory history (no conversation id: one-shot turns).');
say();
let met = true;
if (ONLY.has('grid')) met = await grid();
if (ONLY.has('io')) await ioBound();
if (ONLY.has('sizing')) await sizing();
process.stderr.write(`[provider] load average at end: ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' / ')}\n`);
if (ONLY.has('grid')) say(`Target (issue #15 §4): ≥ 0.95× in-process at every N — ${met ? 'met' : 'NOT met'} in this run (1 worker vs the one-process floor).`);
