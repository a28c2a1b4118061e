/**
 * Run dispatch of one worker: admission of a new run (checks → encoded `run` line) and the
 * routing of each valid inbound frame to the run table or the worker's own handlers.
 * Pure bookkeeping, no I/O: the owner ({@link PythonProcess}) writes the lines.
 */
import type { Logger } from 'pino';
import { isSynapseError, synErr } from '../errors.ts';
import type { ErrorDetails, SynapseError } from '../errors.ts';
import { encodeFrame } from '../protocol/codec.ts';
import { encodeRunChunked } from '../protocol/history-chunks.ts';
import type { ErrorFrame, HelloFrame, InboundFrame, LogFrame, PongFrame, ReadyFrame } from '../protocol/frames.ts';
import type { RunRequest, RunHandlers, RunTable } from './runs.ts';
import { validateRunRequest } from './validate.ts';

/** What {@link admitRun} needs to know about the worker. */
export interface Admission {
  readonly agents: readonly string[];
  readonly runs: RunTable;
  readonly concurrency: number;
  readonly maxFrameBytes: number;
  /** Python announced `history_chunks`: a history too large for the run frame goes ahead in chunks. */
  readonly historyChunks: boolean;
  /** Python announced `run_options`: a run may carry `options` (else they would be ignored silently). Absent: false. */
  readonly runOptions?: boolean;
  /** Python announced `deferred_tools`: a run may carry `toolResults`. Absent: false. */
  readonly deferredTools?: boolean;
  /** Python announced `structured_output`: a run may carry `options.output`. Absent: false. */
  readonly structuredOutput?: boolean;
  /** Python announced `multimodal_prompt`: a run's `prompt` may be an array of content parts. Absent: false. */
  readonly multimodalPrompt?: boolean;
  /** Cap on a chunked history's bytes (SYN_ERR_HISTORY_TOO_LARGE above it). */
  readonly maxHistoryBytes: number;
  readonly pid: number;
  /** Why the worker cannot take a run now (draining, stopped, crashed), or undefined. */
  readonly unavailable: SynapseError | undefined;
  readonly context: ErrorDetails;
}

/**
 * Checks a new run against the worker and returns its encoded `run` line (validated once,
 * encoded once; the line is written as is). A run too large for one frame because of its
 * history becomes `history_chunk` lines plus the `run` line, in one string (when the worker
 * supports it; see `protocol/history-chunks.ts`): the common, small run pays nothing for it.
 *
 * @throws SYN_ERR_INVALID_ARGUMENT (malformed request or duplicate id), SYN_ERR_INVALID_OPTION (run
 *   options for a bridge that does not announce `run_options`, `options.output` for one without
 *   `structured_output`), SYN_ERR_INVALID_ARGUMENT (an array prompt for one without `multimodal_prompt`), SYN_ERR_NO_AGENT, the
 *   worker's unavailability error, SYN_ERR_ABORTED (signal already aborted), SYN_ERR_OVERLOADED
 *   (`concurrency` runs in flight), SYN_ERR_FRAME_TOO_LARGE (request above `maxFrameBytes` not
 *   because of its history, or a worker without `history_chunks`), SYN_ERR_HISTORY_TOO_LARGE
 *   (history above `maxHistoryBytes`).
 */
export function admitRun(request: RunRequest, handlers: RunHandlers, w: Admission): string {
  const frame = validateRunRequest(request, w.agents);
  if (w.unavailable !== undefined) throw w.unavailable;
  if (frame.options !== undefined && !w.runOptions) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Python worker ${w.pid} does not support run options (its bridge does not announce "run_options"): reinstall the bundled bridge`, { ...w.context, option: 'options' });
  }
  if (frame.options?.output !== undefined && !w.structuredOutput) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Python worker ${w.pid} does not support a structured output option (its bridge does not announce "structured_output"): reinstall the bundled bridge`, { ...w.context, option: 'options.output' });
  }
  if (Array.isArray(frame.prompt) && !w.multimodalPrompt) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `Python worker ${w.pid} does not support multimodal prompts (its bridge does not announce "multimodal_prompt"): send a string prompt or reinstall the bundled bridge`, { ...w.context, argument: 'message.prompt', reason: 'unsupported' });
  }
  if (frame.toolResults !== undefined && !w.deferredTools) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Python worker ${w.pid} does not support deferred tool results (its bridge does not announce "deferred_tools"): reinstall the bundled bridge`, { ...w.context, option: 'toolResults' });
  }
  if (w.runs.has(request.id)) throw synErr('SYN_ERR_INVALID_ARGUMENT', `A run with id "${request.id}" is already in flight`, { runId: request.id });
  if (handlers.signal?.aborted) throw synErr('SYN_ERR_ABORTED', `Run ${request.id} was aborted`, { runId: request.id }, handlers.signal.reason);
  if (w.runs.size >= w.concurrency) {
    throw synErr('SYN_ERR_OVERLOADED', `Python worker ${w.pid} already runs ${w.concurrency} requests`, { ...w.context, concurrency: w.concurrency });
  }
  try {
    return encodeFrame(frame, w.maxFrameBytes);
  } catch (error) {
    if (!w.historyChunks || frame.history.length === 0 || !isSynapseError(error, 'SYN_ERR_FRAME_TOO_LARGE')) throw error;
    return encodeRunChunked(frame, w.maxFrameBytes, w.maxHistoryBytes);
  }
}

/** The worker-level handlers {@link routeFrame} calls (run frames go to the run table). */
export interface FrameTarget {
  readonly runs: RunTable;
  onPong(frame: PongFrame): void;
  onLog(frame: LogFrame): void;
  onHello(frame: HelloFrame): void;
  onReady(frame: ReadyFrame): void;
  /** An `error` frame with `id: null`: the process failed as a whole and exits by itself. */
  onFatal(frame: ErrorFrame): void;
  /** A frame that is valid on its own but wrong here (e.g. a result for an unknown run). */
  violation(what: string): void;
}

/** Routes one valid inbound frame of a live (not stopping, not condemned) worker. */
export function routeFrame(frame: InboundFrame, to: FrameTarget): void {
  switch (frame.t) {
    case 'pong':
      to.onPong(frame);
      return;
    case 'event':
      if (!to.runs.event(frame)) to.violation(`"event" for unknown run "${frame.id}"`);
      return;
    case 'result':
      if (!to.runs.result(frame)) to.violation(`"result" for unknown run "${frame.id}"`);
      return;
    case 'tool_call':
      if (!to.runs.toolCall(frame)) to.violation(`"tool_call" for unknown run "${frame.id}"`);
      return;
    case 'error':
      if (frame.id === null) to.onFatal(frame);
      else if (!to.runs.error({ ...frame, id: frame.id })) to.violation(`"error" for unknown run "${frame.id}"`);
      return;
    case 'log':
      to.onLog(frame);
      return;
    case 'hello':
      to.onHello(frame);
      return;
    case 'ready':
      to.onReady(frame);
      return;
    case 'bye':
      return; // only meaningful while stopping
  }
}

const LOG_LEVEL = { debug: 'debug', info: 'info', warning: 'warn', error: 'error' } as const;

/** Forwards a Python `log` frame to pino at the matching level (skipped when that level is off). */
export function forwardLog(log: Logger, frame: LogFrame): void {
  const level = LOG_LEVEL[frame.level];
  if (!log.isLevelEnabled(level)) return;
  log[level]({ pyLogger: frame.logger, ...(frame.id === undefined ? {} : { runId: frame.id }) }, frame.msg);
}
