// A worker that dies or misbehaves: every in-flight run rejects at once with a coded error,
// the process is killed, `exited` and the 'exit' event report it once.
import { describe, expect, it } from 'vitest';
import type { SynapseError } from '../../../src/errors.ts';
import { PythonWorker } from '../../../src/process/worker.ts';
import type { ProcessExit, ProcessStats } from '../../../src/process/worker.ts';
import type { StreamEvent } from '../../../src/protocol/frames.ts';
import { useCleanup } from '../../helpers/cleanup.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { fixtureRef, REPO_ROOT, workerOptions } from '../../helpers/python.ts';
import { rejection } from '../../helpers/system.ts';

const cleanup = useCleanup();

async function startFaults(extra = {}): Promise<{ proc: PythonWorker; exits: ProcessExit[] }> {
  const proc = cleanup.track(await PythonWorker.start(workerOptions([{ name: 'faults', ref: fixtureRef('faults.py', 'agent') }], { label: { agent: 'faults', worker: 3 }, ...extra })));
  const exits: ProcessExit[] = [];
  proc.on('exit', (e) => exits.push(e));
  return { proc, exits };
}

/** Starts `count` bystander runs that would take 30 s: they must be failed with the culprit. */
function bystanders(proc: PythonWorker, count: number): Promise<SynapseError>[] {
  return Array.from({ length: count }, (_, i) => rejection(proc.run({ id: `bystander-${i}`, agent: 'faults', prompt: 'slow 30' })));
}

describe('worker death and protocol violations', () => {
  it('a crash mid-run rejects every in-flight run with SYN_ERR_AGENT_CRASHED (exit code, stderr tail, pid)', async () => {
    const { proc, exits } = await startFaults();
    const others = bystanders(proc, 2);
    const culprit = rejection(proc.run({ id: 'crash', agent: 'faults', prompt: 'crash_in_tool' }));
    const errors = await Promise.all([culprit, ...others]);
    for (const error of errors) {
      expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
      expect(error.kind).toBe('defect');
      expect(error.details).toMatchObject({ exitCode: 17, signal: null, pid: proc.pid, agent: 'faults', worker: 3 });
      expect(error.details.stderrTail).toBeTypeOf('string');
    }
    const exit = await proc.exited;
    expect(exit).toMatchObject({ exitCode: 17, signal: null });
    expect(exit.error?.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(exits).toHaveLength(1);
    expect(proc.state).toBe('crashed');
    expect((await rejection(proc.run({ id: 'after', agent: 'faults', prompt: 'x' }))).code).toBe('SYN_ERR_AGENT_CRASHED');
  });

  it('a crash mid-stream: deltas arrive, then SYN_ERR_AGENT_CRASHED', async () => {
    const { proc } = await startFaults();
    const events: StreamEvent[] = [];
    const error = await rejection(proc.run({ id: 'stream-crash', agent: 'faults', prompt: 'crash_mid_stream', stream: true }, { onEvent: (e) => events.push(e) }));
    expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(error.details.exitCode).toBe(18);
    expect(events.filter((e) => e.kind === 'text_delta').length).toBeGreaterThan(0);
  });

  it('garbage on the protocol stream → SYN_ERR_PROTOCOL for every run, process killed', async () => {
    const { proc, exits } = await startFaults();
    const others = bystanders(proc, 2);
    const errors = await Promise.all([rejection(proc.run({ id: 'garbage', agent: 'faults', prompt: 'garbage' })), ...others]);
    for (const error of errors) expect(error.code).toBe('SYN_ERR_PROTOCOL');
    const exit = await proc.exited;
    expect(exit).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(exit.error?.code).toBe('SYN_ERR_PROTOCOL');
    expect(exits).toHaveLength(1);
  });

  it('an oversized frame → SYN_ERR_FRAME_TOO_LARGE, process killed', async () => {
    const { proc } = await startFaults({ maxFrameBytes: 64 * 1024 });
    const others = bystanders(proc, 1);
    const errors = await Promise.all([rejection(proc.run({ id: 'big', agent: 'faults', prompt: 'oversized' })), ...others]);
    for (const error of errors) expect(error.code).toBe('SYN_ERR_FRAME_TOO_LARGE');
    expect((await proc.exited).signal).toBe('SIGKILL');
  });

  it('a truncated frame followed by death → SYN_ERR_PROTOCOL carrying the exit code', async () => {
    const { proc } = await startFaults();
    const others = bystanders(proc, 1);
    const errors = await Promise.all([rejection(proc.run({ id: 'trunc', agent: 'faults', prompt: 'truncated' })), ...others]);
    for (const error of errors) expect(error.code).toBe('SYN_ERR_PROTOCOL');
    const exit = await proc.exited;
    expect(exit.exitCode).toBe(19);
    expect(exit.error?.code).toBe('SYN_ERR_PROTOCOL');
    expect(exit.error?.details.exitCode).toBe(19);
  });

  it('protocol stream EOF while the process keeps running → SYN_ERR_PROTOCOL at once (not the 60 s heartbeat timeout), killed', async () => {
    const ref = `${REPO_ROOT}test/integration/faults/fixtures/close_stdout.py:agent`;
    const proc = cleanup.track(await PythonWorker.start(workerOptions([{ name: 'c', ref }], { heartbeatIntervalMs: 30_000, heartbeatTimeoutMs: 60_000 })));
    const bystander = rejection(proc.run({ id: 'other', agent: 'c', prompt: 'devnull' }));
    const error = await rejection(proc.run({ id: 'eof', agent: 'c', prompt: 'devnull' }));
    expect(error).toMatchObject({ code: 'SYN_ERR_PROTOCOL', details: { reason: 'protocol_eof', pid: proc.pid } });
    expect((await bystander).code).toBe('SYN_ERR_PROTOCOL');
    const exit = await proc.exited;
    expect(exit).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(exit.error?.code).toBe('SYN_ERR_PROTOCOL');
    expect(proc.state).toBe('crashed');
  });

  it('a SIGSTOPped worker misses heartbeats → SYN_ERR_HEARTBEAT_TIMEOUT, killed', async () => {
    const { proc } = await startFaults({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 600 });
    const others = bystanders(proc, 2);
    process.kill(proc.pid, 'SIGSTOP');
    const errors = await Promise.all(others);
    for (const error of errors) expect(error).toMatchObject({ code: 'SYN_ERR_HEARTBEAT_TIMEOUT', details: { pid: proc.pid } });
    const exit = await proc.exited;
    expect(exit).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(exit.error?.code).toBe('SYN_ERR_HEARTBEAT_TIMEOUT');
  });

  it('a blocked event loop does not miss heartbeats (pong from the reader thread) but reports loop lag', async () => {
    const { proc } = await startFaults({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1_500 });
    let maxLag = 0;
    proc.on('health', (s: ProcessStats) => (maxLag = Math.max(maxLag, s.loopLagMs)));
    const result = await proc.run({ id: 'block', agent: 'faults', prompt: 'block_loop 3' });
    expect(result.output).toContain('block_loop survived');
    expect(proc.state).toBe('ready');
    expect(maxLag).toBeGreaterThan(1_500); // the loop was blocked for longer than the heartbeat timeout
  });

  it('a run that ignores its cancel past the grace period gets the worker killed', async () => {
    const logs = captureLogs('debug');
    const { proc } = await startFaults({ cancelGraceMs: 300, heartbeatTimeoutMs: 60_000, log: logs.log });
    const bystander = bystanders(proc, 1)[0]!;
    const ac = new AbortController();
    const blocked = rejection(proc.run({ id: 'stuck', agent: 'faults', prompt: 'block_loop 30' }, { signal: ac.signal }));
    await logs.waitFor((r) => typeof r.msg === 'string' && r.msg.startsWith('blocking the loop'));
    ac.abort();
    expect((await blocked).code).toBe('SYN_ERR_ABORTED');
    const error = await bystander;
    expect(error).toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED', details: { reason: 'cancel_unacknowledged', runId: 'stuck' } });
    expect((await proc.exited).signal).toBe('SIGKILL');
  });
});
