// The turn span (issue #15 §2) against the real OpenTelemetry API and SDK (in-memory exporter):
// a child of the active context, its W3C trace context for the run frame, ended exactly once per
// settle path with its outcome; a no-op without @opentelemetry/api or without anything to trace.
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { withTraceContext } from '../../../src/agent/run-options.ts';
import { synErr } from '../../../src/errors.ts';
import { loadOtelApi, traceparentOf, TURN_SPAN_ATTRIBUTES as A, TurnTracer, type OtelApiLike } from '../../../src/observe/tracing.ts';

// Compile-time: the real API satisfies the structural view Synapse uses.
const real: OtelApiLike = api;

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

describe('without @opentelemetry/api', () => {
  it('the loader returns undefined for a package that is not installed, or not the API', () => {
    expect(loadOtelApi('@opentelemetry/no-such-package')).toBeUndefined();
    expect(loadOtelApi('node:path')).toBeUndefined();
    expect(typeof loadOtelApi()?.trace.getTracer).toBe('function'); // the installed one loads (its CommonJS build)
  });

  it('the tracer is a no-op: no span, so the run frame keeps no options at all', () => {
    const tracer = new TurnTracer(() => undefined);
    expect(tracer.enabled).toBe(false);
    const span = tracer.start('support', 'c1', undefined);
    expect(span).toBeUndefined();
    expect(withTraceContext(undefined, span?.trace)).toBeUndefined();
  });
});

describe('with the API but nothing registered', () => {
  it('no provider and no active parent: no trace context to send', () => {
    const span = new TurnTracer().start('support', 'c1', undefined);
    expect(span?.trace).toBeUndefined();
    span?.succeed('ok'); // harmless
  });
});

describe('with a registered provider (real SDK, in-memory exporter)', () => {
  beforeAll(() => {
    api.context.setGlobalContextManager(contextManager.enable());
    api.trace.setGlobalTracerProvider(provider);
  });
  afterEach(() => exporter.reset());
  afterAll(async () => {
    api.trace.disable();
    api.context.disable();
    await provider.shutdown();
  });

  it('a turn span is a child of the active span and its traceparent / tracestate name it', () => {
    const parent = real.trace.getTracer('app').startSpan('http request', { attributes: {} }, api.context.active()) as unknown as api.Span;
    const state = api.createTraceState('vendor=opaque');
    const ctx = api.trace.setSpanContext(api.context.active(), { ...parent.spanContext(), traceState: state });
    const span = api.context.with(ctx, () => new TurnTracer().start('support', 'conv-1', 'turn-1'));
    expect(span).toBeDefined();
    span!.succeed('ok', { [A.replayed]: false });
    parent.end();
    const [turn] = exporter.getFinishedSpans().filter((s) => s.name === 'synapse.turn support');
    expect(turn).toBeDefined();
    expect(turn!.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(turn!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span!.trace).toEqual({ traceparent: `00-${parent.spanContext().traceId}-${turn!.spanContext().spanId}-01`, tracestate: 'vendor=opaque' });
    expect(turn!.attributes).toEqual({ [A.agent]: 'support', [A.conversation]: 'conv-1', [A.turn]: 'turn-1', [A.replayed]: false, [A.outcome]: 'ok' });
    expect(turn!.status.code).toBe(api.SpanStatusCode.UNSET);
  });

  it('without a parent the turn span is a root, with a trace context of its own; run() makes it active', async () => {
    const span = new TurnTracer().start('support', 'c', undefined)!;
    expect(span.trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(span.trace).not.toHaveProperty('tracestate');
    const inside = await span.run(async () => {
      await Promise.resolve();
      return api.trace.getActiveSpan()?.spanContext().spanId;
    });
    expect(span.trace?.traceparent).toContain(`-${inside}-`);
    span.succeed('deferred');
    const [turn] = exporter.getFinishedSpans();
    expect(turn!.parentSpanContext).toBeUndefined();
    expect(turn!.attributes[A.outcome]).toBe('deferred');
  });

  it.each([
    ['aborted', synErr('SYN_ERR_ABORTED', 'caller aborted'), 'SYN_ERR_ABORTED'],
    ['timeout', synErr('SYN_ERR_TIMEOUT', 'deadline'), 'SYN_ERR_TIMEOUT'],
    ['error', synErr('SYN_ERR_AGENT_FAILED', 'tool raised'), 'SYN_ERR_AGENT_FAILED'],
    ['error', new TypeError('not coded'), undefined],
  ] as const)('fail → outcome %s, status ERROR, the exception and its code', (outcome, error, code) => {
    const span = new TurnTracer().start('support', 'c', undefined)!;
    span.fail(error);
    const [turn] = exporter.getFinishedSpans();
    expect(turn!.attributes[A.outcome]).toBe(outcome);
    expect(turn!.attributes[A.errorCode]).toBe(code);
    expect(turn!.status).toEqual({ code: api.SpanStatusCode.ERROR, message: code === undefined ? error.message : `${code}: ${error.message}` });
    expect(turn!.events.map((e) => [e.name, e.attributes?.['exception.type'], e.attributes?.['exception.message']])).toEqual([['exception', code ?? 'TypeError', error.message]]);
  });

  it('ends exactly once, whatever settles after the first end', () => {
    const span = new TurnTracer().start('support', 'c', undefined)!;
    span.fail(synErr('SYN_ERR_TIMEOUT', 'deadline'));
    span.succeed('ok');
    span.fail(synErr('SYN_ERR_ABORTED', 'late'));
    span.set(A.turn, 'late');
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0]!.attributes[A.outcome]).toBe('timeout');
    expect(spans[0]!.attributes[A.turn]).toBeUndefined();
  });
});

describe('traceparentOf', () => {
  it('formats version 00 with two hex digits of flags', () => {
    expect(traceparentOf({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0 })).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`);
    expect(traceparentOf({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 })).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
  });
});
