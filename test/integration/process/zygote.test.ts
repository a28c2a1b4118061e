// Workers forked from a zygote (`python: { zygote: true }`), real Python through the public API:
// isolation between agents sharing one zygote, supervision exactly like a spawned worker
// (kill -9 → restart, SIGSTOP → heartbeat timeout), a zygote crash that leaves running workers
// alone, the spawn fallbacks, and pid tracking that sees the zygote and its children.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PythonWorker } from '../../../src/process/worker.ts';
import { ZygotePool } from '../../../src/process/zygote.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { chaos } from '../../../src/testing/index.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { findWorkerPids, isPidLive, waitForPidsGone } from '../../helpers/pids.ts';
import { fixture, nextEvent, REPO_ROOT, useSystem } from '../../helpers/system.ts';

const SECRET = 'zygote-secret-for-a-only';
const PROBE = fixture('zygote_probe.py');
const PRELOAD_DIR = join(REPO_ROOT, 'test', 'fixtures', 'zygote_preload');
/** Fast supervision so the fault tests take ~1 s each. */
const fast = { restart: { backoff: { minMs: 0, maxMs: 0 } } } as const;

const logs = captureLogs('debug');
let system: ActorSystem;
// stopAndCheck fails if any Python process of this Node process (zygotes included) is alive
useSystem((s) => (system = s), { system: { logger: logs.log, logLevel: 'debug' }, stopTimeoutMs: 60_000 });

interface Probe {
  pid: number;
  ppid: number;
  pgid: number;
  value: string | null;
  cwd: string;
  /** What the `zygote_import_env` preload read at import (null: not loaded, or the variable was unset). */
  preload: string | null;
}

async function probe(agent: string, variable = 'ZYG_SECRET'): Promise<Probe> {
  const { output } = await system.sendMessage(agent, { prompt: variable });
  return JSON.parse(output as string) as Probe;
}

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('python.zygote', () => {
  it('a secret in agent A env is invisible to agent B forked from the same zygote; both are their own session', async () => {
    await system.spawnAgent({ id: 'a', agent: PROBE, python: { zygote: true, env: { ZYG_SECRET: SECRET } } });
    await system.spawnAgent({ id: 'b', agent: PROBE, python: { zygote: true } });
    const [a, b] = [await probe('a'), await probe('b')];
    expect(a.value).toBe(SECRET);
    expect(b.value).toBeNull();
    expect(a.ppid).toBe(b.ppid); // one zygote for both
    expect(a.ppid).not.toBe(process.pid); // forked, not spawned
    expect([a.pgid, b.pgid]).toEqual([a.pid, b.pid]);
    expect(a.cwd).toBe(resolve(REPO_ROOT));
    // The zygote never saw the secret: not in its env, nor in the env block of any worker.
    for (const pid of [a.ppid, a.pid, b.pid]) expect(readFileSync(`/proc/${pid}/environ`, 'latin1')).not.toContain(SECRET);
    expect(JSON.stringify(logs.records)).not.toContain(SECRET);
    // Pid tracking (leak checks, pid file) covers the zygote and the forked workers.
    expect(findWorkerPids()).toEqual(expect.arrayContaining([a.ppid, a.pid, b.pid]));
  }, 60_000);

  it('system.inspect() shows the zygote: pid, state, forks served, live children, interpreter', async () => {
    const a = await probe('a');
    const zygotes = system.inspect().children.filter((n) => n.kind === 'zygote');
    expect(zygotes).toHaveLength(1);
    expect(zygotes[0]).toMatchObject({ kind: 'zygote', id: 'zygote:0', state: 'ready', pid: a.ppid, restarts: 0, meta: { forks: 2, children: 2, env: '', executable: expect.stringContaining('python') as unknown, python: expect.stringMatching(/^3\.\d+/) as unknown } });
    expect(JSON.stringify(zygotes)).not.toContain(SECRET);
  }, 60_000);

  it('kill -9 of a forked worker: restarted from the zygote, next call succeeds', async () => {
    await system.spawnAgent({ id: 'k', agent: PROBE, python: { zygote: true }, ...fast });
    const before = await probe('k');
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'k');
    process.kill(before.pid, 'SIGKILL');
    const replacement = await ready;
    expect(replacement.pid).not.toBe(before.pid);
    const after = await probe('k');
    expect(after).toMatchObject({ pid: replacement.pid, ppid: before.ppid });
    expect(system.agentStatus('k').restarts).toBe(1);
    // Forks served: a, b, k, k's replacement; live children: a, b, k.
    expect(system.inspect().children.find((n) => n.kind === 'zygote')).toMatchObject({ meta: { forks: 4, children: 3 } });
    await system.stopAgent('k');
    expect(isPidLive(after.pid)).toBe(false);
  }, 60_000);

  it('SIGSTOP of a forked worker: SYN_ERR_HEARTBEAT_TIMEOUT, replaced', async () => {
    await system.spawnAgent({ id: 'h', agent: PROBE, python: { zygote: true, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 }, ...fast });
    const before = await probe('h');
    const crashed = nextEvent(system, 'worker.crashed', (e) => e.agent === 'h');
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'h' && e.pid !== before.pid);
    void chaos(system).pause('h', 30_000);
    expect((await crashed).code).toBe('SYN_ERR_HEARTBEAT_TIMEOUT');
    await ready;
    expect((await probe('h')).ppid).toBe(before.ppid);
    expect(await waitForPidsGone([before.pid], 10_000)).toEqual([]);
    await system.stopAgent('h');
  }, 60_000);

  it('SIGKILL of the zygote leaves running workers alone; the next fork comes from a restarted zygote', async () => {
    const a = await probe('a');
    const zygote = a.ppid;
    process.kill(zygote, 'SIGKILL');
    expect(await waitForPidsGone([zygote], 10_000)).toEqual([]);
    // Running workers never noticed: same pids, turns succeed.
    expect(await probe('a')).toMatchObject({ pid: a.pid, value: SECRET });
    expect((await probe('b')).value).toBeNull();
    // A worker orphaned by the zygote is still supervised: its death is seen and it is restarted, forked from a new zygote.
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'a');
    process.kill(a.pid, 'SIGKILL');
    const replacement = await ready;
    const after = await probe('a');
    expect(after).toMatchObject({ pid: replacement.pid, value: SECRET });
    expect(after.ppid).not.toBe(zygote);
    expect(after.ppid).not.toBe(process.pid);
    expect(ppidOf(after.ppid)).toBe(process.pid); // the new zygote is ours
    expect(system.inspect().children.find((n) => n.kind === 'zygote')).toMatchObject({ state: 'ready', pid: after.ppid, restarts: 1 });
  }, 60_000);

  it('a zygote that cannot start: workers are spawned instead, with one warning', async () => {
    const env = { PYTHONPATH: PRELOAD_DIR, SYNAPSE_PRELOAD: 'zygote_refuses' };
    await system.spawnAgent({ id: 'fallback', agent: PROBE, workers: 2, python: { zygote: true, env } });
    const seen = await probe('fallback');
    expect(seen.ppid).toBe(process.pid); // spawned by Node
    const warnings = logs.records.filter((r) => r.msg === 'zygote unavailable: workers are spawned');
    expect(warnings).toHaveLength(1);
    // Its own key (PYTHONPATH, SYNAPSE_PRELOAD): a second zygote node, failed, with the reason.
    const failed = system.inspect().children.find((n) => n.kind === 'zygote' && n.state === 'failed');
    expect(failed).toMatchObject({ id: 'zygote:1', meta: { env: 'PYTHONPATH,SYNAPSE_PRELOAD', forks: 0, reason: expect.stringContaining('refuses to load in a zygote') as unknown } });
    expect(failed?.pid).toBeUndefined();
    await system.stopAgent('fallback');
  }, 60_000);

  it('a zygote that refuses to fork (a preloaded module started a thread): the worker is spawned', async () => {
    const env = { PYTHONPATH: PRELOAD_DIR, SYNAPSE_PRELOAD: 'zygote_thread' };
    await system.spawnAgent({ id: 'threaded', agent: PROBE, python: { zygote: true, env } });
    expect((await probe('threaded')).ppid).toBe(process.pid);
    await system.stopAgent('threaded');
  }, 60_000);

  it('a zygote that hangs before ready (a preload blocks): its start times out, it is killed, the worker is spawned', async () => {
    const pool = new ZygotePool({ pidFile: null, startTimeoutMs: 1_500 });
    const env = { PYTHONPATH: PRELOAD_DIR, SYNAPSE_PRELOAD: 'zygote_hangs' };
    const before = new Set(findWorkerPids());
    const worker = await PythonWorker.start({ agents: [{ name: 'probe', ref: PROBE }], cwd: REPO_ROOT, env, zygotes: pool, pidFile: null });
    const { output } = await worker.run({ id: 'r1', agent: 'probe', prompt: 'ZYG_SECRET' });
    expect((JSON.parse(output as string) as Probe).ppid).toBe(process.pid); // spawned by Node
    expect(pool.pids()).toEqual([]); // the hung zygote was given up
    const extra = findWorkerPids().filter((pid) => !before.has(pid) && pid !== worker.pid);
    expect(await waitForPidsGone(extra, 10_000)).toEqual([]); // and killed
    await worker.close();
    await pool.close();
    expect(await waitForPidsGone([worker.pid], 10_000)).toEqual([]);
  }, 60_000);

  it.each([
    ['after its setsid()', 'zygote_child_hangs'],
    ['inside os.fork(), before its setsid()', 'zygote_child_hangs_early'],
  ])('a fork whose child hangs %s: the fork times out, the child is killed, the worker is spawned', async (_when, preload) => {
    // Longer than the zygote's own start (the fork timer runs from the request), so the fork itself times out.
    const pool = new ZygotePool({ pidFile: null, forkTimeoutMs: 6_000 });
    const env = { PYTHONPATH: PRELOAD_DIR, SYNAPSE_PRELOAD: preload };
    const before = new Set(findWorkerPids());
    const worker = await PythonWorker.start({ agents: [{ name: 'probe', ref: PROBE }], cwd: REPO_ROOT, env, zygotes: pool, pidFile: null });
    const { output } = await worker.run({ id: 'r1', agent: 'probe', prompt: 'ZYG_SECRET' });
    expect((JSON.parse(output as string) as Probe).ppid).toBe(process.pid);
    const zygotes = pool.pids();
    expect(zygotes).toHaveLength(1); // the zygote itself is fine
    // Nothing but the zygote and the spawned worker is left: the hung child was killed.
    const extra = findWorkerPids().filter((pid) => !before.has(pid) && pid !== worker.pid && !zygotes.includes(pid));
    expect(await waitForPidsGone(extra, 10_000)).toEqual([]);
    await worker.close();
    await pool.close();
    expect(await waitForPidsGone([...zygotes, worker.pid], 10_000)).toEqual([]);
  }, 60_000);

  it.each([
    ['announces its protocol socket with garbage instead of a hello', 'zygote_child_garbage'],
    ['closes its socket before its hello and exits', 'zygote_child_closes'],
  ])('a forked child that %s: the fork fails at once (not by its timeout), the worker is spawned, nothing leaks', async (_what, preload) => {
    // A fork timeout longer than the test's: only the zygote's reap report can end the fork in time.
    const pool = new ZygotePool({ pidFile: null, forkTimeoutMs: 600_000 });
    const env = { PYTHONPATH: PRELOAD_DIR, SYNAPSE_PRELOAD: preload };
    const before = new Set(findWorkerPids());
    const worker = await PythonWorker.start({ agents: [{ name: 'probe', ref: PROBE }], cwd: REPO_ROOT, env, zygotes: pool, pidFile: null });
    const { output } = await worker.run({ id: 'r1', agent: 'probe', prompt: 'ZYG_SECRET' });
    expect((JSON.parse(output as string) as Probe).ppid).toBe(process.pid); // spawned by Node
    const zygotes = pool.pids();
    expect(zygotes).toHaveLength(1); // the zygote itself is fine and still serving
    expect(pool.info()[0]).toMatchObject({ state: 'ready', forks: 0, children: 0 });
    const extra = findWorkerPids().filter((pid) => !before.has(pid) && pid !== worker.pid && !zygotes.includes(pid));
    expect(await waitForPidsGone(extra, 10_000)).toEqual([]); // the misbehaving child is gone
    await worker.close();
    await pool.close();
    expect(await waitForPidsGone([...zygotes, worker.pid], 10_000)).toEqual([]);
  }, 30_000);

  it('garbage on the fork socket from a stranger (not JSON, unknown id, oversized, closed early) is dropped; a fork in flight completes', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'synapse-zyg-'));
    const pool = new ZygotePool({ pidFile: null, socketDir });
    try {
      const opts = { agents: [{ name: 'probe', ref: PROBE }], cwd: REPO_ROOT, zygotes: pool, pidFile: null };
      const first = await PythonWorker.start(opts); // the socket is listening, the zygote ready
      const path = join(socketDir, readdirSync(socketDir).find((d) => d.startsWith('z-'))!, 'fork.sock');
      const forking = PythonWorker.start(opts); // a fork in flight while the strangers talk
      const strangers = ['garbage{\n', `${JSON.stringify({ id: 'not-a-fork', role: 'in', pid: process.pid })}\n`, 'x'.repeat(4096), ''].map(
        (payload) =>
          new Promise<string>((done) => {
            let connected = false;
            const s = connect(path, () => {
              connected = true;
              if (payload === '') s.end();
              else s.write(payload);
            });
            s.on('error', () => undefined);
            s.on('data', () => done('answered')); // Node must never answer a stranger (a setup line would carry an env)
            s.on('close', () => done(connected ? 'dropped' : 'never connected'));
          }),
      );
      expect(await Promise.all(strangers)).toEqual(['dropped', 'dropped', 'dropped', 'dropped']);
      const second = await forking;
      for (const worker of [first, second]) {
        const { output } = await worker.run({ id: 'r1', agent: 'probe', prompt: 'ZYG_SECRET' });
        expect((JSON.parse(output as string) as Probe).ppid).toBe(pool.pids()[0]); // forked despite the strangers
      }
      expect(pool.info()[0]).toMatchObject({ forks: 2, children: 2 });
      const zygotes = pool.pids();
      await Promise.all([first.close(), second.close()]);
      await pool.close();
      expect(await waitForPidsGone([...zygotes, first.pid, second.pid], 10_000)).toEqual([]);
    } finally {
      await pool.close();
      rmSync(socketDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a start aborted while its fork is pending (the zygote still starting): SYN_ERR_ABORTED, nothing left running', async () => {
    const pool = new ZygotePool({ pidFile: null });
    const abort = new AbortController();
    const start = PythonWorker.start({ agents: [{ name: 'probe', ref: PROBE }], cwd: REPO_ROOT, zygotes: pool, pidFile: null }, { signal: abort.signal });
    abort.abort();
    await expect(start).rejects.toMatchObject({ code: 'SYN_ERR_ABORTED' });
    const zygotes = pool.pids();
    expect(zygotes).toHaveLength(1); // it was starting
    // The fork completes after the abort: the worker is killed on adoption, and exits.
    const next = await PythonWorker.start({ agents: [{ name: 'probe', ref: PROBE }], cwd: REPO_ROOT, zygotes: pool, pidFile: null });
    await next.close();
    await pool.close();
    expect(await waitForPidsGone([...zygotes, next.pid], 10_000)).toEqual([]);
  }, 60_000);

  it('a SYNAPSE_PRELOAD module reading env at import sees the zygote env, not the agent variables; the agent module and run time see them', async () => {
    const env = { PYTHONPATH: PRELOAD_DIR, SYNAPSE_PRELOAD: 'zygote_import_env', ZYG_SECRET: SECRET };
    await system.spawnAgent({ id: 'forked', agent: PROBE, python: { env } }); // the default: forked
    await system.spawnAgent({ id: 'spawned', agent: PROBE, python: { zygote: false, env } });
    const forked = await probe('forked');
    expect(ppidOf(forked.pid)).not.toBe(process.pid);
    expect(forked).toMatchObject({ value: SECRET, preload: null }); // preloaded in the zygote, before any agent env
    expect(await probe('spawned')).toMatchObject({ value: SECRET, preload: SECRET }); // imported in the worker itself
    await system.stopAgent('forked');
    await system.stopAgent('spawned');
  }, 60_000);

  it('bad option: python.zygote must be a boolean, nothing started', async () => {
    const before = findWorkerPids();
    await expect(system.spawnAgent({ id: 'bad', agent: PROBE, python: { zygote: 'yes' as unknown as boolean } })).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION' });
    expect(findWorkerPids()).toEqual(before);
  });
});
