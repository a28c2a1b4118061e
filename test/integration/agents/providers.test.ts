// Real providers under faults: a pydantic-ai agent on the real provider path (OpenAIChatModel →
// openai SDK → httpx → HTTP) against LLMock, a real OpenAI-compatible server started here on
// loopback that injects provider faults. Every provider failure rejects with SYN_ERR_PROVIDER and
// typed details (category, status, retryAfterMs, providerCode, retryable), never restarts the
// worker and commits nothing; a stream cut before its finish reason is such a failure too, with
// the deltas already delivered kept; the API key never shows up in errors, logs, metrics or argv,
// while the base URL and model name stay readable.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderErrorDetails } from '../../../src/errors.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { startLlmock, type LlmockBehavior, type LlmockServer } from '../../helpers/llmock.ts';
import { zygotePids } from '../../helpers/pids.ts';
import { example, rejection, useSystem } from '../../helpers/system.ts';

const KEY = `sk-llmock-${process.pid}-${Date.now().toString(36)}-never-log-me`;
/** LLMock's answer in `static` style (test/fixtures/llmock/server.py), whatever the prompt. */
const fullAnswer = 'Mock response from gpt-4o-mini.';
let llmock: LlmockServer;
let system: ActorSystem;
const logs = captureLogs('trace');

beforeAll(async () => {
  llmock = await startLlmock();
}, 30_000);
afterAll(() => llmock.close()); // after the system's own afterAll (hooks run in reverse)

/** What the `lookup` TypeScript tool does when the model calls it (between two model requests). */
let onLookup: () => Promise<void> = async () => {};
let lookups = 0;

useSystem(async (s) => {
  system = s;
  const python = () => ({ env: { OPENAI_BASE_URL: llmock.openaiBaseUrl, OPENAI_API_KEY: KEY, SYNAPSE_ALLOW_MODEL_REQUESTS: '1' } });
  await system.spawnAgent({
    id: 'llm',
    agent: example('modelless.py'),
    model: 'openai-chat:gpt-4o-mini',
    // One HTTP attempt per model request: the openai SDK's own retries (2 by default) would hit
    // each scripted fault again (docs/providers.md).
    modelSettings: { max_retries: 0 },
    python: python(),
  });
  // With a retry policy (which turns the SDK's retries off by itself); 'retry-long' also has a
  // tool (LLMock calls an offered tool first), so a test can fail the request that follows it.
  const lookup = {
    description: 'Look up the weather of a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    handler: async () => {
      lookups += 1;
      await onLookup();
      return 'sunny';
    },
  };
  const common = { agent: example('modelless.py'), model: 'openai-chat:gpt-4o-mini', python: python() };
  await system.spawnAgent({ id: 'retry-capped', ...common, retry: { attempts: 4, minDelayMs: 1, maxDelayMs: 50 } });
  await system.spawnAgent({ id: 'retry-long', ...common, tools: { lookup }, retry: { attempts: 4, minDelayMs: 1, maxDelayMs: 60_000 } });
}, { system: { logger: logs.log, logLevel: 'trace', metrics: { port: 0 } } });

/** The agent's worker pids and restarts, to show a failure left the worker alone. */
const workerState = () => {
  const { pids, restarts, state } = system.agentStatus('llm');
  return { pids, restarts, state };
};

describe('the provider path against LLMock', () => {
  it('answers through the real openai SDK, streamed and not', async () => {
    await llmock.script();
    const first = await system.sendMessage('llm', { prompt: 'hello' });
    expect(first.output).toBe(fullAnswer);
    let streamed = '';
    for await (const item of system.streamMessage('llm', { prompt: 'hello again' })) if (item.kind === 'text_delta') streamed += item.delta;
    expect(streamed).toBe(fullAnswer);
    const seen = await llmock.requests();
    expect(seen.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
  });
});

describe('SYN_ERR_PROVIDER: provider failures a caller can act on', () => {
  // LLMock sends Retry-After 1 s by default with a 429 / 503 (and the OpenAI error codes below).
  const cases: { name: string; fault: LlmockBehavior; stream?: boolean; details: ProviderErrorDetails }[] = [
    { name: '429 with Retry-After', fault: { type: 'fail', status: 429, retry_after: 2 }, details: { category: 'rate_limit', status: 429, retryAfterMs: 2000, providerCode: 'rate_limit_exceeded', retryable: true } },
    { name: '429 insufficient_quota', fault: { type: 'fail', status: 429, code: 'insufficient_quota', message: 'You exceeded your current quota' }, details: { category: 'quota', status: 429, retryAfterMs: 1000, providerCode: 'insufficient_quota', retryable: false } },
    { name: '503', fault: { type: 'fail', status: 503 }, details: { category: 'server', status: 503, retryAfterMs: 1000, providerCode: 'service_unavailable', retryable: true } },
    { name: '500', fault: { type: 'fail', status: 500 }, details: { category: 'server', status: 500, providerCode: 'internal_error', retryable: true } },
    { name: '401', fault: { type: 'fail', status: 401 }, details: { category: 'auth', status: 401, providerCode: 'invalid_api_key', retryable: false } },
    { name: '400', fault: { type: 'fail', status: 400 }, details: { category: 'bad_request', status: 400, providerCode: 'bad_request', retryable: false } },
    { name: '404', fault: { type: 'fail', status: 404 }, details: { category: 'not_found', status: 404, providerCode: 'not_found', retryable: false } },
    { name: '429 on a streamed turn', fault: { type: 'fail', status: 429, retry_after: 3 }, stream: true, details: { category: 'rate_limit', status: 429, retryAfterMs: 3000, providerCode: 'rate_limit_exceeded', retryable: true } },
    { name: 'connection dropped mid-stream', fault: { type: 'stream_fault', kind: 'disconnect', after_chunks: 2 }, stream: true, details: { category: 'connection', retryable: true } },
  ];

  it.each(cases)('$name → SYN_ERR_PROVIDER $details.category; no restart, nothing committed', async ({ fault, stream, details }) => {
    const before = workerState();
    const ok = await system.sendMessage('llm', { prompt: 'first' });
    const history = await system.history(ok.conversationId);
    await llmock.script(fault);
    const turn = stream
      ? (async () => {
          for await (const item of system.streamMessage('llm', { prompt: 'second' }, { conversationId: ok.conversationId })) void item;
        })()
      : system.sendMessage('llm', { prompt: 'second' }, { conversationId: ok.conversationId });
    const error = await rejection(turn);
    expect(error.code).toBe('SYN_ERR_PROVIDER');
    expect(error.kind).toBe('failure');
    expect(error.details).toMatchObject({ ...details, kind: 'provider', agent: 'llm' });
    for (const absent of ['status', 'retryAfterMs', 'providerCode'] as const) if (!(absent in details)) expect(error.details[absent], absent).toBeUndefined();
    expect((await llmock.requests()).length).toBe(1); // one attempt: the SDK did not retry behind our back
    expect(await system.history(ok.conversationId)).toEqual(history);
    expect(workerState()).toEqual(before);
  });

});

describe('a stream cut before its finish reason', () => {
  it('fails the turn with SYN_ERR_PROVIDER connection; deltas already delivered stay delivered; nothing committed', async () => {
    const before = workerState();
    const ok = await system.sendMessage('llm', { prompt: 'first' });
    const history = await system.history(ok.conversationId);
    await llmock.script({ type: 'stream_fault', kind: 'truncate', after_chunks: 2 });
    const deltas: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const item of system.streamMessage('llm', { prompt: 'second' }, { conversationId: ok.conversationId })) if (item.kind === 'text_delta') deltas.push(item.delta);
      })(),
    );
    expect(error.code).toBe('SYN_ERR_PROVIDER');
    expect(error.details).toMatchObject({ category: 'connection', retryable: true, kind: 'provider' });
    expect(error.message).toMatch(/finish_reason/);
    expect(deltas.length).toBeGreaterThan(0);
    const delivered = deltas.join('');
    expect(fullAnswer.startsWith(delivered) && delivered.length < fullAnswer.length).toBe(true);
    expect(await system.history(ok.conversationId)).toEqual(history);
    expect(workerState()).toEqual(before);
  });
});

describe('secrets, not configuration', () => {
  it('a 401 whose body echoes the key: the key is redacted everywhere, the base URL and model name stay readable', async () => {
    await llmock.script({ type: 'fail', status: 401, message: `Incorrect API key provided: ${KEY}.` });
    const error = await rejection(system.sendMessage('llm', { prompt: 'hi' }));
    expect(error.code).toBe('SYN_ERR_PROVIDER');
    expect(error.message).toContain('Incorrect API key provided: [Redacted]');
    expect(error.message).toContain('gpt-4o-mini'); // the model name (pydantic-ai's message)
    // A connection error names the base URL in the traceback: readable, not "[Redacted]/chat/completions".
    await llmock.script({ type: 'stream_fault', kind: 'disconnect', after_chunks: 1 });
    const cut = await rejection(
      (async () => {
        for await (const item of system.streamMessage('llm', { prompt: 'hi' })) void item;
      })(),
    );
    expect(cut.code).toBe('SYN_ERR_PROVIDER');
    const [pid] = system.agentStatus('llm').pids;
    const zygotes = zygotePids(system);
    const seen = [
      JSON.stringify(error),
      String(error.details.traceback),
      error.stack ?? '',
      JSON.stringify(cut),
      String(cut.details.traceback),
      await system.metricsText(),
      JSON.stringify(await system.metrics()),
      JSON.stringify(system.inspect()),
      readFileSync(`/proc/${pid}/cmdline`, 'utf8'),
      ...zygotes.map((z) => readFileSync(`/proc/${z}/cmdline`, 'utf8')),
      logs.records.map((r) => JSON.stringify(r)).join('\n'),
    ].join('\n');
    expect(seen).toContain('[Redacted]');
    expect(seen).not.toContain(KEY);
    expect(seen).toContain(llmock.openaiBaseUrl);
    // Forked from the zygote (the default): the key reached the worker's os.environ over its own
    // socket after the fork (the openai provider builds no client without it), so it is in no env
    // block — neither the worker's (a copy of the zygote's) nor the zygote's, which never sees it.
    expect(zygotes).toHaveLength(1);
    for (const p of [pid, ...zygotes]) expect(readFileSync(`/proc/${p}/environ`, 'utf8')).not.toContain(KEY);
  });
});

describe('retry: { attempts, minDelayMs, maxDelayMs } retries the model request, not the turn', () => {
  // Three failures in a row: more than the openai SDK's own 2 retries could absorb (they are off).
  it('a 429 three times after a tool call: retried with Retry-After honoured; the tool ran once; the turn commits', async () => {
    await llmock.script();
    lookups = 0;
    // Scripted from inside the tool, so the faults hit the request that follows it.
    onLookup = () => llmock.script({ type: 'fail', status: 429, retry_after: 0.02, times: 3 });
    const result = await system.sendMessage('retry-long', { prompt: 'What is the weather in Paris?' });
    onLookup = async () => {};
    expect(lookups).toBe(1);
    const seen = await llmock.requests(); // since the tool's script(): the failed attempts and the answer
    expect(seen.map((r) => r.status)).toEqual([429, 429, 429, 200]);
    // Retry-After (20 ms) was waited: each attempt started at least ~20 ms after the previous ended.
    for (let i = 1; i < seen.length; i++) expect(Number(seen[i]!.started_at) - Number(seen[i - 1]!.ended_at)).toBeGreaterThanOrEqual(0.015);
    const history = await system.history(result.conversationId);
    expect(JSON.stringify(history)).toContain('sunny'); // the tool's result is in the committed turn, once
    expect(JSON.stringify(history).split('"sunny"').length - 1).toBe(1);
    // Each retry is logged by the worker (forwarded Python log record).
    await logs.waitFor((r) => typeof r.msg === 'string' && r.msg.includes('rate_limit (status 429): attempt 4 of 4'));
  });

  it('a Retry-After longer than maxDelayMs is capped: the retry comes after maxDelayMs', async () => {
    await llmock.script({ type: 'fail', status: 503, retry_after: 30 });
    const started = Date.now();
    const result = await system.sendMessage('retry-capped', { prompt: 'hi' }, { timeoutMs: 10_000 });
    expect(result.output).toBe(fullAnswer);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await llmock.requests()).map((r) => r.status)).toEqual([503, 200]);
  });

  it('a wait past the deadline is not slept: SYN_ERR_PROVIDER at once with retryAfterMs, not SYN_ERR_TIMEOUT', async () => {
    await llmock.script({ type: 'fail', status: 429, retry_after: 30 });
    const error = await rejection(system.sendMessage('retry-long', { prompt: 'hi' }, { timeoutMs: 5_000 }));
    expect(error.code).toBe('SYN_ERR_PROVIDER');
    expect(error.details).toMatchObject({ category: 'rate_limit', retryAfterMs: 30_000, retryable: true });
    expect((await llmock.requests()).length).toBe(1);
  });

  it('not retryable (insufficient_quota): one attempt', async () => {
    await llmock.script({ type: 'fail', status: 429, code: 'insufficient_quota', times: 5 });
    const error = await rejection(system.sendMessage('retry-capped', { prompt: 'hi' }));
    expect(error.details).toMatchObject({ category: 'quota', retryable: false });
    expect((await llmock.requests()).length).toBe(1);
  });

  it('a streamed request is retried while it opens; the caller sees one uncut answer', async () => {
    await llmock.script({ type: 'fail', status: 500, times: 3 });
    let streamed = '';
    for await (const item of system.streamMessage('retry-capped', { prompt: 'hi' })) if (item.kind === 'text_delta') streamed += item.delta;
    expect(streamed).toBe(fullAnswer);
    expect((await llmock.requests()).map((r) => r.status)).toEqual([500, 500, 500, 200]);
  });

  it('a stream cut after deltas were delivered is not retried', async () => {
    await llmock.script({ type: 'stream_fault', kind: 'disconnect', after_chunks: 2 });
    const deltas: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const item of system.streamMessage('retry-capped', { prompt: 'hi' })) if (item.kind === 'text_delta') deltas.push(item.delta);
      })(),
    );
    expect(error.details).toMatchObject({ category: 'connection' });
    expect(deltas.length).toBeGreaterThan(0);
    expect((await llmock.requests()).length).toBe(1);
  });

  it('spawnAgent validates retry', async () => {
    for (const [retry, option] of [[{ attempts: 0 }, 'retry.attempts'], [{}, 'retry.attempts'], [{ attempts: 2, minDelayMs: 10, maxDelayMs: 1 }, 'retry.minDelayMs'], [{ attempts: 2, extra: 1 }, 'retry.extra']] as const) {
      const error = await rejection(system.spawnAgent({ id: 'bad-retry', agent: example('modelless.py'), retry: retry as never }));
      expect(error.code).toBe('SYN_ERR_INVALID_OPTION');
      expect(error.details.option).toBe(option);
    }
  });
});
