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
  it('are emitted on runtime.events (and the inspect stream) and logged once each, at the documented level', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    rig = new Rig(pino({ level: 'debug' }, sink)); // the runtime owns its emitter: it logs its events with an EventLog
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
    const logged = lines.filter((l) => typeof l.event === 'string' && l.event.startsWith('supervisor.')).map((l) => [l.event, l.level]);
    expect(logged).toEqual([
      ['supervisor.child_started', 20], // debug
      ['supervisor.child_exited', 30], // abnormal: info (the crash itself is actor.crashed, at warn)
      ['supervisor.restart_scheduled', 40], // warn
      ['supervisor.child_started', 20],
      ['supervisor.restarted', 30], // info
    ]);
    // The crash: one line, the event's, at warn (no second "actor crashed" line from the kernel).
    expect(lines.filter((l) => (l.level as number) >= 40 || /crash/.test(String(l.msg))).map((l) => [l.msg, l.level])).toEqual([
      ['actor.crashed', 40],
      ['supervisor.restart_scheduled', 40],
    ]);
  });
});
