/**
 * The one registry of Synapse error codes. Every error Synapse throws or rejects with is a
 * {@link SynapseError} whose `code` is one of {@link ERROR_CODES}; `docs/errors.md` documents
 * each (a test keeps the two in agreement).
 *
 * Errors fall in four kinds (Effect's Fail / Die / Interrupt, plus misuse):
 * - `misuse`: the caller passed something wrong; nothing was started or lost.
 * - `failure`: the agent ran and raised; returned to the caller, never a restart trigger.
 * - `defect`: a crash or protocol violation; the supervisor restarts the worker.
 * - `interruption`: abort, timeout or shutdown; never a restart trigger by itself.
 */

/** Registry: code → kind and a one-line meaning (the long form lives in docs/errors.md). */
export const ERROR_CODES = Object.freeze({
  SYN_ERR_INVALID_OPTION: { kind: 'misuse', meaning: 'An option key is unknown or its value has the wrong type or range.' },
  SYN_ERR_INVALID_ARGUMENT: { kind: 'misuse', meaning: 'An argument (id, prompt, message) is malformed.' },
  SYN_ERR_NAME_TAKEN: { kind: 'misuse', meaning: 'A registered name or agent id is already in use.' },
  SYN_ERR_NO_PROC: { kind: 'misuse', meaning: 'The target actor is not alive.' },
  SYN_ERR_NO_AGENT: { kind: 'misuse', meaning: 'No agent with that id exists.' },
  SYN_ERR_SYSTEM_STOPPED: { kind: 'interruption', meaning: 'The actor system is stopping or stopped.' },
  SYN_ERR_MAILBOX_FULL: { kind: 'interruption', meaning: "The actor's bounded mailbox is full." },
  SYN_ERR_OVERLOADED: { kind: 'interruption', meaning: "The agent's bounded request queue is full." },
  SYN_ERR_TIMEOUT: { kind: 'interruption', meaning: 'The deadline of a call or request passed.' },
  SYN_ERR_ABORTED: { kind: 'interruption', meaning: "The caller's AbortSignal fired." },
  SYN_ERR_SHUTDOWN: { kind: 'interruption', meaning: 'The actor or agent was stopped while the request was pending.' },
  SYN_ERR_ACTOR_EXITED: { kind: 'defect', meaning: 'The actor exited (crashed or stopped) before replying.' },
  SYN_ERR_START_FAILED: { kind: 'defect', meaning: "An actor's init failed or a child could not be started." },
  SYN_ERR_AGENT_CRASHED: { kind: 'defect', meaning: 'The Python worker process died with the request in flight.' },
  SYN_ERR_AGENT_UNAVAILABLE: { kind: 'interruption', meaning: 'The agent is quarantined or restarting; retry after nextRetryAt.' },
  SYN_ERR_AGENT_FAILED: { kind: 'failure', meaning: 'The Python agent raised an exception while handling the request.' },
  SYN_ERR_PROVIDER: { kind: 'failure', meaning: "The model provider's API failed (rate limit, quota, server error, connection, auth, bad request); details say which and whether retrying can help." },
  SYN_ERR_PROTOCOL: { kind: 'defect', meaning: 'A frame violated the wire protocol (garbage, bad JSON, bad schema).' },
  SYN_ERR_FRAME_TOO_LARGE: { kind: 'defect', meaning: 'A frame exceeded the maximum frame size.' },
  SYN_ERR_HISTORY_TOO_LARGE: { kind: 'misuse', meaning: "A run's conversation history is larger than the agent's maxHistoryBytes." },
  SYN_ERR_STARTUP_TIMEOUT: { kind: 'defect', meaning: 'The Python process did not become ready before startTimeoutMs.' },
  SYN_ERR_STARTUP_FAILED: { kind: 'defect', meaning: 'The Python process failed while starting (import error, exit before ready).' },
  SYN_ERR_HEARTBEAT_TIMEOUT: { kind: 'defect', meaning: 'The Python process stopped answering heartbeats.' },
  SYN_ERR_MEMORY_LIMIT: { kind: 'defect', meaning: 'The Python process exceeded its memory limit and was killed.' },
  SYN_ERR_PYTHON_NOT_FOUND: { kind: 'misuse', meaning: 'The Python interpreter could not be found or executed.' },
  SYN_ERR_BRIDGE_VERSION: { kind: 'misuse', meaning: 'The Python synapse-bridge reports another version than this Node package.' },
  SYN_ERR_HOP_VERSION: { kind: 'misuse', meaning: 'A remote front or host (synapse/nats) speaks another version of the host-hop protocol.' },
  SYN_ERR_TOOL_FAILED: { kind: 'failure', meaning: 'A TypeScript tool handler threw; the model saw the error.' },
  SYN_ERR_CONVERSATION_BUSY: { kind: 'interruption', meaning: 'A turn is already running on this conversation (policy: reject).' },
  SYN_ERR_DEFERRED_PENDING: { kind: 'misuse', meaning: 'The conversation waits for answers to its pending deferred tool calls (approvals / external results); this turn does not answer them all.' },
  SYN_ERR_STORE_CORRUPT: { kind: 'defect', meaning: 'A history store file is corrupt beyond torn-tail recovery.' },
  SYN_ERR_STORE_IO: { kind: 'defect', meaning: 'The history store could not read or write its files.' },
  SYN_ERR_STORE_SCHEMA: { kind: 'misuse', meaning: 'The history database has no Synapse schema yet (open with migrate: true) or one of another version.' },
  SYN_ERR_LEASE_LOST: { kind: 'interruption', meaning: 'This front lost the conversation lease (expired or taken over) before committing; nothing was committed: retry with the same turn id.' },
  SYN_ERR_STORE_LOCKED: { kind: 'misuse', meaning: 'Another live process (or store) holds the history store directory lock, or it was written on another host (see the foreignLock option).' },
  SYN_ERR_NO_CHILD: { kind: 'misuse', meaning: 'The supervisor has no child with that id.' },
  SYN_ERR_CHILD_RUNNING: { kind: 'misuse', meaning: 'The supervisor child is running or restarting; terminate it first.' },
} as const satisfies Record<string, { kind: ErrorKind; meaning: string }>);

/** The class of an error code: `misuse` (the caller's bug), `failure` (the agent or its work failed), `defect` (the worker misbehaved and is replaced), `interruption` (timeout, abort, shutdown). */
export type ErrorKind = 'misuse' | 'failure' | 'defect' | 'interruption';
/** A stable `SYN_ERR_*` code: the keys of {@link ERROR_CODES}, documented in docs/errors.md. */
export type ErrorCode = keyof typeof ERROR_CODES;

const BRAND = Symbol.for('synapse.error');

/** Extra, code-specific fields carried by an error (e.g. `exitCode`, `signal`, `nextRetryAt`). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** What went wrong at the model provider: `details.category` of `SYN_ERR_PROVIDER` (docs/errors.md). */
export type ProviderErrorCategory = 'rate_limit' | 'quota' | 'server' | 'connection' | 'timeout' | 'auth' | 'not_found' | 'bad_request' | 'unknown';

/**
 * The details of a `SYN_ERR_PROVIDER` (besides `agent`, `runId`, `type`, `traceback`…).
 *
 * @example
 * ```ts
 * catch (err) {
 *   if (isSynapseError(err, 'SYN_ERR_PROVIDER')) {
 *     const d = err.details; // narrowed: ProviderErrorDetails & …
 *     if (d.retryable) setTimeout(retry, d.retryAfterMs ?? 1_000);
 *   }
 * }
 * ```
 */
export interface ProviderErrorDetails {
  readonly category: ProviderErrorCategory;
  /** The HTTP status of the provider's response, when there was one. */
  readonly status?: number;
  /** How long the provider asked to wait before retrying (`retry-after-ms` / `Retry-After`), in ms. */
  readonly retryAfterMs?: number;
  /** The provider's machine-readable code, e.g. `rate_limit_exceeded`, `insufficient_quota`, `invalid_api_key`. */
  readonly providerCode?: string;
  /** True only when retrying can help: false for `quota`, `auth`, `bad_request` and `not_found`. */
  readonly retryable: boolean;
}

/**
 * The documented `details` of the codes that carry code-specific fields (docs/errors.md says the
 * same, and a test checks every field listed in {@link DOCUMENTED_DETAILS} against its row).
 * Every error may carry more (`agent`, `pid`, `runId`…): {@link DetailsOf} keeps the index signature.
 */
export interface ErrorDetailsByCode {
  readonly SYN_ERR_INVALID_OPTION: { readonly option?: string };
  readonly SYN_ERR_INVALID_ARGUMENT: { readonly argument?: string; readonly reason?: string; readonly errors?: readonly unknown[] };
  readonly SYN_ERR_AGENT_CRASHED: {
    readonly exitCode?: number | null;
    readonly signal?: string | null;
    readonly stderrTail?: string;
    readonly pid?: number;
    /** A remote agent (synapse/nats): `'host_lost'` (keepalive silence) or `'events_lost'` (a gap in its streamed events). */
    readonly reason?: 'host_lost' | 'events_lost';
    /** A remote agent: the host that had accepted the run. */
    readonly host?: string;
  };
  readonly SYN_ERR_AGENT_UNAVAILABLE: {
    readonly agent: string;
    readonly state: string;
    readonly nextRetryAt?: number;
    /** A remote agent (synapse/nats): `'no_host'`, `'accept_timeout'`, `'nats_connect'` or `'nats'`; `refused: true` when a host refused the run before accepting it. */
    readonly reason?: 'no_host' | 'accept_timeout' | 'nats_connect' | 'nats';
    readonly refused?: boolean;
    readonly startupFailure?: { readonly code: string; readonly message: string; readonly exitCode: number | null; readonly signal: string | null; readonly traceback?: string; readonly type?: string; readonly stderrTail: string; readonly at: number };
  };
  readonly SYN_ERR_AGENT_FAILED: { readonly kind?: string; readonly type?: string; readonly traceback?: string; readonly retryable?: boolean };
  readonly SYN_ERR_PROVIDER: ProviderErrorDetails & { readonly type?: string; readonly traceback?: string };
  readonly SYN_ERR_HISTORY_TOO_LARGE: { readonly runId?: string; readonly historyBytes: number; readonly maxHistoryBytes: number; readonly conversationId?: string };
  readonly SYN_ERR_STARTUP_FAILED: { readonly traceback?: string; readonly stderrTail?: string };
  readonly SYN_ERR_PYTHON_NOT_FOUND: { readonly tried?: readonly unknown[]; readonly executable?: string };
  readonly SYN_ERR_BRIDGE_VERSION: { readonly expected: string; readonly actual: string | null; readonly executable: string };
  readonly SYN_ERR_DEFERRED_PENDING: { readonly conversationId: string; readonly pending: readonly string[]; readonly missing?: readonly string[]; readonly unknown?: readonly string[]; readonly misplaced?: readonly string[] };
  readonly SYN_ERR_STORE_CORRUPT: { readonly file?: string };
  readonly SYN_ERR_STORE_IO: { readonly op?: string; readonly sqlState?: string; readonly errno?: string | number };
  readonly SYN_ERR_STORE_SCHEMA: { readonly found?: number | null; readonly expected?: number; readonly option?: string };
  readonly SYN_ERR_LEASE_LOST: { readonly conversationId: string; readonly turnId: string; readonly token?: number | string };
  readonly SYN_ERR_STORE_LOCKED: { readonly dir?: string; readonly pid?: number; readonly lockFile?: string; readonly host?: string; readonly option?: string };
  readonly SYN_ERR_HOP_VERSION: { readonly expected: number | string; readonly actual: number | string | null };
  /** `gc: true`: the worker went silent inside a full garbage collection it announced (docs/protocol.md, "GC notices"). */
  readonly SYN_ERR_HEARTBEAT_TIMEOUT: { readonly silentForMs?: number; readonly gc?: true };
}

/**
 * The `details` type of an error with code `C`: its documented fields ({@link ErrorDetailsByCode})
 * plus any other field; for a union of codes (or a code without documented fields), plain {@link ErrorDetails}.
 */
export type DetailsOf<C extends ErrorCode> = [C] extends [keyof ErrorDetailsByCode] ? ErrorDetails & ErrorDetailsByCode[C] : ErrorDetails;

/** The documented detail fields of each code, at run time (for the docs test and tooling). */
export const DOCUMENTED_DETAILS = Object.freeze({
  SYN_ERR_INVALID_OPTION: ['option'],
  SYN_ERR_INVALID_ARGUMENT: ['argument', 'errors'],
  SYN_ERR_AGENT_CRASHED: ['exitCode', 'signal', 'stderrTail', 'pid', 'reason', 'host'],
  SYN_ERR_AGENT_UNAVAILABLE: ['agent', 'state', 'nextRetryAt', 'startupFailure', 'reason', 'refused'],
  SYN_ERR_AGENT_FAILED: ['kind', 'type', 'traceback', 'retryable'],
  SYN_ERR_PROVIDER: ['category', 'status', 'retryAfterMs', 'providerCode', 'retryable', 'type', 'traceback'],
  SYN_ERR_HISTORY_TOO_LARGE: ['runId', 'historyBytes', 'maxHistoryBytes', 'conversationId'],
  SYN_ERR_STARTUP_FAILED: ['traceback', 'stderrTail'],
  SYN_ERR_PYTHON_NOT_FOUND: ['tried', 'executable'],
  SYN_ERR_BRIDGE_VERSION: ['expected', 'actual', 'executable'],
  SYN_ERR_DEFERRED_PENDING: ['conversationId', 'pending', 'missing', 'unknown', 'misplaced'],
  SYN_ERR_STORE_CORRUPT: ['file'],
  SYN_ERR_STORE_IO: ['op', 'sqlState', 'errno'],
  SYN_ERR_STORE_SCHEMA: ['found', 'expected', 'option'],
  SYN_ERR_LEASE_LOST: ['conversationId', 'turnId', 'token'],
  SYN_ERR_STORE_LOCKED: ['dir', 'pid', 'lockFile', 'host', 'option'],
  SYN_ERR_HOP_VERSION: ['expected', 'actual'],
  SYN_ERR_HEARTBEAT_TIMEOUT: ['silentForMs', 'gc'],
} as const satisfies { readonly [C in keyof ErrorDetailsByCode]: readonly (keyof ErrorDetailsByCode[C] & string)[] });

/**
 * The error type of every Synapse API.
 *
 * @example
 * ```ts
 * try { await system.sendMessage('bot', { prompt: 'hi' }) }
 * catch (err) { if (isSynapseError(err, 'SYN_ERR_OVERLOADED')) retryLater() }
 * ```
 */
export class SynapseError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly kind: ErrorKind;
  /** Code-specific fields; narrowed to the code's documented ones by `isSynapseError(e, code)` ({@link DetailsOf}). */
  readonly details: DetailsOf<C>;

  constructor(code: C, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SynapseError';
    this.code = code;
    this.kind = ERROR_CODES[code].kind;
    this.details = Object.freeze({ ...(options.details ?? {}) }) as DetailsOf<C>;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` that survives duplicate installs of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  toJSON(): Record<string, unknown> {
    // Details first, so a detail field (e.g. the Python error's wire `kind`) never shadows our own fields.
    return { ...this.details, name: this.name, code: this.code, kind: this.kind, message: this.message };
  }
}

/**
 * True when `value` is a SynapseError (optionally with the given code); with a code, `value.details`
 * is narrowed to that code's documented fields ({@link DetailsOf}).
 *
 * @example
 * ```ts
 * if (isSynapseError(err, 'SYN_ERR_AGENT_CRASHED')) console.log(err.details.exitCode, err.details.stderrTail);
 * ```
 */
export function isSynapseError<C extends ErrorCode>(value: unknown, code: C): value is SynapseError<C>;
export function isSynapseError(value: unknown): value is SynapseError;
export function isSynapseError(value: unknown, code?: ErrorCode): value is SynapseError {
  return value instanceof SynapseError && (code === undefined || value.code === code);
}

/** The code an outcome reports in events and metrics: a SynapseError's (or any error's string `code`), else `'UNKNOWN'`. */
export function errorCodeOf(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

/** Shorthand used across the code base. */
export function synErr(code: ErrorCode, message: string, details?: ErrorDetails, cause?: unknown): SynapseError {
  const options: { cause?: unknown; details?: ErrorDetails } = {};
  if (details !== undefined) options.details = details;
  if (cause !== undefined) options.cause = cause;
  return new SynapseError(code, message, options);
}
