// Warm spares with real Python: spawnSpare → assign, what a spare can and cannot carry over,
// and the SparePool (refill, replacement of a dead spare, backoff, close).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PidFile } from '../../../src/process/pidfile.ts';
import { PythonWorker } from '../../../src/process/worker.ts';
import { SparePool } from '../../../src/process/spares.ts';
import type { SparePoolEvents } from '../../../src/process/spares.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { useCleanup } from '../../helpers/cleanup.ts';
import { isPidLive } from '../../helpers/pids.ts';
import { exampleRef, fixtureRef, workerOptions } from '../../helpers/python.ts';
import { tempDir } from '../../helpers/system.ts';
import { rejection } from '../../helpers/system.ts';

const cleanup = useCleanup();
const noop = { name: 'noop', ref: exampleRef('noop.py', 'handler') };

function trackSpare(spare: PythonWorker): PythonWorker {
  cleanup.add(async () => {
    spare.kill();
    await spare.exited;
  });
  return spare;
}

function trackPool(pool: SparePool): SparePool {
  cleanup.add(() => pool.close());
  return pool;
}

/** The next `event` of `pool` (arguments as a tuple). */
function next<E extends keyof SparePoolEvents>(pool: SparePool, event: E): Promise<Parameters<SparePoolEvents[E]>> {
  return new Promise((resolve) => pool.once(event, ((...args: Parameters<SparePoolEvents[E]>) => resolve(args)) as never));
}

describe('PythonWorker.spawnSpare / PythonWorker.assign', () => {
  it('a spare says hello without loading user code, then is assigned: ready, same pid, serving', async () => {
    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([noop])));
    expect(spare.state).toBe('parked');
    expect(spare.hello).toMatchObject({ v: 1, pid: spare.pid });
    expect(isPidLive(spare.pid)).toBe(true);

    const proc = await spare.assign({ label: { agent: 'noop', worker: 3 } });
    expect(proc).toBe(spare); // the same worker, now ready
    expect(proc.pid).toBe(spare.pid);
    expect(proc.state).toBe('ready');
    expect(proc.agents).toEqual(['noop']);
    expect(spare.state).not.toBe('parked');
    await expect(proc.run({ id: 'r1', agent: 'noop', prompt: 'warm' })).resolves.toMatchObject({ output: 'warm' });

    await proc.close();
    expect(isPidLive(spare.pid)).toBe(false);
  });

  it('a spare is recorded in the pid file (orphan reaping) until it exits', async () => {
    const tmp = tempDir('synapse-spare-pids-');
    cleanup.add(() => tmp.remove());
    const pidFile = new PidFile({ dir: tmp.dir });
    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([noop], { pidFile })));
    expect(pidFile.entries().map((e) => e.pid)).toEqual([spare.pid]);
    await spare.close();
    expect(pidFile.entries()).toEqual([]);
  });

  it("carries the agent's env, and imports the agent module only at assignment (no stale code)", async () => {
    const tmp = tempDir('synapse-spare-');
    cleanup.add(() => tmp.remove());
    const file = join(tmp.dir, 'envmod.py');
    const version = (v: string): string => `import os\n\nVERSION = '${v}'\n\n\nasync def handler(prompt: str) -> str:\n    return f"{VERSION}:{os.environ.get('SPARE_SECRET')}:{os.environ.get('SPARE_PARENT_ONLY')}"\n`;
    writeFileSync(file, version('v1'));
    process.env.SPARE_PARENT_ONLY = 'leak';
    cleanup.add(() => delete process.env.SPARE_PARENT_ONLY);

    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([{ name: 'env', ref: `${file}:handler` }], { env: { SPARE_SECRET: 's3cr3t' } })));
    writeFileSync(file, version('v2')); // the user edits their agent after the spare was spawned
    const proc = await spare.assign();
    const r = await proc.run({ id: 'r1', agent: 'env', prompt: 'x' });
    expect(r.output).toBe('v2:s3cr3t:None');
    await proc.close();
  });

  it('an import error at assignment rejects with SYN_ERR_STARTUP_FAILED and the process is gone', async () => {
    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([{ name: 'bad', ref: fixtureRef('crash_at_import.py', 'agent') }])));
    const error = await rejection(spare.assign());
    expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
    await spare.exited;
    expect(isPidLive(spare.pid)).toBe(false);
  });

  it('assigns at most once (SYN_ERR_INVALID_ARGUMENT) and validates its options', async () => {
    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([noop])));
    expect(await rejection(spare.assign({ lable: {} } as never))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'assign.lable' } });
    const proc = await spare.assign();
    expect((await rejection(spare.assign())).code).toBe('SYN_ERR_INVALID_ARGUMENT');
    await proc.close();
  });

  it('an aborted assignment rejects with SYN_ERR_ABORTED and kills the process', async () => {
    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([{ name: 'slow', ref: fixtureRef('slow_import.py', 'handler') }])));
    const ac = new AbortController();
    const assigned = rejection(spare.assign({ signal: ac.signal }));
    ac.abort();
    expect((await assigned).code).toBe('SYN_ERR_ABORTED');
    await spare.exited;
    expect(isPidLive(spare.pid)).toBe(false);
  });

  it('a spare that dies while waiting reports it on exited; assigning it then fails', async () => {
    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([noop])));
    process.kill(spare.pid, 'SIGKILL');
    const exit = await spare.exited;
    expect(exit).toMatchObject({ signal: 'SIGKILL', error: { code: 'SYN_ERR_STARTUP_FAILED' } });
    expect(spare.state).not.toBe('parked');
    expect((await rejection(spare.assign())).code).toBe('SYN_ERR_STARTUP_FAILED');
  });

  it('a spare is heartbeated: one that stops answering is killed (SYN_ERR_HEARTBEAT_TIMEOUT)', async () => {
    const spare = trackSpare(await PythonWorker.spawnSpare(workerOptions([noop], { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 400 })));
    process.kill(spare.pid, 'SIGSTOP');
    const exit = await spare.exited;
    expect(exit.error?.details.causeCode ?? exit.error?.code).toBe('SYN_ERR_HEARTBEAT_TIMEOUT');
    expect(isPidLive(spare.pid)).toBe(false);
  });
});

describe('SparePool', () => {
  it('keeps `size` spares; assign hands one over (same pid) and refills once the assignment settled', async () => {
    const pool = trackPool(new SparePool({ size: 1, process: workerOptions([noop]) }));
    expect(pool.assign()).toBeUndefined(); // none warm yet: the caller would spawn fresh
    const [first] = await next(pool, 'spare');
    expect(pool.pids()).toEqual([first]);

    const refilled = next(pool, 'spare');
    const proc = cleanup.track(await pool.assign({ label: { agent: 'noop', worker: 0 } })!);
    expect(proc.pid).toBe(first);
    expect(pool.idle).toBe(0);
    await expect(proc.run({ id: 'r', agent: 'noop', prompt: 'p' })).resolves.toMatchObject({ output: 'p' });
    const [second] = await refilled;
    expect(second).not.toBe(first);
    expect(pool.pids()).toEqual([second]);
  });

  it('replaces a spare that died before use', async () => {
    const pool = trackPool(new SparePool({ size: 1, process: workerOptions([noop]), backoff: { minMs: 10, maxMs: 10 } }));
    const [first] = await next(pool, 'spare');
    const died = next(pool, 'died');
    const replaced = next(pool, 'spare');
    process.kill(first, 'SIGKILL');
    const [deadPid, exit] = await died;
    expect(deadPid).toBe(first);
    expect(exit.signal).toBe('SIGKILL');
    const [second] = await replaced;
    expect(second).not.toBe(first);
    expect(pool.pids()).toEqual([second]);
  });

  it('close() stops every spare (and a spawn in flight); assign then returns undefined', async () => {
    const pool = new SparePool({ size: 2, process: workerOptions([noop]) });
    await next(pool, 'spare');
    await next(pool, 'spare');
    const pids = pool.pids();
    expect(pids).toHaveLength(2);
    await pool.close();
    await pool.close(); // idempotent
    expect(pids.filter(isPidLive)).toEqual([]);
    expect(pool.idle).toBe(0);
    expect(pool.assign()).toBeUndefined();

    const early = new SparePool({ size: 1, process: workerOptions([noop]) });
    await early.close(); // the first spawn is in flight: aborted and awaited (afterEach checks no pid leaked)
    expect(early.closed).toBe(true);
  });

  it('backs off exponentially when spawning fails, and stops retrying once closed', async () => {
    const clock = new SimulatedClock();
    const pool = trackPool(new SparePool({ size: 1, process: workerOptions([noop], { executable: '/bin/false', clock }), backoff: { minMs: 100, maxMs: 1_000 }, rand: () => 0.999_999 }));
    const delays: number[] = [];
    let failure = next(pool, 'failed');
    for (let i = 0; i < 4; i++) {
      const [error, retryInMs] = await failure;
      expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
      expect(clock.pending).toBe(1); // only the retry timer: nothing is spawning meanwhile
      delays.push(retryInMs);
      failure = next(pool, 'failed'); // subscribed before the retry can fail
      await clock.advance(retryInMs); // the next spawn starts only now
    }
    expect(delays).toEqual([100, 200, 400, 800]);
    await pool.close();
    expect(clock.pending).toBe(0);
  });
});

describe('SparePool without spawning', () => {
  it('size 0 never spawns', async () => {
    const pool = new SparePool({ size: 0, process: workerOptions([noop]) });
    expect(pool.assign()).toBeUndefined();
    await pool.close();
  });
});
