/**
 * Supervisor scaling benchmark (OTP supervisor_SUITE `scale_start_stop_many_children`): a
 * static `one_for_one` supervisor, `startChild` N children one call after the other, then
 * `terminateChild` each of them by id, for N = 1 000, 10 000 and 100 000 on one runtime.
 * Child lookup is a Map by id (start order kept by its insertion order), so both phases
 * should grow linearly: OTP asserts 100× the children ≤ 1000× the time; we report the ratio.
 * Also times `stop()` of a dynamic supervisor whose N children each take 1 ms to stop
 * (they stop concurrently, so it stays near 1 ms plus bookkeeping).
 *
 *   npx tsx bench/supervisor.ts                # 3 samples per size
 *   BENCH_SAMPLES=5 npx tsx bench/supervisor.ts
 *   BENCH_QUICK=1 npx tsx bench/supervisor.ts  # sizes 1 000 and 10 000, 1 sample
 *
 * Cells: median ± half the relative min–max spread of the samples; per-child µs from wall
 * time. Each sample uses fresh ids on the same supervisor (terminated children keep their
 * spec, as in OTP, so later samples also exercise a large child map).
 */
import pino from 'pino';
import { ActorRuntime } from '../src/actor/runtime.ts';
import { startDynamicSupervisor, startSupervisor } from '../src/supervisor/index.ts';
import type { SupervisorHandle } from '../src/supervisor/index.ts';
import { fullGc, getGc } from './lib/gc.ts';
import { formatMachineInfo, machineInfo } from './lib/machine.ts';
import { cell, markdownTable, summarize } from './lib/stats.ts';
import { stopwatch } from './lib/timing.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? (QUICK ? 1 : 3));
const SIZES = QUICK ? [1_000, 10_000] : [1_000, 10_000, 100_000];
const DYNAMIC_N = QUICK ? 1_000 : 5_000;

const idle = () => ({ handle: () => undefined });
let seq = 0;

async function startStop(sup: SupervisorHandle, n: number): Promise<{ start: number; stop: number }> {
  const tag = `s${seq++}-`;
  const t0 = stopwatch();
  for (let i = 0; i < n; i++) await sup.startChild({ id: `${tag}${i}`, start: idle });
  const start = t0().wall;
  const t1 = stopwatch();
  for (let i = 0; i < n; i++) await sup.terminateChild(`${tag}${i}`);
  return { start, stop: t1().wall };
}

async function main(): Promise<void> {
  const gc = getGc();
  const info = machineInfo();
  const runtime = new ActorRuntime({ log: pino({ level: 'silent' }) });
  const sup = await startSupervisor(runtime, { intensity: 0 });
  await startStop(sup, 2_000); // warm-up, not reported

  const results = new Map<number, { start: number[]; stop: number[] }>();
  for (const n of SIZES) results.set(n, { start: [], stop: [] });
  for (let s = 0; s < SAMPLES; s++) {
    for (const n of SIZES) {
      if (gc !== undefined) fullGc(gc);
      const r = await startStop(sup, n);
      results.get(n)!.start.push(r.start);
      results.get(n)!.stop.push(r.stop);
    }
  }
  await sup.stop();

  const base = results.get(SIZES[0]!)!;
  const us = (seconds: number, n: number) => `${((seconds * 1e6) / n).toFixed(1)} µs`;
  const rows = SIZES.map((n) => {
    const r = results.get(n)!;
    const start = summarize(r.start);
    const stop = summarize(r.stop);
    return [
      n.toLocaleString('en-US'),
      cell(start, (v) => `${(v * 1000).toFixed(0)} ms`),
      us(start.median, n),
      cell(stop, (v) => `${(v * 1000).toFixed(0)} ms`),
      us(stop.median, n),
      `${(start.median / summarize(base.start).median).toFixed(1)}× / ${(stop.median / summarize(base.stop).median).toFixed(1)}×`,
    ];
  });

  // Dynamic supervisor: N children whose terminate takes 1 ms each, stopped together.
  const dynSamples: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const dyn = await startDynamicSupervisor(runtime, { maxChildren: DYNAMIC_N });
    for (let i = 0; i < DYNAMIC_N; i++) {
      await dyn.startChild({ id: `d${i}`, start: () => ({ handle: () => undefined, terminate: () => new Promise<void>((r) => setTimeout(r, 1)) }) });
    }
    const t = stopwatch();
    await dyn.stop();
    dynSamples.push(t().wall);
  }
  await runtime.shutdown();

  process.stdout.write(`\n## Supervisor scaling (bench/supervisor.ts), ${new Date().toISOString().slice(0, 16).replace('T', ' ')}\n\n`);
  process.stdout.write(`${formatMachineInfo(info, { samples: String(SAMPLES) })}\n\n`);
  process.stdout.write(
    `${markdownTable(['children', 'startChild ×N', 'per child', 'terminateChild ×N', 'per child', `time vs ${SIZES[0]!.toLocaleString('en-US')} (start / terminate)`], rows)}\n\n`,
  );
  process.stdout.write(`Dynamic supervisor stop() of ${DYNAMIC_N.toLocaleString('en-US')} children whose terminate takes 1 ms each: ${cell(summarize(dynSamples), (v) => `${(v * 1000).toFixed(0)} ms`)}\n`);
}

await main();
