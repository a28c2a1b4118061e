import { describe, expect, it } from 'vitest';
import { Heartbeat } from '../../../src/process/heartbeat.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

function setup(intervalMs = 100, timeoutMs = 350, gcGraceMs = 0) {
  const clock = new SimulatedClock();
  const pings: number[] = [];
  const timeouts: number[] = [];
  const collecting: boolean[] = [];
  const hb = new Heartbeat({
    clock,
    intervalMs,
    timeoutMs,
    gcGraceMs,
    sendPing: (seq) => pings.push(seq),
    onTimeout: (ms, gc) => {
      timeouts.push(ms);
      collecting.push(gc);
    },
  });
  const pong = (seq: number) => hb.pong({ t: 'pong', seq, loopLagMs: 2, rssBytes: 1000, inFlight: 1 });
  return { clock, hb, pings, timeouts, collecting, pong };
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

describe('Heartbeat when Node itself stalls', () => {
  it("a stall of Node's own event loop longer than the timeout does not kill a worker that answers once pinged", async () => {
    const { clock, hb, pings, timeouts, pong } = setup(100, 350);
    hb.start();
    await clock.advance(100);
    pong(pings.at(-1)!); // healthy so far
    clock.stall(5_000); // Node's loop blocked: no ping goes out, no pong is read
    await clock.advance(0); // the late timers fire: a ping goes out now; the worker has had no chance yet
    expect(timeouts).toEqual([]);
    await clock.advance(5);
    pong(pings.at(-1)!); // … and it answers at once
    for (let i = 0; i < 10; i++) {
      pong(pings.at(-1)!);
      await clock.advance(100);
    }
    expect(timeouts).toEqual([]);
    hb.close();
  });

  it('a worker that stays silent after the stall is declared hung once its ping has been out for the grace', async () => {
    const { clock, hb, pings, timeouts, pong } = setup(100, 350);
    hb.start();
    await clock.advance(100);
    pong(pings.at(-1)!);
    clock.stall(5_000);
    await clock.advance(0);
    const pingedAt = clock.now();
    expect(timeouts).toEqual([]);
    // grace = max(350 - 100, 350 / 2) = 250 ms after the first ping after the stall
    await clock.advance(249);
    expect(timeouts).toEqual([]);
    await clock.advance(1);
    expect(timeouts).toHaveLength(1);
    expect(clock.now() - pingedAt).toBe(250);
    expect(timeouts[0]).toBeGreaterThanOrEqual(5_000);
    hb.close();
  });

  it('without a stall, detection stays at timeoutMs after the last pong (the grace never binds)', async () => {
    const { clock, hb, pings, timeouts, pong } = setup(100, 350);
    hb.start();
    await clock.advance(100);
    pong(pings.at(-1)!);
    const lastPong = clock.now();
    await clock.advance(349);
    expect(timeouts).toEqual([]);
    await clock.advance(1);
    expect(timeouts).toEqual([350]);
    expect(clock.now() - lastPong).toBe(350);
    hb.close();
  });
});

describe('Heartbeat and announced garbage collections', () => {
  it('a gc start notice allows timeoutMs + gcGraceMs of silence from the notice; the stop notice ends it', async () => {
    const { clock, hb, timeouts } = setup(100, 350, 1_000);
    hb.start();
    await clock.advance(100);
    hb.gcStarted();
    const noticeAt = clock.now();
    await clock.advance(1_300); // far past timeoutMs, within timeoutMs + grace
    expect(timeouts).toEqual([]);
    hb.gcStopped();
    await clock.advance(349); // back to the plain timeout, counted from the stop notice
    expect(timeouts).toEqual([]);
    await clock.advance(1);
    expect(timeouts).toEqual([350]);
    expect(clock.now() - noticeAt).toBe(1_650);
    hb.close();
  });

  it('a worker stuck in an announced collection is still declared hung, at timeoutMs + gcGraceMs after the notice', async () => {
    const { clock, hb, timeouts, collecting } = setup(100, 350, 1_000);
    hb.start();
    await clock.advance(100);
    hb.gcStarted();
    await clock.advance(1_349);
    expect(timeouts).toEqual([]);
    await clock.advance(1);
    expect(timeouts).toEqual([1_350]);
    expect(collecting).toEqual([true]);
    hb.close();
  });

  it('a pong also ends the allowance (the control thread answered, so no collection holds the GIL)', async () => {
    const { clock, hb, timeouts, collecting, pong } = setup(100, 350, 1_000);
    hb.start();
    hb.gcStarted();
    await clock.advance(200);
    pong(1);
    await clock.advance(350);
    expect(timeouts).toEqual([350]);
    expect(collecting).toEqual([false]);
    hb.close();
  });

  it('with gcGraceMs 0 a notice only counts as a sign of life', async () => {
    const { clock, hb, timeouts } = setup(100, 350, 0);
    hb.start();
    await clock.advance(300);
    hb.gcStarted();
    await clock.advance(350);
    expect(timeouts).toEqual([350]);
    hb.close();
  });

  it('notices after close() arm no timer', () => {
    const { clock, hb } = setup(100, 350, 1_000);
    hb.start();
    hb.close();
    hb.gcStarted();
    hb.gcStopped();
    expect(clock.pending).toBe(0);
  });
});
