// SparePool option validation (no process is spawned: every case throws before the first spawn or has size 0).
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { MAX_SPARES, SparePool } from '../../../src/process/spares.ts';
import { resolveAgentOptions, AGENT_DEFAULTS } from '../../../src/agent/options.ts';

function codeOf(fn: () => unknown): { code: string; option: unknown } {
  try {
    fn();
  } catch (error) {
    if (isSynapseError(error)) return { code: error.code, option: error.details.option };
    throw error;
  }
  throw new Error('expected a throw');
}

const process = { agents: [{ name: 'a', ref: 'a.py:agent' }], pidFile: null };

describe('SparePool options', () => {
  it.each([
    [{ size: -1, process }, 'size'],
    [{ size: MAX_SPARES + 1, process }, 'size'],
    [{ size: 1.5, process }, 'size'],
    [{ process }, 'size'],
    [{ size: 1, process, extra: true }, 'extra'],
    [{ size: 1, process, backoff: { minMs: -1 } }, 'backoff.minMs'],
    [{ size: 1, process, backoff: { jitter: 1 } }, 'backoff.jitter'],
    [{ size: 1, process: { ...process, concurrency: 0 } }, 'process.concurrency'],
    [{ size: 1, process: { ...process, agentz: [] } }, 'process.agentz'],
    [{ size: 1, process: 'python' }, 'process'],
  ])('%j → SYN_ERR_INVALID_OPTION naming %s', (options, option) => {
    expect(codeOf(() => new SparePool(options as never))).toEqual({ code: 'SYN_ERR_INVALID_OPTION', option });
  });

  it('a missing interpreter is SYN_ERR_PYTHON_NOT_FOUND at construction', () => {
    expect(codeOf(() => new SparePool({ size: 1, process: { ...process, executable: '/nonexistent/python' } })).code).toBe('SYN_ERR_PYTHON_NOT_FOUND');
  });

  it('size 0 is a closed-loop no-op pool', async () => {
    const pool = new SparePool({ size: 0, process });
    expect(pool.idle).toBe(0);
    expect(pool.assign()).toBeUndefined();
    await pool.close();
    expect(pool.closed).toBe(true);
  });
});

describe('spawnAgent `spares` option', () => {
  it('defaults to 0 and accepts 0–8', () => {
    expect(AGENT_DEFAULTS.spares).toBe(0);
    expect(resolveAgentOptions({ id: 'a', agent: 'a.py:agent' }).spares).toBe(0);
    expect(resolveAgentOptions({ id: 'a', agent: 'a.py:agent', spares: 8 }).spares).toBe(8);
  });

  it.each([-1, 9, 1.5, '1'])('rejects %j with SYN_ERR_INVALID_OPTION naming spares', (spares) => {
    expect(codeOf(() => resolveAgentOptions({ id: 'a', agent: 'a.py:agent', spares }))).toEqual({ code: 'SYN_ERR_INVALID_OPTION', option: 'spares' });
  });
});
