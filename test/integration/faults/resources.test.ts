// Resource abuse: an agent that allocates without bound under python.memoryLimitMb is capped —
// its allocation fails (MemoryError → SYN_ERR_AGENT_FAILED, the worker keeps serving) or the
// worker is killed and replaced (SYN_ERR_MEMORY_LIMIT / SYN_ERR_AGENT_CRASHED) — and never grows
// past the cap; the other agents do not notice.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixtureRef, rejection, useFaultHarness } from './helpers.ts';

const harness = useFaultHarness();
const LIMIT_MB = 1_024;

/** Peak resident set of a live process, in MiB (VmHWM). */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

describe('resource abuse', () => {
  it('alloc under memoryLimitMb: capped, coded error, others unaffected', async () => {
    const { system, events, spawn } = await harness();
    const status = await spawn('m', fixtureRef('faults.py', 'agent'), { python: { memoryLimitMb: LIMIT_MB, env: { SYNAPSE_FAULT_ALLOC_MAX_MB: '4096' } } });
    const other = await spawn('other', fixtureRef('counter.py', 'agent'));
    const mark = events.mark();
    const error = await rejection(system.sendMessage('m', { prompt: 'alloc' }, { timeoutMs: 30_000 }));
    expect(['SYN_ERR_AGENT_FAILED', 'SYN_ERR_MEMORY_LIMIT', 'SYN_ERR_AGENT_CRASHED']).toContain(error.code);
    if (error.code === 'SYN_ERR_AGENT_FAILED') {
      // Capped in place: the allocation failed inside the agent; the same worker answers again.
      expect(error.details.type).toBe('MemoryError');
      expect(peakRssMb(status.pids[0]!)).toBeLessThanOrEqual(LIMIT_MB);
      expect(system.agentStatus('m').pids).toEqual(status.pids);
    } else {
      await events.waitFor('worker.ready', (e) => e.agent === 'm', { after: mark });
    }
    expect((await system.sendMessage('m', { prompt: 'after' })).output).toBe('[faults] ok (re: after)');
    expect(system.agentStatus('other')).toMatchObject({ pids: other.pids, restarts: 0 });
    expect((await system.sendMessage('other', { prompt: 'x' })).output).toBe('turns=1');
  });
});
