// Warm spares behind the system API: a killed worker is replaced by the agent's spare, the pool
// refills, and agent stop / system stop leave no spare behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import type { LogCapture } from '../../helpers/log-capture.ts';
import { findWorkerPids, isPidLive } from '../../helpers/pids.ts';
import { fixture, nextEvent, startSystem } from '../../helpers/system.ts';

let system: ActorSystem;
let stopAndCheck: () => Promise<void>;
let logs: LogCapture;

beforeAll(async () => {
  logs = captureLogs('debug');
  ({ system, stopAndCheck } = await startSystem({ logger: logs.log, logLevel: 'debug' }));
}, 60_000);

afterAll(async () => {
  await stopAndCheck();
}, 60_000);

/** Resolves with the pid of the next warm spare of `agent` that is not in `except`. */
async function spareOf(agent: string, except: readonly number[] = []): Promise<number> {
  const record = await logs.waitFor((r) => r.event === 'spare.ready' && r.agent === agent && typeof r.pythonPid === 'number' && !except.includes(r.pythonPid));
  return record.pythonPid as number;
}

describe('spawnAgent({ spares })', () => {
  it('kill -9 of a worker: the replacement is the former spare (same pid), ready, and the next call succeeds', async () => {
    await system.spawnAgent({ id: 'warm', agent: fixture('counter.py'), spares: 1, restart: { backoff: { minMs: 0, maxMs: 0 } } });
    const spare = await spareOf('warm');
    const worker = system.agentStatus('warm').pids[0]!;
    expect(spare).not.toBe(worker);

    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'warm');
    process.kill(worker, 'SIGKILL');
    const replacement = await ready;
    expect(replacement.pid).toBe(spare);
    expect(system.agentStatus('warm').pids).toEqual([spare]);
    await expect(system.sendMessage('warm', { prompt: 'after the crash' })).resolves.toMatchObject({ output: 'turns=1' });

    const refill = await spareOf('warm', [spare]); // refilled in the background
    expect(isPidLive(refill)).toBe(true);

    await system.stopAgent('warm');
    expect([worker, spare, refill].filter(isPidLive)).toEqual([]);
  }, 60_000);

  it('without spares (default) a restart spawns a fresh process', async () => {
    await system.spawnAgent({ id: 'cold', agent: fixture('counter.py'), restart: { backoff: { minMs: 0, maxMs: 0 } } });
    const worker = system.agentStatus('cold').pids[0]!;
    const before = new Set(findWorkerPids());
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'cold');
    process.kill(worker, 'SIGKILL');
    const replacement = await ready;
    expect(before.has(replacement.pid)).toBe(false);
    await expect(system.sendMessage('cold', { prompt: 'x' })).resolves.toMatchObject({ output: 'turns=1' });
    await system.stopAgent('cold');
  }, 60_000);

  it('system stop leaves no spare behind', async () => {
    await system.spawnAgent({ id: 'many', agent: fixture('counter.py'), spares: 2 });
    const first = await spareOf('many');
    const second = await spareOf('many', [first]);
    await stopAndCheck(); // stops the system; fails if any Python process of this Node process is alive
    expect([first, second].filter(isPidLive)).toEqual([]);
  }, 60_000);
});
