// Tracing across the process boundary (issue #15 §2), through the public API with real Python:
// the Node turn span (real OTel SDK, in-memory exporter) and pydantic-ai's own spans in the worker
// (real SDK, exported as JSON lines by test/fixtures/agents/traced.py) form one trace, the agent
// run parented under the turn span; the turn span ends once on value, error, timeout and abort.
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { TURN_SPAN_ATTRIBUTES as A } from '../../../src/observe/tracing.ts';
import { fixture, rejection, tempDir, useAgents, waitForFile } from '../../helpers/system.ts';

type PySpan = { name: string; traceId: string; spanId: string; parentSpanId: string | null; parentIsRemote: boolean | null; traceState: string | null };

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const tmp = tempDir('synapse-tracing-');
const spansFile = join(tmp.dir, 'spans.jsonl');
const app = api.trace.getTracer('app');

beforeAll(() => {
  api.context.setGlobalContextManager(contextManager.enable());
  api.trace.setGlobalTracerProvider(provider);
});
afterEach(() => exporter.reset());
afterAll(async () => {
  api.trace.disable();
  api.context.disable();
  await provider.shutdown();
  tmp.remove();
});

let system: ActorSystem;
useAgents((s) => (system = s), [{ id: 'traced', agent: fixture('traced.py'), python: { env: { SYNAPSE_TEST_SPANS: spansFile } } }]);

const pySpans = (text = readFileSync(spansFile, 'utf8')): PySpan[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as PySpan);
const turnSpans = (): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === 'synapse.turn traced');
/** Runs `fn` inside an application span (as a request handler would), ended after it settles. */
async function inAppSpan<T>(fn: () => Promise<T>): Promise<{ parent: api.Span; settled: PromiseSettledResult<T> }> {
  const parent = app.startSpan('POST /chat');
  const settled = await api.context.with(api.trace.setSpan(api.context.active(), parent), () => fn()).then(
    (value) => ({ status: 'fulfilled' as const, value }),
    (reason: unknown) => ({ status: 'rejected' as const, reason }),
  );
  parent.end();
  return { parent, settled };
}
/** The one ended turn span, a child of `parent` in its trace. */
function theTurnSpan(parent: api.Span): ReadableSpan {
  const spans = turnSpans();
  expect(spans).toHaveLength(1);
  const turn = spans[0]!;
  expect(turn.spanContext().traceId).toBe(parent.spanContext().traceId);
  expect(turn.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  return turn;
}
/** The worker's spans of `traceId`: the agent run under the Node turn span, everything else under it. */
function expectPythonUnder(turn: ReadableSpan, spans: PySpan[], tools: string[]): void {
  const mine = spans.filter((s) => s.traceId === turn.spanContext().traceId);
  const runs = mine.filter((s) => s.name === 'invoke_agent traced');
  expect(runs).toHaveLength(1);
  expect(runs[0]).toMatchObject({ parentSpanId: turn.spanContext().spanId, parentIsRemote: true });
  const children = mine.filter((s) => s !== runs[0]);
  expect(children.map((s) => s.parentSpanId)).toEqual(children.map(() => runs[0]!.spanId));
  expect(children.filter((s) => s.name.startsWith('chat ')).length).toBeGreaterThanOrEqual(1); // model requests
  expect(children.filter((s) => s.name.startsWith('execute_tool ')).map((s) => s.name)).toEqual(tools.map((t) => `execute_tool ${t}`));
}

describe('one trace across Node and Python (real OTel SDKs on both sides)', () => {
  it('sendMessage: the turn span is under the caller span; the agent run, model requests and tool call under the turn span', async () => {
    const { parent, settled } = await inAppSpan(() => system.sendMessage('traced', { prompt: 'ok' }, { conversationId: 'trace-ok' }));
    expect(settled).toMatchObject({ status: 'fulfilled', value: { output: 'done: sunny in Paris' } });
    const turn = theTurnSpan(parent);
    const turnId = settled.status === 'fulfilled' ? settled.value.turnId : '';
    expect(turn.attributes).toEqual({ [A.agent]: 'traced', [A.conversation]: 'trace-ok', [A.turn]: turnId, [A.replayed]: false, [A.outcome]: 'ok' });
    expect(turn.status.code).toBe(api.SpanStatusCode.UNSET);
    expectPythonUnder(turn, pySpans(), ['lookup']);
  });

  it('streamMessage: the same, the span ended once the stream yields its result', async () => {
    const { parent, settled } = await inAppSpan(async () => {
      const kinds: string[] = [];
      for await (const item of system.streamMessage('traced', { prompt: 'ok' })) kinds.push(item.kind);
      return kinds;
    });
    expect(settled).toMatchObject({ status: 'fulfilled', value: expect.arrayContaining(['tool_call', 'result']) });
    expectPythonUnder(theTurnSpan(parent), pySpans(), ['lookup']);
  });

  it('a failing turn: status ERROR with its code; the worker spans are still in the trace', async () => {
    const { parent, settled } = await inAppSpan(() => system.sendMessage('traced', { prompt: 'fail' }));
    expect(settled.status === 'rejected' && (settled.reason as { code?: string }).code).toBe('SYN_ERR_AGENT_FAILED');
    const turn = theTurnSpan(parent);
    expect(turn.attributes).toMatchObject({ [A.outcome]: 'error', [A.errorCode]: 'SYN_ERR_AGENT_FAILED' });
    expect(turn.status.code).toBe(api.SpanStatusCode.ERROR);
    expect(turn.events.map((e) => e.name)).toEqual(['exception']);
    expectPythonUnder(turn, pySpans(), ['explode']);
  });

  it('a turn past its deadline: outcome timeout; the cancelled worker run still ends under the turn span', async () => {
    const { parent, settled } = await inAppSpan(() => system.sendMessage('traced', { prompt: 'hang' }, { timeoutMs: 500 }));
    expect(settled.status === 'rejected' && (settled.reason as { code?: string }).code).toBe('SYN_ERR_TIMEOUT');
    const turn = theTurnSpan(parent);
    expect(turn.attributes).toMatchObject({ [A.outcome]: 'timeout', [A.errorCode]: 'SYN_ERR_TIMEOUT' });
    // The worker ends the agent run span when the cancellation reaches it, after Node settled.
    const traceId = turn.spanContext().traceId;
    const text = await waitForFile(spansFile, 20_000, (t) => pySpans(t).some((s) => s.traceId === traceId && s.name === 'invoke_agent traced'));
    expectPythonUnder(turn, pySpans(text), ['wait_forever']);
  });

  it('an aborted stream: outcome aborted, ended once', async () => {
    const controller = new AbortController();
    const { parent, settled } = await inAppSpan(async () => {
      for await (const item of system.streamMessage('traced', { prompt: 'hang' }, { signal: controller.signal })) {
        if (item.kind === 'tool_call') controller.abort(); // the tool is running in Python now
      }
    });
    expect(settled.status === 'rejected' && (settled.reason as { code?: string }).code).toBe('SYN_ERR_ABORTED');
    expect(theTurnSpan(parent).attributes).toMatchObject({ [A.outcome]: 'aborted', [A.errorCode]: 'SYN_ERR_ABORTED' });
  });

  it('a replayed turn (same turn id): its own span, marked replayed, and no worker run', async () => {
    const first = await system.sendMessage('traced', { prompt: 'ok' }, { conversationId: 'trace-replay', turnId: 'turn-r1' });
    exporter.reset();
    const { parent, settled } = await inAppSpan(() => system.sendMessage('traced', { prompt: 'ok' }, { conversationId: 'trace-replay', turnId: 'turn-r1' }));
    expect(settled).toMatchObject({ status: 'fulfilled', value: { replayed: true, output: first.output } });
    const turn = theTurnSpan(parent);
    expect(turn.attributes).toMatchObject({ [A.turn]: 'turn-r1', [A.replayed]: true, [A.outcome]: 'ok' });
    expect(pySpans().filter((s) => s.traceId === turn.spanContext().traceId)).toEqual([]);
  });

  it('invalid call options fail before any span starts', async () => {
    expect((await rejection(system.sendMessage('traced', { prompt: 'ok' }, { timeoutMs: -1 }))).code).toBe('SYN_ERR_INVALID_OPTION');
    expect(turnSpans()).toEqual([]);
  });
});
