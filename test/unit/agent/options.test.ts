import { describe, expect, it } from 'vitest';
import { AGENT_DEFAULTS, resolveAgentOptions } from '../../../src/agent/options.ts';
import { SynapseError } from '../../../src/errors.ts';

function rejection(input: unknown): SynapseError {
  try {
    resolveAgentOptions(input);
  } catch (err) {
    if (err instanceof SynapseError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('resolveAgentOptions', () => {
  it('applies the documented defaults', () => {
    const o = resolveAgentOptions({ id: 'bot', agent: 'examples/agents/support.py:agent' });
    expect(o.workers).toBe(AGENT_DEFAULTS.workers);
    expect(o.concurrency).toBe(AGENT_DEFAULTS.concurrency);
    expect(o.restart.backoff).toEqual(AGENT_DEFAULTS.restart.backoff);
    expect(o.python.maxFrameBytes).toBe(AGENT_DEFAULTS.python.maxFrameBytes);
    expect(o.python.cwd).toBe(process.cwd());
    // Zygote on where forking works (Linux: issue #14, opt-out), off elsewhere; false opts out.
    expect(o.python.zygote).toBe(process.platform === 'linux');
    expect(resolveAgentOptions({ id: 'bot', agent: 'pkg.mod:agent', python: { zygote: false } }).python.zygote).toBe(false);
  });

  it('merges partial nested options over defaults', () => {
    const o = resolveAgentOptions({ id: 'bot', agent: 'pkg.mod:agent', restart: { backoff: { minMs: 5 } }, python: { env: { K: 'v' } } });
    expect(o.restart.backoff).toEqual({ ...AGENT_DEFAULTS.restart.backoff, minMs: 5 });
    expect(o.python.env).toEqual({ K: 'v' });
  });

  it.each([
    [{ id: 'bot', agent: 'x.py:agent', colour: 'red' }, 'colour'],
    [{ id: '', agent: 'x.py:agent' }, 'id'],
    [{ id: 'has space', agent: 'x.py:agent' }, 'id'],
    [{ id: 'bot', agent: 'no-attr' }, 'agent'],
    [{ id: 'bot', agent: 'x.py:agent', workers: 0 }, 'workers'],
    [{ id: 'bot', agent: 'x.py:agent', workers: 1.5 }, 'workers'],
    [{ id: 'bot', agent: 'x.py:agent', concurrency: '4' }, 'concurrency'],
    [{ id: 'bot', agent: 'x.py:agent', whenUnavailable: 'wait' }, 'whenUnavailable'],
    [{ id: 'bot', agent: 'x.py:agent', restart: { intensity: -1 } }, 'restart.intensity'],
    [{ id: 'bot', agent: 'x.py:agent', restart: { backoff: { jitter: 1 } } }, 'restart.backoff.jitter'],
    [{ id: 'bot', agent: 'x.py:agent', python: { env: { K: 1 } } }, 'python.env.K'],
    [{ id: 'bot', agent: 'x.py:agent', tools: { t: { description: 'd', parameters: {}, handler: 'nope' } } }, 'tools.t.handler'],
    [{ id: 'bot', agent: 'x.py:agent', tools: { 'bad name': { description: 'd', parameters: {}, handler: () => 1 } } }, 'tools.bad name'],
  ])('rejects %j naming %s', (input, option) => {
    const err = rejection(input);
    expect(err.code).toBe('SYN_ERR_INVALID_OPTION');
    expect(err.details.option).toBe(option);
    expect(err.message).toContain(option);
  });

  it('rejects a non-object', () => {
    expect(rejection('bot').code).toBe('SYN_ERR_INVALID_OPTION');
    expect(rejection(null).code).toBe('SYN_ERR_INVALID_OPTION');
  });

  it('rateLimit: absent by default, kept as given, at least one positive field', () => {
    const base = { id: 'bot', agent: 'examples/agents/support.py:agent' };
    expect(resolveAgentOptions(base).rateLimit).toBeUndefined();
    expect(resolveAgentOptions({ ...base, rateLimit: { maxConcurrentModelRequests: 4, requestsPerMinute: 60 } }).rateLimit).toEqual({ maxConcurrentModelRequests: 4, requestsPerMinute: 60 });
    expect(rejection({ ...base, rateLimit: {} }).details.option).toBe('rateLimit');
    expect(rejection({ ...base, rateLimit: { requestsPerMinute: 0 } }).details.option).toBe('rateLimit.requestsPerMinute');
    expect(rejection({ ...base, rateLimit: { maxConcurrentModelRequests: 1.5 } }).details.option).toBe('rateLimit.maxConcurrentModelRequests');
    expect(rejection({ ...base, rateLimit: { tokensPerMinute: 100, burst: 3 } }).code).toBe('SYN_ERR_INVALID_OPTION');
  });
});
