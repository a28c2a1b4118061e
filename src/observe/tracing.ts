/**
 * OpenTelemetry tracing of turns, with `@opentelemetry/api` as an OPTIONAL peer dependency.
 *
 * Each `sendMessage` / `streamMessage` turn gets a span `synapse.turn <agent>` (a child of the
 * caller's active context), ended exactly once on every settle path. Its W3C trace context
 * (`traceparent`, `tracestate`) travels to Python in `run.options.trace`, where the bridge
 * continues it so pydantic-ai's own instrumentation joins the same trace (docs/observability.md).
 *
 * Without `@opentelemetry/api` installed (or without a registered tracer provider and no active
 * parent span) this module does nothing: no span, no `trace` field, the run frame is unchanged.
 * Only a minimal structural view of the API is typed here, so Synapse's own types never name
 * the package.
 */
import { createRequire } from 'node:module';
import { isSynapseError } from '../errors.ts';
import { VERSION } from '../version.ts';

/** W3C trace context as it travels in `run.options.trace` (the shape of the protocol's `TraceContext`). */
export interface TraceContext {
  readonly traceparent: string;
  readonly tracestate?: string;
}

/** The parts of `@opentelemetry/api`'s span that Synapse uses. */
interface OtelSpan {
  spanContext(): { traceId: string; spanId: string; traceFlags: number; traceState?: { serialize(): string } };
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: { name: string; message: string; stack?: string }): unknown;
  end(): void;
}

/** The parts of `@opentelemetry/api` that Synapse uses (checked against the real API in test/unit/observe/tracing.test.ts). */
export interface OtelApiLike {
  trace: {
    getTracer(name: string, version?: string): { startSpan(name: string, options: { attributes: Record<string, string> }, context: unknown): OtelSpan };
    setSpan(context: unknown, span: OtelSpan): unknown;
    isSpanContextValid(spanContext: ReturnType<OtelSpan['spanContext']>): boolean;
  };
  context: {
    active(): unknown;
    with<T>(context: unknown, fn: () => T): T;
  };
  SpanStatusCode: { readonly ERROR: number };
}

/** The span attribute names of a turn span (`synapse.turn <agent>`). */
export const TURN_SPAN_ATTRIBUTES = Object.freeze({
  agent: 'synapse.agent.id',
  conversation: 'synapse.conversation.id',
  turn: 'synapse.turn.id',
  outcome: 'synapse.turn.outcome',
  replayed: 'synapse.turn.replayed',
  errorCode: 'synapse.error.code',
});

/** How a turn span ended: `synapse.turn.outcome`. */
export type TurnOutcome = 'ok' | 'deferred' | 'aborted' | 'timeout' | 'error';

/** The span of one turn: its wire trace context, a scope to run the turn in, and its end. */
export interface TurnSpan {
  /** The W3C trace context to send in `run.options.trace` (`undefined`: nothing to continue). */
  readonly trace: TraceContext | undefined;
  /** Runs `fn` with this span active (the caller's context manager, if any, propagates it). */
  run<T>(fn: () => T): T;
  /** Sets an attribute (e.g. the generated turn id once the turn starts). */
  set(key: string, value: string | boolean): void;
  /** Ends the span as a success (`deferred`: the turn waits for tool answers). Idempotent with {@link TurnSpan.fail}. */
  succeed(outcome: 'ok' | 'deferred', attributes?: Readonly<Record<string, string | boolean>>): void;
  /** Ends the span as a failure: status ERROR, the exception, `synapse.error.code`. Idempotent. */
  fail(error: unknown): void;
}

/** Loads `@opentelemetry/api`, or `undefined` when it is not installed (or does not look like it). */
export type OtelLoader = () => OtelApiLike | undefined;

/**
 * The default loader: `require('@opentelemetry/api')` from this package, guarded (the CommonJS
 * build shares its global registry — tracer provider, context manager — with the ESM one).
 * @param specifier what to load (tests load one that is not installed).
 */
export function loadOtelApi(specifier = '@opentelemetry/api'): OtelApiLike | undefined {
  try {
    const api = createRequire(import.meta.url)(specifier) as Partial<OtelApiLike> | undefined;
    return typeof api?.trace?.getTracer === 'function' && typeof api.context?.with === 'function' ? (api as OtelApiLike) : undefined;
  } catch {
    return undefined; // not installed: tracing is a no-op
  }
}

/** A W3C `traceparent` (version 00) of a span context. */
export function traceparentOf(sc: { traceId: string; spanId: string; traceFlags: number }): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

function outcomeOf(error: unknown): { outcome: TurnOutcome; code: string | undefined } {
  const code = isSynapseError(error) ? error.code : undefined;
  if (code === 'SYN_ERR_ABORTED') return { outcome: 'aborted', code };
  if (code === 'SYN_ERR_TIMEOUT') return { outcome: 'timeout', code };
  return { outcome: 'error', code };
}

/** Starts the spans of turns; a no-op one (every span `undefined`) without `@opentelemetry/api`. */
export class TurnTracer {
  readonly #api: OtelApiLike | undefined;
  #tracer: ReturnType<OtelApiLike['trace']['getTracer']> | undefined;

  /** @param load where the API comes from (tests inject a missing one); default {@link loadOtelApi}. */
  constructor(load: OtelLoader = () => loadOtelApi()) {
    this.#api = load();
  }

  /** Whether `@opentelemetry/api` was found. */
  get enabled(): boolean {
    return this.#api !== undefined;
  }

  /**
   * Starts `synapse.turn <agent>` as a child of the active context, or returns `undefined`
   * without the API. The tracer is looked up on first use, so a provider registered after
   * `Synapse.start()` is used.
   */
  start(agentId: string, conversationId: string, turnId: string | undefined): TurnSpan | undefined {
    const api = this.#api;
    if (api === undefined) return undefined;
    this.#tracer ??= api.trace.getTracer('synapse', VERSION);
    const parent = api.context.active();
    const A = TURN_SPAN_ATTRIBUTES;
    const span = this.#tracer.startSpan(`synapse.turn ${agentId}`, { attributes: { [A.agent]: agentId, [A.conversation]: conversationId, ...(turnId === undefined ? {} : { [A.turn]: turnId }) } }, parent);
    const sc = span.spanContext();
    let trace: TraceContext | undefined;
    if (api.trace.isSpanContextValid(sc)) {
      const state = sc.traceState?.serialize();
      trace = { traceparent: traceparentOf(sc), ...(state ? { tracestate: state } : {}) };
    }
    const active = api.trace.setSpan(parent, span);
    let ended = false;
    const end = (): boolean => {
      if (ended) return false;
      ended = true;
      return true;
    };
    return {
      trace,
      run: (fn) => api.context.with(active, fn),
      set: (key, value) => {
        if (!ended) span.setAttribute(key, value);
      },
      succeed: (outcome, attributes = {}) => {
        if (!end()) return;
        for (const [k, value] of Object.entries(attributes)) span.setAttribute(k, value);
        span.setAttribute(A.outcome, outcome);
        span.end();
      },
      fail: (error) => {
        if (!end()) return;
        const { outcome, code } = outcomeOf(error);
        span.setAttribute(A.outcome, outcome);
        if (code !== undefined) span.setAttribute(A.errorCode, code);
        const e = error instanceof Error ? error : new Error(String(error));
        span.recordException({ name: code ?? e.name, message: e.message, ...(e.stack === undefined ? {} : { stack: e.stack }) });
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: code === undefined ? e.message : `${code}: ${e.message}` });
        span.end();
      },
    };
  }
}
