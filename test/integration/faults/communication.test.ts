// Communication failures: a frozen worker (SIGSTOP) is replaced after the heartbeat timeout;
// a protocol stream that ends while the process lives on (a protocol defect at EOF); garbage, truncated and oversized
// frames from the worker; a slow pipe. In every case the caller gets a coded error (or its
// answer), the worker is replaced, and the history and the other agents are untouched.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import type { StreamItem } from '../../../src/system.ts';
import { chaos, checkHistory } from '../../../src/testing/index.ts';
import { fixtureRef, localFixture, rejection, useFaultHarness } from './helpers.ts';

const harness = useFaultHarness();
const faults = fixtureRef('faults.py', 'agent');

describe('communication failures', () => {
  it('SIGSTOP with a turn in flight → SYN_ERR_HEARTBEAT_TIMEOUT after ~heartbeatTimeoutMs, replaced; bystander unaffected', async () => {
    const { system, events, spawn } = await harness();
    await spawn('f', faults);
    const other = await spawn('other', fixtureRef('counter.py', 'agent'));
    const first = await system.sendMessage('f', { prompt: 'hello' });
    const c = chaos(system);
    const mark = events.mark();
    const inFlight = rejection(system.sendMessage('f', { prompt: 'slow 3' }, { conversationId: first.conversationId }));
    await events.waitFor('message.routed', (e) => e.agent === 'f', { after: mark });
    const t0 = system.clock.now();
    void c.pause('f', 30_000);
    const error = await inFlight;
    expect(error.code).toBe('SYN_ERR_HEARTBEAT_TIMEOUT');
    // Not before the heartbeat timeout: it counts from the last pong, which can precede the pause by up to one 200 ms interval.
    expect(system.clock.now() - t0).toBeGreaterThanOrEqual(1_000 - 200);
    await events.waitFor('worker.ready', (e) => e.agent === 'f', { after: mark });
    c.close();
    expect((await system.sendMessage('f', { prompt: 'next' }, { conversationId: first.conversationId })).output).toBe('[faults] ok (re: next)');
    expect(await system.history(first.conversationId)).toHaveLength(4);
    expect(system.agentStatus('other')).toMatchObject({ pids: other.pids, restarts: 0 });
  });

  it("Node's own event loop blocked longer than the heartbeat timeout: the healthy worker is not blamed (no kill, same pid)", async () => {
    const { system, events, spawn } = await harness();
    const status = await spawn('f', faults); // FAST: 200 ms pings, 1 s timeout
    const first = await system.sendMessage('f', { prompt: 'hello' });
    const mark = events.mark();
    // A turn that spans the stall and several heartbeats after it (Python sleeps 1.5 s).
    const slow = system.sendMessage('f', { prompt: 'slow 1.5' }, { conversationId: first.conversationId });
    await events.waitFor('message.routed', (e) => e.agent === 'f', { after: mark });
    // Deliberately block Node's loop (a synchronous burst) for 1.5× the heartbeat timeout.
    const until = performance.now() + 1_500;
    while (performance.now() < until) {
      /* busy: no ping goes out, no pong is read */
    }
    expect((await slow).output).toBe('[faults] slow done after 1.5s (re: slow 1.5)');
    expect(events.of('worker.crashed', (e) => e.agent === 'f')).toEqual([]);
    expect(system.agentStatus('f')).toMatchObject({ pids: status.pids, restarts: 0, crashes: 0 });
  });

  it('protocol fd closed by the worker → SYN_ERR_PROTOCOL (EOF while alive) or SYN_ERR_AGENT_CRASHED (it exits at its next write), replaced', async () => {
    const { system, events, spawn } = await harness();
    await spawn('c', localFixture('close_stdout.py'));
    const mark = events.mark();
    const error = await rejection(system.sendMessage('c', { prompt: 'close' }));
    // The worker lives until its next frame write fails (exit 4): whichever Node sees first.
    expect(['SYN_ERR_PROTOCOL', 'SYN_ERR_AGENT_CRASHED']).toContain(error.code);
    await events.waitFor('worker.ready', (e) => e.agent === 'c', { after: mark });
    expect((await system.sendMessage('c', { prompt: 'hi' })).output).toBe('ok');
  });

  it('protocol stream ends while the process lives on (fd → /dev/null) → SYN_ERR_PROTOCOL at EOF (not the heartbeat timeout), killed, replaced', async () => {
    const { system, events, spawn } = await harness();
    const status = await spawn('c', localFixture('close_stdout.py'));
    const mark = events.mark();
    const error = await rejection(system.sendMessage('c', { prompt: 'devnull' }));
    expect(error.code).toBe('SYN_ERR_PROTOCOL');
    expect(error.details.reason).toBe('protocol_eof');
    const ready = await events.waitFor('worker.ready', (e) => e.agent === 'c', { after: mark });
    expect(ready.pid).not.toBe(status.pids[0]);
    expect((await system.sendMessage('c', { prompt: 'hi' })).output).toBe('ok');
  });

  it.each([
    ['garbage', ['SYN_ERR_PROTOCOL']],
    // Half a frame, then exit 19: whichever the process layer sees first, the torn frame at EOF or the exit.
    ['truncated', ['SYN_ERR_PROTOCOL', 'SYN_ERR_AGENT_CRASHED']],
    ['oversized', ['SYN_ERR_FRAME_TOO_LARGE']],
  ])('%s frame from the worker → %s, replaced, history intact', async (fault, codes) => {
    const { system, events, spawn } = await harness();
    await spawn('f', faults, { python: { maxFrameBytes: 64 * 1024 } });
    const first = await system.sendMessage('f', { prompt: 'hello' });
    const mark = events.mark();
    const error = await rejection(system.sendMessage('f', { prompt: fault }, { conversationId: first.conversationId }));
    expect(codes).toContain(error.code);
    await events.waitFor('worker.ready', (e) => e.agent === 'f', { after: mark });
    const next = await system.sendMessage('f', { prompt: 'next' }, { conversationId: first.conversationId });
    await checkHistory(system, [first, next]);
    expect(await system.history(first.conversationId)).toEqual([...first.messages, ...next.messages]);
  });

  it('print() noise on stdout never corrupts the protocol', async () => {
    const { system, spawn } = await harness();
    const status = await spawn('f', faults);
    const r = await system.sendMessage('f', { prompt: 'print_noise' });
    expect(r.output).toBe('[faults] printed noise (re: print_noise)');
    expect(system.agentStatus('f')).toMatchObject({ pids: status.pids, restarts: 0 });
  });

  it('slow pipe: a worker repeatedly frozen mid-stream (each stop < heartbeat timeout) still delivers the whole stream, no restart', async () => {
    const { system, events, spawn } = await harness();
    const status = await spawn('f', faults);
    const c = chaos(system);
    const mark = events.mark();
    const items: StreamItem[] = [];
    const consume = (async () => {
      for await (const item of system.streamMessage('f', { prompt: 'slow 1.2' })) items.push(item);
    })();
    await events.waitFor('message.routed', (e) => e.agent === 'f', { after: mark });
    for (let i = 0; i < 4; i++) await c.pause('f', 150);
    await consume;
    const result = items.at(-1) as Extract<StreamItem, { kind: 'result' }>;
    expect(result.kind).toBe('result');
    expect(result.output).toBe('[faults] slow done after 1.2s (re: slow 1.2)');
    const text = items.filter((i) => i.kind === 'text_delta').map((i) => (i as { delta: string }).delta).join('');
    expect(text).toBe(result.output);
    expect(system.agentStatus('f')).toMatchObject({ pids: status.pids, restarts: 0, crashes: 0 });
    c.close();
  });
});
