/**
 * The in-flight runs of one worker: admission (the one place that says whether a run may start:
 * agent loaded, id unique, a free slot, the bridge's features, the frame's size), settling each
 * caller exactly once, the Node-side deadline, and a cancelled run's slot kept until Python
 * acknowledges it (or the worker is killed through `onUnresponsive` when it does not within the
 * grace period). The table is the only counter of the worker's slots.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { isSynapseError, synErr } from '../errors.ts';
import type { ErrorCode, ErrorDetails, SynapseError } from '../errors.ts';
import { encodeFrame } from '../protocol/codec.ts';
import { encodeRunChunked } from '../protocol/history-chunks.ts';
import { FEATURE_DEFERRED_TOOLS, FEATURE_HISTORY_CHUNKS, FEATURE_MULTIMODAL_PROMPT, FEATURE_RUN_OPTIONS, FEATURE_STRUCTURED_OUTPUT } from '../protocol/frames.ts';
import type { DeferredRequests, ErrorFrame, EventFrame, ModelSlotFrame, ModelSlotReleaseFrame, OutboundFrame, ResultFrame, RunFrame, RunOptionsFrame, StreamEvent, ToolCallFrame, ToolResultsFrame, Usage } from '../protocol/frames.ts';
import type { Prompt } from '../prompt.ts';
import { errorFromFrame } from './wire-errors.ts';
import { rethrowLater } from '../rethrow.ts';

/**
 * What a run may carry only when the worker's bridge announced a feature in `hello` (an older
 * bridge would ignore or misread it): one row per feature, checked by {@link RunTable.admit}.
 */
export const RUN_GATES: readonly {
  readonly feature: string;
  readonly uses: (frame: RunFrame) => boolean;
  readonly code: ErrorCode;
  readonly what: string;
  readonly details: ErrorDetails;
}[] = [
  { feature: FEATURE_RUN_OPTIONS, uses: (f) => f.options !== undefined, code: 'SYN_ERR_INVALID_OPTION', what: 'run options', details: { option: 'options' } },
  { feature: FEATURE_STRUCTURED_OUTPUT, uses: (f) => f.options?.output !== undefined, code: 'SYN_ERR_INVALID_OPTION', what: 'a structured output option', details: { option: 'options.output' } },
  { feature: FEATURE_MULTIMODAL_PROMPT, uses: (f) => Array.isArray(f.prompt), code: 'SYN_ERR_INVALID_ARGUMENT', what: 'multimodal prompts (send a string prompt)', details: { argument: 'message.prompt', reason: 'unsupported' } },
  { feature: FEATURE_DEFERRED_TOOLS, uses: (f) => f.toolResults !== undefined, code: 'SYN_ERR_INVALID_OPTION', what: 'deferred tool results', details: { option: 'toolResults' } },
];

/** One request to a worker. */
export interface RunRequest {
  /** Unique among the worker's in-flight runs. */
  readonly id: string;
  /** Name of an agent loaded by this worker. */
  readonly agent: string;
  /**
   * A string or an array of content parts (already checked by `checkPrompt`; needs the worker's
   * `multimodal_prompt`); `null` only with `toolResults` (a resume of a deferred turn without a new user prompt).
   */
  readonly prompt: Prompt | null;
  /** pydantic-ai `ModelMessagesTypeAdapter` JSON. Default `[]`. */
  readonly history?: readonly unknown[];
  /** Deadline enforced on both sides (SYN_ERR_TIMEOUT). `null`/absent: none. */
  readonly timeoutMs?: number | null;
  /** Send `text_delta` events. Default false (tool events are always sent). */
  readonly stream?: boolean;
  readonly conversationId?: string;
  readonly turnId?: string;
  /** Per-call run options (model, deps…), already checked by the agent layer; absent: none. */
  readonly options?: RunOptionsFrame;
  /** Answers to the history's pending deferred tool calls (already checked by the conversation layer); absent: none. */
  readonly toolResults?: ToolResultsFrame;
}

/** What a finished run returns. */
export interface RunResult {
  /** The agent's output: a string, or the JSON of a structured output. */
  readonly output: unknown;
  /** The output's type name (see `ResultFrame.outputType`). */
  readonly outputType?: string;
  /** The run's new messages (`ModelMessagesTypeAdapter` JSON). */
  readonly messages: readonly unknown[];
  readonly usage: Usage;
  /** The run ended in deferred tool requests (see `ResultFrame.deferred`). */
  readonly deferred?: DeferredRequests;
}

/** A TypeScript tool invocation requested by Python. */
export interface ToolCallRequest {
  readonly runId: string;
  readonly callId: string;
  readonly tool: string;
  readonly args: unknown;
  /** Aborted when the run is cancelled, times out, or the worker dies. */
  readonly signal: AbortSignal;
}

/** A model request of a run asking for a slot (`model_slot` frame; `spawnAgent({ rateLimit })`). */
export interface ModelSlotCall {
  readonly runId: string;
  readonly callId: string;
  readonly estTokens?: number | undefined;
  /** The run's deadline on the worker's clock (`now() + timeoutMs` at admission); absent: none. */
  readonly deadlineAt?: number | undefined;
  /** Aborted when the run is cancelled, times out, finishes, or the worker dies: stop waiting. */
  readonly signal: AbortSignal;
}

/** Per-run callbacks. */
export interface RunHandlers {
  /** Streamed events. A throw is re-thrown on a fresh macrotask (it never breaks the worker). */
  readonly onEvent?: (event: StreamEvent) => void;
  /** Runs a TS tool; its value is sent back (`ok: true`), a throw as `ok: false` with the message. */
  readonly onToolCall?: (call: ToolCallRequest) => unknown;
  /** Aborting cancels the run (rejects with SYN_ERR_ABORTED). */
  readonly signal?: AbortSignal;
  /**
   * Waits for a model request slot (`model_slot`); resolving sends `model_slot_grant`, and the
   * returned `release` is called on `model_slot_release` (with its `tokens`) or when the run ends.
   * A rejection ends the run with that error (cancel sent). Absent: granted at once.
   */
  readonly onModelSlot?: (call: ModelSlotCall) => Promise<{ release(tokensUsed?: number): void }>;
}

interface PendingRun {
  readonly id: string;
  readonly handlers: RunHandlers;
  readonly resolve: (result: RunResult) => void;
  readonly reject: (error: SynapseError) => void;
  settled: boolean;
  deadline: TimerHandle | undefined;
  grace: TimerHandle | undefined;
  tools: AbortController | undefined;
  unlisten: (() => void) | undefined;
  /** `now() + timeoutMs` at admission, for model slot waits. */
  deadlineAt: number | undefined;
  /** Granted model slots not yet released, by callId. */
  slots: Map<string, { release(tokensUsed?: number): void }> | undefined;
}

/** What a {@link RunTable} needs from its worker. */
export interface RunTableOptions {
  readonly clock: Clock;
  readonly cancelGraceMs: number;
  /** Most runs occupying a slot at once (SYN_ERR_OVERLOADED above). */
  readonly concurrency: number;
  readonly maxFrameBytes: number;
  /** Cap on a chunked history's bytes (SYN_ERR_HISTORY_TOO_LARGE above it). */
  readonly maxHistoryBytes: number;
  readonly send: (frame: OutboundFrame) => void;
  /** Writes an already encoded `run` line (and its history chunks). */
  readonly sendLine: (line: string) => void;
  readonly onUnresponsive: (runId: string, graceMs: number) => void;
  /** A slot was freed (a run finished, or Python acknowledged a cancelled one). */
  readonly onFreed?: () => void;
  readonly context: () => ErrorDetails;
}

/**
 * The bookkeeping of a worker's in-flight runs (owned by {@link PythonWorker}). Every timer
 * goes through the injected clock; `failAll` clears them all.
 */
export class RunTable {
  readonly #runs = new Map<string, PendingRun>();
  readonly #o: RunTableOptions;
  /** The features the worker's bridge announced in `hello` (set by the worker). */
  features: ReadonlySet<string> = new Set();

  constructor(options: RunTableOptions) {
    this.#o = options;
  }

  /** Runs occupying a slot (including cancelled runs Python has not acknowledged yet). */
  get size(): number {
    return this.#runs.size;
  }

  has(id: string): boolean {
    return this.#runs.has(id);
  }

  /**
   * Admits a run (already validated at the public edge) and writes its `run` line: encoded once,
   * written as is. A run too large for one frame because of its history becomes `history_chunk`
   * lines plus the `run` line (when the bridge supports it; see `protocol/history-chunks.ts`).
   * Returns the caller's promise.
   *
   * @throws `unavailable` (the worker is not ready), SYN_ERR_NO_AGENT, a {@link RUN_GATES} error,
   *   SYN_ERR_INVALID_ARGUMENT (duplicate in-flight id), SYN_ERR_ABORTED (signal already aborted),
   *   SYN_ERR_OVERLOADED (`concurrency` runs in flight), SYN_ERR_FRAME_TOO_LARGE (above
   *   `maxFrameBytes` not because of its history, or a bridge without `history_chunks`),
   *   SYN_ERR_HISTORY_TOO_LARGE (history above `maxHistoryBytes`).
   */
  admit(request: RunRequest, handlers: RunHandlers, agents: readonly string[], unavailable: SynapseError | undefined): Promise<RunResult> {
    if (unavailable !== undefined) throw unavailable;
    const frame = runFrame(request);
    if (!agents.includes(frame.agent)) throw synErr('SYN_ERR_NO_AGENT', `Agent "${frame.agent}" is not loaded in this worker (loaded: ${agents.join(', ') || 'none'})`, { agent: frame.agent });
    // The common run (no options, string prompt) passes every gate on its first test; the error
    // context is built only on the refusal paths (admission is on the per-run path).
    for (const gate of RUN_GATES) {
      if (gate.uses(frame) && !this.features.has(gate.feature)) {
        const pid = this.#o.context().pid;
        throw synErr(gate.code, `Python worker ${pid} does not support ${gate.what}: its bridge does not announce "${gate.feature}" (reinstall the bundled bridge)`, { ...this.#o.context(), ...gate.details });
      }
    }
    if (this.#runs.has(frame.id)) throw synErr('SYN_ERR_INVALID_ARGUMENT', `A run with id "${frame.id}" is already in flight`, { runId: frame.id });
    if (handlers.signal?.aborted) throw synErr('SYN_ERR_ABORTED', `Run ${frame.id} was aborted`, { runId: frame.id }, handlers.signal.reason);
    if (this.#runs.size >= this.#o.concurrency) {
      throw synErr('SYN_ERR_OVERLOADED', `Python worker ${this.#o.context().pid} already runs ${this.#o.concurrency} requests`, { ...this.#o.context(), concurrency: this.#o.concurrency });
    }
    let line: string;
    try {
      line = encodeFrame(frame, this.#o.maxFrameBytes);
    } catch (error) {
      if (!this.features.has(FEATURE_HISTORY_CHUNKS) || frame.history.length === 0 || !isSynapseError(error, 'SYN_ERR_FRAME_TOO_LARGE')) throw error;
      line = encodeRunChunked(frame, this.#o.maxFrameBytes, this.#o.maxHistoryBytes);
    }
    const result = this.#add(request, handlers);
    this.#o.sendLine(line);
    return result;
  }

  /** Registers a run whose `run` frame is about to be written; returns the caller's promise. */
  #add(request: RunRequest, handlers: RunHandlers): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      const run: PendingRun = { id: request.id, handlers, resolve, reject, settled: false, deadline: undefined, grace: undefined, tools: undefined, unlisten: undefined, deadlineAt: undefined, slots: undefined };
      this.#runs.set(run.id, run);
      const timeoutMs = request.timeoutMs;
      if (typeof timeoutMs === 'number') {
        run.deadlineAt = this.#o.clock.now() + timeoutMs;
        run.deadline = this.#o.clock.setTimeout(() => {
          run.deadline = undefined;
          this.#interrupt(run, synErr('SYN_ERR_TIMEOUT', `Run ${run.id} timed out after ${timeoutMs} ms`, { ...this.#o.context(), runId: run.id, timeoutMs }));
        }, timeoutMs);
      }
      const signal = handlers.signal;
      if (signal !== undefined) {
        const onAbort = (): void => this.#interrupt(run, this.#abortError(run.id, signal));
        signal.addEventListener('abort', onAbort, { once: true });
        run.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  /** The error a run rejects with when its signal aborted. */
  #abortError(runId: string, signal: AbortSignal): SynapseError {
    return synErr('SYN_ERR_ABORTED', `Run ${runId} was aborted`, { ...this.#o.context(), runId }, signal.reason);
  }

  /** Dispatches an `event` frame. Returns false for an unknown run id (a protocol violation). */
  event(frame: EventFrame): boolean {
    const run = this.#runs.get(frame.id);
    if (run === undefined) return false;
    if (run.settled || run.handlers.onEvent === undefined) return true;
    try {
      run.handlers.onEvent(frame.event);
    } catch (error) {
      rethrowLater(error);
    }
    return true;
  }

  /** Dispatches a `result` frame. Returns false for an unknown run id. */
  result(frame: ResultFrame): boolean {
    const run = this.#finish(frame.id);
    if (run === undefined) return false;
    if (!run.settled) {
      run.settled = true;
      run.resolve({
        output: frame.output,
        ...(frame.outputType === undefined ? {} : { outputType: frame.outputType }),
        messages: frame.messages,
        usage: frame.usage,
        ...(frame.deferred === undefined ? {} : { deferred: frame.deferred }),
      });
    }
    this.#o.onFreed?.();
    return true;
  }

  /** Dispatches an `error` frame with a run id. Returns false for an unknown run id. */
  error(frame: ErrorFrame & { id: string }): boolean {
    const run = this.#finish(frame.id);
    if (run === undefined) return false;
    if (!run.settled) {
      run.settled = true;
      run.reject(errorFromFrame(frame, this.#o.context()));
    }
    this.#o.onFreed?.();
    return true;
  }

  /** Runs a TS tool for a `tool_call` frame and answers it. Returns false for an unknown run id. */
  toolCall(frame: ToolCallFrame): boolean {
    const run = this.#runs.get(frame.id);
    if (run === undefined) return false;
    const reply = (ok: boolean, valueOrError: unknown): void => {
      if (this.#runs.get(frame.id) !== run) return; // the run finished or the worker died meanwhile
      if (ok) this.#o.send({ t: 'tool_result', id: frame.id, callId: frame.callId, ok: true, value: valueOrError });
      else this.#o.send({ t: 'tool_result', id: frame.id, callId: frame.callId, ok: false, error: String(valueOrError) });
    };
    const handler = run.handlers.onToolCall;
    if (run.settled) {
      reply(false, 'The run was cancelled');
      return true;
    }
    if (handler === undefined) {
      reply(false, `No handler for tool "${frame.tool}"`);
      return true;
    }
    run.tools ??= new AbortController();
    const request: ToolCallRequest = { runId: frame.id, callId: frame.callId, tool: frame.tool, args: frame.args, signal: run.tools.signal };
    new Promise<unknown>((resolve) => resolve(handler(request))).then(
      (value) => {
        try {
          reply(true, value === undefined ? null : value);
        } catch (error) {
          // Not serialisable or too large for a frame: the model sees the error instead.
          reply(false, (error as Error).message);
        }
      },
      (error: unknown) => reply(false, error instanceof Error ? error.message : String(error)),
    );
    return true;
  }

  /**
   * Asks the run's `onModelSlot` for a slot for a `model_slot` frame and answers `model_slot_grant`
   * once granted; a refusal interrupts the run with its error. Returns false for an unknown run id.
   */
  modelSlot(frame: ModelSlotFrame): boolean {
    const run = this.#runs.get(frame.id);
    if (run === undefined) return false;
    if (run.settled) return true; // cancelled: Python is letting go, no grant
    const grant = (slot: { release(tokensUsed?: number): void } | undefined): void => {
      if (this.#runs.get(frame.id) !== run || run.settled) {
        slot?.release();
        return;
      }
      if (slot !== undefined) (run.slots ??= new Map()).set(frame.callId, slot);
      this.#o.send({ t: 'model_slot_grant', id: frame.id, callId: frame.callId });
    };
    const handler = run.handlers.onModelSlot;
    if (handler === undefined) {
      grant(undefined);
      return true;
    }
    run.tools ??= new AbortController();
    const call: ModelSlotCall = { runId: frame.id, callId: frame.callId, estTokens: frame.estTokens, deadlineAt: run.deadlineAt, signal: run.tools.signal };
    new Promise<{ release(tokensUsed?: number): void }>((resolve) => resolve(handler(call))).then(grant, (error: unknown) => {
      const coded = isSynapseError(error) ? error : synErr('SYN_ERR_AGENT_FAILED', `Model slot for run ${run.id} failed: ${String(error)}`, { runId: run.id }, error);
      this.#interrupt(run, coded);
    });
    return true;
  }

  /** Releases a granted slot on `model_slot_release` (an unknown callId is ignored). Returns false for an unknown run id. */
  modelSlotRelease(frame: ModelSlotReleaseFrame): boolean {
    const run = this.#runs.get(frame.id);
    if (run === undefined) return false;
    const slot = run.slots?.get(frame.callId);
    if (slot !== undefined) {
      run.slots!.delete(frame.callId);
      slot.release(frame.tokens);
    }
    return true;
  }

  /** Rejects every unsettled run with `error` and forgets all runs (the worker is gone). */
  failAll(error: SynapseError): void {
    const runs = [...this.#runs.values()];
    this.#runs.clear();
    for (const run of runs) {
      this.#cleanup(run);
      if (!run.settled) {
        run.settled = true;
        run.reject(error);
      }
    }
  }

  #interrupt(run: PendingRun, error: SynapseError): void {
    if (run.settled || this.#runs.get(run.id) !== run) return;
    run.settled = true;
    run.tools?.abort(error);
    run.reject(error);
    if (run.deadline !== undefined) this.#o.clock.clearTimeout(run.deadline);
    run.deadline = undefined;
    run.unlisten?.();
    this.#o.send({ t: 'cancel', id: run.id });
    run.grace = this.#o.clock.setTimeout(() => {
      run.grace = undefined;
      if (this.#runs.get(run.id) === run) this.#o.onUnresponsive(run.id, this.#o.cancelGraceMs);
    }, this.#o.cancelGraceMs);
  }

  #finish(id: string): PendingRun | undefined {
    const run = this.#runs.get(id);
    if (run === undefined) return undefined;
    this.#runs.delete(id);
    this.#cleanup(run);
    return run;
  }

  #cleanup(run: PendingRun): void {
    if (run.deadline !== undefined) this.#o.clock.clearTimeout(run.deadline);
    if (run.grace !== undefined) this.#o.clock.clearTimeout(run.grace);
    run.deadline = undefined;
    run.grace = undefined;
    run.unlisten?.();
    run.unlisten = undefined;
    if (run.tools !== undefined && !run.tools.signal.aborted) run.tools.abort();
    if (run.slots !== undefined) {
      const slots = [...run.slots.values()];
      run.slots = undefined;
      for (const slot of slots) slot.release();
    }
  }
}

/** The `run` frame of a request (fields as given: the public edge validated them). */
function runFrame(request: RunRequest): RunFrame {
  const { id, agent, prompt, history = [], timeoutMs = null, stream = false, conversationId, turnId, options, toolResults } = request;
  return {
    t: 'run',
    id,
    agent,
    prompt,
    history,
    timeoutMs,
    stream,
    ...(conversationId === undefined ? {} : { conversationId }),
    ...(turnId === undefined ? {} : { turnId }),
    ...(options === undefined ? {} : { options }),
    ...(toolResults === undefined ? {} : { toolResults }),
  };
}
