// OTP scale_start_stop_many_children, small: starting then terminating 10× the children of a
// static supervisor takes about 10× the time (child lookup by id is O(1)). Measured side by
// side in one run; the bound is generous (OTP allows 10× the ideal ratio) so a loaded machine
// does not fail it, while a linear scan per call (quadratic) lands far above it.
import { afterEach, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/supervisor/index.ts';
import type { SupervisorHandle } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
});

const idle = () => ({ handle: () => undefined });

async function startStop(sup: SupervisorHandle, n: number, tag: string): Promise<{ start: number; stop: number }> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await sup.startChild({ id: `${tag}${i}`, start: idle });
  const t1 = performance.now();
  for (let i = 0; i < n; i++) await sup.terminateChild(`${tag}${i}`);
  const t2 = performance.now();
  return { start: t1 - t0, stop: t2 - t1 };
}

it('scale_start_stop_many_children: 10× the children ≤ ~30× the time to start and to terminate', async () => {
  rig = new Rig();
  const sup = await startSupervisor(rig.runtime, {});
  await startStop(sup, 500, 'warm'); // JIT warm-up, not measured
  const small = await startStop(sup, 2_000, 's');
  const large = await startStop(sup, 20_000, 'l');
  const ratio = { start: large.start / small.start, stop: large.stop / small.stop };
  console.info(`2k: start ${small.start.toFixed(0)} ms, stop ${small.stop.toFixed(0)} ms; 20k: start ${large.start.toFixed(0)} ms, stop ${large.stop.toFixed(0)} ms; ratio ${ratio.start.toFixed(1)} / ${ratio.stop.toFixed(1)}`);
  expect(ratio.start).toBeLessThan(30);
  expect(ratio.stop).toBeLessThan(30);
}, 120_000);
