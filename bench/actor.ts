/**
 * Actor core benchmark: side by side in one run, a minimal array-queue mailbox (the floor),
 * an xstate v5 actor, and a Synapse actor.
 *
 *   npx tsx bench/actor.ts                 # 5 samples per cell
 *   BENCH_SAMPLES=9 npx tsx bench/actor.ts
 *   BENCH_QUICK=1 npx tsx bench/actor.ts   # smaller sizes, for a smoke run
 *
 * Metrics: send+handle throughput (messages/s, one actor, sent in bursts of BURST = 1 000
 * messages, each burst's drain awaited: well inside the default mailbox capacity, and free
 * of the large-array growth and GC artefacts a single million-message burst measures),
 * sequential `call` round trips/s (await each reply before the next request), heap per
 * idle actor (heapUsed delta / N after full GC; `gc` from --expose-gc or enabled at run
 * time, see ./lib/gc.ts), and time to spawn 1 M actors (xstate is measured on fewer and
 * scaled linearly, marked "≈"). Samples of each metric are interleaved across contenders
 * to spread machine noise; the table shows median ± half the relative spread.
 */
import { createActor, createMachine } from 'xstate';
import { ActorRuntime } from '../src/actor/runtime.ts';
import { fullGc, getGc } from './lib/gc.ts';
import { formatMachineInfo, machineInfo } from './lib/machine.ts';
import { cell, markdownTable, si, summarize, type Summary } from './lib/stats.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? (QUICK ? 3 : 5));
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
  /** Seconds to send and handle `n` messages. */
  sends(n: number): Promise<number>;
  /** Seconds for `n` sequential request/reply round trips. */
  calls(n: number): Promise<number>;
  /** Creates `n` idle actors and returns them (kept alive by the caller while measuring). */
  idle(n: number): unknown[];
}

const floor: Contender = {
  name: 'minimal mailbox (floor)',
  async sends(n) {
    const gate = new BurstGate();
    const box = new MinimalMailbox<number>(gate.hook);
    const t0 = performance.now();
    for (let sent = 0; sent < n; sent += BURST) {
      const drained = gate.expect(BURST);
      for (let i = 0; i < BURST; i++) box.send(sent + i);
      await drained;
    }
    return (performance.now() - t0) / 1000;
  },
  async calls(n) {
    const box = new MinimalMailbox<{ m: number; reply: (v: number) => void }>(({ m, reply }) => reply(m));
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await new Promise<number>((reply) => box.send({ m: i, reply }));
    return (performance.now() - t0) / 1000;
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
    const t0 = performance.now();
    for (let sent = 0; sent < n; sent += BURST) {
      const drained = gate.expect(BURST);
      for (let i = 0; i < BURST; i++) actor.send({ type: 'msg' });
      await drained;
    }
    const t = (performance.now() - t0) / 1000;
    actor.stop();
    return t;
  },
  async calls(n) {
    const actor = createActor(counterMachine).start();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await new Promise<number>((reply) => actor.send({ type: 'req', reply, m: i } as never));
    const t = (performance.now() - t0) / 1000;
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
    const t0 = performance.now();
    for (let sent = 0; sent < n; sent += BURST) {
      const drained = gate.expect(BURST);
      for (let i = 0; i < BURST; i++) ref.send(sent + i);
      await drained;
    }
    const t = (performance.now() - t0) / 1000;
    await runtime.shutdown();
    return t;
  },
  async calls(n) {
    const runtime = new ActorRuntime();
    const ref = runtime.spawn<number, number>({ handle: (m) => m });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await ref.call(i);
    const t = (performance.now() - t0) / 1000;
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
  const t0 = performance.now();
  const held = c.idle(n);
  const t = (performance.now() - t0) / 1000;
  if (held.length < n) throw new Error('spawn count mismatch');
  return t;
}

async function main(): Promise<void> {
  const info = machineInfo();
  const results = new Map<string, Record<string, number[]>>();
  for (const c of contenders) results.set(c.name, { sends: [], calls: [], memory: [], spawn: [] });
  const isX = (c: Contender): boolean => c === xstate;

  // Warm-up: let the JIT see every path once.
  for (const c of contenders) {
    await c.sends(isX(c) ? 10_000 : 50_000);
    await c.calls(isX(c) ? 5_000 : 20_000);
    c.idle(1000);
  }

  for (let s = 0; s < SAMPLES; s++) {
    process.stderr.write(`sample ${s + 1}/${SAMPLES}\n`);
    for (const c of contenders) {
      const r = results.get(c.name)!;
      const ns = isX(c) ? SIZES.sendsXstate : SIZES.sends;
      r.sends!.push(ns / (await c.sends(ns)));
      const nc = isX(c) ? SIZES.callsXstate : SIZES.calls;
      r.calls!.push(nc / (await c.calls(nc)));
      r.memory!.push(bytesPerIdle(c, isX(c) ? SIZES.idleXstate : SIZES.idle));
      const nsp = isX(c) ? SIZES.spawnXstate : SIZES.spawn;
      r.spawn!.push((secondsToSpawn(c, nsp) * 1_000_000) / nsp);
      if (gc !== undefined) fullGc(gc);
    }
  }

  const sum = (name: string, metric: string): Summary => summarize(results.get(name)![metric]!);
  const rows: string[][] = [];
  const metrics: [string, string, (v: number) => string][] = [
    ['send+handle (msgs/s)', 'sends', (v) => `${si(v)}/s`],
    ['sequential call (round trips/s)', 'calls', (v) => `${si(v)}/s`],
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
      const higherIsBetter = metric === 'sends' || metric === 'calls';
      return `${(higherIsBetter ? syn / o : o / syn).toFixed(2)}×`;
    };
    rows.push([label, ...cells, ratio(floor), ratio(xstate)]);
  }

  const out = [
    '## Actor core benchmark',
    '',
    formatMachineInfo(info, {
      Samples: `${SAMPLES} per cell (median ± half the relative min–max spread)`,
      Sizes: `sends ${si(SIZES.sends, 0)} in bursts of ${BURST} (xstate ${si(SIZES.sendsXstate, 0)}), calls ${si(SIZES.calls, 0)} (xstate ${si(SIZES.callsXstate, 0)}), idle ${si(SIZES.idle, 0)} (xstate ${si(SIZES.idleXstate, 0)}), spawn ${si(SIZES.spawn, 0)} (xstate ${si(SIZES.spawnXstate, 0)}, scaled to 1 M)`,
      'Memory method': gc === undefined ? 'unavailable (no gc)' : 'heapUsed delta / N after full GC',
    }),
    '',
    markdownTable(
      ['metric', ...contenders.map((c) => c.name), 'Synapse vs floor', 'Synapse vs xstate'],
      rows,
    ),
    '',
    'Ratios: for throughput, Synapse ÷ other (higher is better); for memory and spawn time, other ÷ Synapse (higher is better).',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
