/**
 * How a worker's end is reported: the one coded error (if any) that its runs, its start-up
 * promise and its `exited` promise carry, built from what was known when the OS process ended.
 */
import { synErr } from '../errors.ts';
import type { ErrorCode, ErrorDetails, SynapseError } from '../errors.ts';
import { PYTHON_SETUP_COMMAND } from './interpreter.ts';
import { withDetails } from './wire-errors.ts';

/**
 * Codes that already say why start-up failed; any other pre-ready error is wrapped in SYN_ERR_STARTUP_FAILED.
 * SYN_ERR_INVALID_OPTION: a spawn option Python rejected at `init` (an unknown `model`), reported as the caller's mistake.
 */
const STARTUP_CODES: ReadonlySet<ErrorCode> = new Set(['SYN_ERR_STARTUP_TIMEOUT', 'SYN_ERR_STARTUP_FAILED', 'SYN_ERR_ABORTED', 'SYN_ERR_PYTHON_NOT_FOUND', 'SYN_ERR_BRIDGE_VERSION', 'SYN_ERR_INVALID_OPTION']);

/** Python's complaint when the interpreter found has no synapse-bridge (`python -m synapse_bridge`). */
const NO_BRIDGE = /No module named '?synapse_bridge'?/;
const NO_BRIDGE_HINT = `: this interpreter has no synapse-bridge installed (run \`${PYTHON_SETUP_COMMAND}\`, or point SYNAPSE_PYTHON at a venv that has it; \`npx synapse doctor\` shows which interpreter is used)`;

/**
 * Exit code of a worker that hit `MemoryError` under `memoryLimitMb` and recycled itself
 * (python-bridge `EXIT_MEMORY`): reported as SYN_ERR_MEMORY_LIMIT, and restarted like a crash.
 */
export const EXIT_MEMORY = 5;

/** What is known when the process is gone. */
export interface ExitFacts {
  readonly pid: number;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderrTail: string;
  /** The defect already detected (protocol violation, heartbeat, fatal error frame…), if any. */
  readonly failure: SynapseError | undefined;
  /** True when the stop was requested (`close`/`kill`): the exit is then not an error. */
  readonly requested: boolean;
  readonly wasReady: boolean;
  readonly inFlight: number;
  readonly context: ErrorDetails;
  /** True when the worker ran under `memoryLimitMb` (RLIMIT_AS): see {@link diedOfMemory}. */
  readonly memoryCapped?: boolean;
}

/** What CPython (or the C library under it) prints when an allocation fails past recovery. */
const OUT_OF_MEMORY = /\bMemoryError|Cannot allocate memory|out of memory/i;

/**
 * A worker under `memoryLimitMb` that died of its cap: it exited {@link EXIT_MEMORY} (it recycled
 * itself), or, when the allocation failure struck where Python could not recover (a fatal error
 * abort, a crash while normalising the exception), it died by any other code or signal with an
 * out-of-memory complaint as the last stderr it wrote.
 */
function diedOfMemory(facts: ExitFacts): boolean {
  if (facts.signal === null && facts.exitCode === EXIT_MEMORY) return true;
  return facts.memoryCapped === true && OUT_OF_MEMORY.test(facts.stderrTail);
}

/**
 * The error describing a worker's end, or undefined for a requested stop. A detected defect
 * keeps its code and gains `exitCode`, `signal`, `stderrTail`; an unexplained death is
 * SYN_ERR_AGENT_CRASHED after ready (SYN_ERR_MEMORY_LIMIT if it died of its memory cap, see {@link diedOfMemory}),
 * SYN_ERR_STARTUP_FAILED before (anything else before
 * ready is wrapped in SYN_ERR_STARTUP_FAILED, with the original as `cause`).
 */
export function exitError(facts: ExitFacts): SynapseError | undefined {
  const { pid, exitCode, signal, stderrTail, failure, wasReady } = facts;
  const exit: ErrorDetails = { exitCode, signal, stderrTail };
  let error: SynapseError | undefined;
  if (failure !== undefined) error = withDetails(failure, exit);
  else if (!facts.requested) {
    const how = signal === null ? `with code ${String(exitCode)}` : `by ${signal}`;
    error = wasReady && diedOfMemory(facts)
      ? synErr('SYN_ERR_MEMORY_LIMIT', `Python worker ${pid} hit its memory limit (an allocation failed under memoryLimitMb) and ${exitCode === EXIT_MEMORY ? 'exited to be replaced' : `died ${how}`}`, { ...facts.context, ...exit, inFlight: facts.inFlight })
      : wasReady
      ? synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${pid} died ${how}`, { ...facts.context, ...exit, inFlight: facts.inFlight })
      : synErr('SYN_ERR_STARTUP_FAILED', `Python worker ${pid} exited ${how} before ready${NO_BRIDGE.test(stderrTail) ? NO_BRIDGE_HINT : ''}`, { ...facts.context, ...exit });
  }
  if (error !== undefined && !wasReady && !STARTUP_CODES.has(error.code)) {
    error = synErr('SYN_ERR_STARTUP_FAILED', `Python worker failed during start-up: ${error.message}`, { ...error.details, causeCode: error.code }, error);
  }
  return error;
}
