// Start-up failures and the stop paths (close escalation, kill, drain) of real workers.
import { describe, expect, it } from 'vitest';
import type { SynapseError } from '../../../src/errors.ts';
import { PythonWorker } from '../../../src/process/worker.ts';
import type { ProcessExit } from '../../../src/process/worker.ts';
import { useCleanup } from '../../helpers/cleanup.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { findWorkerPids } from '../../helpers/pids.ts';
import { exampleRef, fixtureRef, workerOptions } from '../../helpers/python.ts';
import { rejection } from '../../helpers/system.ts';

const cleanup = useCleanup();

const noop = { name: 'noop', ref: exampleRef('noop.py', 'handler') };
const faults = { name: 'faults', ref: fixtureRef('faults.py', 'agent') };

async function start(agents = [noop], extra = {}): Promise<PythonWorker> {
  return cleanup.track(await PythonWorker.start(workerOptions(agents, extra)));
}

/** Resolves with the run's error once it rejects, and with the tool_call event once the tool started. */
function runUntilTool(proc: PythonWorker, id: string, prompt: string): { started: Promise<void>; settled: Promise<SynapseError> } {
  let toolStarted!: () => void;
  const started = new Promise<void>((resolve) => (toolStarted = resolve));
  const settled = rejection(proc.run({ id, agent: 'faults', prompt }, { onEvent: (e) => e.kind === 'tool_call' && toolStarted() }));
  return { started, settled };
}

describe('start-up', () => {
  it('rejects unknown and mistyped options with SYN_ERR_INVALID_OPTION naming the option', async () => {
    const unknown = await rejection(PythonWorker.start({ agentz: [] } as never));
    expect(unknown).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'agentz' } });
    const typed = await rejection(PythonWorker.start({ concurrency: 0 }));
    expect(typed).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'concurrency' } });
    const nested = await rejection(PythonWorker.start({ agents: [{ name: 'a', ref: 7 }] } as never));
    expect(nested.details.option).toBe('agents[0].ref');
    const dup = await rejection(PythonWorker.start({ agents: [noop, noop] }));
    expect(dup.details.option).toBe('agents[1].name');
  });

  it('reports a missing interpreter with SYN_ERR_PYTHON_NOT_FOUND', async () => {
    const error = await rejection(PythonWorker.start(workerOptions([noop], { executable: '/nonexistent/python3' })));
    expect(error).toMatchObject({ code: 'SYN_ERR_PYTHON_NOT_FOUND', details: { executable: '/nonexistent/python3' } });
  });

  it('kills a worker that is not ready in time: SYN_ERR_STARTUP_TIMEOUT, no process left', async () => {
    const error = await rejection(PythonWorker.start(workerOptions([{ name: 'slow', ref: fixtureRef('slow_import.py', 'handler') }], { startTimeoutMs: 1_500 })));
    expect(error.code).toBe('SYN_ERR_STARTUP_TIMEOUT');
    expect(error.details).toMatchObject({ startTimeoutMs: 1_500, signal: 'SIGKILL' });
    expect(error.details.pid).toBeGreaterThan(0);
    expect(findWorkerPids()).toEqual([]);
  });

  it('reports an import error as SYN_ERR_STARTUP_FAILED with type, traceback, exit code and stderr tail', async () => {
    const error = await rejection(PythonWorker.start(workerOptions([{ name: 'bad', ref: fixtureRef('crash_at_import.py', 'agent') }])));
    expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
    expect(error.message).toContain('crash_at_import fixture');
    expect(error.details).toMatchObject({ kind: 'startup', exitCode: 2, signal: null });
    expect(String(error.details.traceback)).toContain('RuntimeError');
    expect(error.details.stderrTail).toBeTypeOf('string');
  });

  it('reports an exit during start-up (no error frame) as SYN_ERR_STARTUP_FAILED with the exit code', async () => {
    const error = await rejection(PythonWorker.start(workerOptions([{ name: 'bye', ref: fixtureRef('exit_at_import.py', 'agent') }])));
    expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
    expect(error.details).toMatchObject({ exitCode: 21, signal: null });
  });

  it('reports a missing attribute as SYN_ERR_STARTUP_FAILED', async () => {
    const error = await rejection(PythonWorker.start(workerOptions([{ name: 'x', ref: exampleRef('noop.py', 'no_such_attr') }])));
    expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
    expect(error.message).toContain('no_such_attr');
  });

  it('an aborted start kills the worker and rejects with SYN_ERR_ABORTED', async () => {
    const controller = new AbortController();
    const logs = captureLogs('debug');
    const starting = PythonWorker.start(workerOptions([{ name: 'slow', ref: fixtureRef('slow_import.py', 'handler') }], { log: logs.log }), { signal: controller.signal });
    await logs.waitFor((r) => r.msg === 'python worker spawned');
    controller.abort();
    expect((await rejection(starting)).code).toBe('SYN_ERR_ABORTED');
    expect(findWorkerPids()).toEqual([]);
  });
});

describe('stopping', () => {
  it('close(): in-flight runs reject with SYN_ERR_SHUTDOWN, clean exit 0, exit event once, idempotent', async () => {
    const proc = await start([noop, faults]);
    const exits: ProcessExit[] = [];
    const states: string[] = [];
    proc.on('exit', (e) => exits.push(e));
    proc.on('state', (s) => states.push(s));
    const inflight = rejection(proc.run({ id: 'slow', agent: 'faults', prompt: 'slow 30' }));
    const first = proc.close();
    expect(proc.close()).toBe(first);
    expect((await inflight).code).toBe('SYN_ERR_SHUTDOWN');
    expect((await rejection(proc.run({ id: 'late', agent: 'noop', prompt: 'p' }))).code).toBe('SYN_ERR_SHUTDOWN');
    expect(await first).toEqual({ exitCode: 0, signal: null });
    expect(await proc.exited).toEqual({ exitCode: 0, signal: null });
    expect(exits).toEqual([{ exitCode: 0, signal: null }]);
    expect(states).toEqual(['stopping', 'exited']);
    expect(proc.state).toBe('exited');
  });

  it('close() escalates to SIGTERM when the worker ignores shutdown (blocked event loop)', async () => {
    const logs = captureLogs('debug');
    const proc = await start([faults], { log: logs.log });
    const blocked = rejection(proc.run({ id: 'block', agent: 'faults', prompt: 'block_loop 30' }));
    await logs.waitFor((r) => typeof r.msg === 'string' && r.msg.startsWith('blocking the loop'));
    const exit = await proc.close({ timeoutMs: 1_000 });
    expect(exit).toEqual({ exitCode: null, signal: 'SIGTERM' });
    expect((await blocked).code).toBe('SYN_ERR_SHUTDOWN');
    expect(logs.records.some((r) => r.msg === 'python worker ignored shutdown: SIGTERM')).toBe(true);
  });

  it('close() escalates to SIGKILL when SIGTERM does not work either (stopped process)', async () => {
    const proc = await start();
    process.kill(proc.pid, 'SIGSTOP');
    const exit = await proc.close({ timeoutMs: 400 });
    expect(exit).toEqual({ exitCode: null, signal: 'SIGKILL' });
  });

  it('kill(): SIGKILL at once, in-flight runs reject with SYN_ERR_SHUTDOWN, no error in the exit', async () => {
    const proc = await start([faults]);
    const { started, settled } = runUntilTool(proc, 'hang', 'hang');
    await started;
    proc.kill();
    proc.kill();
    expect((await settled).code).toBe('SYN_ERR_SHUTDOWN');
    expect(await proc.exited).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(proc.state).toBe('exited');
  });

  it('rejects runs beyond concurrency with SYN_ERR_OVERLOADED', async () => {
    const proc = await start([noop, faults], { concurrency: 1 });
    const first = proc.run({ id: 'one', agent: 'faults', prompt: 'slow 0.2' });
    expect((await rejection(proc.run({ id: 'two', agent: 'noop', prompt: 'p' }))).code).toBe('SYN_ERR_OVERLOADED');
    await first;
    expect((await proc.run({ id: 'three', agent: 'noop', prompt: 'p' })).output).toBe('p');
    await proc.close();
  });
});
