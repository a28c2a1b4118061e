/**
 * The in-flight runs of one worker: settles each caller exactly once, enforces the Node-side
 * deadline, and keeps a cancelled run's slot until Python acknowledges it (or kills the worker
 * through `onUnresponsive` when it does not within the grace period).
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { ErrorDetails, SynapseError } from '../errors.ts';
import type { DeferredRequests, ErrorFrame, EventFrame, OutboundFrame, ResultFrame, RunOptionsFrame, StreamEvent, ToolCallFrame, ToolResultsFrame, Usage } from '../protocol/frames.ts';
import type { Prompt } from '../prompt.ts';
import { errorFromFrame } from './wire-errors.ts';
import { rethrowLater } from '../rethrow.ts';

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

/** Per-run callbacks. */
export interface RunHandlers {
  /** Streamed events. A throw is re-thrown on a fresh macrotask (it never breaks the worker). */
  readonly onEvent?: (event: StreamEvent) => void;
  /** Runs a TS tool; its value is sent back (`ok: true`), a throw as `ok: false` with the message. */
  readonly onToolCall?: (call: ToolCallRequest) => unknown;
  /** Aborting cancels the run (rejects with SYN_ERR_ABORTED). */
  readonly signal?: AbortSignal;
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
}

/** Re-throws a user callback's error outside our call stack (xstate's reportUnhandledError). */
function reportUnhandled(error: unknown): void {
  rethrowLater(error);
}

/**
 * The bookkeeping of a worker's in-flight runs (owned by {@link PythonProcess}). Every timer
 * goes through the injected clock; `failAll` clears them all.
 */
export class RunTable {
  readonly #runs = new Map<string, PendingRun>();
  readonly #clock: Clock;
  readonly #cancelGraceMs: number;
  readonly #send: (frame: OutboundFrame) => void;
  readonly #onUnresponsive: (runId: string, graceMs: number) => void;
  readonly #context: () => ErrorDetails;
  readonly #onCancelAcknowledged: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(options: {
    clock: Clock;
    cancelGraceMs: number;
    send: (frame: OutboundFrame) => void;
    onUnresponsive: (runId: string, graceMs: number) => void;
    context: () => ErrorDetails;
    /** Python answered a run that was already settled (cancelled, timed out): its slot is free again. */
    onCancelAcknowledged?: () => void;
  }) {
    this.#onCancelAcknowledged = options.onCancelAcknowledged;
    this.#clock = options.clock;
    this.#cancelGraceMs = options.cancelGraceMs;
    this.#send = options.send;
    this.#onUnresponsive = options.onUnresponsive;
    this.#context = options.context;
  }

  /** Runs occupying a slot (including cancelled runs Python has not acknowledged yet). */
  get size(): number {
    return this.#runs.size;
  }

  has(id: string): boolean {
    return this.#runs.has(id);
  }

  /** Registers a run whose `run` frame is about to be written; returns the caller's promise. */
  add(request: RunRequest, handlers: RunHandlers): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      const run: PendingRun = { id: request.id, handlers, resolve, reject, settled: false, deadline: undefined, grace: undefined, tools: undefined, unlisten: undefined };
      this.#runs.set(run.id, run);
      const timeoutMs = request.timeoutMs;
      if (typeof timeoutMs === 'number') {
        run.deadline = this.#clock.setTimeout(() => {
          run.deadline = undefined;
          this.#interrupt(run, synErr('SYN_ERR_TIMEOUT', `Run ${run.id} timed out after ${timeoutMs} ms`, { ...this.#context(), runId: run.id, timeoutMs }));
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
    return synErr('SYN_ERR_ABORTED', `Run ${runId} was aborted`, { ...this.#context(), runId }, signal.reason);
  }

  /** Cancels a run: the caller rejects now with `error`, Python gets `cancel`. Returns false if unknown or already settled. */
  cancel(id: string, error?: SynapseError): boolean {
    const run = this.#runs.get(id);
    if (run === undefined || run.settled) return false;
    this.#interrupt(run, error ?? synErr('SYN_ERR_ABORTED', `Run ${id} was cancelled`, { ...this.#context(), runId: id }));
    return true;
  }

  /** Dispatches an `event` frame. Returns false for an unknown run id (a protocol violation). */
  event(frame: EventFrame): boolean {
    const run = this.#runs.get(frame.id);
    if (run === undefined) return false;
    if (run.settled || run.handlers.onEvent === undefined) return true;
    try {
      run.handlers.onEvent(frame.event);
    } catch (error) {
      reportUnhandled(error);
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
    } else this.#onCancelAcknowledged?.();
    return true;
  }

  /** Dispatches an `error` frame with a run id. Returns false for an unknown run id. */
  error(frame: ErrorFrame & { id: string }): boolean {
    const run = this.#finish(frame.id);
    if (run === undefined) return false;
    if (!run.settled) {
      run.settled = true;
      run.reject(errorFromFrame(frame, this.#context()));
    } else this.#onCancelAcknowledged?.();
    return true;
  }

  /** Runs a TS tool for a `tool_call` frame and answers it. Returns false for an unknown run id. */
  toolCall(frame: ToolCallFrame): boolean {
    const run = this.#runs.get(frame.id);
    if (run === undefined) return false;
    const reply = (ok: boolean, valueOrError: unknown): void => {
      if (this.#runs.get(frame.id) !== run) return; // the run finished or the worker died meanwhile
      if (ok) this.#send({ t: 'tool_result', id: frame.id, callId: frame.callId, ok: true, value: valueOrError });
      else this.#send({ t: 'tool_result', id: frame.id, callId: frame.callId, ok: false, error: String(valueOrError) });
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
    this.#notifyIdle();
  }

  /** Resolves once no run occupies a slot. */
  whenIdle(): Promise<void> {
    if (this.#runs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #interrupt(run: PendingRun, error: SynapseError): void {
    if (run.settled || this.#runs.get(run.id) !== run) return;
    run.settled = true;
    run.tools?.abort(error);
    run.reject(error);
    if (run.deadline !== undefined) this.#clock.clearTimeout(run.deadline);
    run.deadline = undefined;
    run.unlisten?.();
    this.#send({ t: 'cancel', id: run.id });
    run.grace = this.#clock.setTimeout(() => {
      run.grace = undefined;
      if (this.#runs.get(run.id) === run) this.#onUnresponsive(run.id, this.#cancelGraceMs);
    }, this.#cancelGraceMs);
  }

  #finish(id: string): PendingRun | undefined {
    const run = this.#runs.get(id);
    if (run === undefined) return undefined;
    this.#runs.delete(id);
    this.#cleanup(run);
    this.#notifyIdle();
    return run;
  }

  #cleanup(run: PendingRun): void {
    if (run.deadline !== undefined) this.#clock.clearTimeout(run.deadline);
    if (run.grace !== undefined) this.#clock.clearTimeout(run.grace);
    run.deadline = undefined;
    run.grace = undefined;
    run.unlisten?.();
    run.unlisten = undefined;
    if (run.tools !== undefined && !run.tools.signal.aborted) run.tools.abort();
  }

  #notifyIdle(): void {
    if (this.#runs.size !== 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
