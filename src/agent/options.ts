/**
 * `system.spawnAgent(options)` — the resolver and defaults (one place, frozen, documented).
 */
import { synErr } from '../errors.ts';
import { resolveOptions, stripUndefined, v, type Field } from '../options.ts';
import { AGENT_RUN_OPTION_FIELDS, type UsageLimitsOption } from './run-options.ts';
import { gcThresholdsField, PYTHON_PROCESS_DEFAULTS } from '../process/options.ts';
import type { RateLimitOption } from './rate-limit.ts';

/** A TypeScript tool the Python agent can call (offered to the model next to its Python tools). */
export interface AgentTool {
  description: string;
  /** JSON schema of the arguments object. */
  parameters: Record<string, unknown>;
  /** Runs in Node. A throw becomes a retry prompt the model sees (SYN_ERR_TOOL_FAILED is logged). */
  handler: (args: unknown, context: ToolContext) => unknown;
}

/** What a TypeScript tool's handler gets besides its arguments: the call it serves. */
export interface ToolContext {
  /** The agent id whose model called the tool. */
  agent: string;
  /** The run (request) id the tool call belongs to. */
  requestId: string;
  /** The conversation of the turn, when the call is part of one. */
  conversationId?: string | undefined;
  turnId?: string | undefined;
  /** Aborted when the run is cancelled or times out: stop work and return or throw. */
  signal: AbortSignal;
}

/** `spawnAgent({ retry })`: see {@link SpawnAgentOptions.retry}. */
export interface RetryOption {
  /** The most attempts at one model request, the first included (1–100; 1: no retry). */
  attempts: number;
  /** Base of the exponential backoff ceiling (default 500 ms). */
  minDelayMs?: number;
  /** Longest wait between attempts, Retry-After included (default 30 000 ms). */
  maxDelayMs?: number;
}

/** Defaults for `spawnAgent`; each documented on {@link SpawnAgentOptions}. */
export const AGENT_DEFAULTS = Object.freeze({
  workers: 1,
  spares: 0,
  concurrency: PYTHON_PROCESS_DEFAULTS.concurrency,
  queue: 1000,
  timeoutMs: 60_000,
  cancelGraceMs: 2_000,
  whenUnavailable: 'queue' as 'queue' | 'reject',
  restart: Object.freeze({
    intensity: 5,
    periodMs: 10_000,
    backoff: Object.freeze({ minMs: 100, maxMs: 5_000, resetAfterMs: 30_000 }),
    quarantine: Object.freeze({ minMs: 5_000, maxMs: 60_000, resetAfterMs: 60_000 }),
  }),
  // One table for the Python knobs: the process layer's (an agent's workers use the same defaults).
  python: Object.freeze({
    startTimeoutMs: PYTHON_PROCESS_DEFAULTS.startTimeoutMs,
    heartbeatIntervalMs: PYTHON_PROCESS_DEFAULTS.heartbeatIntervalMs,
    heartbeatTimeoutMs: PYTHON_PROCESS_DEFAULTS.heartbeatTimeoutMs,
    gcGraceMs: PYTHON_PROCESS_DEFAULTS.gcGraceMs,
    shutdownTimeoutMs: PYTHON_PROCESS_DEFAULTS.shutdownTimeoutMs,
    maxFrameBytes: PYTHON_PROCESS_DEFAULTS.maxFrameBytes,
    maxHistoryBytes: PYTHON_PROCESS_DEFAULTS.maxHistoryBytes,
    /** Fork workers from a zygote: on where forking works (Linux), off elsewhere; see `SpawnAgentOptions.python.zygote`. */
    zygote: process.platform === 'linux',
  }),
});

/** Options of `system.spawnAgent`. */
export interface SpawnAgentOptions {
  /** Agent id: 1–100 chars of `[A-Za-z0-9._:-]`, starting with a letter or digit. */
  id: string;
  /** The pydantic-ai Agent to run: `package.module:attr` or `path/to/file.py:attr` (relative to `python.cwd`). */
  agent: string;
  /** Python worker processes (default 1). Requests go to the least-loaded ready worker. */
  workers?: number;
  /**
   * Warm spare processes kept per agent, 0–8 (default 0). A spare has imported pydantic-ai but
   * no user code; a restarted worker takes one (`init` → `ready`) instead of starting an
   * interpreter, so kill → ready drops from about a second to tens of ms (docs/benchmarks.md).
   * Each costs one idle interpreter (~50–70 MB RSS) with this agent's env. See docs/decisions.md.
   */
  spares?: number;
  /**
   * Concurrent runs per worker (default 64); more wait in the agent's queue. Sized for remote
   * models: a worker's CPU is busy at about provider latency ÷ CPU per turn (~10 ms) turns in
   * flight — 40 at 400 ms, 200 at 2 s. See docs/providers.md, "Sizing for remote models".
   */
  concurrency?: number;
  /** Bounded queue of waiting requests (default 1000); full → SYN_ERR_OVERLOADED. */
  queue?: number;
  /** Default per-request deadline (default 60 000 ms). */
  timeoutMs?: number;
  /** After a cancel (timeout/abort), how long Python may take to let go before the worker is killed (default 2000 ms). */
  cancelGraceMs?: number;
  /** While no worker is up (restart backoff): 'queue' requests (default) or 'reject' them fast. */
  whenUnavailable?: 'queue' | 'reject';
  restart?: {
    /** More than `intensity` worker restarts within `periodMs` → the agent is quarantined (default 5 / 10 s). */
    intensity?: number;
    periodMs?: number;
    /** Worker restart backoff (default 100 ms → 5 s, full jitter, reset after 30 s up). */
    backoff?: { minMs?: number; maxMs?: number; resetAfterMs?: number };
    /** Quarantine backoff before the agent tries again by itself (default 5 s → 60 s). */
    quarantine?: { minMs?: number; maxMs?: number; resetAfterMs?: number };
  };
  python?: {
    /** Interpreter path (default: env SYNAPSE_PYTHON, else the project venv). */
    executable?: string;
    /** Working directory; `file.py` agent refs resolve against it (default `process.cwd()`). */
    cwd?: string;
    /** Extra environment for the Python process (secrets go here, never in argv; never logged). */
    env?: Record<string, string>;
    /**
     * Names of `env` variables that are secrets (e.g. `['DATABASE_URL']`): their values are
     * redacted from every log line, error and stderr tail. Variables whose name matches
     * `/KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL/i` (`OPENAI_API_KEY`…) are secrets without
     * being listed; every other value (a base URL, a model name) stays readable. See docs/providers.md.
     */
    secrets?: string[];
    startTimeoutMs?: number;
    heartbeatIntervalMs?: number;
    heartbeatTimeoutMs?: number;
    /**
     * Extra silence allowed while a worker is inside a full garbage collection it announced (default
     * 10 000 ms): it is killed only after `heartbeatTimeoutMs + gcGraceMs` without a pong; `0`: no
     * allowance. See docs/operations.md.
     */
    gcGraceMs?: number;
    /** `gc.set_threshold` for each worker (default: CPython's 700, 10, 10); see `PythonProcessOptions.gcThresholds` and docs/operations.md. */
    gcThresholds?: readonly [number, number, number];
    shutdownTimeoutMs?: number;
    /** Largest frame in bytes, both directions (default 8 MiB); also bounds one turn's reply (its new messages). */
    maxFrameBytes?: number;
    /**
     * Largest conversation history (JSON bytes) a turn may send to Python (default 256 MiB). A history
     * above `maxFrameBytes` travels in chunks; above this limit the turn fails with SYN_ERR_HISTORY_TOO_LARGE.
     */
    maxHistoryBytes?: number;
    /** Address-space cap per Python process (RLIMIT_AS); exceeding it kills the worker (SYN_ERR_MEMORY_LIMIT). */
    memoryLimitMb?: number;
    /**
     * Fork workers (and spares) from a zygote that already imported pydantic-ai instead of
     * starting an interpreter each (default `true` on Linux, `false` elsewhere; set `false` to
     * opt out). A (re)start then costs a fork plus the import of your agent module (tens of ms
     * instead of ~1 s) and an idle worker shares most of its memory with the zygote. One zygote
     * per interpreter and `PYTHON*`/`SYNAPSE_PRELOAD` env (and the four settings `openai` reads at
     * import, e.g. `OPENAI_API_VERSION`), shared by agents, alive until `system.stop()`; it holds no
     * user code and never sees the rest of `env` (API keys included), which the worker gets in
     * `os.environ` after the fork — so it is not in the worker's `/proc/<pid>/environ`, and a
     * `SYNAPSE_PRELOAD` module reading it at import sees it unset (read it when called, or opt out).
     * Workers are the zygote's children, not Node's. Set `true` off Linux, or if the zygote cannot
     * start, workers are spawned (one warning logged). See docs/architecture.md, "Zygote".
     *
     * @example
     * ```ts
     * await system.spawnAgent({ id: 'legacy', agent: 'agent.py:agent', python: { zygote: false } }); // spawned by Node
     * ```
     */
    zygote?: boolean;
  };
  /** TypeScript tools offered to the agent. */
  tools?: Record<string, AgentTool>;
  /**
   * The model of every run (pydantic-ai `agent.iter(model=…)`): a pydantic-ai model name (`'test'`,
   * `'openai:gpt-4o-mini'`) or a `'module:attr'` / `'file.py:attr'` reference to a `Model` or a
   * zero-arg factory (e.g. a `FunctionModel` for tests). A call's `model` overrides it. Checked when
   * the worker starts: unknown → spawnAgent rejects with SYN_ERR_INVALID_OPTION. See docs/agents.md.
   */
  model?: string;
  /** pydantic-ai `ModelSettings` for every run (a call's `modelSettings` are merged over them). */
  modelSettings?: Record<string, unknown>;
  /** pydantic-ai `UsageLimits` for every run (snake_case or camelCase field names); a call's replace them. */
  usageLimits?: UsageLimitsOption;
  /**
   * Retry a model request that failed with a retryable provider failure (SYN_ERR_PROVIDER with
   * `retryable: true`: rate limit, server error, connection, timeout), inside Python: the model
   * request is retried, not the turn, so a tool that already ran never runs again; a streamed
   * request only while it opens (no delta delivered yet). `attempts` is the most attempts at one
   * request, the first included (1: no retry). The wait is full jitter over
   * `minDelayMs × 2ⁿ⁻¹` (default 500 ms), at least the provider's Retry-After, at most `maxDelayMs`
   * (default 30 000 ms); a wait that would pass the call's deadline is not slept: the call fails at
   * once with SYN_ERR_PROVIDER carrying `retryAfterMs`. The openai SDK's own retries are turned off
   * (`max_retries: 0`) unless `modelSettings.max_retries` is set. See docs/providers.md.
   *
   * @example
   * ```ts
   * await system.spawnAgent({ id: 'bot', agent: 'bot.py:agent', model: 'openai:gpt-4o-mini', retry: { attempts: 4, maxDelayMs: 10_000 } });
   * ```
   */
  retry?: RetryOption;
  /**
   * Limits on the agent's model requests, coordinated in Node across all its workers: before each
   * model request (each retry attempt included) Python asks Node for a slot and gives it back when
   * the request ends, with the tokens it used. `maxConcurrentModelRequests` caps requests in flight;
   * `requestsPerMinute` and `tokensPerMinute` are token buckets refilled continuously (burst: one
   * second's budget), so requests are spread instead of fired at once. Waiting counts against the
   * run's deadline: a wait the rpm/tpm budget says would pass it fails at once with
   * SYN_ERR_PROVIDER (`category: 'rate_limit'`, `retryAfterMs`); a run still waiting for a
   * concurrency slot at its deadline fails with SYN_ERR_TIMEOUT. Absent: no limit. Throttling is
   * visible in `synapse_model_slot_wait_seconds` and `synapse_model_slots_waiting`. On a plain
   * handler (no model requests) spawnAgent rejects with SYN_ERR_INVALID_OPTION. See docs/providers.md "Rate limits".
   * @example
   * ```ts
   * await system.spawnAgent({ id: 'bot', agent: 'bot.py:agent', workers: 2, rateLimit: { maxConcurrentModelRequests: 8, requestsPerMinute: 500 } });
   * ```
   */
  rateLimit?: RateLimitOption;
  /**
   * A deps factory, `'module:attr'` / `'file.py:attr'`: `factory(call_deps_json, ctx) -> deps`, sync or
   * async, called for every run; it may return an async context manager (entered for the run, exited
   * after it). `ctx` has `resources` (what `lifespan` yielded), `agent_name`, `conversation_id`,
   * `metadata`. With a factory the call's `deps` JSON is passed to it raw. A factory that raises fails
   * that call with SYN_ERR_AGENT_FAILED (`details.kind: 'deps'`), no restart. A ref that does not
   * resolve → spawnAgent rejects with SYN_ERR_INVALID_OPTION (`details.option: 'deps'`). See docs/agents.md.
   *
   * @example
   * ```ts
   * await system.spawnAgent({ id: 'bank', agent: 'app/bank.py:agent', deps: 'app/bank.py:deps', lifespan: 'app/bank.py:lifespan' });
   * await system.sendMessage('bank', { prompt: 'balance?' }, { deps: { customer_id: 123 } });
   * ```
   */
  deps?: string;
  /**
   * An async context manager, `'module:attr'` / `'file.py:attr'` (or a callable returning one, taking
   * no argument or the agent), entered once per worker process after the agent loads and before it is
   * ready, exited when the worker stops gracefully (a crashed worker's replacement enters it afresh).
   * What it yields is the deps factory's `ctx.resources` (DB pools, HTTP clients). Raising on enter →
   * spawnAgent rejects with SYN_ERR_STARTUP_FAILED; an exit error is logged by Python, not fatal.
   */
  lifespan?: string;
}

const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;
const AGENT_REF = /^(?:[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*|[^\0:]+\.py):[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*$/;

const int = (min: number, max: number) => v.number({ min, max, integer: true });
const ms = v.number({ min: 0, max: 2 ** 31 - 1 });
const backoff = v.optional(v.object({ minMs: v.optional(ms), maxMs: v.optional(ms), resetAfterMs: v.optional(ms) }));
const tool: Field<AgentTool> = v.object({
  description: v.string({ max: 10_000 }),
  parameters: (value, path) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : v.any()(invalidObj(path, value), path)),
  handler: v.func<(args: unknown, context: ToolContext) => unknown>(),
}) as Field<AgentTool>;

function invalidObj(path: string, value: unknown): never {
  throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${path}": expected a JSON schema object, got ${typeof value}`, { option: path });
}

const schema = {
  id: v.string({ min: 1, max: 100, pattern: AGENT_ID }),
  agent: v.string({ min: 3, max: 1000, pattern: AGENT_REF }),
  workers: v.optional(int(1, 64)),
  spares: v.optional(int(0, 8)),
  concurrency: v.optional(int(1, 100_000)),
  queue: v.optional(int(0, 10_000_000)),
  timeoutMs: v.optional(v.number({ min: 1 })),
  cancelGraceMs: v.optional(ms),
  whenUnavailable: v.optional(v.oneOf(['queue', 'reject'] as const)),
  restart: v.optional(
    v.object({
      intensity: v.optional(int(0, 1_000_000)),
      periodMs: v.optional(v.number({ min: 1 })),
      backoff,
      quarantine: backoff,
    }),
  ),
  python: v.optional(
    v.object({
      executable: v.optional(v.string({ min: 1 })),
      cwd: v.optional(v.string({ min: 1 })),
      env: v.optional(v.record(v.string({ max: 1_000_000 }))),
      secrets: v.optional(v.array(v.string({ min: 1, max: 200 }), { max: 1000 })),
      startTimeoutMs: v.optional(v.number({ min: 1 })),
      heartbeatIntervalMs: v.optional(v.number({ min: 1 })),
      heartbeatTimeoutMs: v.optional(v.number({ min: 1 })),
      gcGraceMs: v.optional(int(0, 2 ** 31 - 1)),
      gcThresholds: v.optional(gcThresholdsField),
      shutdownTimeoutMs: v.optional(ms),
      maxFrameBytes: v.optional(int(1024, 1024 ** 3)),
      maxHistoryBytes: v.optional(int(1024, Number.MAX_SAFE_INTEGER)),
      memoryLimitMb: v.optional(int(64, 1024 * 1024)),
      zygote: v.optional(v.boolean()),
    }),
  ),
  tools: v.optional(v.record(tool)),
  retry: v.optional(
    v.object({
      attempts: v.number({ min: 1, max: 100, integer: true }),
      minDelayMs: v.optional(v.number({ min: 0, max: 3_600_000 })),
      maxDelayMs: v.optional(v.number({ min: 0, max: 3_600_000 })),
    }),
  ),
  rateLimit: v.optional(
    v.object({
      requestsPerMinute: v.optional(v.number({ min: 1, max: 1e9 })),
      tokensPerMinute: v.optional(v.number({ min: 1, max: 1e12 })),
      maxConcurrentModelRequests: v.optional(v.number({ min: 1, max: 100_000, integer: true })),
    }),
  ),
  ...AGENT_RUN_OPTION_FIELDS,
  deps: v.optional(v.string({ min: 3, max: 1000, pattern: AGENT_REF })),
  lifespan: v.optional(v.string({ min: 3, max: 1000, pattern: AGENT_REF })),
};

export type ResolvedAgentOptions = ReturnType<typeof resolveAgentOptions>;

function retryOption(retry: { attempts: number; minDelayMs?: number | undefined; maxDelayMs?: number | undefined } | undefined): RetryOption | undefined {
  if (retry === undefined) return undefined;
  if (retry.minDelayMs !== undefined && retry.maxDelayMs !== undefined && retry.minDelayMs > retry.maxDelayMs) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "retry.minDelayMs": ${retry.minDelayMs} exceeds retry.maxDelayMs (${retry.maxDelayMs})`, { option: 'retry.minDelayMs' });
  }
  return stripUndefined({ attempts: retry.attempts, minDelayMs: retry.minDelayMs, maxDelayMs: retry.maxDelayMs }) as RetryOption;
}

function rateLimitOption(r: { [K in keyof RateLimitOption]?: number | undefined } | undefined): RateLimitOption | undefined {
  if (r === undefined) return undefined;
  const out = stripUndefined({ requestsPerMinute: r.requestsPerMinute, tokensPerMinute: r.tokensPerMinute, maxConcurrentModelRequests: r.maxConcurrentModelRequests }) as RateLimitOption;
  if (Object.keys(out).length === 0) {
    throw synErr('SYN_ERR_INVALID_OPTION', 'Invalid option "rateLimit": set at least one of requestsPerMinute, tokensPerMinute, maxConcurrentModelRequests', { option: 'rateLimit' });
  }
  return Object.freeze(out);
}

/**
 * Validates `spawnAgent` options and applies defaults.
 * @throws SYN_ERR_INVALID_OPTION naming the bad option.
 */
export function resolveAgentOptions(input: unknown) {
  if (typeof input !== 'object' || input === null) {
    throw synErr('SYN_ERR_INVALID_OPTION', 'spawnAgent expects an options object with at least { id, agent }', { option: 'options' });
  }
  const o = resolveOptions('', input, schema);
  const d = AGENT_DEFAULTS;
  const r: Partial<NonNullable<typeof o.restart>> = o.restart ?? {};
  const py: Partial<NonNullable<typeof o.python>> = o.python ?? {};
  for (const name of Object.keys(o.tools ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(name)) {
      throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "tools.${name}": tool names are 1–64 chars of [A-Za-z0-9_-]`, { option: `tools.${name}` });
    }
  }
  return {
    id: o.id,
    agent: o.agent,
    workers: o.workers ?? d.workers,
    spares: o.spares ?? d.spares,
    concurrency: o.concurrency ?? d.concurrency,
    queue: o.queue ?? d.queue,
    timeoutMs: o.timeoutMs ?? d.timeoutMs,
    cancelGraceMs: o.cancelGraceMs ?? d.cancelGraceMs,
    whenUnavailable: o.whenUnavailable ?? d.whenUnavailable,
    restart: {
      intensity: r.intensity ?? d.restart.intensity,
      periodMs: r.periodMs ?? d.restart.periodMs,
      backoff: { ...d.restart.backoff, ...stripUndefined(r.backoff ?? {}) },
      quarantine: { ...d.restart.quarantine, ...stripUndefined(r.quarantine ?? {}) },
    },
    python: {
      ...d.python,
      ...stripUndefined({
        startTimeoutMs: py.startTimeoutMs,
        heartbeatIntervalMs: py.heartbeatIntervalMs,
        heartbeatTimeoutMs: py.heartbeatTimeoutMs,
        gcGraceMs: py.gcGraceMs,
        shutdownTimeoutMs: py.shutdownTimeoutMs,
        maxFrameBytes: py.maxFrameBytes,
        maxHistoryBytes: py.maxHistoryBytes,
      }),
      executable: py.executable,
      cwd: py.cwd ?? process.cwd(),
      env: py.env ?? {},
      secrets: py.secrets ?? [],
      memoryLimitMb: py.memoryLimitMb,
      gcThresholds: py.gcThresholds,
      zygote: py.zygote ?? d.python.zygote,
    },
    tools: o.tools ?? {},
    /** Model request limits (absent: none); Python asks for slots when set (`init` agent `modelSlots`). */
    rateLimit: rateLimitOption(o.rateLimit),
    /** Spawn-level run options, sent with the agent in `init` (absent ones omitted). */
    run: stripUndefined({ model: o.model, modelSettings: o.modelSettings, usageLimits: o.usageLimits, retry: retryOption(o.retry) }),
    /** The deps factory and lifespan refs, sent with the agent in `init` (absent ones omitted; feature `deps_factory`). */
    hooks: stripUndefined({ deps: o.deps, lifespan: o.lifespan }),
  };
}
