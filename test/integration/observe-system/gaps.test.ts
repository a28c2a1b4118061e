// Observability of a real system beyond the basics: `worker.spawned` (fresh and from a warm
// spare), `call.failed` timing and the failure latency histogram, warm spares in inspect() and
// metrics, and `system.startupReport` (orphans reaped, torn journal tails recovered).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JournalHistoryStore } from '../../../src/conversation/journal.ts';
import type { SynapseEvents } from '../../../src/observe/events.ts';
import { readProcStat } from '../../../src/process/proc.ts';
import { Synapse } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { isPidLive } from '../../helpers/pids.ts';
import { collectEvents, example, fixture, nextEvent, rejection, startSystem, tempDir, until } from '../../helpers/system.ts';
import { parsePrometheusText, sampleValue } from '../../unit/observe/prom-text.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('worker.spawned and call.failed', () => {
  it('worker.spawned precedes worker.ready with the same pid; call.failed carries latencyMs and feeds the histogram', async () => {
    const { system, stopAndCheck } = await startSystem();
    cleanups.push(() => stopAndCheck());
    const order: string[] = [];
    const spawned = collectEvents(system, 'worker.spawned');
    system.on('worker.spawned', (e) => order.push(`spawned:${e.pid}`));
    system.on('worker.ready', (e) => order.push(`ready:${e.pid}`));
    await system.spawnAgent({ id: 'faults', agent: fixture('faults.py') });
    const pid = system.agentStatus('faults').pids[0]!;
    expect(spawned.stop()).toEqual([{ agent: 'faults', worker: 0, pid, spare: false }]);
    expect(order).toEqual([`spawned:${pid}`, `ready:${pid}`]);

    const failed = nextEvent(system, 'call.failed', (e) => e.agent === 'faults');
    expect((await rejection(system.sendMessage('faults', { prompt: 'raise_error x' }))).code).toBe('SYN_ERR_AGENT_FAILED');
    const e = await failed;
    expect(e.code).toBe('SYN_ERR_AGENT_FAILED');
    expect(e.latencyMs).toBeGreaterThan(0);
    expect(e.latencyMs).toBeLessThan(60_000);
    const exp = parsePrometheusText(await system.metricsText());
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_count', { agent: 'faults', outcome: 'failure' })).toBe(1);
    expect(sampleValue(exp, 'synapse_agent_call_duration_seconds_sum', { agent: 'faults', outcome: 'failure' })).toBeCloseTo(e.latencyMs / 1000, 6);
  }, 30_000);
});

describe('warm spares', () => {
  it('are reported by spare.ready and show in inspect() and metrics (count, RSS); a restart from a spare emits worker.spawned with spare: true', async () => {
    const { system, stopAndCheck } = await startSystem();
    cleanups.push(() => stopAndCheck());
    const spareReady = collectEvents(system, 'spare.ready');
    await system.spawnAgent({ id: 'support', agent: example('support.py'), spares: 1, restart: { backoff: { minMs: 10, maxMs: 50 } } });
    const spareNodes = () => system.inspect().children[0]!.children.find((a) => a.id === 'support')!.children.filter((c) => c.kind === 'spare');
    // spawnAgent does not wait for spares: the spare may be idle already, else spare.ready reports it.
    await until((check) => system.on('spare.ready', check), () => spareNodes().length === 1, 20_000, 'one idle spare');
    const [node] = spareNodes();
    const sparePid = node!.pid!;
    expect(node).toMatchObject({ kind: 'spare', id: `support/spare:${sparePid}`, state: 'idle' });
    expect(isPidLive(sparePid)).toBe(true);
    expect(spareReady.stop()).toEqual([{ agent: 'support', pid: sparePid }]);
    expect(system.inspect().children[0]!.children[0]!.meta).toMatchObject({ spares: 1, sparesIdle: 1 });
    expect(system.agentStatus('support').pids).not.toContain(sparePid);

    const exp = parsePrometheusText(await system.metricsText());
    expect(sampleValue(exp, 'synapse_agent_spares_idle', { agent: 'support' })).toBe(1);
    expect(sampleValue(exp, 'synapse_python_spare_rss_bytes', { agent: 'support', pid: String(sparePid) })).toBeGreaterThan(10 * 1024 * 1024);
    const snap = await system.metrics();
    expect(snap.spares.idle).toEqual({ support: 1 });
    expect(snap.spares.processes).toEqual([{ agent: 'support', pid: sparePid, rssBytes: expect.any(Number) }]);
    // A spare is not a worker: it is not in the worker series.
    expect(snap.python.map((p) => p.pid)).not.toContain(sparePid);

    // Kill the worker: the spare takes its place.
    const workerPid = system.agentStatus('support').pids[0]!;
    const spawned = nextEvent(system, 'worker.spawned', (e) => e.agent === 'support' && e.pid !== workerPid);
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'support' && e.pid !== workerPid);
    process.kill(workerPid, 'SIGKILL');
    const s: SynapseEvents['worker.spawned'] = await spawned;
    expect(s).toEqual({ agent: 'support', worker: 0, pid: sparePid, spare: true });
    expect((await ready).pid).toBe(sparePid);
  }, 60_000);
});

describe('system.startupReport', () => {
  it('lists the orphans reaped at start (also logged and emitted as orphan.reaped)', async () => {
    const state = tempDir('synapse-state-');
    cleanups.push(() => state.remove());
    // A stand-in orphan: a live process group recorded in the pid file of a Node process that is gone.
    const orphan = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { detached: true, stdio: 'ignore' });
    const orphanExit = once(orphan, 'exit');
    cleanups.push(() => {
      if (orphan.exitCode === null && orphan.signalCode === null) orphan.kill('SIGKILL');
    });
    await once(orphan, 'spawn');
    const pid = orphan.pid!;
    const pidFile = join(state.dir, '999999999.json');
    appendFileSync(pidFile, JSON.stringify({ ownerPid: 999_999_999, ownerStartTime: '1', entries: [{ pid, startTime: readProcStat(pid)!.startTime }] }));

    const logs = captureLogs('info');
    const system = await Synapse.start({ logger: logs.log, stateDir: state.dir, metrics: false });
    cleanups.push(() => system.stop());
    expect(system.startupReport.orphansReaped).toEqual([{ pid, pidFile }]);
    expect(system.startupReport.recovered).toEqual([]);
    const [, signal] = (await orphanExit) as [number | null, string | null];
    expect(signal).toBe('SIGKILL');
    expect(logs.records.find((r) => r.event === 'orphan.reaped')).toMatchObject({ pythonPid: pid, pidFile });
    expect(logs.records.find((r) => r.event === 'system.started')).toMatchObject({ orphansReaped: 1, recovered: 0 });
    expect(Object.isFrozen(system.startupReport)).toBe(true);
  }, 30_000);

  it('lists the torn journal tails recovered at start (also logged)', async () => {
    const history = tempDir('synapse-history-');
    const state = tempDir('synapse-state-');
    cleanups.push(() => history.remove(), () => state.remove());
    const store = await JournalHistoryStore.open({ dir: history.dir, fsync: 'never' });
    await store.commit({ conversationId: 'c1', turnId: 't1', agent: 'a', messages: [{ kind: 'request', parts: [] }], at: Date.now() });
    await store.close();
    const [journal] = readdirSync(history.dir).filter((f) => !f.startsWith('.') && !f.endsWith('.lock'));
    appendFileSync(join(history.dir, journal!), Buffer.from([0x00, 0x00, 0x01])); // a torn record header

    const logs = captureLogs('info');
    const system = await Synapse.start({ logger: logs.log, stateDir: state.dir, metrics: false, history: { dir: history.dir, fsync: 'never' } });
    cleanups.push(() => system.stop());
    expect(system.startupReport.recovered).toHaveLength(1);
    expect(system.startupReport.recovered[0]).toMatchObject({ conversationId: 'c1', bytesDropped: 3 });
    expect(logs.records.find((r) => r.event === 'history.recovered')).toMatchObject({ conversationId: 'c1', bytesDropped: 3, level: 40 });
    expect(logs.records.find((r) => r.event === 'system.started')).toMatchObject({ orphansReaped: 0, recovered: 1 });
    expect(await system.history('c1')).toHaveLength(1); // the committed turn survived
  }, 30_000);
});
