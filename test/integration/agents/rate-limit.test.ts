// `spawnAgent({ rateLimit })` on the real provider path (pydantic-ai OpenAIChatModel → openai SDK →
// httpx → HTTP) against LLMock, a real OpenAI-compatible server started here on loopback. The
// limiter lives in Node and is shared by all of an agent's workers: concurrency is measured on
// the server (LLMock's journal: each request's start and end), not trusted from the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { startLlmock, type LlmockRequest, type LlmockServer } from '../../helpers/llmock.ts';
import { REPO_ROOT, example, rejection, useSystem } from '../../helpers/system.ts';

let llmock: LlmockServer;
let system: ActorSystem;
let python: () => { env: Record<string, string> };

beforeAll(async () => {
  llmock = await startLlmock();
}, 30_000);
afterAll(() => llmock.close()); // after the system's own afterAll (hooks run in reverse)

useSystem(
  async (s) => {
    system = s;
    python = () => ({ env: { OPENAI_BASE_URL: llmock.openaiBaseUrl, OPENAI_API_KEY: 'sk-llmock-rate-limit', SYNAPSE_ALLOW_MODEL_REQUESTS: '1' } });
    const common = { agent: example('modelless.py'), model: 'openai-chat:gpt-4o-mini', modelSettings: { max_retries: 0 }, python: python() };
    // 2 workers × 32 concurrent runs: without the limiter 40 turns reach the provider at once.
    await system.spawnAgent({ id: 'unlimited', ...common, workers: 2, concurrency: 32 });
    await system.spawnAgent({ id: 'capped', ...common, workers: 2, concurrency: 32, rateLimit: { maxConcurrentModelRequests: 4 } });
    await system.spawnAgent({ id: 'rpm', ...common, workers: 2, rateLimit: { requestsPerMinute: 120 } }); // burst 2, then one per 500 ms
    await system.spawnAgent({ id: 'rpm-1', ...common, rateLimit: { requestsPerMinute: 1 } });
    await system.spawnAgent({ id: 'one', ...common, rateLimit: { maxConcurrentModelRequests: 1 } });
    await system.spawnAgent({ id: 'tpm', ...common, rateLimit: { tokensPerMinute: 120 } }); // 2 tokens/s, bucket 2
  },
  { system: { metrics: { port: 0 } } },
);

/** The most requests LLMock was serving at the same instant (sweep over its journal's start/end times). */
function maxOverlap(requests: readonly LlmockRequest[]): number {
  const edges = requests.flatMap((r) => [
    { at: r.started_at as number, d: 1 },
    { at: r.ended_at as number, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d); // an end before a start at the same instant
  let now = 0;
  let max = 0;
  for (const e of edges) max = Math.max(max, (now += e.d));
  return max;
}

const completions = async () => (await llmock.requests()).filter((r) => r.path === '/v1/chat/completions');

/** 40 concurrent turns of `agent` while every response takes 150 ms; returns LLMock's max concurrency. */
async function fortyTurns(agent: string): Promise<number> {
  await llmock.script({ type: 'delay', seconds: 0.15, times: null });
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => system.sendMessage(agent, { prompt: `turn ${i}` }, { timeoutMs: 30_000 })));
  expect(results).toHaveLength(40);
  const seen = await completions();
  expect(seen).toHaveLength(40);
  return maxOverlap(seen);
}

describe('rateLimit: per-agent model request limits coordinated in Node', () => {
  it('without a limit, 40 turns over 2 workers reach the provider far more than 4 at once (the control)', async () => {
    expect(await fortyTurns('unlimited')).toBeGreaterThan(8);
  }, 60_000);

  it('maxConcurrentModelRequests: 4 with 2 workers: the provider never sees more than 4 at once', async () => {
    const overlap = await fortyTurns('capped');
    expect(overlap).toBeLessThanOrEqual(4);
    expect(overlap).toBeGreaterThanOrEqual(2); // both workers' runs did go through it concurrently
    const text = await system.metricsText();
    expect(text).toMatch(/synapse_model_slot_wait_seconds_count\{agent="capped",outcome="granted"\} 40/);
    expect(text).toMatch(/synapse_model_slots_waiting\{agent="capped"\} 0/);
  }, 60_000);

  it('requestsPerMinute spreads the requests over time across both workers', async () => {
    await llmock.script();
    await Promise.all(Array.from({ length: 5 }, (_, i) => system.sendMessage('rpm', { prompt: `spread ${i}` }, { timeoutMs: 30_000 })));
    const starts = (await completions()).map((r) => r.started_at as number).sort((a, b) => a - b);
    expect(starts).toHaveLength(5);
    // 120 rpm: 2 at once, then one every 500 ms → the 5th starts ≥ 1.5 s after the first.
    expect(starts[4]! - starts[0]!).toBeGreaterThanOrEqual(1.4);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(0.4);
  }, 30_000);

  it('a wait that would pass the deadline fails at once with SYN_ERR_PROVIDER rate_limit and retryAfterMs', async () => {
    await llmock.script();
    await system.sendMessage('rpm-1', { prompt: 'first' }, { timeoutMs: 30_000 });
    const t0 = performance.now();
    const error = await rejection(system.sendMessage('rpm-1', { prompt: 'second' }, { timeoutMs: 5_000 }));
    expect(performance.now() - t0).toBeLessThan(3_000); // not after sleeping out the deadline
    expect(error.code).toBe('SYN_ERR_PROVIDER');
    expect(error.details).toMatchObject({ category: 'rate_limit', retryable: true, agent: 'rpm-1' });
    expect(error.details.retryAfterMs).toBeGreaterThan(50_000); // 1 rpm: the next slot in ~60 s
    expect(await completions()).toHaveLength(1); // the second turn never reached the provider
    expect(system.agentStatus('rpm-1').restarts).toBe(0);
  }, 30_000);

  it('a run still waiting for a concurrency slot at its deadline times out and gives its place up', async () => {
    // The deadline (2 s) leaves a loaded machine time to get the waiter to its slot request; the
    // slow request (4 s) holds the only slot past it.
    await llmock.script({ type: 'delay', seconds: 4 });
    const slow = system.sendMessage('one', { prompt: 'slow' }, { timeoutMs: 30_000 });
    try {
      const error = await rejection(system.sendMessage('one', { prompt: 'waits' }, { timeoutMs: 2_000 }));
      expect(error.code).toBe('SYN_ERR_TIMEOUT');
      expect(await system.metricsText()).toMatch(/synapse_model_slot_wait_seconds_count\{agent="one",outcome="aborted"\} 1/);
    } finally {
      await slow; // settled before the next test scripts the server (its completion would count there)
    }
    // The timed-out waiter held nothing: the next turn gets the slot at once.
    await system.sendMessage('one', { prompt: 'after' }, { timeoutMs: 10_000 });
    expect(await completions()).toHaveLength(2);
  }, 30_000);

  it('tokensPerMinute is accounted on the usage the responses report (released by Python with the tokens)', async () => {
    await llmock.script();
    const first = await system.sendMessage('tpm', { prompt: 'count me' }, { timeoutMs: 30_000 });
    expect((first.usage as { totalTokens: number }).totalTokens).toBeGreaterThanOrEqual(8); // the bucket (2) is now ≥ 6 tokens in debt: ≥ 3 s to refill
    const error = await rejection(system.sendMessage('tpm', { prompt: 'too soon' }, { timeoutMs: 2_000 }));
    expect(error.code).toBe('SYN_ERR_PROVIDER');
    expect(error.details).toMatchObject({ category: 'rate_limit', agent: 'tpm' });
    expect(error.details.retryAfterMs).toBeGreaterThanOrEqual(2_000);
    expect(await completions()).toHaveLength(1);
  }, 30_000);

  it('a bridge that does not announce model_slots is refused rateLimit: SYN_ERR_INVALID_OPTION', async () => {
    const env = { ...python().env, PYTHONPATH: `${REPO_ROOT}test/fixtures/no-model-slots` };
    const error = await rejection(system.spawnAgent({ id: 'old', agent: example('modelless.py'), model: 'openai-chat:gpt-4o-mini', rateLimit: { requestsPerMinute: 60 }, python: { env } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'rateLimit' } });
    expect(error.message).toContain('model_slots');
  }, 30_000);
});
