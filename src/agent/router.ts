/**
 * The per-agent request router: admission (bounded queue, fast rejection while
 * quarantined), dispatch to the ready worker with the most free slots (each worker counts its own), and the caller's deadline and AbortSignal while a request waits in the queue. Once
 * dispatched, the worker owns them (time left is passed down; the process layer sends
 * `cancel` and kills a worker that will not let go). One owner per phase. Workers come and go as the supervisor restarts them;
 * the router only sees ready ones. Not an actor: it sits on the hot path and holds no
 * process, so a plain object with an explicit state is cheaper and easier to reason about.
 */
import { nanoid } from 'nanoid';
import { holdEventLoop, type Clock, type TimerHandle } from '../clock.ts';
import { errorCodeOf, synErr, type SynapseError } from '../errors.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEventEmitter, SynapseEvents } from '../observe/events.ts';
import type { RunHandlers, RunRequest, RunResult, ToolCallRequest } from '../process/runs.ts';
import type { Prompt } from '../prompt.ts';
import type { RunOptionsFrame, StreamEvent, ToolResultsFrame } from '../protocol/frames.ts';

export type { RunResult };
/** A streamed event from Python (the `event` frame's payload). */
export type AgentEvent = StreamEvent;

/**
 * A ready worker as the router sees it (implemented by the worker actor over a {@link PythonWorker}).
 * The worker is the only counter of its slots: `free()` is how many runs it takes now (a cancelled
 * run frees its caller at once but keeps its Python slot until Python acknowledges the cancel), and
 * the owner calls {@link AgentRouter.pump} on the worker's `'capacity'` event. Once dispatched, the
 * worker owns the run's deadline (`request.timeoutMs`, the time left), its `signal`, the `cancel`
 * frame and the kill of a worker that will not let go.
 */
export interface WorkerSlot {
  readonly index: number;
  readonly pid: number;
  /** Runs this worker can start now (0 when full or no longer ready). */
  free(): number;
  run(request: RunRequest, handlers: RunHandlers): Promise<RunResult>;
}

/**
 * What the last failed start of an agent's worker said (the Python process never became ready):
 * carried by SYN_ERR_AGENT_UNAVAILABLE as `details.startupFailure` while start-ups keep failing,
 * and by `agentStatus(id).startupFailure`.
 */
export interface StartupFailure {
  /** The start-up error's code: SYN_ERR_STARTUP_FAILED, SYN_ERR_STARTUP_TIMEOUT, SYN_ERR_PYTHON_NOT_FOUND… */
  readonly code: string;
  readonly message: string;
  /** The interpreter's exit code (null when killed by a signal or not known). */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The Python traceback of an error raised while loading the agent module, if one was sent. */
  readonly traceback?: string;
  /** The Python exception type, if one was sent. */
  readonly type?: string;
  /** The last lines the interpreter wrote to stderr. */
  readonly stderrTail: string;
  /** When it failed (the system clock, ms). */
  readonly at: number;
}

/**
 * An agent's state in `agentStatus(id).state`: `starting` (no worker ready yet), `ready` (every
 * worker ready), `degraded` (some workers ready, others restarting), `restarting` (none ready,
 * restarts under way: calls wait in the queue — unless the last restart attempt failed at
 * start-up: then they fail fast with SYN_ERR_AGENT_UNAVAILABLE until a start succeeds), `quarantined` (restart intensity exceeded:
 * calls fail fast with SYN_ERR_AGENT_UNAVAILABLE until `nextRetryAt`), `stopped`.
 */
export type AgentState = 'starting' | 'ready' | 'degraded' | 'restarting' | 'quarantined' | 'stopped';

export interface RouterOptions {
  agent: string;
  workers: number;
  queueCapacity: number;
  timeoutMs: number;
  /** While no worker is up (start-up, restart backoff): queue requests (bounded) or reject at once. */
  whenUnavailable: 'queue' | 'reject';
  clock: Clock;
  events: SynapseEventEmitter;
  /**
   * Holds the event loop while any request is in flight or queued (released when idle), so a
   * program whose only work is a request queued during a restart backoff — on unref'ed timers,
   * with no worker process — does not exit. Default {@link holdEventLoop}.
   */
  keepAlive?: (() => () => void) | undefined;
}

export interface RequestOptions {
  /** A string or an array of content parts (checked at the edge); `null` only with `toolResults`. */
  prompt: Prompt | null;
  history: unknown[];
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: ((event: AgentEvent) => void) | undefined;
  onToolCall?: ((call: ToolCallRequest) => unknown) | undefined;
  conversationId?: string | undefined;
  turnId?: string | undefined;
  /** The call's run options in wire form (`run.options`); absent when it uses none. */
  runOptions?: RunOptionsFrame | undefined;
  /** Answers to the conversation's pending deferred tool calls (`run.toolResults`); absent: none. */
  toolResults?: ToolResultsFrame | undefined;
}

interface Pending {
  readonly request: Mutable<RunRequest>;
  readonly options: RequestOptions;
  readonly resolve: (result: RunResult) => void;
  readonly reject: (error: unknown) => void;
  readonly startedAt: number;
  /** Absolute deadline on the router's clock, or Infinity. */
  readonly deadline: number;
  /** The queue-phase timer (cleared at dispatch: the worker owns the deadline from then on). */
  timer: TimerHandle | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class AgentRouter {
  readonly #o: RouterOptions;
  readonly #workers = new Map<number, WorkerSlot>();
  readonly #queue: Pending[] = [];
  #state: AgentState = 'starting';
  #nextRetryAt: number | undefined;
  /**
   * The breaker: set when a restart attempt failed at start-up (the error that said why), cleared
   * by the first worker that becomes ready. While set and no worker is up, calls fail fast.
   */
  #startupFailure: { summary: StartupFailure; error: unknown } | undefined;
  #inFlight = 0;
  /** Release of the event-loop hold, while `inFlight + queued > 0`. */
  #release: (() => void) | undefined;

  constructor(options: RouterOptions) {
    this.#o = options;
  }

  get state(): AgentState {
    return this.#state;
  }
  get inFlight(): number {
    return this.#inFlight;
  }
  get queued(): number {
    return this.#queue.length;
  }
  get nextRetryAt(): number | undefined {
    return this.#nextRetryAt;
  }
  /** The start-up failure holding the breaker open, if any. */
  get startupFailure(): StartupFailure | undefined {
    return this.#startupFailure?.summary;
  }
  pids(): number[] {
    return [...this.#workers.values()].map((w) => w.pid);
  }

  /** A worker became ready. */
  attach(slot: WorkerSlot): void {
    this.#workers.set(slot.index, slot);
    this.#nextRetryAt = undefined;
    this.#startupFailure = undefined; // a start succeeded: the breaker closes
    this.#updateState();
    this.#pump();
  }

  /**
   * A worker went away or stopped accepting runs (its in-flight runs are settled by the process
   * layer). With `slot`, only that slot is removed: a late report about an old incarnation of
   * worker `index` never detaches its replacement. Idempotent.
   */
  detach(index: number, slot?: WorkerSlot): void {
    const current = this.#workers.get(index);
    if (current === undefined || (slot !== undefined && current !== slot)) return;
    this.#workers.delete(index);
    this.#updateState();
    if (this.#workers.size === 0 && this.#o.whenUnavailable === 'reject') {
      this.#rejectQueued(() => this.#unavailable());
    }
  }

  /**
   * A restart attempt failed at start-up (`error`: the process layer's coded error) and the next
   * one starts at `nextRetryAt` (undefined: nothing retries by itself — a failed `restartAgent`): opens the breaker. While no worker is up, queued calls are
   * rejected now and new ones at once with SYN_ERR_AGENT_UNAVAILABLE carrying the failure; they
   * are never retried for the caller. A crash after ready does not come here: calls keep queueing.
   */
  startupFailed(summary: StartupFailure, error: unknown, nextRetryAt: number | undefined): void {
    if (this.#state === 'stopped') return;
    this.#startupFailure = { summary, error };
    this.#nextRetryAt = nextRetryAt;
    if (this.#workers.size === 0) this.#rejectQueued(() => this.#unavailable());
  }

  /**
   * The agent exceeded its restart intensity: reject fast until `nextRetryAt`. With `failure`
   * (a retry after quarantine failed at start-up) the rejections carry it; otherwise they carry
   * the start-up failure already holding the breaker open, if any.
   */
  quarantine(nextRetryAt: number, failure?: { summary: StartupFailure; error: unknown }): void {
    this.#state = 'quarantined';
    this.#nextRetryAt = nextRetryAt;
    if (failure !== undefined) this.#startupFailure = failure;
    this.#rejectQueued(() => this.#unavailable());
  }

  /** Back from quarantine (a restart is under way). */
  unquarantine(): void {
    if (this.#state !== 'quarantined') return;
    this.#state = 'restarting';
    this.#updateState();
  }

  /** Admits again after quarantine or close (a manual restart is under way). */
  reopen(): void {
    this.#nextRetryAt = undefined;
    this.#startupFailure = undefined;
    this.#state = this.#workers.size === 0 ? 'restarting' : 'ready';
    this.#updateState();
  }

  /** Stops admitting; rejects everything queued with SYN_ERR_SHUTDOWN. In-flight runs settle as their workers stop. */
  close(): void {
    this.#state = 'stopped';
    this.#rejectQueued(() => synErr('SYN_ERR_SHUTDOWN', `Agent "${this.#o.agent}" was stopped`, { agent: this.#o.agent }));
  }

  /**
   * Runs one request on a worker.
   * @throws SYN_ERR_OVERLOADED (queue full), SYN_ERR_AGENT_UNAVAILABLE (quarantined / no worker and policy reject / no worker and the last start failed),
   *   SYN_ERR_TIMEOUT, SYN_ERR_ABORTED, SYN_ERR_SHUTDOWN, and whatever the worker's run rejects with.
   */
  request(options: RequestOptions): Promise<RunResult> {
    const agent = this.#o.agent;
    if (this.#state === 'stopped') return Promise.reject(synErr('SYN_ERR_SHUTDOWN', `Agent "${agent}" was stopped`, { agent }));
    if (this.#state === 'quarantined') return Promise.reject(this.#unavailable());
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal, agent));
    if (this.#workers.size === 0 && (this.#o.whenUnavailable === 'reject' || this.#startupFailure !== undefined)) return Promise.reject(this.#unavailable());

    const timeoutMs = options.timeoutMs ?? this.#o.timeoutMs;
    const request: Mutable<RunRequest> = {
      id: nanoid(12),
      agent,
      prompt: options.prompt,
      history: options.history,
      timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : null,
      stream: options.onEvent !== undefined,
      ...(options.conversationId === undefined ? {} : { conversationId: options.conversationId }),
      ...(options.turnId === undefined ? {} : { turnId: options.turnId }),
      ...(options.runOptions === undefined ? {} : { options: options.runOptions }),
      ...(options.toolResults === undefined ? {} : { toolResults: options.toolResults }),
    };
    return new Promise<RunResult>((resolve, reject) => {
      const now = this.#o.clock.now();
      const p: Pending = {
        request,
        options,
        resolve,
        reject,
        startedAt: now,
        deadline: Number.isFinite(timeoutMs) ? now + timeoutMs : Infinity,
        timer: undefined,
        onAbort: undefined,
        settled: false,
      };
      const worker = this.#pickWorker();
      if (worker !== undefined) {
        this.#dispatch(p, worker);
        this.#holdWhileBusy();
        return;
      }
      {
        if (this.#queue.length >= this.#o.queueCapacity) {
          reject(
            synErr('SYN_ERR_OVERLOADED', `Agent "${agent}" queue is full (${this.#o.queueCapacity} waiting)`, {
              agent,
              queueCapacity: this.#o.queueCapacity,
              inFlight: this.#inFlight,
            }),
          );
          return;
        }
        this.#queue.push(p);
        this.#holdWhileBusy();
      }
      if (Number.isFinite(timeoutMs)) {
        p.timer = this.#o.clock.setTimeout(
          () => this.#dequeueWith(p, synErr('SYN_ERR_TIMEOUT', `Agent "${agent}" did not answer within ${timeoutMs} ms (still queued)`, { agent, timeoutMs, requestId: request.id })),
          timeoutMs,
        );
      }
      if (options.signal !== undefined) {
        const signal = options.signal;
        p.onAbort = () => this.#dequeueWith(p, abortError(signal, agent));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
    });
  }

  /** Re-checks the queue: call on a worker's `'capacity'` event (a slot may have been freed). */
  pump(): void {
    this.#pump();
  }

  /** The ready worker with the most free slots (ties: the first attached), or undefined if all are full. */
  #pickWorker(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    let bestFree = 0;
    for (const w of this.#workers.values()) {
      const free = w.free();
      if (free > bestFree) {
        best = w;
        bestFree = free;
      }
    }
    return best;
  }

  #dispatch(p: Pending, worker: WorkerSlot): void {
    this.#clearQueuePhase(p);
    this.#inFlight++;
    const { request, options } = p;
    if (Number.isFinite(p.deadline)) request.timeoutMs = Math.max(1, p.deadline - this.#o.clock.now());
    this.#emit('message.routed', {
      agent: request.agent,
      requestId: request.id,
      worker: worker.index,
      conversationId: request.conversationId,
      turnId: request.turnId,
    });
    const handlers: Mutable<RunHandlers> = {};
    if (options.onEvent !== undefined) handlers.onEvent = options.onEvent;
    if (options.onToolCall !== undefined) handlers.onToolCall = options.onToolCall;
    if (options.signal !== undefined) handlers.signal = options.signal;
    let run: Promise<RunResult>;
    try {
      run = worker.run(request, handlers);
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(
      (result) => this.#finish(p, undefined, result),
      (error: unknown) => this.#finish(p, error, undefined),
    );
  }

  #finish(p: Pending, error: unknown, result: RunResult | undefined): void {
    this.#inFlight--;
    if (error === undefined) this.#settle(p, undefined, result);
    else this.#settle(p, error, undefined);
    this.#pump();
    this.#holdWhileBusy();
  }

  /** Timeout or abort while still queued: leave the queue and settle now. */
  #dequeueWith(p: Pending, error: SynapseError): void {
    if (p.settled) return;
    const at = this.#queue.indexOf(p);
    if (at >= 0) this.#queue.splice(at, 1);
    this.#settle(p, error, undefined);
    this.#holdWhileBusy();
  }

  #clearQueuePhase(p: Pending): void {
    if (p.timer !== undefined) {
      this.#o.clock.clearTimeout(p.timer);
      p.timer = undefined;
    }
    if (p.onAbort !== undefined) {
      p.options.signal?.removeEventListener('abort', p.onAbort);
      p.onAbort = undefined;
    }
  }

  #settle(p: Pending, error: unknown, result: RunResult | undefined): void {
    if (p.settled) return;
    p.settled = true;
    this.#clearQueuePhase(p);
    const { request } = p;
    if (error === undefined) {
      this.#emit('call.completed', { agent: request.agent, requestId: request.id, latencyMs: this.#o.clock.now() - p.startedAt });
      p.resolve(result!);
    } else {
      const code = errorCodeOf(error);
      const latencyMs = this.#o.clock.now() - p.startedAt;
      this.#emit('call.failed', { agent: request.agent, requestId: request.id, code, latencyMs, conversationId: request.conversationId, turnId: request.turnId });
      p.reject(error);
    }
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const worker = this.#pickWorker();
      if (worker === undefined) return;
      this.#dispatch(this.#queue.shift()!, worker);
    }
  }

  #rejectQueued(make: () => SynapseError): void {
    for (const p of this.#queue.splice(0)) this.#settle(p, make(), undefined);
    this.#holdWhileBusy();
  }

  /** Takes the event-loop hold when work is pending, releases it when idle. */
  #holdWhileBusy(): void {
    const busy = this.#inFlight + this.#queue.length > 0;
    if (busy && this.#release === undefined) this.#release = (this.#o.keepAlive ?? holdEventLoop)();
    else if (!busy && this.#release !== undefined) {
      const release = this.#release;
      this.#release = undefined;
      release();
    }
  }

  /** SYN_ERR_AGENT_UNAVAILABLE: the state, when it tries again, and the start-up failure (also as `cause`) if that is why. */
  #unavailable(): SynapseError {
    const agent = this.#o.agent;
    const failure = this.#startupFailure;
    const retry = this.#nextRetryAt === undefined ? '' : `; next retry in ${Math.max(0, Math.round(this.#nextRetryAt - this.#o.clock.now()))} ms`;
    const why = failure === undefined ? '' : `; its last start failed: ${failure.summary.message}`;
    return synErr(
      'SYN_ERR_AGENT_UNAVAILABLE',
      `Agent "${agent}" is ${this.#state}${retry}${why}`,
      { agent, state: this.#state, nextRetryAt: this.#nextRetryAt, ...(failure === undefined ? {} : { startupFailure: failure.summary }) },
      failure?.error,
    );
  }

  #updateState(): void {
    if (this.#state === 'stopped' || this.#state === 'quarantined') return;
    const up = this.#workers.size;
    this.#state = up === 0 ? (this.#state === 'starting' ? 'starting' : 'restarting') : up < this.#o.workers ? 'degraded' : 'ready';
  }

  #emit<K extends keyof SynapseEvents>(name: K, payload: SynapseEvents[K]): void {
    emit(this.#o.events, name, payload);
  }
}

function abortError(signal: AbortSignal, agent: string): SynapseError {
  return synErr('SYN_ERR_ABORTED', `Request to agent "${agent}" was aborted`, { agent }, signal.reason);
}
