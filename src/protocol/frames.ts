/**
 * Wire protocol v1 frame types and their hand-written validators (see `docs/protocol.md`).
 *
 * Pure: no I/O. Validators check exactly what the contract promises, ignore unknown fields
 * (forward compatibility) and reject an unknown `t` or a malformed field with
 * `SYN_ERR_PROTOCOL` naming the frame type and the field.
 */
import { synErr } from '../errors.ts';
import type { SynapseError } from '../errors.ts';
import type { Prompt } from '../prompt.ts';

/** The protocol version this package speaks (the `v` of `hello`). */
export const PROTOCOL_VERSION = 1;
const VERSION_EXPECTED = `${PROTOCOL_VERSION} (the protocol version)`;

/**
 * The optional feature (announced by Python in `hello.features`) that lets Node send a history
 * too large for one `run` frame as `history_chunk` frames ahead of it (docs/protocol.md).
 */
export const FEATURE_HISTORY_CHUNKS = 'history_chunks';

/**
 * The optional feature (announced by Python in `hello.features`) that lets Node send run options:
 * `run.options` and the `model` / `modelSettings` / `usageLimits` of an `init` agent (docs/protocol.md).
 * A bridge without it would ignore them silently, so Node refuses to send them to one.
 */
export const FEATURE_RUN_OPTIONS = 'run_options';

/**
 * The optional feature (announced by Python in `hello.features`) that lets Node send the `deps`
 * factory and `lifespan` refs of an `init` agent, and lets Python answer a run with error kind
 * `deps` (docs/protocol.md). A bridge without it would ignore the refs, so Node refuses to send them.
 */
export const FEATURE_DEPS_FACTORY = 'deps_factory';

/**
 * The optional feature (announced by Python in `hello.features`) that lets Node send
 * `run.toolResults` (with `run.prompt` `null`) to resume a turn that ended in pydantic-ai deferred
 * tool requests, and lets Python answer with `result.deferred` (docs/protocol.md). A bridge without
 * it would ignore the answers and run the prompt instead, so Node refuses to send them to one.
 */
export const FEATURE_DEFERRED_TOOLS = 'deferred_tools';

/**
 * The optional feature (announced by Python in `hello.features`) that lets Node send
 * `run.options.output` (a JSON Schema output type) and lets Python stream `output` events (partial
 * structured output) (docs/protocol.md). A bridge without it would ignore the schema and answer
 * with the agent's own output type, so Node refuses to send one to it.
 */
export const FEATURE_STRUCTURED_OUTPUT = 'structured_output';

/**
 * The optional feature (announced by Python in `hello.features`) that lets Node send `run.prompt`
 * as an array of pydantic-ai user content parts (a multimodal prompt: text, image / document /
 * audio / video URLs, base64 binary content; docs/protocol.md). A bridge without it would reject
 * the frame as malformed, so Node refuses to send one to it.
 */
export const FEATURE_MULTIMODAL_PROMPT = 'multimodal_prompt';

/**
 * The optional feature (announced by Python in `hello.features`) that continues the W3C trace
 * context of `run.options.trace` around the run (OpenTelemetry; docs/observability.md). Node sends
 * the field to any bridge with `run_options`: one without this feature ignores it (unknown option
 * fields are ignored), so nothing is refused.
 */
export const FEATURE_TRACE_CONTEXT = 'trace_context';

/**
 * The bridge asks Node for a slot before each model request of an agent spawned with `rateLimit`
 * (`init` agent field `modelSlots: true`; frames `model_slot`, `model_slot_grant`,
 * `model_slot_release`; docs/providers.md "Rate limits").
 */
export const FEATURE_MODEL_SLOTS = 'model_slots';

/**
 * The bridge can announce its full (generation 2) garbage collections on the heartbeat control
 * channel (`gc` frames), so Node extends the pong deadline by `python.gcGraceMs` instead of killing
 * a worker whose collection holds the GIL. Node asks for them with `init.gcNotices: true`, only of
 * a bridge announcing this feature (docs/protocol.md, "GC notices").
 */
export const FEATURE_GC_NOTICES = 'gc_notices';

/**
 * `run.options.trace`: the W3C trace context of the Node turn span (`traceparent` version 00,
 * optional `tracestate`), a text-map carrier as-is (feature {@link FEATURE_TRACE_CONTEXT}).
 */
export interface TraceContextFrame {
  readonly traceparent: string;
  readonly tracestate?: string;
}

// ─── Node → Python ────────────────────────────────────────────────────────────

/**
 * An agent to load: `ref` is `pkg.mod:attr` or `path/file.py:attr`. The optional run options
 * apply to every run of the agent (feature {@link FEATURE_RUN_OPTIONS}; docs/agents.md).
 */
export interface AgentSpec {
  readonly name: string;
  readonly ref: string;
  /** A pydantic-ai model name or a `module:attr` / `file.py:attr` Model (factory) ref; checked at `init`. */
  readonly model?: string;
  /** pydantic-ai `ModelSettings` (JSON). */
  readonly modelSettings?: Readonly<Record<string, unknown>>;
  /** pydantic-ai `UsageLimits` fields (snake_case, as in Python). */
  readonly usageLimits?: Readonly<Record<string, unknown>>;
  /** The agent's retry policy of failed model requests (`spawnAgent({ retry })`; docs/providers.md). */
  readonly retry?: { readonly attempts: number; readonly minDelayMs?: number; readonly maxDelayMs?: number };
  /** Ask Node for a slot before each model request (`spawnAgent({ rateLimit })`; feature {@link FEATURE_MODEL_SLOTS}). */
  readonly modelSlots?: boolean;
  /** `module:attr` / `file.py:attr` of a deps factory `(call_deps_json, ctx) -> deps` (feature {@link FEATURE_DEPS_FACTORY}). */
  readonly deps?: string;
  /** `module:attr` / `file.py:attr` of an async context manager entered once per worker (feature {@link FEATURE_DEPS_FACTORY}). */
  readonly lifespan?: string;
}

/**
 * `run.options`: the per-call run options (feature {@link FEATURE_RUN_OPTIONS}). Present only
 * when the call uses one; each maps to an `Agent.iter` keyword (docs/agents.md).
 */
export interface RunOptionsFrame {
  readonly model?: string;
  readonly modelSettings?: Readonly<Record<string, unknown>>;
  readonly usageLimits?: Readonly<Record<string, unknown>>;
  readonly instructions?: string;
  /** Any JSON value but `null`. */
  readonly metadata?: unknown;
  /** Any JSON value; validated by Python into the agent's `deps_type`. */
  readonly deps?: unknown;
  /** A JSON Schema output type, run as pydantic-ai `StructuredDict` (feature {@link FEATURE_STRUCTURED_OUTPUT}). */
  readonly output?: { readonly schema: Readonly<Record<string, unknown>>; readonly name?: string; readonly description?: string };
  /** The W3C trace context of the turn span (feature {@link FEATURE_TRACE_CONTEXT}); set by Synapse, never by the caller. */
  readonly trace?: TraceContextFrame;
}

/**
 * How a person answered a tool call that needed approval: `true` (run it), `false` (deny with
 * pydantic-ai's default message), `{ denied: message }` (the model sees `message`), or
 * `{ approved: true, overrideArgs? }` (run it, with other arguments).
 */
export type ApprovalAnswer = boolean | { readonly denied: string } | { readonly approved: true; readonly overrideArgs?: Readonly<Record<string, unknown>> };

/**
 * `run.toolResults` (feature {@link FEATURE_DEFERRED_TOOLS}): the answers to every pending deferred
 * call of the conversation, keyed by tool call id. `calls` values are any JSON (the tool's return).
 */
export interface ToolResultsFrame {
  readonly approvals?: Readonly<Record<string, ApprovalAnswer>>;
  readonly calls?: Readonly<Record<string, unknown>>;
}

/** One pending deferred tool call of `result.deferred`. */
export interface DeferredCall {
  readonly toolCallId: string;
  readonly tool: string;
  /** The arguments the model gave (JSON; the raw string when the model's JSON was invalid). */
  readonly args: unknown;
  /** What the tool attached with `ApprovalRequired(metadata=…)` / `CallDeferred(metadata=…)`. */
  readonly metadata?: unknown;
}

/** `result.deferred`: the run ended in pydantic-ai `DeferredToolRequests` (feature {@link FEATURE_DEFERRED_TOOLS}). */
export interface DeferredRequests {
  /** Calls waiting for a person's approval (`requires_approval=True`, `ApprovalRequired`). */
  readonly approvals: readonly DeferredCall[];
  /** Calls whose result comes from outside the agent (external tools, `CallDeferred`). */
  readonly calls: readonly DeferredCall[];
}

/** A TypeScript tool offered to every agent of a process; `parameters` is a JSON schema. */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** `init`: sent once after `hello`; Python loads the agents and answers `ready`. */
export interface InitFrame {
  readonly t: 'init';
  /** Protocol version Node speaks; Python rejects any other (absent: v1, as sent before it existed). */
  readonly v?: number;
  readonly agents: readonly AgentSpec[];
  readonly tools: readonly ToolSpec[];
  readonly concurrency: number;
  readonly maxFrameBytes: number;
  readonly cwd?: string;
  readonly memoryLimitMb?: number;
  /** Cap on a chunked history's bytes (all partial histories together); absent: Python's default, 256 MiB. */
  readonly maxHistoryBytes?: number;
  /** Ask for `gc` frames on the control channel (feature {@link FEATURE_GC_NOTICES}); absent: none are sent. */
  readonly gcNotices?: boolean;
  /** `gc.set_threshold(t0, t1, t2)` after the agents load (`python.gcThresholds`); absent: CPython's default. */
  readonly gcThresholds?: readonly [number, number, number];
}

/** `run`: one request, run by Python as its own asyncio task. */
export interface RunFrame {
  readonly t: 'run';
  readonly id: string;
  readonly agent: string;
  /**
   * A string, or a non-empty array of pydantic-ai user content parts (feature
   * {@link FEATURE_MULTIMODAL_PROMPT}); `null` only with `toolResults` (a resume without a new user prompt).
   */
  readonly prompt: Prompt | null;
  /** pydantic-ai `ModelMessagesTypeAdapter` JSON; may be empty. */
  readonly history: readonly unknown[];
  readonly timeoutMs: number | null;
  readonly stream: boolean;
  readonly conversationId?: string;
  readonly turnId?: string;
  /** The history came ahead in this many `history_chunk` frames (`history` is then `[]`). */
  readonly historyChunks?: number;
  /** Per-call run options; absent for a run that uses none (the common, fast case). */
  readonly options?: RunOptionsFrame;
  /** Answers to the history's pending deferred tool calls (feature {@link FEATURE_DEFERRED_TOOLS}). */
  readonly toolResults?: ToolResultsFrame;
}

/**
 * `history_chunk`: one slice of a run's history, sent before its `run` (feature
 * {@link FEATURE_HISTORY_CHUNKS}). `data` is base64 of a slice of the UTF-8 bytes of the history's JSON.
 */
export interface HistoryChunkFrame {
  readonly t: 'history_chunk';
  readonly id: string;
  readonly data: string;
}

/** `cancel`: cancel the run's task; an unknown or finished id is ignored by Python. */
export interface CancelFrame {
  readonly t: 'cancel';
  readonly id: string;
}

/** `tool_result`: the answer to a `tool_call`. */
export interface ToolResultFrame {
  readonly t: 'tool_result';
  readonly id: string;
  readonly callId: string;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

/** `model_slot_grant`: the run's model request `callId` may start (answers `model_slot`; feature {@link FEATURE_MODEL_SLOTS}). */
export interface ModelSlotGrantFrame {
  readonly t: 'model_slot_grant';
  readonly id: string;
  readonly callId: string;
}

/** `ping`: heartbeat; Python answers `pong` with the same `seq`. */
export interface PingFrame {
  readonly t: 'ping';
  readonly seq: number;
}

/** `shutdown`: cancel runs, write `bye`, exit 0. */
export interface ShutdownFrame {
  readonly t: 'shutdown';
}

/** Every frame Node sends. */
export type OutboundFrame = InitFrame | RunFrame | HistoryChunkFrame | CancelFrame | ToolResultFrame | ModelSlotGrantFrame | PingFrame | ShutdownFrame;

// ─── Python → Node ────────────────────────────────────────────────────────────

/** `hello`: interpreter up, pydantic-ai imported. */
export interface HelloFrame {
  readonly t: 'hello';
  readonly v: number;
  readonly pid: number;
  readonly python: string;
  readonly pydanticAi: string;
  /** Version of the Python `synapse-bridge` package; must equal this Node package's (else SYN_ERR_BRIDGE_VERSION). Absent from bridges before 0.1.0's check. */
  readonly bridge?: string;
  /** Optional protocol features the runtime supports (e.g. {@link FEATURE_HISTORY_CHUNKS}); absent: none. */
  readonly features?: readonly string[];
}

/** `ready`: every agent of `init` is loaded. */
export interface ReadyFrame {
  readonly t: 'ready';
  readonly agents: readonly string[];
}

/** A streamed progress event of a run. */
export type StreamEvent =
  | { readonly kind: 'text_delta'; readonly delta: string }
  | { readonly kind: 'tool_call'; readonly tool: string; readonly args: unknown; readonly toolCallId: string }
  | { readonly kind: 'tool_result'; readonly tool: string; readonly toolCallId: string; readonly content: unknown }
  /**
   * A partial structured output (debounced; feature {@link FEATURE_STRUCTURED_OUTPUT}): the output
   * so far as JSON, for a run whose output type is not plain text. The last one equals the result's `output`.
   */
  | { readonly kind: 'output'; readonly output: unknown };

/** `event`: streamed progress of the run `id`. */
export interface EventFrame {
  readonly t: 'event';
  readonly id: string;
  readonly event: StreamEvent;
}

/** Token and request counts of one run. */
export interface Usage {
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly totalTokens: number;
  readonly toolCalls: number;
}

/** `result`: the run `id` finished. */
export interface ResultFrame {
  readonly t: 'result';
  readonly id: string;
  readonly output: unknown;
  /** The output's type name (`'str'`, a model class such as `NoFlightFound`, `'list'`…); absent from an older bridge. */
  readonly outputType?: string;
  readonly messages: readonly unknown[];
  readonly usage: Usage;
  /** The run ended in deferred tool requests (`output` is then `null`; feature {@link FEATURE_DEFERRED_TOOLS}). */
  readonly deferred?: DeferredRequests;
}

/** The `kind` of a Python-side error. */
export type PyErrorKind =
  | 'agent'
  | 'cancelled'
  | 'timeout'
  | 'startup'
  | 'protocol'
  | 'usage_limit'
  | 'unexpected_model_behavior'
  | 'tool'
  | 'invalid_option'
  | 'invalid_argument'
  | 'deps'
  | 'provider';

/** Every error kind of protocol v1. */
export const PY_ERROR_KINDS: readonly PyErrorKind[] = Object.freeze([
  'agent',
  'cancelled',
  'timeout',
  'startup',
  'protocol',
  'usage_limit',
  'unexpected_model_behavior',
  'tool',
  'invalid_option',
  'invalid_argument',
  'deps',
  'provider',
]);

/** `error`: the run `id` failed, or (with `id: null`) the process failed. */
export interface ErrorFrame {
  readonly t: 'error';
  readonly id: string | null;
  readonly kind: PyErrorKind;
  readonly type: string;
  readonly message: string;
  readonly traceback: string;
  readonly retryable: boolean;
  /** `invalid_argument` (bad deps): pydantic's error list, without the input values. */
  readonly errors?: readonly unknown[];
  /** `invalid_option`: the option that was rejected (e.g. `options.model`). */
  readonly option?: string;
  /** `provider`: how the model provider's API failed (becomes `SYN_ERR_PROVIDER`'s details). */
  readonly provider?: ProviderFailure;
}

/** The `provider` object of a `provider` error frame (docs/protocol.md). */
export interface ProviderFailure {
  /** `rate_limit`, `quota`, `server`, `connection`, `timeout`, `auth`, `not_found`, `bad_request` or `unknown`. */
  readonly category: string;
  /** The HTTP status, when there was a response. */
  readonly status?: number;
  /** How long the provider asked to wait (its `retry-after-ms` / `Retry-After`), in ms. */
  readonly retryAfterMs?: number;
  /** The provider's machine-readable error code (e.g. `rate_limit_exceeded`, `insufficient_quota`). */
  readonly providerCode?: string;
  /** Whether retrying can help (false for quota, auth, bad_request, not_found). */
  readonly retryable: boolean;
}

function providerFailure(o: Obj, t: string): ProviderFailure {
  const p = obj(o, t, 'provider');
  const status = p.status === undefined ? {} : { status: nonNegInt(p, t, 'status', 'provider.') };
  const retryAfterMs = p.retryAfterMs === undefined ? {} : { retryAfterMs: nonNegInt(p, t, 'retryAfterMs', 'provider.') };
  const providerCode = optStr(p, t, 'providerCode');
  return {
    category: str(p, t, 'category'),
    ...status,
    ...retryAfterMs,
    ...(providerCode === undefined ? {} : { providerCode }),
    retryable: bool(p, t, 'retryable'),
  };
}

/** `tool_call`: Python asks Node to run a TypeScript tool. */
export interface ToolCallFrame {
  readonly t: 'tool_call';
  readonly id: string;
  readonly callId: string;
  readonly tool: string;
  readonly args: unknown;
}

/**
 * `model_slot`: the run is about to send model request `callId` and waits for `model_slot_grant`
 * (feature {@link FEATURE_MODEL_SLOTS}). `estTokens`: its estimated tokens, when known.
 */
export interface ModelSlotFrame {
  readonly t: 'model_slot';
  readonly id: string;
  readonly callId: string;
  readonly estTokens?: number;
}

/** `model_slot_release`: model request `callId` ended (also when it failed or was cancelled); `tokens`: its usage's total tokens, when known. */
export interface ModelSlotReleaseFrame {
  readonly t: 'model_slot_release';
  readonly id: string;
  readonly callId: string;
  readonly tokens?: number;
}

/** `pong`: heartbeat answer with the process's health. */
export interface PongFrame {
  readonly t: 'pong';
  readonly seq: number;
  readonly loopLagMs: number;
  readonly rssBytes: number;
  readonly inFlight: number;
}

/**
 * `gc`: on the heartbeat control channel, a full (generation 2) garbage collection started
 * (`phase: 'start'`) or ended (`'stop'`, with its `pauseMs` when known); feature {@link FEATURE_GC_NOTICES}.
 */
export interface GcFrame {
  readonly t: 'gc';
  readonly phase: 'start' | 'stop';
  readonly pauseMs?: number;
}

/** Python logging levels carried by `log`. */
export type PyLogLevel = 'debug' | 'info' | 'warning' | 'error';

/** `log`: a Python `logging` record. */
export interface LogFrame {
  readonly t: 'log';
  readonly level: PyLogLevel;
  readonly logger: string;
  readonly msg: string;
  readonly id?: string;
}

/** `bye`: clean shutdown done. */
export interface ByeFrame {
  readonly t: 'bye';
}

/** Every frame Python sends. */
export type InboundFrame = HelloFrame | ReadyFrame | EventFrame | ResultFrame | ErrorFrame | ToolCallFrame | ModelSlotFrame | ModelSlotReleaseFrame | PongFrame | GcFrame | LogFrame | ByeFrame;

// ─── Validation ───────────────────────────────────────────────────────────────

type Obj = Record<string, unknown>;

function bad(frameType: string, field: string, expected: string, value: unknown): SynapseError {
  const got = value === undefined ? 'missing' : value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  return synErr('SYN_ERR_PROTOCOL', `Invalid "${frameType}" frame: field "${field}" must be ${expected} (got ${got})`, {
    frameType,
    field,
  });
}

function str(o: Obj, t: string, f: string): string {
  const x = o[f];
  if (typeof x !== 'string') throw bad(t, f, 'a string', x);
  return x;
}

/** `run.prompt`: a string, or a non-empty array of strings and objects with a string `kind` (each part's meaning is checked by Python). */
function promptField(o: Obj, t: string): Prompt {
  const x = o.prompt;
  if (typeof x === 'string') return x;
  if (!Array.isArray(x) || x.length === 0 || !x.every((p) => typeof p === 'string' || (isObj(p) && typeof p.kind === 'string'))) {
    throw bad(t, 'prompt', 'a string or a non-empty array of strings and objects with a string "kind"', x);
  }
  return x as Prompt;
}

function optStr(o: Obj, t: string, f: string): string | undefined {
  const x = o[f];
  if (x !== undefined && typeof x !== 'string') throw bad(t, f, 'a string when present', x);
  return x;
}

function nonNegInt(o: Obj, t: string, f: string, prefix = ''): number {
  const x = o[f];
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw bad(t, prefix + f, 'an integer >= 0', x);
  return x;
}

function nonNegNum(o: Obj, t: string, f: string): number {
  const x = o[f];
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw bad(t, f, 'a finite number >= 0', x);
  return x;
}

function bool(o: Obj, t: string, f: string): boolean {
  const x = o[f];
  if (typeof x !== 'boolean') throw bad(t, f, 'a boolean', x);
  return x;
}

function arr(o: Obj, t: string, f: string): unknown[] {
  const x = o[f];
  if (!Array.isArray(x)) throw bad(t, f, 'an array', x);
  return x;
}

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function obj(o: Obj, t: string, f: string): Obj {
  const x = o[f];
  if (!isObj(x)) throw bad(t, f, 'an object', x);
  return x;
}

function present(o: Obj, t: string, f: string): unknown {
  if (!Object.hasOwn(o, f)) throw bad(t, f, 'present', undefined);
  return o[f];
}

function streamEvent(o: Obj): StreamEvent {
  const e = obj(o, 'event', 'event');
  switch (e.kind) {
    case 'text_delta':
      return { kind: 'text_delta', delta: str(e, 'event', 'delta') };
    case 'tool_call':
      return { kind: 'tool_call', tool: str(e, 'event', 'tool'), args: e.args, toolCallId: str(e, 'event', 'toolCallId') };
    case 'tool_result':
      return { kind: 'tool_result', tool: str(e, 'event', 'tool'), toolCallId: str(e, 'event', 'toolCallId'), content: e.content };
    case 'output':
      return { kind: 'output', output: present(e, 'event', 'output') };
    default:
      throw bad('event', 'event.kind', '"text_delta", "tool_call", "tool_result" or "output"', e.kind);
  }
}

const LOG_LEVELS: ReadonlySet<unknown> = new Set(['debug', 'info', 'warning', 'error']);
const ERROR_KINDS: ReadonlySet<unknown> = new Set(PY_ERROR_KINDS);

/**
 * Validates a decoded Python → Node frame and returns it typed. Unknown fields are dropped.
 *
 * @throws SYN_ERR_PROTOCOL naming the frame type and bad field (`details.frameType`, `details.field`).
 */
export function parseInbound(value: unknown): InboundFrame {
  if (!isObj(value)) throw bad('?', 't', 'a JSON object with a "t" field', value);
  const o = value;
  const t = o.t;
  switch (t) {
    case 'pong':
      return { t, seq: nonNegInt(o, t, 'seq'), loopLagMs: nonNegNum(o, t, 'loopLagMs'), rssBytes: nonNegInt(o, t, 'rssBytes'), inFlight: nonNegInt(o, t, 'inFlight') };
    case 'gc': {
      if (o.phase !== 'start' && o.phase !== 'stop') throw bad(t, 'phase', '"start" or "stop"', o.phase);
      return o.pauseMs === undefined ? { t, phase: o.phase } : { t, phase: o.phase, pauseMs: nonNegNum(o, t, 'pauseMs') };
    }
    case 'event':
      return { t, id: str(o, t, 'id'), event: streamEvent(o) };
    case 'result': {
      const u = obj(o, t, 'usage');
      const usage: Usage = {
        requests: nonNegInt(u, t, 'requests', 'usage.'),
        inputTokens: nonNegInt(u, t, 'inputTokens', 'usage.'),
        outputTokens: nonNegInt(u, t, 'outputTokens', 'usage.'),
        totalTokens: nonNegInt(u, t, 'totalTokens', 'usage.'),
        toolCalls: nonNegInt(u, t, 'toolCalls', 'usage.'),
      };
      const outputType = o.outputType === undefined ? {} : { outputType: str(o, t, 'outputType') };
      const deferred = o.deferred === undefined ? {} : { deferred: deferredRequests(obj(o, t, 'deferred')) };
      return { t, id: str(o, t, 'id'), output: present(o, t, 'output'), ...outputType, messages: arr(o, t, 'messages'), usage, ...deferred };
    }
    case 'error': {
      const id = o.id;
      if (id !== null && typeof id !== 'string') throw bad(t, 'id', 'a string or null', id);
      if (!ERROR_KINDS.has(o.kind)) throw bad(t, 'kind', `one of ${PY_ERROR_KINDS.join(', ')}`, o.kind);
      if (o.errors !== undefined && !Array.isArray(o.errors)) throw bad(t, 'errors', 'an array when present', o.errors);
      const option = optStr(o, t, 'option');
      return {
        t,
        id,
        kind: o.kind as PyErrorKind,
        type: str(o, t, 'type'),
        message: str(o, t, 'message'),
        traceback: str(o, t, 'traceback'),
        retryable: bool(o, t, 'retryable'),
        ...(o.errors === undefined ? {} : { errors: o.errors as unknown[] }),
        ...(option === undefined ? {} : { option }),
        ...(o.provider === undefined ? {} : { provider: providerFailure(o, t) }),
      };
    }
    case 'tool_call':
      return { t, id: str(o, t, 'id'), callId: str(o, t, 'callId'), tool: str(o, t, 'tool'), args: o.args };
    case 'model_slot': {
      const frame = { t, id: str(o, t, 'id'), callId: str(o, t, 'callId') };
      return o.estTokens === undefined ? frame : { ...frame, estTokens: nonNegInt(o, t, 'estTokens') };
    }
    case 'model_slot_release': {
      const frame = { t, id: str(o, t, 'id'), callId: str(o, t, 'callId') };
      return o.tokens === undefined ? frame : { ...frame, tokens: nonNegInt(o, t, 'tokens') };
    }
    case 'log': {
      if (!LOG_LEVELS.has(o.level)) throw bad(t, 'level', '"debug", "info", "warning" or "error"', o.level);
      const id = optStr(o, t, 'id');
      const frame = { t, level: o.level as PyLogLevel, logger: str(o, t, 'logger'), msg: str(o, t, 'msg') };
      return id === undefined ? frame : { ...frame, id };
    }
    case 'hello': {
      if (o.v !== PROTOCOL_VERSION) throw bad(t, 'v', VERSION_EXPECTED, o.v);
      const pid = nonNegInt(o, t, 'pid');
      const bridge = optStr(o, t, 'bridge');
      const base = { t, v: PROTOCOL_VERSION, pid, python: str(o, t, 'python'), pydanticAi: str(o, t, 'pydanticAi') };
      const frame = bridge === undefined ? base : { ...base, bridge };
      if (o.features === undefined) return frame;
      const features = arr(o, t, 'features');
      for (let i = 0; i < features.length; i++) if (typeof features[i] !== 'string') throw bad(t, `features[${i}]`, 'a string', features[i]);
      return { ...frame, features: features as string[] };
    }
    case 'ready': {
      const agents = arr(o, t, 'agents');
      for (let i = 0; i < agents.length; i++) if (typeof agents[i] !== 'string') throw bad(t, `agents[${i}]`, 'a string', agents[i]);
      return { t, agents: agents as string[] };
    }
    case 'bye':
      return { t };
    default:
      throw bad(typeof t === 'string' ? t : '?', 't', 'a known Python → Node frame type', t);
  }
}

/** `result.deferred`: both lists, each entry with string `toolCallId` and `tool`. */
function deferredRequests(d: Obj): DeferredRequests {
  const list = (f: 'approvals' | 'calls'): DeferredCall[] =>
    arr(d, 'result', f).map((c, i) => {
      const where = `deferred.${f}[${i}]`;
      if (!isObj(c)) throw bad('result', where, 'an object', c);
      const call = { toolCallId: str(c, 'result', 'toolCallId'), tool: str(c, 'result', 'tool'), args: c.args };
      return c.metadata === undefined ? call : { ...call, metadata: c.metadata };
    });
  return { approvals: list('approvals'), calls: list('calls') };
}

/** `run.toolResults`: optional `approvals` / `calls` objects (the answers are checked by Python when used). */
function toolResultsFrame(o: Obj, t: string): ToolResultsFrame {
  const r = obj(o, t, 'toolResults');
  for (const f of ['approvals', 'calls'] as const) if (r[f] !== undefined && !isObj(r[f])) throw bad(t, `toolResults.${f}`, 'an object when present', r[f]);
  return r as ToolResultsFrame;
}

/** An `init` agent's `retry`: `attempts` an integer >= 1, `minDelayMs` / `maxDelayMs` finite numbers >= 0 when present. */
function retryField(x: unknown, t: string, field: string): NonNullable<AgentSpec['retry']> {
  if (!isObj(x)) throw bad(t, field, 'an object with "attempts" when present', x);
  const attempts = x.attempts;
  if (typeof attempts !== 'number' || !Number.isSafeInteger(attempts) || attempts < 1) throw bad(t, `${field}.attempts`, 'an integer >= 1', attempts);
  const out: { attempts: number; minDelayMs?: number; maxDelayMs?: number } = { attempts };
  for (const f of ['minDelayMs', 'maxDelayMs'] as const) {
    const v = x[f];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(t, `${field}.${f}`, 'a finite number >= 0 when present', v);
    out[f] = v;
  }
  return out;
}

/** The run options of `run.options` (all eight) or of an `init` agent (`model`, `modelSettings`, `usageLimits`). */
function runOptions(o: Obj, t: string, prefix: string, callFields: boolean): RunOptionsFrame {
  const out: Record<string, unknown> = {};
  const check = (f: string, expected: string, ok: (x: unknown) => boolean): void => {
    if (o[f] === undefined) return;
    if (!ok(o[f])) throw bad(t, prefix + f, `${expected} when present`, o[f]);
    out[f] = o[f];
  };
  check('model', 'a string', (x) => typeof x === 'string');
  check('modelSettings', 'an object', isObj);
  check('usageLimits', 'an object', isObj);
  if (callFields) {
    check('instructions', 'a string', (x) => typeof x === 'string');
    check('metadata', 'not null', (x) => x !== null);
    if (Object.hasOwn(o, 'deps')) out.deps = o.deps;
    check('output', 'an object with a "schema" object', (x) => isObj(x) && isObj(x.schema));
    check('trace', 'an object with a string "traceparent" (and a string "tracestate" when present)', (x) => isObj(x) && typeof x.traceparent === 'string' && (x.tracestate === undefined || typeof x.tracestate === 'string'));
  }
  return out as RunOptionsFrame;
}

/**
 * Validates a Node → Python frame (used by tests and the schema vectors; Node builds these
 * frames itself, so the hot path does not call it).
 *
 * @throws SYN_ERR_PROTOCOL naming the frame type and bad field.
 */
export function parseOutbound(value: unknown): OutboundFrame {
  if (!isObj(value)) throw bad('?', 't', 'a JSON object with a "t" field', value);
  const o = value;
  const t = o.t;
  switch (t) {
    case 'init': {
      const agents = arr(o, t, 'agents').map((a, i) => {
        if (!isObj(a)) throw bad(t, `agents[${i}]`, 'an object', a);
        const hooks: { deps?: string; lifespan?: string } = {};
        for (const hook of ['deps', 'lifespan'] as const) {
          const ref = a[hook];
          if (ref === undefined) continue;
          if (typeof ref !== 'string') throw bad(t, `agents[${i}].${hook}`, 'a string when present', ref);
          hooks[hook] = ref;
        }
        if (a.modelSlots !== undefined && typeof a.modelSlots !== 'boolean') throw bad(t, `agents[${i}].modelSlots`, 'a boolean when present', a.modelSlots);
        const slots = a.modelSlots === undefined ? {} : { modelSlots: a.modelSlots };
        const retry = a.retry === undefined ? {} : { retry: retryField(a.retry, t, `agents[${i}].retry`) };
        return { name: str(a, t, 'name'), ref: str(a, t, 'ref'), ...(runOptions(a, t, `agents[${i}].`, false) as Omit<RunOptionsFrame, 'deps'>), ...retry, ...hooks, ...slots };
      });
      const tools = arr(o, t, 'tools').map((x, i) => {
        if (!isObj(x)) throw bad(t, `tools[${i}]`, 'an object', x);
        return { name: str(x, t, 'name'), description: str(x, t, 'description'), parameters: obj(x, t, 'parameters') };
      });
      const concurrency = nonNegInt(o, t, 'concurrency');
      if (concurrency < 1) throw bad(t, 'concurrency', 'an integer >= 1', concurrency);
      const maxFrameBytes = nonNegInt(o, t, 'maxFrameBytes');
      if (maxFrameBytes < 1) throw bad(t, 'maxFrameBytes', 'an integer >= 1', maxFrameBytes);
      const cwd = optStr(o, t, 'cwd');
      const memoryLimitMb = o.memoryLimitMb === undefined ? undefined : nonNegInt(o, t, 'memoryLimitMb');
      const maxHistoryBytes = o.maxHistoryBytes === undefined ? undefined : nonNegInt(o, t, 'maxHistoryBytes');
      if (maxHistoryBytes !== undefined && maxHistoryBytes < 1) throw bad(t, 'maxHistoryBytes', 'an integer >= 1', maxHistoryBytes);
      if (o.gcNotices !== undefined && typeof o.gcNotices !== 'boolean') throw bad(t, 'gcNotices', 'a boolean when present', o.gcNotices);
      const gcT = o.gcThresholds;
      if (gcT !== undefined && !(Array.isArray(gcT) && gcT.length === 3 && gcT.every((x) => Number.isSafeInteger(x) && (x as number) >= 1))) {
        throw bad(t, 'gcThresholds', 'three integers >= 1 when present', gcT);
      }
      if (o.v !== undefined && o.v !== PROTOCOL_VERSION) throw bad(t, 'v', VERSION_EXPECTED, o.v);
      return {
        t,
        ...(o.v === undefined ? {} : { v: PROTOCOL_VERSION }),
        agents,
        tools,
        concurrency,
        maxFrameBytes,
        ...(cwd === undefined ? {} : { cwd }),
        ...(memoryLimitMb === undefined ? {} : { memoryLimitMb }),
        ...(maxHistoryBytes === undefined ? {} : { maxHistoryBytes }),
        ...(o.gcNotices === undefined ? {} : { gcNotices: o.gcNotices }),
        ...(gcT === undefined ? {} : { gcThresholds: gcT as [number, number, number] }),
      };
    }
    case 'run': {
      const timeoutMs = o.timeoutMs;
      if (timeoutMs !== null && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)) {
        throw bad(t, 'timeoutMs', 'a finite number >= 0 or null', timeoutMs);
      }
      const conversationId = optStr(o, t, 'conversationId');
      const turnId = optStr(o, t, 'turnId');
      const history = arr(o, t, 'history');
      const historyChunks = o.historyChunks === undefined ? undefined : nonNegInt(o, t, 'historyChunks');
      if (historyChunks !== undefined && historyChunks < 1) throw bad(t, 'historyChunks', 'an integer >= 1', historyChunks);
      if (historyChunks !== undefined && history.length > 0) throw bad(t, 'history', 'an empty array when historyChunks is present', history);
      const options = o.options === undefined ? undefined : runOptions(obj(o, t, 'options'), t, 'options.', true);
      const toolResults = o.toolResults === undefined ? undefined : toolResultsFrame(o, t);
      return {
        t,
        id: str(o, t, 'id'),
        agent: str(o, t, 'agent'),
        prompt: toolResults !== undefined && o.prompt === null ? null : promptField(o, t),
        history,
        timeoutMs,
        stream: bool(o, t, 'stream'),
        ...(conversationId === undefined ? {} : { conversationId }),
        ...(turnId === undefined ? {} : { turnId }),
        ...(historyChunks === undefined ? {} : { historyChunks }),
        ...(options === undefined ? {} : { options }),
        ...(toolResults === undefined ? {} : { toolResults }),
      };
    }
    case 'history_chunk':
      return { t, id: str(o, t, 'id'), data: str(o, t, 'data') };
    case 'cancel':
      return { t, id: str(o, t, 'id') };
    case 'tool_result': {
      const error = optStr(o, t, 'error');
      const frame = { t, id: str(o, t, 'id'), callId: str(o, t, 'callId'), ok: bool(o, t, 'ok') };
      return { ...frame, ...(Object.hasOwn(o, 'value') ? { value: o.value } : {}), ...(error === undefined ? {} : { error }) };
    }
    case 'model_slot_grant':
      return { t, id: str(o, t, 'id'), callId: str(o, t, 'callId') };
    case 'ping':
      return { t, seq: nonNegInt(o, t, 'seq') };
    case 'shutdown':
      return { t };
    default:
      throw bad(typeof t === 'string' ? t : '?', 't', 'a known Node → Python frame type', t);
  }
}
