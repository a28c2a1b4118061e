import { describe, expect, it } from 'vitest';
import { SynapseError } from '../../../src/errors.ts';
import { EXIT_MEMORY, exitError } from '../../../src/process/exit-report.ts';
import type { ExitFacts } from '../../../src/process/exit-report.ts';
import { escalateStop } from '../../../src/process/shutdown.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

function target(diesOn: 'ask' | 'SIGTERM' | 'SIGKILL') {
  const steps: string[] = [];
  let die!: () => void;
  const exited = new Promise<void>((resolve) => (die = resolve));
  return {
    steps,
    target: {
      ask: () => {
        steps.push('ask');
        if (diesOn === 'ask') die();
      },
      signal: (s: 'SIGTERM' | 'SIGKILL') => {
        steps.push(s);
        if (s === diesOn) die();
      },
      exited,
    },
  };
}

describe('escalateStop', () => {
  it.each([
    ['ask', ['ask'], 0],
    ['SIGTERM', ['ask', 'SIGTERM'], 500],
    ['SIGKILL', ['ask', 'SIGTERM', 'SIGKILL'], 1000],
  ] as const)('a worker that dies on %s: steps and elapsed time', async (diesOn, expected, elapsed) => {
    const clock = new SimulatedClock();
    const { steps, target: t } = target(diesOn);
    let done = false;
    const stopping = escalateStop(clock, t, 1000).then(() => (done = true));
    await clock.runAll();
    await stopping;
    expect(done).toBe(true);
    expect(steps).toEqual(expected);
    expect(clock.now()).toBe(elapsed);
    expect(clock.pending).toBe(0);
  });
});

const base: ExitFacts = { pid: 7, exitCode: 1, signal: null, stderrTail: 'tb', failure: undefined, requested: false, wasReady: true, inFlight: 2, context: { pid: 7, agent: 'a' } };

describe('exitError', () => {
  it('an unexplained death after ready is SYN_ERR_AGENT_CRASHED with the exit facts', () => {
    expect(exitError(base)).toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED', details: { pid: 7, agent: 'a', exitCode: 1, signal: null, stderrTail: 'tb', inFlight: 2 } });
    expect(exitError({ ...base, exitCode: null, signal: 'SIGSEGV' })?.message).toContain('by SIGSEGV');
  });

  it('exit code EXIT_MEMORY after ready (the worker recycled itself after a MemoryError) is SYN_ERR_MEMORY_LIMIT', () => {
    expect(exitError({ ...base, exitCode: EXIT_MEMORY })).toMatchObject({ code: 'SYN_ERR_MEMORY_LIMIT', details: { exitCode: 5, inFlight: 2 } });
    expect(exitError({ ...base, exitCode: EXIT_MEMORY, wasReady: false })?.code).toBe('SYN_ERR_STARTUP_FAILED');
  });

  it('under memoryLimitMb, a death by any code or signal whose stderr ends in an out-of-memory complaint is SYN_ERR_MEMORY_LIMIT', () => {
    const fatal = 'Fatal Python error: _PyErr_NormalizeException: Cannot recover from MemoryErrors while normalizing exceptions.';
    expect(exitError({ ...base, exitCode: null, signal: 'SIGABRT', stderrTail: fatal, memoryCapped: true })).toMatchObject({ code: 'SYN_ERR_MEMORY_LIMIT', details: { signal: 'SIGABRT' } });
    expect(exitError({ ...base, exitCode: 2, stderrTail: 'synapse zygote child: MemoryError: ', memoryCapped: true })?.message).toContain('died with code 2');
    // Without a cap the same death is a crash (the host ran out of memory, not the worker's limit).
    expect(exitError({ ...base, exitCode: null, signal: 'SIGABRT', stderrTail: fatal })?.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(exitError({ ...base, exitCode: 1, stderrTail: 'ValueError: boom', memoryCapped: true })?.code).toBe('SYN_ERR_AGENT_CRASHED');
  });

  it('a requested stop is not an error', () => {
    expect(exitError({ ...base, requested: true })).toBeUndefined();
  });

  it('a detected defect keeps its code and gains the exit facts', () => {
    const e = exitError({ ...base, failure: new SynapseError('SYN_ERR_HEARTBEAT_TIMEOUT', 'hb', { details: { silentForMs: 5 } }) });
    expect(e).toMatchObject({ code: 'SYN_ERR_HEARTBEAT_TIMEOUT', message: 'hb', details: { silentForMs: 5, exitCode: 1, stderrTail: 'tb' } });
  });

  it('before ready everything is a start-up failure (the original as cause)', () => {
    expect(exitError({ ...base, wasReady: false })?.code).toBe('SYN_ERR_STARTUP_FAILED');
    const wrapped = exitError({ ...base, wasReady: false, failure: new SynapseError('SYN_ERR_PROTOCOL', 'garbage') });
    expect(wrapped).toMatchObject({ code: 'SYN_ERR_STARTUP_FAILED', details: { causeCode: 'SYN_ERR_PROTOCOL' } });
    expect((wrapped?.cause as SynapseError).code).toBe('SYN_ERR_PROTOCOL');
    expect(exitError({ ...base, wasReady: false, failure: new SynapseError('SYN_ERR_STARTUP_TIMEOUT', 't') })?.code).toBe('SYN_ERR_STARTUP_TIMEOUT');
  });
});
