// Issue #15 §4: a full garbage collection holds the GIL for seconds over a large heap, so the
// control thread cannot answer pings. The bridge announces such collections (`gc` notices on the
// control channel) and the heartbeat allows `heartbeatTimeoutMs + gcGraceMs` for them; a real hang
// (or a worker stuck inside an announced collection) is still killed.
// Fixture: test/fixtures/agents/gc_pause.py (a gc callback that keeps the GIL in C, after the
// bridge's own callback, stands in for the long collection).
import { describe, expect, it } from 'vitest';
import { PythonWorker } from '../../../src/process/worker.ts';
import { useCleanup } from '../../helpers/cleanup.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { fixtureRef, workerOptions } from '../../helpers/python.ts';
import { rejection } from '../../helpers/system.ts';

const cleanup = useCleanup();
const HEARTBEAT = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 500 };

async function start(gcGraceMs: number, log = captureLogs('debug')) {
  const proc = cleanup.track(await PythonWorker.start(workerOptions([{ name: 'gc', ref: fixtureRef('gc_pause.py', 'agent') }], { ...HEARTBEAT, gcGraceMs, log: log.log })));
  return { proc, logs: log };
}

describe('full garbage collections and the heartbeat', () => {
  it('a collection holding the GIL 3× longer than heartbeatTimeoutMs: the worker is not killed and the turn succeeds', async () => {
    const { proc, logs } = await start(5_000);
    const pid = proc.pid;
    const result = await proc.run({ id: 'gc1', agent: 'gc', prompt: 'collect 1500' });
    expect(result.output).toBe('collected');
    const pause = await logs.waitFor((r) => r.msg === 'python full gc' && typeof r.pauseMs === 'number' && r.pauseMs >= 1_500);
    expect(pause.pauseMs).toBeGreaterThanOrEqual(1_500);
    expect(proc.state).toBe('ready');
    expect(proc.pid).toBe(pid);
    // …and it still serves: a second turn on the same process.
    expect((await proc.run({ id: 'after', agent: 'gc', prompt: 'hi' })).output).toBe('[gc_pause] ok (re: hi)');
  });

  it('the same collection with gcGraceMs 0 (no notices asked for) is a heartbeat timeout: the allowance is what saves it', async () => {
    const { proc } = await start(0);
    const error = await rejection(proc.run({ id: 'gc0', agent: 'gc', prompt: 'collect 1500' }));
    expect(error).toMatchObject({ code: 'SYN_ERR_HEARTBEAT_TIMEOUT', details: { pid: proc.pid } });
    expect(error.details.gc).toBeUndefined();
    expect((await proc.exited).signal).toBe('SIGKILL');
  });

  it('a worker stuck inside an announced collection is killed once timeoutMs + gcGraceMs pass without a pong', async () => {
    const { proc } = await start(1_000);
    const error = await rejection(proc.run({ id: 'stuck', agent: 'gc', prompt: 'stuck' }));
    expect(error).toMatchObject({ code: 'SYN_ERR_HEARTBEAT_TIMEOUT', details: { pid: proc.pid, gc: true } });
    expect(error.details.silentForMs).toBeGreaterThanOrEqual(HEARTBEAT.heartbeatTimeoutMs + 1_000);
    expect(error.message).toContain('garbage collection');
    expect((await proc.exited).signal).toBe('SIGKILL');
  });

  it('a plain hang holding the GIL (no collection) is killed after heartbeatTimeoutMs, without the gc allowance', async () => {
    const { proc } = await start(5_000);
    const error = await rejection(proc.run({ id: 'hang', agent: 'gc', prompt: 'hold_gil 60000' }));
    expect(error).toMatchObject({ code: 'SYN_ERR_HEARTBEAT_TIMEOUT', details: { pid: proc.pid } });
    expect(error.details.gc).toBeUndefined();
    const silent = error.details.silentForMs as number;
    expect(silent).toBeGreaterThanOrEqual(HEARTBEAT.heartbeatTimeoutMs);
    expect(silent).toBeLessThan(HEARTBEAT.heartbeatTimeoutMs + 5_000); // the grace did not apply
    expect((await proc.exited).signal).toBe('SIGKILL');
  });

  it('python.gcThresholds reaches gc.set_threshold in the worker', async () => {
    const proc = cleanup.track(await PythonWorker.start(workerOptions([{ name: 'gc', ref: fixtureRef('gc_pause.py', 'agent') }], { gcThresholds: [700, 10, 100] })));
    expect((await proc.run({ id: 't', agent: 'gc', prompt: 'thresholds' })).output).toBe('700,10,100');
  });
});
