// Run options across the bridge (issue #12, first slice), through the public API with real Python:
// per-call deps validated into the agent's deps_type (concurrent runs see only their own), model /
// modelSettings / usageLimits / instructions / metadata reaching `agent.iter`, coded errors for bad
// deps and unknown models with the worker unharmed, and plain handlers holding a conversation.
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { example, rejection, useAgents } from '../../helpers/system.ts';

const SECRET = 's3cret-deps-token';
const logs = captureLogs('trace');
let system: ActorSystem;
const python = { startTimeoutMs: 90_000 }; // for the agents spawned inside a test
useAgents(
  (s) => (system = s),
  [
    { id: 'bank', agent: example('bank.py'), concurrency: 32 },
    { id: 'modelless', agent: example('modelless.py'), model: example('modelless.py', 'echo_model') },
    { id: 'modelless-test', agent: example('modelless.py'), model: 'test' },
    { id: 'chat', agent: example('chat_handler.py', 'handler') },
  ],
  { system: { logger: logs.log, logLevel: 'trace' } },
);

describe('per-call deps (real Python)', () => {
  it('concurrent turns with different deps on one worker: each run sees only its own deps', async () => {
    const [pid] = system.agentStatus('bank').pids;
    const ids = Array.from({ length: 24 }, (_, i) => [123, 456, 789][i % 3]!);
    const names: Record<number, string> = { 123: 'John', 456: 'Ada', 789: 'Grace' };
    const results = await Promise.all(ids.map((customer_id, i) => system.sendMessage('bank', { prompt: `balance ${i}?` }, { deps: { customer_id, tier: SECRET } })));
    results.forEach((r, i) => {
      expect(r.output).toMatch(new RegExp(`^\\[bank\\] customer ${ids[i]} \\(${names[ids[i]!]}\\) balance .* \\(re: balance ${i}\\?\\) instructions="The customer's id is ${ids[i]}\\."`));
    });
    expect(system.agentStatus('bank')).toMatchObject({ pids: [pid], restarts: 0, inFlight: 0 });
  });

  it('instructions, modelSettings and metadata of the call reach the run', async () => {
    const r = await system.sendMessage('bank', { prompt: 'hi' }, { deps: { customer_id: 456 }, instructions: 'Be brief.', modelSettings: { temperature: 0.25 }, metadata: { tenant: 't-1' } });
    expect(r.output).toBe(`[bank] customer 456 (Ada) balance $2500.50 (re: hi) instructions="Be brief.\\n\\nThe customer's id is 456." temperature=0.25 metadata={"tenant": "t-1"}`);
  });

  it('deps that fail deps_type validation: SYN_ERR_INVALID_ARGUMENT with pydantic errors, nothing committed, no restart', async () => {
    const before = system.agentStatus('bank');
    const error = await rejection(system.sendMessage('bank', { prompt: 'hi' }, { conversationId: 'bad-deps-1', deps: { customer_id: `not a number ${SECRET}` } }));
    expect(error.code).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(error.details.errors).toEqual([expect.objectContaining({ loc: ['customer_id'], type: 'int_parsing' })]);
    expect(JSON.stringify(error.details)).not.toContain(SECRET); // pydantic's input values are left out
    expect(error.message).not.toContain(SECRET);
    expect(await system.history('bad-deps-1')).toEqual([]);
    expect(system.agentStatus('bank')).toMatchObject({ pids: before.pids, restarts: 0 });
    // The worker is unharmed: the next call works.
    expect((await system.sendMessage('bank', { prompt: 'again' }, { deps: { customer_id: 123 } })).output).toContain('customer 123 (John)');
  });

  it('non-JSON deps / metadata are rejected before anything is sent', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const deps of [{ customer_id: 1, f: () => 1 }, { customer_id: 10n }, cyclic, new Map()]) {
      const error = await rejection(system.sendMessage('bank', { prompt: 'x' }, { deps }));
      expect(error.code).toBe('SYN_ERR_INVALID_ARGUMENT');
      expect(error.details.argument).toBe('options.deps');
    }
    expect((await rejection(system.sendMessage('bank', { prompt: 'x' }, { metadata: { at: new Date() } }))).code).toBe('SYN_ERR_INVALID_ARGUMENT');
    const big = await rejection(system.sendMessage('bank', { prompt: 'x' }, { deps: { customer_id: 1, blob: 'x'.repeat(1024 * 1024) } }));
    expect(big).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { argument: 'options.deps', limit: 1024 * 1024 } });
  });

  it('usageLimits pass through: a run over its request limit fails with kind usage_limit', async () => {
    const error = await rejection(system.sendMessage('bank', { prompt: 'x' }, { deps: { customer_id: 123 }, usageLimits: { requestLimit: 1 } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_AGENT_FAILED', details: { kind: 'usage_limit' } });
  });

  it('deps and metadata never appear in the logs', () => {
    expect(logs.records.length).toBeGreaterThan(0);
    expect(JSON.stringify(logs.records)).not.toContain(SECRET);
  });
});

describe('model (real Python)', () => {
  it('an agent without a model of its own runs with the spawn model; a call overrides it', async () => {
    expect((await system.sendMessage('modelless', { prompt: 'hi' })).output).toBe('[echo] hi (prompts so far: 1)');
    expect((await system.sendMessage('modelless', { prompt: 'hi' }, { model: 'test' })).output).toBe('success (no tool calls)');
    expect((await system.sendMessage('modelless-test', { prompt: 'hi' })).output).toBe('success (no tool calls)');
    expect((await system.sendMessage('modelless-test', { prompt: 'yo' }, { model: example('modelless.py', 'echo_model') })).output).toBe('[echo] yo (prompts so far: 1)');
  });

  it('an unknown per-call model: SYN_ERR_INVALID_OPTION naming it, no restart', async () => {
    const before = system.agentStatus('modelless');
    for (const model of ['no-such-model', 'nosuchprovider_pkg:thing', 'examples/agents/missing.py:model']) {
      const error = await rejection(system.sendMessage('modelless', { prompt: 'hi' }, { model }));
      expect(error.code).toBe('SYN_ERR_INVALID_OPTION');
      expect(error.message).toContain(model);
      expect(error.details.option).toBe('options.model');
    }
    expect(system.agentStatus('modelless')).toMatchObject({ pids: before.pids, restarts: 0 });
  });

  it('an unknown spawn model: spawnAgent rejects with SYN_ERR_INVALID_OPTION naming it', async () => {
    const error = await rejection(system.spawnAgent({ id: 'bad-model', agent: example('modelless.py'), model: 'no-such-model', python }));
    expect(error.code).toBe('SYN_ERR_INVALID_OPTION');
    expect(error.message).toContain('no-such-model');
    expect(system.agentIds()).not.toContain('bad-model');
  });
});

describe('plain handlers (real Python)', () => {
  it('a (prompt, history) handler holds a conversation over two turns', async () => {
    const first = await system.sendMessage('chat', { prompt: 'one' });
    expect(first.output).toBe('[chat] one (earlier: none)');
    expect(first.messages).toEqual([
      expect.objectContaining({ kind: 'request', parts: [expect.objectContaining({ part_kind: 'user-prompt', content: 'one' })] }),
      expect.objectContaining({ kind: 'response', parts: [expect.objectContaining({ part_kind: 'text', content: '[chat] one (earlier: none)' })] }),
    ]);
    const second = await system.sendMessage('chat', { prompt: 'two' }, { conversationId: first.conversationId });
    expect(second.output).toBe('[chat] two (earlier: one)');
    expect(await system.history(first.conversationId)).toHaveLength(4);
  });

  it('retry on a plain handler (it makes no model requests): spawnAgent rejects with SYN_ERR_INVALID_OPTION naming retry', async () => {
    const error = await rejection(system.spawnAgent({ id: 'chat-retry', agent: example('chat_handler.py', 'handler'), retry: { attempts: 3 }, python }));
    expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'retry' } });
    expect(error.message).toContain('plain handler');
    expect(system.agentIds()).not.toContain('chat-retry');
  });
});
