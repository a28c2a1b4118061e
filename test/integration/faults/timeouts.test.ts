// Timeouts: a hung agent → the caller's deadline fires on time (within 10 % or 50 ms of a
// reference timer armed at the same instant, so event-loop lag under load is not counted), the
// Python task is cancelled (the fixture records the cancellation), the worker lives on; an
// unresponsive worker (event loop blocked) is killed after the cancel grace and replaced.
// Other agents and the conversation's history are untouched throughout.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureRef, rejection, useFaultHarness } from './helpers.ts';

/**
 * Runs `call` beside a plain `setTimeout(timeoutMs)` armed at the same instant and returns how late
 * the call settled compared with that reference timer. The reference absorbs event-loop lag (a busy
 * machine delays both timers alike), so the bound below measures Synapse's own deadline slack, not
 * the machine's load.
 */
async function lateness<T>(timeoutMs: number, call: () => Promise<T>): Promise<{ result: T; elapsed: number; late: number }> {
  const t0 = performance.now();
  const reference = new Promise<number>((resolve) => setTimeout(() => resolve(performance.now() - t0), timeoutMs));
  const result = await call();
  const elapsed = performance.now() - t0;
  const referenceFired = await reference;
  return { result, elapsed, late: elapsed - referenceFired };
}

const harness = useFaultHarness();
const faults = fixtureRef('faults.py', 'agent');
let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('timeouts', () => {
  it('hung agent: SYN_ERR_TIMEOUT within 10 % / 50 ms of the deadline, Python task cancelled, same worker keeps serving', async () => {
    dir = mkdtempSync(join(tmpdir(), 'synapse-hang-'));
    const marker = join(dir, 'cancelled');
    const { system, events, spawn } = await harness();
    const status = await spawn('h', faults);
    const other = await spawn('other', fixtureRef('counter.py', 'agent'));
    const first = await system.sendMessage('h', { prompt: 'hello' });
    const timeoutMs = 1_000;
    const mark = events.mark();
    const { result: error, elapsed, late } = await lateness(timeoutMs, () =>
      rejection(system.sendMessage('h', { prompt: `hang ${marker}` }, { conversationId: first.conversationId, timeoutMs })),
    );
    expect(error.code).toBe('SYN_ERR_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 1);
    expect(late).toBeLessThanOrEqual(Math.max(0.1 * timeoutMs, 50));
    // Cancelled on the Python side: the hang tool saw CancelledError and wrote the marker.
    const failed = await events.waitFor('call.failed', (e) => e.agent === 'h', { after: mark });
    const log = await events.waitFor('turn.failed', (e) => e.agent === 'h', { after: mark });
    expect(log.code).toBe('SYN_ERR_TIMEOUT');
    const next = await system.sendMessage('h', { prompt: 'next' }, { conversationId: first.conversationId });
    expect(readFileSync(marker, 'utf8')).toBe(`cancelled ${failed.requestId}\n`);
    expect(system.agentStatus('h')).toMatchObject({ pids: status.pids, restarts: 0, crashes: 0 });
    expect(await system.history(first.conversationId)).toEqual([...first.messages, ...next.messages]);
    expect(system.agentStatus('other')).toMatchObject({ pids: other.pids, restarts: 0 });
  });

  it('unresponsive worker (event loop blocked): deadline fires on time, worker killed after cancelGraceMs and replaced', async () => {
    const { system, events, spawn } = await harness();
    const status = await spawn('b', faults, { python: { heartbeatTimeoutMs: 30_000 } }); // isolate the cancel-grace path
    const other = await spawn('other', fixtureRef('counter.py', 'agent'));
    const first = await system.sendMessage('b', { prompt: 'hello' });
    const mark = events.mark();
    const timeoutMs = 800;
    const { result: error, late } = await lateness(timeoutMs, () =>
      rejection(system.sendMessage('b', { prompt: 'block_loop 20' }, { conversationId: first.conversationId, timeoutMs })),
    );
    expect(error.code).toBe('SYN_ERR_TIMEOUT');
    expect(late).toBeLessThanOrEqual(Math.max(0.1 * timeoutMs, 50));
    const crashed = await events.waitFor('worker.crashed', (e) => e.agent === 'b', { after: mark });
    expect(crashed.pid).toBe(status.pids[0]);
    expect(crashed.code).toBe('SYN_ERR_AGENT_CRASHED'); // cancel not acknowledged within cancelGraceMs
    const ready = await events.waitFor('worker.ready', (e) => e.agent === 'b', { after: mark });
    expect(ready.pid).not.toBe(status.pids[0]);
    expect((await system.sendMessage('b', { prompt: 'next' }, { conversationId: first.conversationId })).output).toBe('[faults] ok (re: next)');
    expect(await system.history(first.conversationId)).toHaveLength(4);
    expect(system.agentStatus('other')).toMatchObject({ pids: other.pids, restarts: 0 });
  });
});
