import { describe, expect, it } from 'vitest';
import { Heartbeat } from '../../../src/process/heartbeat.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

function setup(intervalMs = 100, timeoutMs = 350) {
  const clock = new SimulatedClock();
  const pings: number[] = [];
  const timeouts: number[] = [];
  const hb = new Heartbeat({ clock, intervalMs, timeoutMs, sendPing: (seq) => pings.push(seq), onTimeout: (ms) => timeouts.push(ms) });
  const pong = (seq: number) => hb.pong({ t: 'pong', seq, loopLagMs: 2, rssBytes: 1000, inFlight: 1 });
  return { clock, hb, pings, timeouts, pong };
}

describe('Heartbeat', () => {
  it('pings every interval with increasing seq', async () => {
    const { clock, hb, pings } = setup();
    hb.start();
    await clock.advance(250);
    expect(pings).toEqual([1, 2]);
    hb.close();
  });

  it('declares a timeout once no pong arrived for timeoutMs', async () => {
    const { clock, hb, timeouts } = setup();
    hb.start();
    await clock.advance(349);
    expect(timeouts).toEqual([]);
    await clock.advance(1);
    expect(timeouts).toEqual([350]);
    hb.close();
  });

  it('each pong pushes the deadline back and updates health', async () => {
    const { clock, hb, timeouts, pong } = setup();
    hb.start();
    for (let i = 0; i < 10; i++) {
      await clock.advance(200);
      pong(i);
    }
    expect(timeouts).toEqual([]);
    expect(hb.health).toEqual({ lastPongAt: 2000, loopLagMs: 2, rssBytes: 1000, inFlight: 1 });
    await clock.advance(350);
    expect(timeouts).toEqual([350]);
    hb.close();
  });

  it('close() stops pings and the deadline; no timer is left', async () => {
    const { clock, hb, pings, timeouts } = setup();
    hb.start();
    hb.close();
    hb.close();
    expect(clock.pending).toBe(0);
    await clock.advance(10_000);
    expect(pings).toEqual([]);
    expect(timeouts).toEqual([]);
  });
});
