/**
 * Agent-turn benchmarks, side by side in ONE run on one machine (`npm run bench`, or
 * `tsx bench/agents.ts [--seconds 5] [--quick] [--only a,b,c,d] [--levels 1,8,32] [--out file.md]`;
 * `--quick` or `BENCH_QUICK=1`: 2 s windows):
 *
 *   (a) Synapse vs the same pydantic-ai agent behind FastAPI/uvicorn (HTTP via fetch) vs
 *       python-shell (one call at a time): throughput and p50/p99 at equal concurrency;
 *   (b) kill -9 of the serving Python process every few seconds: error rate of Synapse vs a
 *       plain uvicorn (stays dead) vs uvicorn under a restart loop;
 *   (c) 1 vs 2 Python workers for one CPU-bound agent (bench/agents/cpu_agent.py);
 *   (d) latency and memory (Node + Python RSS) as in-flight requests grow 1 → 1000.
 *
 * Prints markdown (machine info first). Needs `node bench/setup.mjs` (bench-only deps).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatMachineInfo } from './lib/machine.ts';
import { markdownTable } from './lib/stats.ts';
import { BENCH_PYTHON, startPythonShell, startSynapse, startUvicorn, type Contender } from './peers/contenders.ts';
import { killEvery, measure, type Window } from './peers/measure.ts';

const SUPPORT = 'examples/agents/support.py:agent';
const CPU = 'bench/agents/cpu_agent.py:agent';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string' }, quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' }, levels: { type: 'string' } },
});
const quick = args.quick === true || process.env.BENCH_QUICK === '1';
const seconds = Number(args.seconds ?? (quick ? 2 : 5));
if (!(seconds > 0 && seconds <= 600)) throw new Error(`--seconds must be in (0, 600], got ${args.seconds}`);
const only = new Set((args.only ?? 'a,b,c,d').split(','));
const levels = (args.levels ?? '1,8,32').split(',').map(Number);
if (levels.some((l) => !Number.isInteger(l) || l < 1 || l > 10_000)) throw new Error(`--levels must be integers in 1..10000, got ${args.levels}`);

const out: string[] = [];
const say = (text = ''): void => {
  out.push(text);
  process.stdout.write(`${text}\n`);
};
const f = (x: number, d = 1): string => x.toFixed(d);
const mib = (b: number): string => (b === 0 ? 'n/a' : `${(b / 2 ** 20).toFixed(0)} MiB`);

async function withContenders<T>(start: (() => Promise<Contender>)[], body: (cs: Contender[]) => Promise<T>): Promise<T> {
  const cs: Contender[] = [];
  try {
    for (const s of start) cs.push(await s());
    return await body(cs);
  } finally {
    for (const c of cs) await c.close();
  }
}

async function throughput(): Promise<void> {
  say('### (a) Throughput and latency at equal concurrency (support agent: tool call → tool result → answer)');
  say();
  const rows: string[][] = [];
  const results = new Map<string, Window>();
  await withContenders(
    [
      () => startSynapse('Synapse (1 worker)', { agent: SUPPORT }),
      () => startUvicorn('FastAPI/uvicorn (1 worker)', SUPPORT),
      () => startPythonShell('python-shell', SUPPORT),
      // One Python process per core: what one Synapse option buys on this machine, and the
      // same for uvicorn (`--workers 2`), so equal process counts can be compared too.
      () => startSynapse('Synapse (2 workers)', { agent: SUPPORT, workers: 2 }),
      () => startUvicorn('FastAPI/uvicorn (2 workers)', SUPPORT, { workers: 2 }),
    ],
    async (cs) => {
      for (const c of levels) {
        for (const contender of cs) {
          const w = await measure(contender, { concurrency: c, seconds });
          results.set(`${contender.name}@${c}`, w);
          rows.push([String(c), contender.name, f(w.throughput), f(w.p50), f(w.p99), String(w.errors)]);
          process.stderr.write(`  (a) c=${c} ${contender.name}: ${f(w.throughput)} turns/s p50 ${f(w.p50)} p99 ${f(w.p99)}\n`);
        }
      }
      say(markdownTable(['concurrency', 'contender', 'turns/s', 'p50 ms', 'p99 ms', 'errors'], rows));
      say();
      // [Synapse, peer] pairs: equal process count first, then Synapse on both cores vs each
      // peer as deployed by default.
      const [syn1, uvi1, shell, syn2, uvi2] = cs;
      const pairs: [Contender, Contender][] = [[syn1!, uvi1!], [syn1!, shell!], [syn2!, uvi2!], [syn2!, uvi1!], [syn2!, shell!]];
      for (const c of levels) {
        const verdict: string[] = [];
        for (const [syn, peer] of pairs) {
          const s = results.get(`${syn.name}@${c}`)!;
          const p = results.get(`${peer.name}@${c}`)!;
          verdict.push(`${syn.name} ${f(s.throughput / p.throughput, 2)}× ${peer.name} (p99 ${f(s.p99)} vs ${f(p.p99)} ms)`);
        }
        say(`- c=${c}: ${verdict.join('; ')}.`);
      }
      say();
    },
  );
}

async function chaos(): Promise<void> {
  const every = 3000;
  const window = Math.max(seconds * 3, 9);
  say(`### (b) kill -9 of the serving Python process every ${every / 1000} s for ${window} s (concurrency 8, no client retries)`);
  say();
  const rows: string[][] = [];
  const starters: (() => Promise<Contender & { restarts?: () => number }>)[] = [
    () => startSynapse('Synapse (1 worker, default supervision)', { agent: SUPPORT }),
    () => startSynapse('Synapse (1 worker + 1 warm spare)', { agent: SUPPORT, spares: 1 }),
    () => startUvicorn('uvicorn, plain (no supervisor)', SUPPORT),
    () => startUvicorn('uvicorn under a restart loop', SUPPORT, { restartLoop: true }),
    () => startPythonShell('python-shell, plain (no supervisor)', SUPPORT),
  ];
  for (const start of starters) {
    await withContenders([start], async ([c]) => {
      let kills = 0;
      const w = await measure(c!, { concurrency: 8, seconds: window, during: () => killEvery(c!, every, () => kills++) });
      rows.push([c!.name, String(kills), String(w.ok), String(w.errors), `${f(w.errorRate)} %`, f(w.throughput), w.errorKinds.join('; ')]);
      process.stderr.write(`  (b) ${c!.name}: ok ${w.ok} errors ${w.errors}\n`);
    });
  }
  say(markdownTable(['contender', 'kills', 'ok turns', 'failed calls', 'error rate', 'ok turns/s', 'errors seen'], rows));
  say();
}

async function scaling(): Promise<void> {
  say('### (c) 1 vs 2 Python workers, CPU-bound agent (bench/agents/cpu_agent.py), concurrency 16');
  say();
  const rows: string[][] = [];
  const tput: number[] = [];
  for (const workers of [1, 2]) {
    await withContenders([() => startSynapse(`Synapse ${workers} worker(s)`, { agent: CPU, workers })], async ([c]) => {
      const w = await measure(c!, { concurrency: 16, seconds: Math.max(seconds, 3), warmupSeconds: 2 });
      tput.push(w.throughput);
      rows.push([String(workers), f(w.throughput), f(w.p50), f(w.p99)]);
      process.stderr.write(`  (c) workers=${workers}: ${f(w.throughput)} turns/s\n`);
    });
  }
  say(markdownTable(['workers', 'turns/s', 'p50 ms', 'p99 ms'], rows));
  say();
  say(`Scaling 1 → 2 workers: ${f(tput[1]! / tput[0]!, 2)}× (target ≥ 1.8×).`);
  say();
}

async function growth(): Promise<void> {
  say('### (d) Latency and memory as in-flight requests grow (support agent, 1 worker)');
  say();
  const rows: string[][] = [];
  await withContenders([() => startSynapse('Synapse', { agent: SUPPORT }), () => startUvicorn('FastAPI/uvicorn', SUPPORT)], async (cs) => {
    for (const c of [1, 10, 100, 1000]) {
      for (const contender of cs) {
        const w = await measure(contender, { concurrency: c, seconds: Math.max(seconds, 3) });
        rows.push([String(c), contender.name, f(w.throughput), f(w.p50), f(w.p99), String(w.errors), mib(w.nodeMaxRss), mib(w.pythonMaxRss)]);
        process.stderr.write(`  (d) c=${c} ${contender.name}: p99 ${f(w.p99)} node ${mib(w.nodeMaxRss)} python ${mib(w.pythonMaxRss)}\n`);
      }
    }
  });
  say(markdownTable(['in flight', 'contender', 'turns/s', 'p50 ms', 'p99 ms', 'errors', 'Node max RSS', 'Python max RSS'], rows));
  say();
  say('Node RSS is the whole bench process (it also hosts the HTTP client).');
  say();
}

function pyVersions(): string {
  return execFileSync(
    BENCH_PYTHON,
    ['-c', "import sys, importlib.metadata as m; print(sys.version.split()[0], *(p + ' ' + m.version(p) for p in ('pydantic-ai-slim', 'fastapi', 'uvicorn', 'uvloop', 'httptools')), sep=', ')"],
    { encoding: 'utf8' },
  ).trim();
}

say(`## Agents: Synapse vs FastAPI/uvicorn vs python-shell — ${new Date().toISOString().slice(0, 10)}`);
say();
say(`Command: \`npx tsx bench/agents.ts ${process.argv.slice(2).join(' ')}\`, ${seconds} s windows after a 1 s warm-up, closed-loop callers.`);
say();
say(formatMachineInfo(undefined, { Python: pyVersions(), 'python-shell': '5.0.0 (JSON mode, one call at a time)' }));
say('- uvicorn: `uvicorn.run(app)` defaults — 1 worker process, loop/http auto (uvloop + httptools), access log off; client: Node fetch (undici) with keep-alive.');
say('- Synapse: `spawnAgent` defaults (1 worker, 16 concurrent runs per worker, bounded queue 1000), in-memory history.');
say();
if (only.has('a')) await throughput();
if (only.has('b')) await chaos();
if (only.has('c')) await scaling();
if (only.has('d')) await growth();
if (args.out !== undefined) writeFileSync(args.out, `${out.join('\n')}\n`);
