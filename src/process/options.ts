/**
 * Options of {@link PythonWorker.start}: the resolver, the frozen defaults, and the
 * interpreter lookup.
 */
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { invalid, resolveOptions, v } from '../options.ts';
import type { Field } from '../options.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/codec.ts';
import { DEFAULT_MAX_HISTORY_BYTES } from '../protocol/history-chunks.ts';
import type { AgentSpec, ToolSpec } from '../protocol/frames.ts';
import { findPython } from './interpreter.ts';
import type { PidFile } from './pidfile.ts';
import type { ZygotePool } from './zygote.ts';

/** Labels attached to a process's logs and errors (which agent and worker it serves). */
export interface ProcessLabel {
  readonly agent?: string | undefined;
  readonly worker?: number | undefined;
}

/** Options of {@link PythonWorker.start}. Defaults in {@link PYTHON_PROCESS_DEFAULTS}. */
export interface PythonProcessOptions {
  /** Interpreter path. Default: the first of env `SYNAPSE_PYTHON`, `$VIRTUAL_ENV`, `./.venv`, the package's `.venv` that exists (`resolvePython`, docs/install.md). Always the real interpreter, not a shim. */
  executable?: string;
  /** Working directory of the process (also sent in `init` so `file.py:attr` refs resolve against it). */
  cwd?: string;
  /** Extra environment variables, added to the allow-listed base. Secrets belong here, never in argv. */
  env?: Record<string, string>;
  /**
   * Names of `env` variables that hold secrets: their values are redacted from logs and errors,
   * whatever their length. Besides these, every variable whose name matches `SECRET_NAME`
   * (`/KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL/i`) is. Other values stay readable (docs/providers.md).
   */
  secrets?: readonly string[];
  /** Agents to load: `{ name, ref }` with `ref` = `pkg.mod:attr` or `path/file.py:attr`. */
  agents?: readonly AgentSpec[];
  /** TypeScript tools offered to the agents (answered by `run`'s `onToolCall`). */
  tools?: readonly ToolSpec[];
  /** Maximum concurrent runs; `run` beyond it rejects with SYN_ERR_OVERLOADED. */
  concurrency?: number;
  /** Maximum frame size in bytes, both directions. */
  maxFrameBytes?: number;
  /**
   * Largest history (JSON bytes) a run may carry: one above `maxFrameBytes` is sent in chunks of at
   * most `maxFrameBytes` each, one above this limit rejects with SYN_ERR_HISTORY_TOO_LARGE. Python
   * enforces it too (on all partial histories together).
   */
  maxHistoryBytes?: number;
  /** Deadline from spawn to `ready`. */
  startTimeoutMs?: number;
  /** Interval between pings once ready. */
  heartbeatIntervalMs?: number;
  /** No pong for this long → SYN_ERR_HEARTBEAT_TIMEOUT and the process is killed. */
  heartbeatTimeoutMs?: number;
  /**
   * Extra silence allowed while the worker is inside a full garbage collection it announced (a `gc`
   * notice on the control channel): such a worker is killed only after `heartbeatTimeoutMs +
   * gcGraceMs` without a pong. `0` turns the notices off (every silence counts as before).
   */
  gcGraceMs?: number;
  /**
   * `gc.set_threshold(t0, t1, t2)` for the worker, applied after its agents load. Default: CPython's
   * own (700, 10, 10). With many runs in flight a larger `t2` makes full collections (a walk over the
   * whole heap holding the GIL) rarer: `[700, 10, 100]` cut them from 44 to 4 per worker and doubled
   * throughput in the I/O-bound bench (docs/benchmarks.md).
   */
  gcThresholds?: readonly [number, number, number];
  /** Default budget of `close()`: each of the shutdown-frame and SIGTERM phases gets half. */
  shutdownTimeoutMs?: number;
  /** How long a cancelled or timed-out run may take to acknowledge before the process is killed. */
  cancelGraceMs?: number;
  /** Resident memory limit; sent to Python and checked on each pong (SYN_ERR_MEMORY_LIMIT). */
  memoryLimitMb?: number;
  /** Time source for every timer. */
  clock?: Clock;
  /** pino logger; a child with the label and pid is derived. Default: silent. */
  log?: Logger;
  /** Labels for logs and errors. */
  label?: ProcessLabel;
  /** Where live pids are recorded for orphan reaping; `null` disables. Default: the process-wide pid file. */
  pidFile?: PidFile | null;
  /**
   * Fork the worker from a zygote of this pool (pre-imported pydantic-ai: a few ms instead of an
   * interpreter start) instead of spawning it; if forking is unavailable it is spawned. Default:
   * spawned. See docs/architecture.md, "Zygote".
   */
  zygotes?: ZygotePool;
}

/** Default option values of {@link PythonWorker.start}. */
export const PYTHON_PROCESS_DEFAULTS = Object.freeze({
  // Sized for remote models (docs/providers.md, "Sizing"): a turn waits on its provider far longer
  // than it spends on CPU, so a worker needs tens of turns in flight to use its core.
  concurrency: 64,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxHistoryBytes: DEFAULT_MAX_HISTORY_BYTES,
  startTimeoutMs: 20_000,
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 5_000,
  /** Full collections of 2.6–4.8 s were measured at 5 000 runs in flight (a ~600 MB heap, 2 busy cores): 10 s leaves 3× that with the 5 s timeout. */
  gcGraceMs: 10_000,
  shutdownTimeoutMs: 5_000,
  cancelGraceMs: 2_000,
});

/** `[t0, t1, t2]`, each an integer in 1..10⁹ (`python.gcThresholds`; 0 would disable collection). */
export const gcThresholdsField: Field<readonly [number, number, number]> = (value, path) => {
  const ok = Array.isArray(value) && value.length === 3 && value.every((x) => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 1e9);
  return ok ? (value as [number, number, number]) : invalid(path, 'three integers in 1..1e9 ([t0, t1, t2] of gc.set_threshold)', value);
};

function arrayOf<T>(item: Field<T>): Field<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) invalid(path, 'an array', value);
    return (value as unknown[]).map((x, i) => item(x, `${path}[${i}]`));
  };
}

const name = v.string({ min: 1, max: 200 });
const positiveInt = (max = Number.MAX_SAFE_INTEGER): Field<number> => v.number({ min: 1, max, integer: true });

const schema = {
  executable: v.optional(v.string({ min: 1 })),
  cwd: v.optional(v.string({ min: 1 })),
  env: v.optional(v.record(v.string())),
  secrets: v.optional(v.array(v.string({ min: 1, max: 200 }), { max: 1000 })),
  agents: v.optional(
    arrayOf(
      v.object({
        name,
        ref: v.string({ min: 3 }),
        model: v.optional(v.string({ min: 1 })),
        modelSettings: v.optional(v.record(v.any())),
        usageLimits: v.optional(v.record(v.any())),
        retry: v.optional(v.record(v.number())),
        modelSlots: v.optional(v.boolean()),
        deps: v.optional(v.string({ min: 3 })),
        lifespan: v.optional(v.string({ min: 3 })),
      }),
    ),
  ),
  tools: v.optional(
    arrayOf(
      v.object({
        name,
        description: v.string(),
        parameters: v.record(v.any()),
      }),
    ),
  ),
  concurrency: v.optional(positiveInt(100_000)),
  maxFrameBytes: v.optional(positiveInt(1024 * 1024 * 1024)),
  maxHistoryBytes: v.optional(positiveInt()),
  startTimeoutMs: v.optional(positiveInt()),
  heartbeatIntervalMs: v.optional(positiveInt()),
  heartbeatTimeoutMs: v.optional(positiveInt()),
  gcGraceMs: v.optional(v.number({ min: 0, integer: true })),
  gcThresholds: v.optional(gcThresholdsField),
  shutdownTimeoutMs: v.optional(v.number({ min: 0, integer: true })),
  cancelGraceMs: v.optional(v.number({ min: 0, integer: true })),
  memoryLimitMb: v.optional(positiveInt()),
  clock: v.optional(
    ((value, path) =>
      typeof value === 'object' && value !== null && typeof (value as Clock).now === 'function' && typeof (value as Clock).setTimeout === 'function'
        ? (value as Clock)
        : invalid(path, 'a Clock', value)) as Field<Clock>,
  ),
  log: v.optional(
    ((value, path) =>
      typeof value === 'object' && value !== null && typeof (value as Logger).child === 'function' ? (value as Logger) : invalid(path, 'a pino Logger', value)) as Field<Logger>,
  ),
  label: v.optional(v.object({ agent: v.optional(v.string()), worker: v.optional(v.number({ min: 0, integer: true })) })),
  pidFile: ((value, path) =>
    value === undefined || value === null || (typeof value === 'object' && typeof (value as PidFile).add === 'function')
      ? (value as PidFile | null | undefined)
      : invalid(path, 'a PidFile or null', value)) as Field<PidFile | null | undefined>,
  zygotes: ((value, path) =>
    value === undefined || (typeof value === 'object' && value !== null && typeof (value as ZygotePool).fork === 'function')
      ? (value as ZygotePool | undefined)
      : invalid(path, 'a ZygotePool', value)) as Field<ZygotePool | undefined>,
};

/** Fully resolved options (defaults applied). */
export interface ResolvedProcessOptions {
  readonly executable: string;
  readonly cwd: string | undefined;
  readonly env: Readonly<Record<string, string>>;
  /** Names of `env` variables whose values are scrubbed whatever their length (`python.secrets`). */
  readonly secrets: readonly string[];
  readonly agents: readonly AgentSpec[];
  readonly tools: readonly ToolSpec[];
  readonly concurrency: number;
  readonly maxFrameBytes: number;
  readonly maxHistoryBytes: number;
  readonly startTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly gcGraceMs: number;
  readonly gcThresholds: readonly [number, number, number] | undefined;
  readonly shutdownTimeoutMs: number;
  readonly cancelGraceMs: number;
  readonly memoryLimitMb: number | undefined;
  readonly clock: Clock | undefined;
  readonly log: Logger | undefined;
  readonly label: ProcessLabel;
  readonly pidFile: PidFile | null | undefined;
  readonly zygotes: ZygotePool | undefined;
}

/**
 * Validates and completes {@link PythonProcessOptions}.
 *
 * @throws SYN_ERR_INVALID_OPTION naming the bad option (including a `cwd` that is not an existing directory).
 * @throws SYN_ERR_PYTHON_NOT_FOUND if no interpreter is found (details list each step tried).
 */
export function resolveProcessOptions(input: unknown): ResolvedProcessOptions {
  const r = resolveOptions('', input, schema);
  const names = new Set<string>();
  for (const [i, agent] of (r.agents ?? []).entries()) {
    if (names.has(agent.name)) invalid(`agents[${i}].name`, 'a unique agent name', agent.name);
    names.add(agent.name);
  }
  if (r.cwd !== undefined && statSync(r.cwd, { throwIfNoEntry: false })?.isDirectory() !== true) invalid('cwd', 'an existing directory', r.cwd);
  return {
    executable: findPython(r.executable),
    cwd: r.cwd,
    env: r.env ?? {},
    secrets: r.secrets ?? [],
    agents: (r.agents ?? []) as AgentSpec[], // resolveOptions omits absent optional fields
    tools: (r.tools ?? []) as ToolSpec[],
    concurrency: r.concurrency ?? PYTHON_PROCESS_DEFAULTS.concurrency,
    maxFrameBytes: r.maxFrameBytes ?? PYTHON_PROCESS_DEFAULTS.maxFrameBytes,
    maxHistoryBytes: r.maxHistoryBytes ?? PYTHON_PROCESS_DEFAULTS.maxHistoryBytes,
    startTimeoutMs: r.startTimeoutMs ?? PYTHON_PROCESS_DEFAULTS.startTimeoutMs,
    heartbeatIntervalMs: r.heartbeatIntervalMs ?? PYTHON_PROCESS_DEFAULTS.heartbeatIntervalMs,
    heartbeatTimeoutMs: r.heartbeatTimeoutMs ?? PYTHON_PROCESS_DEFAULTS.heartbeatTimeoutMs,
    gcGraceMs: r.gcGraceMs ?? PYTHON_PROCESS_DEFAULTS.gcGraceMs,
    gcThresholds: r.gcThresholds,
    shutdownTimeoutMs: r.shutdownTimeoutMs ?? PYTHON_PROCESS_DEFAULTS.shutdownTimeoutMs,
    cancelGraceMs: r.cancelGraceMs ?? PYTHON_PROCESS_DEFAULTS.cancelGraceMs,
    memoryLimitMb: r.memoryLimitMb,
    clock: r.clock,
    log: r.log,
    label: r.label ?? {},
    pidFile: r.pidFile,
    zygotes: r.zygotes,
  };
}

export { defaultPythonPath, findPython } from './interpreter.ts';
