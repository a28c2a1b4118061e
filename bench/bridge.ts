/**
 * Node ↔ Python bridge benchmark (`npx tsx bench/bridge.ts`), side by side in one run:
 *
 * 1. sequential round trip: raw NDJSON echo (bench/echo/echo.py) vs the bridge with a no-op
 *    handler (examples/agents/noop.py);
 * 2. pipelined throughput (many requests in flight) for the same two;
 * 3. one pydantic-ai agent turn (FunctionModel that answers at once) through the bridge vs the
 *    same `agent.run` timed inside Python;
 * 4. restart latency: kill -9 → a new worker ready (naive spawn, no warm spare).
 *
 * Env: BENCH_QUICK=1 for a short smoke run. Prints machine info and a markdown table.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { PythonWorker } from '../src/process/worker.ts';
import type { PythonProcessOptions } from '../src/process/options.ts';
import { formatMachineInfo } from './lib/machine.ts';
import { markdownTable, si, summarize } from './lib/stats.ts';
import type { Summary } from './lib/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PYTHON = process.env.SYNAPSE_PYTHON ?? `${ROOT}.venv/bin/python`;
const QUICK = process.env.BENCH_QUICK === '1';
const RTT_N = QUICK ? 300 : 3_000;
const RTT_BLOCKS = QUICK ? 2 : 6;
const PIPE_N = QUICK ? 2_000 : 20_000;
const PIPE_WINDOW = 256;
const PIPE_ROUNDS = QUICK ? 2 : 7;
const TURN_N = QUICK ? 200 : 1_000;
const TURN_BLOCKS = QUICK ? 2 : 4;
const RESTARTS = QUICK ? 3 : 8;
const WARMUP = 200;

// ─── raw echo ────────────────────────────────────────────────────────────────

/** A bare NDJSON client over the same kind of pipe: write a line, resolve on the matching line. */
class RawEcho {
  readonly #child = spawn(PYTHON, [`${ROOT}bench/echo/echo.py`], { stdio: ['pipe', 'pipe', 'inherit'] });
  readonly #waiting = new Map<string, () => void>();
  #rest = '';

  constructor() {
    this.#child.stdout.setEncoding('utf8');
    this.#child.stdout.on('data', (chunk: string) => {
      const text = this.#rest + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        const frame = JSON.parse(text.slice(start, nl)) as { id: string };
        start = nl + 1;
        const done = this.#waiting.get(frame.id);
        this.#waiting.delete(frame.id);
        done?.();
      }
      this.#rest = text.slice(start);
    });
  }

  call(id: string, prompt: string): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.stdin.write(`${JSON.stringify({ t: 'run', id, prompt })}\n`);
    });
  }

  async close(): Promise<void> {
    const exit = once(this.#child, 'exit');
    this.#child.stdin.end();
    await exit;
  }
}

// ─── measurement helpers ─────────────────────────────────────────────────────

type Call = (id: string) => Promise<unknown>;

/** Round-trip times (µs) of `n` sequential calls after `warmup` unmeasured ones. */
async function rttSamples(call: Call, n: number, warmup = WARMUP): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await call(`w${i}`);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call(`s${i}`);
    samples.push((performance.now() - t0) * 1000);
  }
  return samples;
}


/** Requests per second of one round of `n` requests with `window` kept in flight. */
async function pipelinedRound(call: Call, n: number, window: number, tag: string): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (next < n) await call(`${tag}-${next++}`);
  };
  await Promise.all(Array.from({ length: window }, lane));
  return n / ((performance.now() - t0) / 1000);
}

/**
 * The two contenders measured alternately (a, b, a, b, …: `blocks` blocks each), so slow
 * phases of a shared machine hit both alike; returns each one's samples.
 */
async function interleaved(blocks: number, a: (block: number) => Promise<number[]>, b: (block: number) => Promise<number[]>): Promise<[number[], number[]]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < blocks; i++) {
    as.push(...(await a(i)));
    bs.push(...(await b(i)));
  }
  return [as, bs];
}

const us = (s: Summary): string => `${s.median.toFixed(0)} µs (p95 ${s.p95.toFixed(0)}, ±${(s.spread * 50).toFixed(0)}%)`;
const ms = (s: Summary): string => `${s.median.toFixed(0)} ms (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)})`;
const rps = (s: Summary): string => `${si(s.median)}/s (±${(s.spread * 50).toFixed(0)}%)`;

// ─── main ────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const pyVersion = execFileSync(PYTHON, ['-c', 'import platform, importlib.metadata as m; print(platform.python_version(), m.version("pydantic-ai-slim"))'], { encoding: 'utf8' }).trim().split(' ');
  console.log('# Bridge benchmark\n');
  console.log(formatMachineInfo(undefined, { Python: pyVersion[0] ?? '?', 'pydantic-ai-slim': pyVersion[1] ?? '?', mode: QUICK ? 'quick' : 'full' }));
  console.log('');

  const rows: string[][] = [];

  // 1 + 2: raw echo and the bridge, started together and measured alternately
  const raw = new RawEcho();
  const options: PythonProcessOptions = {
    cwd: ROOT,
    pidFile: null,
    concurrency: 1024,
    agents: [
      { name: 'noop', ref: `${ROOT}examples/agents/noop.py:handler` },
      { name: 'turn', ref: `${ROOT}bench/echo/noop_agent.py:agent` },
    ],
  };
  const proc = await PythonWorker.start(options);
  const rawCall: Call = (id) => raw.call(id, 'hello');
  const bridgeCall: Call = (id) => proc.run({ id, agent: 'noop', prompt: 'hello' });
  const rttBlock = (call: Call) => (block: number) => rttSamples((id) => call(`${block}-${id}`), RTT_N / RTT_BLOCKS, block === 0 ? WARMUP : 20);
  const [rawRttSamples, bridgeRttSamples] = await interleaved(RTT_BLOCKS, rttBlock(rawCall), rttBlock(bridgeCall));
  const rawRtt = summarize(rawRttSamples);
  const bridgeRtt = summarize(bridgeRttSamples);
  await pipelinedRound(rawCall, PIPE_N / 4, PIPE_WINDOW, 'warm'); // warm-up round each
  await pipelinedRound(bridgeCall, PIPE_N / 4, PIPE_WINDOW, 'warm');
  const pipeRound = (call: Call) => async (round: number) => [await pipelinedRound(call, PIPE_N, PIPE_WINDOW, `p${round}`)];
  const [rawPipeSamples, bridgePipeSamples] = await interleaved(PIPE_ROUNDS, pipeRound(rawCall), pipeRound(bridgeCall));
  const rawPipe = summarize(rawPipeSamples);
  const bridgePipe = summarize(bridgePipeSamples);
  await raw.close();

  // 3: a pydantic-ai turn through the bridge
  // In-process turns run in a separate Python process, so the two sides alternate by blocks.
  const inprocBlock = (): { samplesUs: number[]; withMessagesUs: number[] } =>
    JSON.parse(execFileSync(PYTHON, [`${ROOT}bench/echo/inproc_turn.py`, String(TURN_N / TURN_BLOCKS)], { encoding: 'utf8' })) as { samplesUs: number[]; withMessagesUs: number[] };
  const inprocSamples: number[] = [];
  const inprocWithMessages: number[] = [];
  const bridgeTurnSamples: number[] = [];
  for (let block = 0; block < TURN_BLOCKS; block++) {
    const inproc = inprocBlock();
    inprocSamples.push(...inproc.samplesUs);
    inprocWithMessages.push(...inproc.withMessagesUs);
    bridgeTurnSamples.push(...(await rttSamples((id) => proc.run({ id: `${block}-${id}`, agent: 'turn', prompt: 'hi' }), TURN_N / TURN_BLOCKS, block === 0 ? WARMUP : 20)));
  }
  const bridgeTurn = summarize(bridgeTurnSamples);
  const inprocTurn = summarize(inprocSamples);
  const inprocTurnWithMessages = summarize(inprocWithMessages);
  await proc.close();


  // 4: kill -9 → ready
  const restart: number[] = [];
  let current = await PythonWorker.start(options);
  for (let i = 0; i < RESTARTS; i++) {
    const t0 = performance.now();
    current.kill();
    await current.exited;
    current = await PythonWorker.start(options);
    restart.push(performance.now() - t0);
  }
  await current.close();
  const restartSummary = summarize(restart);

  rows.push(['Sequential RTT (no-op)', us(rawRtt), us(bridgeRtt), `${(bridgeRtt.median / rawRtt.median).toFixed(2)}×`]);
  rows.push([`Pipelined throughput (${PIPE_WINDOW} in flight)`, rps(rawPipe), rps(bridgePipe), `${(bridgePipe.median / rawPipe.median).toFixed(2)}×`]);
  const turnOverhead = bridgeTurn.median - inprocTurn.median;
  rows.push(['Agent turn (FunctionModel): in-process `agent.run` vs bridge', us(inprocTurn), us(bridgeTurn), `+${turnOverhead.toFixed(0)} µs = ${(turnOverhead / rawRtt.median).toFixed(2)}× raw RTT`]);
  const overMessages = bridgeTurn.median - inprocTurnWithMessages.median;
  rows.push(['Agent turn: in-process `agent.run` + new messages dumped to JSON vs bridge', us(inprocTurnWithMessages), us(bridgeTurn), `+${overMessages.toFixed(0)} µs = ${(overMessages / rawRtt.median).toFixed(2)}× raw RTT`]);
  rows.push(['kill -9 → ready (naive spawn)', '—', ms(restartSummary), '']);
  console.log(markdownTable(['Benchmark', 'Baseline (raw echo / in-process)', 'Bridge', 'Bridge vs baseline'], rows));
  console.log(`\nSamples: RTT n=${RTT_N} per side after ${WARMUP} warm-up, in ${RTT_BLOCKS} alternating blocks; throughput ${PIPE_ROUNDS} alternating rounds × ${PIPE_N} requests (${PIPE_WINDOW} in flight) after one warm-up round each; turns n=${TURN_N} per side in ${TURN_BLOCKS} alternating blocks (in-process on the loop the runtime uses); restarts n=${RESTARTS}. Cells: median (p95 or range, ±half the relative spread).`);
}

await main();
