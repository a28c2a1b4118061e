// system.stop() stops the agents concurrently (the agents supervisor is a dynamic supervisor,
// whose children stop together as in OTP's simple_one_for_one / Elixir's DynamicSupervisor):
// with N agents each mid-run, it takes about one agent's shutdown, not N. Real Python; sized
// for a 2-core machine; the bound is a ratio against one agent's stop measured in this test.
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { fixture, nextEvent, startSystem } from '../../helpers/system.ts';

const N = 8;

/** Starts `n` agents, one run in flight on each (a model that sleeps 30 s), and resolves once every run is routed to its worker. */
async function busySystem(n: number): Promise<{ system: ActorSystem; stopAndCheck(): Promise<void> }> {
  const started = await startSystem();
  const { system } = started;
  const ids = Array.from({ length: n }, (_, i) => `stop-${n}-${i}`);
  await Promise.all(ids.map((id) => system.spawnAgent({ id, agent: fixture('faults.py') })));
  const routed = Promise.all(ids.map((id) => nextEvent(system, 'message.routed', (e) => e.agent === id)));
  for (const id of ids) system.sendMessage(id, { prompt: 'slow 30' }).catch(() => undefined); // fails with the shutdown: expected
  await routed; // every run handed to its worker
  return started;
}

async function timeStop(started: { stopAndCheck(): Promise<void> }): Promise<number> {
  const t0 = performance.now();
  await started.stopAndCheck();
  return performance.now() - t0;
}

describe('system.stop() with many agents mid-run', () => {
  it(`${N} agents stop in about the time of one (ratio, not an absolute time)`, async () => {
    const one = await timeStop(await busySystem(1));
    const many = await timeStop(await busySystem(N));
    console.info(`system.stop(): 1 agent ${one.toFixed(0)} ms, ${N} agents ${many.toFixed(0)} ms (ratio ${(many / one).toFixed(2)})`);
    // Sequentially it would be ≈ N× one agent; concurrently ≈ 1× plus N process exits sharing 2 cores.
    expect(many / one).toBeLessThan(N / 2);
  }, 180_000);
});
