import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startSupervisor } from '../../../src/supervisor/index.ts';
import { Rig } from './harness.ts';

let rig: Rig;
afterEach(async () => {
  await rig.close();
  expect(rig.liveCount()).toBe(0);
});

describe('supervision events', () => {
  it('are emitted on runtime.events (and the inspect stream) and logged through the supervisor logger', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    rig = new Rig(pino({ level: 'info' }, sink));
    const inspected: string[] = [];
    rig.runtime.events.on('inspect', (e) => {
      if (e.type.startsWith('supervisor.')) inspected.push(e.type);
    });
    const sup = await startSupervisor(rig.runtime, {
      name: 'root',
      rand: () => 0,
      children: [{ id: 'a', start: rig.worker('a'), backoff: { minMs: 10, maxMs: 10, resetAfterMs: 100 } }],
    });
    await rig.poke(await sup.childRef('a'), 'crash');
    await rig.clock.advance(10);
    const types = rig.events.map((e) => e.type);
    expect(types).toEqual(['supervisor.child_started', 'supervisor.child_exited', 'supervisor.restart_scheduled', 'supervisor.child_started', 'supervisor.restarted']);
    expect(inspected).toEqual(types);
    expect(rig.events.every((e) => e.supervisor === 'root')).toBe(true);
    const logged = lines.filter((l) => typeof l.event === 'string').map((l) => [l.event, l.level]);
    expect(logged).toEqual([
      ['supervisor.child_started', 30],
      ['supervisor.child_exited', 40], // abnormal exits at warn
      ['supervisor.restart_scheduled', 30],
      ['supervisor.child_started', 30],
      ['supervisor.restarted', 30],
    ]);
  });
});
