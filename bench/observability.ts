/**
 * Observability overhead, side by side in ONE run: the same workloads on two systems,
 *
 *   observed — `Synapse.start()` defaults: logging at `info` to a real file (pino, synchronous
 *              writes, like the default stdout destination) and metrics on (events bound,
 *              one `/metrics` scrape per sample, so collection cost is included);
 *   quiet    — `Synapse.start({ metrics: false, logLevel: 'silent' })`.
 *
 * Workloads: (1) actor `call` round trips on a plain actor (the actor hot path emits no
 * per-message event, so this shows the floor), (2) bridge turns to the smallest pydantic-ai
 * agent (a one-step `FunctionModel` echo written to a temp file by this bench: the highest turn
 * rate, so the worst case for per-turn events, logs and metrics), (3) agent turns of a pydantic-ai agent
 * (`examples/agents/support.py`: tool call → tool result → answer). Samples alternate between
 * the two systems to spread machine noise; the table shows medians and the relative cost.
 *
 *   npx tsx bench/observability.ts            # 5 samples × 3 s per cell
 *   BENCH_QUICK=1 npx tsx bench/observability.ts   # 3 samples × 1.5 s
 *   BENCH_SAMPLES=9 BENCH_SECONDS=5 npx tsx bench/observability.ts
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Synapse, type ActorSystem } from '../src/index.ts';
import { emit } from '../src/observe/emit.ts';
import { EventLog } from '../src/observe/event-log.ts';
import { SynapseEventEmitter } from '../src/observe/events.ts';
import { createLogger } from '../src/observe/log.ts';
import { SynapseMetrics } from '../src/observe/metrics.ts';
import { formatMachineInfo, machineInfo } from './lib/machine.ts';
import { markdownTable, summarize } from './lib/stats.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? (QUICK ? 3 : 5));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 1.5 : 3));
const CONCURRENCY = 8;
/** The smallest agent a turn can run (a turn must commit messages, so a plain handler will not do). */
const ECHO_AGENT = `from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel


def _echo(messages, info):
    return ModelResponse(parts=[TextPart('ok')])


agent = Agent(FunctionModel(_echo), name='echo')
`;
const SUPPORT = 'examples/agents/support.py:agent';

interface Contender {
  readonly name: string;
  readonly system: ActorSystem;
  readonly actor: { call(m: number): Promise<unknown> };
  /** Scrape cost included in the observed contender's samples. */
  scrape(): Promise<void>;
}

async function contender(name: string, observed: boolean, logFile: string, stateDir: string, echo: string): Promise<Contender> {
  const system = observed
    ? await Synapse.start({ logger: pino({ level: 'info' }, pino.destination({ dest: logFile, sync: true })), stateDir })
    : await Synapse.start({ metrics: false, logLevel: 'silent', stateDir });
  await system.spawnAgent({ id: 'echo', agent: echo, concurrency: CONCURRENCY });
  await system.spawnAgent({ id: 'support', agent: SUPPORT, concurrency: CONCURRENCY });
  const actor = system.spawn<number, number>({ init: () => undefined, handle: (m: number) => m + 1 });
  return { name, system, actor, scrape: observed ? async () => void (await system.metricsText()) : async () => undefined };
}

/** One sample: throughput, and Node CPU per operation (what observability costs, less sensitive to a loaded machine). */
interface Sample {
  readonly perSecond: number;
  readonly nodeCpuUsPerOp: number;
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Sequential actor calls for `seconds`. */
async function actorCalls(c: Contender, seconds: number): Promise<Sample> {
  const cpu0 = cpuUs();
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) await c.actor.call(i);
    n += 1000;
  }
  await c.scrape();
  return { perSecond: n / ((performance.now() - start) / 1000), nodeCpuUsPerOp: (cpuUs() - cpu0) / n };
}

/** `CONCURRENCY` closed-loop callers sending turns (each a new conversation) to `agent` for `seconds`. */
async function turns(c: Contender, agent: string, seconds: number): Promise<Sample> {
  const cpu0 = cpuUs();
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, i) => {
      while (performance.now() < end) {
        await c.system.sendMessage(agent, { prompt: `order ${i}` });
        n++;
      }
    }),
  );
  await c.scrape();
  return { perSecond: n / ((performance.now() - start) / 1000), nodeCpuUsPerOp: (cpuUs() - cpu0) / n };
}

/**
 * The observability work of one turn in isolation (deterministic CPU, unlike throughput on a
 * shared machine): the three per-turn events (`message.routed`, `call.completed`,
 * `turn.committed`) through the event log and metrics, as the two systems wire them.
 * Returns µs per turn.
 */
function perTurnEventCost(observed: boolean, logFile: string, n: number): number {
  const events = new SynapseEventEmitter();
  const log = observed ? createLogger({ level: 'info', destination: logFile }) : createLogger({ level: 'silent' });
  const eventLog = new EventLog(events, log);
  const metrics = observed ? new SynapseMetrics() : undefined;
  metrics?.bindEvents(events);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const requestId = `r${i}`;
    emit(events, 'message.routed', { agent: 'bot', requestId, worker: 0, conversationId: 'c', turnId: requestId });
    emit(events, 'call.completed', { agent: 'bot', requestId, latencyMs: 12 });
    emit(events, 'turn.committed', { conversationId: 'c', turnId: requestId, agent: 'bot', messages: 2 });
  }
  const us = ((performance.now() - t0) * 1000) / n;
  metrics?.close();
  eventLog.close();
  return us;
}

const dir = mkdtempSync(join(tmpdir(), 'synapse-bench-obs-'));
const logFile = join(dir, 'synapse.log');
writeFileSync(join(dir, 'echo_agent.py'), ECHO_AGENT);
const echo = `${join(dir, 'echo_agent.py')}:agent`;
const contenders: Contender[] = [];
try {
  contenders.push(await contender('observed (info → file, metrics on)', true, logFile, join(dir, 'state-a'), echo));
  contenders.push(await contender('quiet (silent, metrics off)', false, logFile, join(dir, 'state-b'), echo));
  // Warm-up: JIT, Python imports, first turns.
  for (const c of contenders) {
    await actorCalls(c, 0.3);
    await turns(c, 'echo', 0.3);
    await turns(c, 'support', 0.3);
  }
  const workloads: [string, string, (c: Contender) => Promise<Sample>][] = [
    ['actor call round trips', 'calls/s', (c) => actorCalls(c, SECONDS)],
    ['bridge turns (one-step echo agent)', 'turns/s', (c) => turns(c, 'echo', SECONDS)],
    ['agent turns (pydantic-ai support agent)', 'turns/s', (c) => turns(c, 'support', SECONDS)],
  ];
  const rows: string[][] = [];
  for (const [label, unit, run] of workloads) {
    const samples = contenders.map(() => [] as Sample[]);
    for (let s = 0; s < SAMPLES; s++) {
      // Alternate which contender goes first so drift does not favour one.
      const order = s % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) samples[i]!.push(await run(contenders[i]!));
    }
    const [obs, quiet] = samples.map((x) => summarize(x.map((y) => y.perSecond)));
    const [obsCpu, quietCpu] = samples.map((x) => summarize(x.map((y) => y.nodeCpuUsPerOp)));
    const cost = (1 - obs!.median / quiet!.median) * 100;
    const cpuCost = (obsCpu!.median / quietCpu!.median - 1) * 100;
    const spread = (x: { spread: number }): string => `±${((x.spread / 2) * 100).toFixed(0)}%`;
    const us = (x: number): string => (x < 10 ? x.toFixed(2) : x.toFixed(0));
    rows.push([
      label,
      `${Math.round(quiet!.median)} ${unit} (${spread(quiet!)})`,
      `${Math.round(obs!.median)} ${unit} (${spread(obs!)})`,
      `${cost.toFixed(1)} %`,
      `${us(quietCpu!.median)} → ${us(obsCpu!.median)} µs`,
      `${cpuCost.toFixed(1)} %`,
    ]);
    process.stderr.write(`  ${label}: quiet ${quiet!.median.toFixed(0)} observed ${obs!.median.toFixed(0)} → cost ${cost.toFixed(1)} %; node cpu/op ${us(quietCpu!.median)} → ${us(obsCpu!.median)} µs\n`);
  }
  process.stdout.write(`## Observability overhead\n\n${formatMachineInfo(machineInfo(), { samples: String(SAMPLES), window: `${SECONDS} s`, concurrency: String(CONCURRENCY) })}\n\n`);
  process.stdout.write(`${markdownTable(['workload', 'quiet (median ± ½ spread)', 'observed (median ± ½ spread)', 'throughput cost', 'Node CPU per op (quiet → observed)', 'Node CPU cost'], rows)}\n\n`);
  const isolated = [false, true].map((observed) => summarize(Array.from({ length: SAMPLES }, () => perTurnEventCost(observed, join(dir, 'isolated.log'), QUICK ? 20_000 : 100_000))).median);
  process.stdout.write(
    `Per-turn observability work in isolation (3 events → event log + metrics): quiet ${isolated[0]!.toFixed(2)} µs, observed ${isolated[1]!.toFixed(2)} µs per turn.\n\n`,
  );
  process.stdout.write(`Log written at info during the run: ${(statSync(logFile).size / 1024).toFixed(0)} KiB (one \`turn.committed\` line per turn).\n`);
} finally {
  for (const c of contenders) await c.system.stop();
  rmSync(dir, { recursive: true, force: true });
}
