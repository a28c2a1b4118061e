// 50 concurrent turns through the whole stack (serializer → router queue → run table → Python)
// add no more than a handful of abort listeners to any one signal: no MaxListenersExceededWarning.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { fixture, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
let warnings: Error[] = [];
const onWarning = (w: Error): void => void warnings.push(w);

useSystem(
  async (s) => {
    system = s;
    // concurrency 8: most of the 50 turns wait in the router queue, listening on their signals.
    await system.spawnAgent({ id: 'many', agent: fixture('faults.py'), concurrency: 8 });
  },
  { startTimeoutMs: 30_000 },
);
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

describe('50 concurrent turns (real Python)', () => {
  it('all answer, and Node emits no MaxListenersExceededWarning', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => system.sendMessage('many', { prompt: `turn n${i}` })));
    expect(results.map((r) => r.output)).toEqual(Array.from({ length: 50 }, (_, i) => `[faults] ok (re: turn n${i})`));
    await new Promise<void>((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([]);
  });
});
