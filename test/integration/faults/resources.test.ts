// Resource abuse: an agent that allocates without bound under python.memoryLimitMb is capped and
// restarted: its allocation fails (MemoryError → the caller gets SYN_ERR_AGENT_FAILED with type
// MemoryError), the worker recycles itself (exit 5 → worker.crashed SYN_ERR_MEMORY_LIMIT) and the
// supervisor replaces it; the other agents do not notice. (If the heartbeat's RSS check fires
// first, the caller sees SYN_ERR_MEMORY_LIMIT directly; the process is replaced either way.)
import { describe, expect, it } from 'vitest';
import { fixtureRef, rejection, useFaultHarness } from './helpers.ts';

const harness = useFaultHarness();
const LIMIT_MB = 1_024;

describe('resource abuse', () => {
  it('alloc under memoryLimitMb: capped, coded error, restarted; others unaffected', async () => {
    const { system, events, spawn } = await harness();
    const status = await spawn('m', fixtureRef('faults.py', 'agent'), { python: { memoryLimitMb: LIMIT_MB, env: { SYNAPSE_FAULT_ALLOC_MAX_MB: '4096' } } });
    const other = await spawn('other', fixtureRef('counter.py', 'agent'));
    const mark = events.mark();
    const replaced = events.waitFor('worker.ready', (e) => e.agent === 'm', { after: mark });
    const error = await rejection(system.sendMessage('m', { prompt: 'alloc' }, { timeoutMs: 30_000 }));
    expect(['SYN_ERR_AGENT_FAILED', 'SYN_ERR_MEMORY_LIMIT']).toContain(error.code);
    if (error.code === 'SYN_ERR_AGENT_FAILED') expect(error.details.type).toBe('MemoryError');
    const crashed = await events.waitFor('worker.crashed', (e) => e.agent === 'm', { after: mark });
    expect(crashed, JSON.stringify(crashed)).toMatchObject({ code: 'SYN_ERR_MEMORY_LIMIT', pid: status.pids[0] }); // the whole event on failure: exit code, signal, stderr
    await replaced;
    expect(system.agentStatus('m').pids).not.toEqual(status.pids);
    expect((await system.sendMessage('m', { prompt: 'after' })).output).toBe('[faults] ok (re: after)');
    expect(system.agentStatus('other')).toMatchObject({ pids: other.pids, restarts: 0 });
    expect((await system.sendMessage('other', { prompt: 'x' })).output).toBe('turns=1');
  });
});
