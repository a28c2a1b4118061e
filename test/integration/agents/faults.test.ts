// Faults of real Python workers seen through the system API: crashes, start-up failures,
// protocol violations, cancellation and timeouts, and coded errors for bad input.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActorSystem, StreamItem } from '../../../src/system.ts';
import { findWorkerPids } from '../../helpers/pids.ts';
import { expectPidsGone, fixture, nextEvent, processesOf, rejection, tempDir, until, useSystem, waitForFile, workerInFlight } from '../../helpers/system.ts';

let system: ActorSystem;
const tmp = tempDir('synapse-faults-');
afterAll(() => tmp.remove());

useSystem(async (s) => {
  system = s;
  // Small frames so the oversized fixture trips the limit; short backoff so restarts are quick.
  await system.spawnAgent({
    id: 'faults',
    agent: fixture('faults.py'),
    restart: { backoff: { minMs: 10, maxMs: 50 } },
    python: { maxFrameBytes: 64 * 1024 },
  });
});

/** The worker's pid now, and a promise of the next ready worker of `faults` (a restart). */
function restartOf(): { pid: number; ready: Promise<{ pid: number }> } {
  const pid = system.agentStatus('faults').pids[0]!;
  return { pid, ready: nextEvent(system, 'worker.ready', (e) => e.agent === 'faults') };
}

async function expectWorks(agent = 'faults'): Promise<void> {
  const r = await system.sendMessage(agent, { prompt: 'hello there' });
  expect(r.output).toBe('[faults] ok (re: hello there)');
}

describe('defects: the worker is replaced, callers get coded errors', () => {
  it('crash mid-request: every in-flight call gets SYN_ERR_AGENT_CRASHED (exitCode, stderrTail); restart; next call works', async () => {
    const { pid, ready } = restartOf();
    const crashed = nextEvent(system, 'worker.crashed', (e) => e.agent === 'faults');
    const calls = [
      rejection(system.sendMessage('faults', { prompt: 'slow 30' })),
      rejection(system.sendMessage('faults', { prompt: 'slow 30' })),
      rejection(system.sendMessage('faults', { prompt: 'crash_in_tool' })),
    ];
    const errors = await Promise.all(calls);
    for (const error of errors) {
      expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
      expect(error.details).toMatchObject({ exitCode: 17, signal: null, pid, agent: 'faults' });
      expect(error.details.stderrTail).toBeTypeOf('string');
    }
    expect((await crashed).exitCode).toBe(17);
    const next = await ready;
    expect(next.pid).not.toBe(pid);
    await expectPidsGone([pid]);
    await expectWorks();
    expect(system.agentStatus('faults')).toMatchObject({ state: 'ready', pids: [next.pid] });
    expect(system.agentStatus('faults').restarts).toBeGreaterThanOrEqual(1);
  });

  it('garbage on the protocol stream → SYN_ERR_PROTOCOL, worker replaced, next call works', async () => {
    const { pid, ready } = restartOf();
    const error = await rejection(system.sendMessage('faults', { prompt: 'garbage' }));
    expect(error.code).toBe('SYN_ERR_PROTOCOL');
    expect((await ready).pid).not.toBe(pid);
    await expectPidsGone([pid]);
    await expectWorks();
  });

  it('oversized frame → SYN_ERR_FRAME_TOO_LARGE, worker replaced, next call works', async () => {
    const { pid, ready } = restartOf();
    const error = await rejection(system.sendMessage('faults', { prompt: 'oversized' }));
    expect(error.code).toBe('SYN_ERR_FRAME_TOO_LARGE');
    expect((await ready).pid).not.toBe(pid);
    await expectPidsGone([pid]);
    await expectWorks();
  });
});

describe('interruptions: the Python task is cancelled, the worker stays', () => {
  let crashes = 0;
  beforeAll(() => {
    crashes = system.agentStatus('faults').crashes;
  });
  afterAll(() => {
    // Interruptions and failures are never restart triggers.
    expect(system.agentStatus('faults').crashes).toBe(crashes);
  });

  it('AbortSignal reaches Python: the hanging tool is cancelled (marker written), SYN_ERR_ABORTED, same worker', async () => {
    const pid = system.agentStatus('faults').pids[0]!;
    const marker = join(tmp.dir, 'abort.marker');
    const ac = new AbortController();
    const seen: StreamItem[] = [];
    const error = await rejection(
      (async () => {
        for await (const item of system.streamMessage('faults', { prompt: `hang ${marker}` }, { signal: ac.signal })) {
          seen.push(item);
          if (item.kind === 'tool_call') ac.abort();
        }
      })(),
    );
    expect(error.code).toBe('SYN_ERR_ABORTED');
    expect(seen.map((e) => e.kind)).toEqual(['tool_call']);
    expect(await waitForFile(marker, 10_000)).toMatch(/^cancelled \S+\n$/);
    expect(system.agentStatus('faults')).toMatchObject({ pids: [pid], inFlight: 0 });
    await expectWorks();
  });

  it('AbortSignal on sendMessage right after dispatch: SYN_ERR_ABORTED, Python acknowledges the cancel, nothing restarts', async () => {
    const pid = system.agentStatus('faults').pids[0]!;
    // Aborting in the same tick as the dispatch puts `cancel` right behind `run` on the pipe: Python
    // must answer a cancel that lands before the run's task even started (else the worker is killed
    // after cancelGraceMs as unresponsive).
    for (let i = 0; i < 5; i++) {
      const ac = new AbortController();
      const routed = nextEvent(system, 'message.routed', (e) => e.agent === 'faults');
      const call = rejection(system.sendMessage('faults', { prompt: `hang ${join(tmp.dir, `early-${i}`)}` }, { signal: ac.signal }));
      await routed;
      ac.abort(new Error('user gave up'));
      const error = await call;
      expect(error.code).toBe('SYN_ERR_ABORTED');
      expect(error.cause).toBeDefined();
    }
    // A cancelled run holds its slot until Python acknowledges it; the process layer reports its
    // in-flight count on each heartbeat answer (`health`, every 1 s), which is also when the
    // router learns the slot is free. An unacknowledged cancel kills the worker (state change).
    const proc = processesOf(system, 'faults').get(0)!;
    await until(
      (check, fail) => {
        const onState = (state: string): void => fail(new Error(`worker ${proc.pid} left ready (${state}) before Python acknowledged every cancel`));
        proc.on('health', check);
        proc.on('state', onState);
        return () => {
          proc.off('health', check);
          proc.off('state', onState);
        };
      },
      () => workerInFlight(system, 'faults') === 0,
      5_000,
      'Python to acknowledge every cancel',
    );
    expect(system.agentStatus('faults').pids).toEqual([pid]);
    await expectWorks();
  });

  it('timeoutMs → SYN_ERR_TIMEOUT and the Python task is cancelled', async () => {
    const pid = system.agentStatus('faults').pids[0]!;
    const marker = join(tmp.dir, 'timeout.marker');
    const error = await rejection(system.sendMessage('faults', { prompt: `hang ${marker}` }, { timeoutMs: 700 }));
    expect(error.code).toBe('SYN_ERR_TIMEOUT');
    expect(await waitForFile(marker, 10_000)).toMatch(/^cancelled \S+\n$/);
    expect(system.agentStatus('faults').pids).toEqual([pid]);
    await expectWorks();
  });

  it("print() noise in the agent does not corrupt the protocol", async () => {
    const pid = system.agentStatus('faults').pids[0]!;
    const r = await system.sendMessage('faults', { prompt: 'print_noise' });
    expect(r.output).toBe('[faults] printed noise (re: print_noise)');
    expect(system.agentStatus('faults').pids).toEqual([pid]);
  });

  it('an agent that raises → SYN_ERR_AGENT_FAILED (a failure: no restart)', async () => {
    const pid = system.agentStatus('faults').pids[0]!;
    const error = await rejection(system.sendMessage('faults', { prompt: 'raise_error now' }));
    expect(error.code).toBe('SYN_ERR_AGENT_FAILED');
    expect(error.message).toContain('raise_error fixture');
    expect(system.agentStatus('faults').pids).toEqual([pid]);
  });
});

describe('start-up failures leave nothing running', () => {
  it('an agent whose module crashes at import → spawnAgent rejects with SYN_ERR_STARTUP_FAILED', async () => {
    const before = findWorkerPids();
    const error = await rejection(system.spawnAgent({ id: 'broken', agent: fixture('crash_at_import.py', 'agent') }));
    expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
    expect(error.message + JSON.stringify(error.details)).toContain('crash_at_import');
    expect(system.agentIds()).not.toContain('broken');
    expect((await rejection(() => system.agentStatus('broken'))).code).toBe('SYN_ERR_NO_AGENT');
    expect(findWorkerPids().sort()).toEqual(before.sort());
  });

  it('an agent slower to import than python.startTimeoutMs → SYN_ERR_STARTUP_TIMEOUT, process killed', async () => {
    const before = findWorkerPids();
    const error = await rejection(system.spawnAgent({ id: 'sleepy', agent: fixture('slow_import.py', 'handler'), python: { startTimeoutMs: 1_500 } }));
    expect(error.code).toBe('SYN_ERR_STARTUP_TIMEOUT');
    expect(system.agentIds()).not.toContain('sleepy');
    expect(error.details.pid).toBeTypeOf('number');
    await expectPidsGone([error.details.pid as number]);
    expect(findWorkerPids().sort()).toEqual(before.sort());
  });
});

describe('misuse → coded errors, nothing sent to Python', () => {
  it('unknown agent id → SYN_ERR_NO_AGENT', async () => {
    expect((await rejection(system.sendMessage('nope', { prompt: 'hi' }))).code).toBe('SYN_ERR_NO_AGENT');
    expect((await rejection(async () => { for await (const _ of system.streamMessage('nope', { prompt: 'hi' })) void _; })).code).toBe('SYN_ERR_NO_AGENT');
    expect((await rejection(system.stopAgent('nope'))).code).toBe('SYN_ERR_NO_AGENT');
    expect((await rejection(system.restartAgent('nope'))).code).toBe('SYN_ERR_NO_AGENT');
  });

  it('bad prompts → SYN_ERR_INVALID_ARGUMENT naming the problem', async () => {
    const routed = collectRouted();
    const cases: [unknown, string][] = [
      [{ prompt: 42 }, 'type'],
      [{ prompt: null }, 'type'],
      [{ prompt: '' }, 'empty'],
      [{ prompt: 'x'.repeat(1024 * 1024 + 1) }, 'too_large'],
      [{ prompt: 'bad \ud800 surrogate' }, 'invalid_unicode'],
      [{ prompt: 'nul\0byte' }, 'nul'],
    ];
    for (const [input, reason] of cases) {
      const error = await rejection(system.sendMessage('faults', input as { prompt: string }));
      expect(error.code, JSON.stringify(input).slice(0, 60)).toBe('SYN_ERR_INVALID_ARGUMENT');
      expect(error.details.reason).toBe(reason);
    }
    for (const input of [null, 'hi', { prompt: 'hi', extra: 1 }]) {
      expect((await rejection(system.sendMessage('faults', input as never))).code).toBe('SYN_ERR_INVALID_ARGUMENT');
    }
    expect(routed.stop()).toEqual([]);
  });

  it('unknown or mistyped send options → SYN_ERR_INVALID_OPTION naming the option', async () => {
    const bad = await rejection(system.sendMessage('faults', { prompt: 'hi' }, { timeout: 5 } as never));
    expect(bad.code).toBe('SYN_ERR_INVALID_OPTION');
    expect(String(bad.details.option)).toContain('timeout');
    const neg = await rejection(system.sendMessage('faults', { prompt: 'hi' }, { timeoutMs: -1 }));
    expect(neg.code).toBe('SYN_ERR_INVALID_OPTION');
    expect(String(neg.details.option)).toContain('timeoutMs');
    for (const signal of ['soon', 42, () => {}, { aborted: false }]) {
      for (const call of [
        () => system.sendMessage('faults', { prompt: 'hi' }, { signal } as never),
        async () => {
          for await (const _ of system.streamMessage('faults', { prompt: 'hi' }, { signal } as never)) void _;
        },
      ]) {
        const sig = await rejection(call());
        expect([sig.code, sig.details.option, sig.message], typeof signal).toEqual(['SYN_ERR_INVALID_OPTION', 'options.signal', expect.stringContaining('expected an AbortSignal')]);
      }
    }
    const spawn = await rejection(system.spawnAgent({ id: 'x', agent: fixture('faults.py'), wrkers: 2 } as never));
    expect(spawn.code).toBe('SYN_ERR_INVALID_OPTION');
    expect(String(spawn.details.option)).toContain('wrkers');
  });

  it('bad conversation / turn ids → SYN_ERR_INVALID_ARGUMENT', async () => {
    for (const conversationId of ['', ' padded', 'ctl\u0001', 'c'.repeat(201), 'lone \udc00', 42]) {
      const error = await rejection(system.sendMessage('faults', { prompt: 'hi' }, { conversationId } as never));
      expect(error.code, String(conversationId).slice(0, 20)).toBe('SYN_ERR_INVALID_ARGUMENT');
      expect(error.details.argument).toBe('conversationId');
    }
    const turn = await rejection(system.sendMessage('faults', { prompt: 'hi' }, { turnId: '' }));
    expect(turn.code).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(turn.details.argument).toBe('turnId');
  });
});

function collectRouted(): { stop(): unknown[] } {
  const seen: unknown[] = [];
  const off = system.on('message.routed', (e) => seen.push(e));
  return {
    stop() {
      off();
      return seen;
    },
  };
}
