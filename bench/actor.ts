/**
 * Actor core benchmark: side by side in one run, a minimal array-queue mailbox (the floor),
 * an xstate v5 actor, and a Synapse actor.
 *
 *   npx tsx bench/actor.ts                 # 9 throughput samples, 3 memory/spawn samples
 *   BENCH_SAMPLES=15 npx tsx bench/actor.ts
 *   BENCH_QUICK=1 npx tsx bench/actor.ts   # smaller sizes, for a smoke run
 *
 * Metrics: send+handle throughput (messages/s, one actor, sent in bursts of BURST = 1 000
 * messages, each burst's drain awaited: well inside the default mailbox capacity, and free
 * of the large-array growth and GC artefacts a single million-message burst measures),
 * sequential `call` round trips/s (await each reply before the next request), heap per
 * idle actor (heapUsed delta / N after full GC; `gc` from --expose-gc or enabled at run
 * time, see ./lib/gc.ts), and time to spawn 1 M actors (xstate is measured on fewer and
 * scaled linearly, marked "≈").
 *
 * Fairness and stability: floor and Synapse get the same message shapes (a number per
 * send; a request and its reply per call, the floor carrying its reply callback in the
 * message), and each contender's handler call site sees both the send and the call
 * workloads, as it would in an application. Every contender is warmed up on every path
 * before measuring; the throughput phase runs first, on a small heap, with a full GC
 * before each sample; samples are interleaved across contenders in a rotating order so
 * machine noise spreads evenly; the memory and spawn phases (which build large heaps)
 * run afterwards. Throughput is reported from wall time and from process CPU time (steadier
 * on a shared machine, see ./lib/timing.ts); cells show median ± half the relative
 * min–max spread; the load average is printed at start and end.
 */
import { createActor, createMachine } from 'xstate';
import { ActorRuntime } from '../src/actor/runtime.ts';
import { fullGc, getGc } from './lib/gc.ts';
import { formatMachineInfo, machineInfo } from './lib/machine.ts';
import { cell, markdownTable, si, summarize, type Summary } from './lib/stats.ts';
import { stopwatch, type Elapsed } from './lib/timing.ts';

const QUICK = process.env.BENCH_QUICK === '1';
/** Throughput samples per contender. */
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? (QUICK ? 3 : 9));
/** Memory and spawn samples per contender (slow, and their spread is small). */
const HEAP_SAMPLES = Math.min(SAMPLES, 3);
/** Messages per burst in the send+handle workload. */
const BURST = 1000;
const SIZES = {
  sends: QUICK ? 200_000 : 1_000_000,
  sendsXstate: QUICK ? 50_000 : 200_000,
  calls: QUICK ? 100_000 : 300_000,
  callsXstate: QUICK ? 20_000 : 50_000,
  idle: QUICK ? 20_000 : 100_000,
  idleXstate: QUICK ? 5_000 : 20_000,
  spawn: QUICK ? 100_000 : 1_000_000,
  spawnXstate: QUICK ? 10_000 : 50_000,
};

// ── the floor: the least a mailbox can do ─────────────────────────────────────────────

class MinimalMailbox<M> {
  #queue: M[] = [];
  #head = 0;
  #scheduled = false;
  constructor(private readonly handler: (message: M) => void) {}

  send(message: M): void {
    this.#queue.push(message);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#drain);
    }
  }

  #drain = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const message = queue[this.#head]!;
      queue[this.#head++] = undefined as M;
      this.handler(message);
    }
    queue.length = 0;
    this.#head = 0;
  };
}

/**
 * Counts handled messages and wakes the sender when a burst has drained. Each contender has
 * its own copy of the send loop below (not a shared helper taking a `send` callback): a
 * shared loop would make that call site megamorphic and measure V8's call overhead instead.
 */
class BurstGate {
  handled = 0;
  #target = 0;
  #wake: () => void = () => {};
  readonly hook = (): void => {
    if (++this.handled === this.#target) this.#wake();
  };
  /** Promise that resolves once `count` more messages have been handled. */
  expect(count: number): Promise<void> | undefined {
    this.#target += count;
    return this.handled >= this.#target ? undefined : new Promise<void>((resolve) => (this.#wake = resolve));
  }
}

interface Contender {
  readonly name: string;
  /** Time to send and handle `n` messages. */
  sends(n: number): Promise<Elapsed>;
  /** Time for `n` sequential request/reply round trips. */
  calls(n: number): Promise<Elapsed>;
  /** Creates `n` idle actors and returns them (kept alive by the caller while measuring). */
  idle(n: number): unknown[];
}

const floor: Contender = {
  name: 'minimal mailbox (floor)',
  async sends(n) {
    const gate = new BurstGate();
    const box = new MinimalMailbox<number>(gate.hook);
    const elapsed = stopwatch();
    for (let sent = 0; sent < n; sent += BURST) {
      const drained = gate.expect(BURST);
      for (let i = 0; i < BURST; i++) box.send(sent + i);
      await drained;
    }
    return elapsed();
  },
  async calls(n) {
    const box = new MinimalMailbox<{ m: number; reply: (v: number) => void }>(({ m, reply }) => reply(m));
    const elapsed = stopwatch();
    for (let i = 0; i < n; i++) await new Promise<number>((reply) => box.send({ m: i, reply }));
    return elapsed();
  },
  idle(n) {
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(new MinimalMailbox<number>(() => {}));
    return out;
  },
};

let xstateGate = new BurstGate();
const counterMachine = createMachine({
  on: {
    msg: { actions: () => xstateGate.hook() },
    req: { actions: ({ event }) => (event as unknown as { reply: (v: number) => void; m: number }).reply((event as unknown as { m: number }).m) },
  },
});

const xstate: Contender = {
  name: 'xstate v5 actor',
  async sends(n) {
    const gate = (xstateGate = new BurstGate());
    const actor = createActor(counterMachine).start();
    const elapsed = stopwatch();
    for (let sent = 0; sent < n; sent += BURST) {
      const drained = gate.expect(BURST);
      for (let i = 0; i < BURST; i++) actor.send({ type: 'msg' });
      await drained;
    }
    const t = elapsed();
    actor.stop();
    return t;
  },
  async calls(n) {
    const actor = createActor(counterMachine).start();
    const elapsed = stopwatch();
    for (let i = 0; i < n; i++) await new Promise<number>((reply) => actor.send({ type: 'req', reply, m: i } as never));
    const t = elapsed();
    actor.stop();
    return t;
  },
  idle(n) {
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(createActor(counterMachine).start());
    return out;
  },
};

const synapse: Contender = {
  name: 'Synapse actor',
  async sends(n) {
    const runtime = new ActorRuntime();
    const gate = new BurstGate();
    const ref = runtime.spawn<number, void>({ handle: gate.hook }); // default mailbox (10 000)
    const elapsed = stopwatch();
    for (let sent = 0; sent < n; sent += BURST) {
      const drained = gate.expect(BURST);
      for (let i = 0; i < BURST; i++) ref.send(sent + i);
      await drained;
    }
    const t = elapsed();
    await runtime.shutdown();
    return t;
  },
  async calls(n) {
    const runtime = new ActorRuntime();
    const ref = runtime.spawn<number, number>({ handle: (m) => m });
    const elapsed = stopwatch();
    for (let i = 0; i < n; i++) await ref.call(i);
    const t = elapsed();
    await runtime.shutdown();
    return t;
  },
  idle(n) {
    const runtime = new ActorRuntime();
    const behaviour = { handle: () => undefined };
    const out: unknown[] = [runtime];
    for (let i = 0; i < n; i++) out.push(runtime.spawn(behaviour));
    return out;
  },
};

const contenders = [floor, xstate, synapse] as const;
const gc = getGc();

function bytesPerIdle(c: Contender, n: number): number {
  if (gc === undefined) return Number.NaN;
  fullGc(gc);
  const before = process.memoryUsage().heapUsed;
  let held: unknown[] | undefined = c.idle(n);
  fullGc(gc);
  const after = process.memoryUsage().heapUsed;
  if (held.length === 0) throw new Error('unreachable: keeps `held` alive across the measurement');
  held = undefined;
  void held;
  fullGc(gc);
  return (after - before) / n;
}

function secondsToSpawn(c: Contender, n: number): number {
  const elapsed = stopwatch();
  const held = c.idle(n);
  const t = elapsed().wall;
  if (held.length < n) throw new Error('spawn count mismatch');
  return t;
}

/** Contenders in a different order for each sample, so none is always first after a GC. */
function rotated(s: number): Contender[] {
  return contenders.map((_, i) => contenders[(i + s) % contenders.length]!);
}

const METRICS = ['sends', 'sendsCpu', 'calls', 'callsCpu', 'memory', 'spawn'] as const;
type Metric = (typeof METRICS)[number];

async function main(): Promise<void> {
  const info = machineInfo();
  const results = new Map<string, Record<Metric, number[]>>();
  for (const c of contenders) results.set(c.name, { sends: [], sendsCpu: [], calls: [], callsCpu: [], memory: [], spawn: [] });
  const isX = (c: Contender): boolean => c === xstate;
  const collect = (): void => {
    if (gc !== undefined) fullGc(gc);
  };

  // Warm-up: let the JIT see every path (send and call through the same handler call site).
  for (let round = 0; round < 3; round++) {
    for (const c of contenders) {
      await c.sends(isX(c) ? 10_000 : 100_000);
      await c.calls(isX(c) ? 5_000 : 30_000);
    }
  }
  for (const c of contenders) c.idle(1000);

  // Throughput first, on a small heap.
  for (let s = 0; s < SAMPLES; s++) {
    process.stderr.write(`throughput sample ${s + 1}/${SAMPLES}\n`);
    for (const c of rotated(s)) {
      const r = results.get(c.name)!;
      const ns = isX(c) ? SIZES.sendsXstate : SIZES.sends;
      collect();
      const ts = await c.sends(ns);
      r.sends.push(ns / ts.wall);
      r.sendsCpu.push(ns / ts.cpu);
      const nc = isX(c) ? SIZES.callsXstate : SIZES.calls;
      collect();
      const tc = await c.calls(nc);
      r.calls.push(nc / tc.wall);
      r.callsCpu.push(nc / tc.cpu);
    }
  }
  for (let s = 0; s < HEAP_SAMPLES; s++) {
    process.stderr.write(`memory/spawn sample ${s + 1}/${HEAP_SAMPLES}\n`);
    for (const c of rotated(s)) {
      const r = results.get(c.name)!;
      r.memory.push(bytesPerIdle(c, isX(c) ? SIZES.idleXstate : SIZES.idle));
      const nsp = isX(c) ? SIZES.spawnXstate : SIZES.spawn;
      collect();
      r.spawn.push((secondsToSpawn(c, nsp) * 1_000_000) / nsp);
      collect();
    }
  }
  const loadAtEnd = machineInfo().loadAvg;

  const sum = (name: string, metric: Metric): Summary => summarize(results.get(name)![metric]);
  const rows: string[][] = [];
  const rate = (v: number): string => `${si(v)}/s`;
  const metrics: [string, Metric, (v: number) => string][] = [
    ['send+handle (msgs/s, wall)', 'sends', rate],
    ['send+handle (msgs/s of CPU time)', 'sendsCpu', rate],
    ['sequential call (round trips/s, wall)', 'calls', rate],
    ['sequential call (round trips/s of CPU time)', 'callsCpu', rate],
    ['heap per idle actor', 'memory', (v) => `${Math.round(v)} B`],
    ['time to spawn 1 M actors', 'spawn', (v) => `${v.toFixed(2)} s`],
  ];
  for (const [label, metric, fmt] of metrics) {
    const cells = contenders.map((c) => {
      const text = cell(sum(c.name, metric), fmt);
      return c === xstate && metric === 'spawn' ? `≈ ${text}` : text;
    });
    const syn = sum(synapse.name, metric).median;
    const ratio = (other: Contender): string => {
      const o = sum(other.name, metric).median;
      const higherIsBetter = metric !== 'memory' && metric !== 'spawn';
      return `${(higherIsBetter ? syn / o : o / syn).toFixed(2)}×`;
    };
    rows.push([label, ...cells, ratio(floor), ratio(xstate)]);
  }

  const out = [
    '## Actor core benchmark',
    '',
    formatMachineInfo(info, {
      'Load average at end': loadAtEnd.join(' / '),
      Samples: `throughput ${SAMPLES}, memory and spawn ${HEAP_SAMPLES} per contender (median ± half the relative min–max spread)`,
      Sizes: `sends ${si(SIZES.sends, 0)} in bursts of ${BURST} (xstate ${si(SIZES.sendsXstate, 0)}), calls ${si(SIZES.calls, 0)} (xstate ${si(SIZES.callsXstate, 0)}), idle ${si(SIZES.idle, 0)} (xstate ${si(SIZES.idleXstate, 0)}), spawn ${si(SIZES.spawn, 0)} (xstate ${si(SIZES.spawnXstate, 0)}, scaled to 1 M)`,
      'Memory method': gc === undefined ? 'unavailable (no gc)' : 'heapUsed delta / N after full GC',
    }),
    '',
    markdownTable(['metric', ...contenders.map((c) => c.name), 'Synapse vs floor', 'Synapse vs xstate'], rows),
    '',
    'Ratios: for throughput, Synapse ÷ other (higher is better); for memory and spawn time, other ÷ Synapse (higher is better).',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
