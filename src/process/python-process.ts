/**
 * One Python worker OS process running `python -m synapse_bridge`: spawn, handshake,
 * framing, heartbeat, runs, tool calls, shutdown escalation, and death reporting.
 *
 * Invariants:
 * - every run settles exactly once (value or coded error);
 * - when the worker dies or misbehaves, every in-flight run rejects at once, the process
 *   group is killed, then `exited` resolves and `'exit'` fires, once;
 * - nothing outlives `exited`: timers cleared, listeners removed, pid file entry dropped.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'eventemitter3';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { realClock } from '../clock.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { ErrorDetails, SynapseError } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import { encodeFrame, FrameDecoder } from '../protocol/codec.ts';
import { parseInbound } from '../protocol/frames.ts';
import type { HelloFrame, InboundFrame, LogFrame, OutboundFrame, PongFrame, ReadyFrame } from '../protocol/frames.ts';
import { buildChildEnv } from './env.ts';
import { Heartbeat } from './heartbeat.ts';
import { createLifecycle } from './lifecycle.ts';
import type { Lifecycle, ProcessState } from './lifecycle.ts';
import { resolveProcessOptions } from './options.ts';
import type { PythonProcessOptions, ResolvedProcessOptions } from './options.ts';
import { getDefaultPidFile } from './pidfile.ts';
import type { PidFile } from './pidfile.ts';
import { killGroup } from './proc.ts';
import { RunTable } from './runs.ts';
import type { RunHandlers, RunRequest, RunResult } from './runs.ts';
import { StderrTail } from './stderr-tail.ts';
import { errorFromFrame } from './wire-errors.ts';
import { exitError } from './exit-report.ts';
import { escalateStop } from './shutdown.ts';
import { validateRunRequest } from './validate.ts';
import { SpareProcess } from './spare.ts';
import type { SpareAssignOptions } from './spare.ts';

/** How a worker ended. `error` is absent after a requested stop (`close`/`kill`). */
export interface ProcessExit {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: SynapseError;
}

/** A snapshot of a worker's health (from its latest pong). */
export interface ProcessStats {
  readonly pid: number;
  readonly inFlight: number;
  readonly rssBytes: number;
  readonly loopLagMs: number;
  /** Clock time of the latest pong; undefined before the first. */
  readonly lastPongAt: number | undefined;
}

/** Events of a {@link PythonProcess}. */
export interface PythonProcessEvents {
  /** Fired once, after every run settled and the OS process is gone. */
  exit: (exit: ProcessExit) => void;
  /** Each lifecycle state change. */
  state: (state: ProcessState) => void;
  /** Each heartbeat answer, with the worker's health (RSS, loop lag, in-flight). */
  health: (stats: ProcessStats) => void;
}

/** Time given to a worker that reported a fatal error to exit on its own (so its stderr is complete) before SIGKILL. */
const FATAL_EXIT_GRACE_MS = 1_000;
/** After `exit`, how long to wait for the stdio pipes to close (a grandchild may hold them) before finalising anyway. */
const CLOSE_AFTER_EXIT_MS = 2_000;
const LOG_LEVEL = { debug: 'debug', info: 'info', warning: 'warn', error: 'error' } as const;

let silentLogger: Logger | undefined;

/**
 * A Python worker process speaking protocol v1 (see `docs/protocol.md`).
 *
 * @example
 * ```ts
 * const proc = await PythonProcess.start({ agents: [{ name: 'echo', ref: 'examples/agents/echo.py:agent' }] });
 * const { output } = await proc.run({ id: 'r1', agent: 'echo', prompt: 'hi' });
 * await proc.close();
 * ```
 */
export class PythonProcess extends EventEmitter<PythonProcessEvents> {
  #opts: ResolvedProcessOptions;
  readonly #clock: Clock;
  #log: Logger;
  readonly #pidFile: PidFile | null;
  readonly #decoder: FrameDecoder;
  readonly #tail = new StderrTail();
  readonly #lifecycle: Lifecycle;
  readonly #runs: RunTable;
  readonly #heartbeat: Heartbeat;
  #child: ChildProcessWithoutNullStreams | undefined;
  #pid = -1;
  #hello: HelloFrame | undefined;
  #agents: readonly string[] = [];
  #wasReady = false;
  #failure: SynapseError | undefined;
  #startAbort: SynapseError | undefined;
  #finalized = false;
  #exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #startTimer: TimerHandle | undefined;
  #killTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  #closing: Promise<ProcessExit> | undefined;
  #spawnedAt = 0;
  #exit: ProcessExit | undefined;
  /** True for a spare between spawn and assignment: `hello` does not trigger `init`. */
  #deferInit: boolean;
  readonly #helloSeen: Promise<void>;
  #helloResolve!: () => void;
  #helloReject!: (error: SynapseError) => void;
  readonly #ready: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (error: SynapseError) => void;
  readonly #exited: Promise<ProcessExit>;
  #exitedResolve!: (exit: ProcessExit) => void;

  /**
   * Spawns a worker and resolves once it is ready (every agent loaded).
   *
   * @throws SYN_ERR_INVALID_OPTION for a bad option; SYN_ERR_PYTHON_NOT_FOUND if the interpreter is missing;
   *   SYN_ERR_STARTUP_TIMEOUT if not ready within `startTimeoutMs`; SYN_ERR_STARTUP_FAILED if it failed or exited
   *   before ready (details: `type`, `traceback`, `exitCode`, `signal`, `stderrTail`, `pid`); SYN_ERR_ABORTED if
   *   `signal` aborted. In every failure case the process is gone before the promise rejects.
   */
  static async start(options?: PythonProcessOptions, startOptions: { signal?: AbortSignal } = {}): Promise<PythonProcess> {
    return PythonProcess.#launch(options, startOptions, false);
  }

  /**
   * Spawns a warm spare: the interpreter starts and imports pydantic-ai (`hello`), but no user
   * code is loaded until {@link SpareProcess.assign} sends `init`. `options` are the full options
   * of the process it will become (executable, cwd and env — which may hold one agent's secrets —
   * are fixed at spawn, so a spare serves exactly one agent). The spare is recorded in the pid
   * file and heartbeated while it waits; a spare that dies or stops answering is reaped.
   *
   * @throws the same codes as {@link PythonProcess.start}; the deadline `startTimeoutMs` applies
   *   to `hello` here (and again from `assign` to `ready`).
   * @example
   * ```ts
   * const spare = await PythonProcess.spawnSpare({ agents: [{ name: 'bot', ref: 'bot.py:agent' }], env: { API_KEY } });
   * const proc = await spare.assign(); // init → ready, typically a few ms plus the user module's import
   * ```
   */
  static async spawnSpare(options?: PythonProcessOptions, startOptions: { signal?: AbortSignal } = {}): Promise<SpareProcess> {
    const proc = await PythonProcess.#launch(options, startOptions, true);
    return new SpareProcess(proc, (assign) => proc.#assign(assign));
  }

  static async #launch(options: PythonProcessOptions | undefined, startOptions: { signal?: AbortSignal }, spare: boolean): Promise<PythonProcess> {
    const resolved = resolveProcessOptions(options);
    const { signal } = resolveOptions('startOptions', startOptions, { signal: v.optional(v.any<AbortSignal>()) });
    if (signal?.aborted) throw synErr('SYN_ERR_ABORTED', 'Start of the Python worker was aborted', {}, signal.reason);
    const proc = new PythonProcess(resolved, spare);
    const onAbort = (): void => proc.#abortStart(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      proc.#spawn();
      await (spare ? proc.#helloSeen : proc.#ready);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return proc;
  }

  private constructor(opts: ResolvedProcessOptions, deferInit = false) {
    super();
    this.#opts = opts;
    this.#deferInit = deferInit;
    this.#clock = opts.clock ?? realClock;
    silentLogger ??= pino({ level: 'silent' });
    this.#log = (opts.log ?? silentLogger).child({ agent: opts.label.agent, worker: opts.label.worker });
    this.#pidFile = opts.pidFile === undefined ? getDefaultPidFile() : opts.pidFile;
    this.#decoder = new FrameDecoder({ maxFrameBytes: opts.maxFrameBytes });
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.#ready.catch(() => {}); // observed by start(); pre-handled so an early failure is never "unhandled"
    this.#helloSeen = new Promise<void>((resolve, reject) => {
      this.#helloResolve = resolve;
      this.#helloReject = reject;
    });
    this.#helloSeen.catch(() => {}); // observed by spawnSpare() only
    this.#exited = new Promise<ProcessExit>((resolve) => (this.#exitedResolve = resolve));
    this.#lifecycle = createLifecycle(
      (state) => this.#emitSafely('state', state),
      (error) => this.#log.error({ err: error }, 'lifecycle machine error'),
    );
    this.#runs = new RunTable({
      clock: this.#clock,
      cancelGraceMs: opts.cancelGraceMs,
      send: (frame) => this.#send(frame),
      onUnresponsive: (runId, graceMs) =>
        this.#defect(
          synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${this.#pid} did not acknowledge the cancel of run ${runId} within ${graceMs} ms; killed`, {
            ...this.#context(),
            reason: 'cancel_unacknowledged',
            runId,
          }),
        ),
      context: () => this.#context(),
    });
    this.#heartbeat = new Heartbeat({
      clock: this.#clock,
      intervalMs: opts.heartbeatIntervalMs,
      timeoutMs: opts.heartbeatTimeoutMs,
      sendPing: (seq) => this.#send({ t: 'ping', seq }),
      onTimeout: (silentForMs) =>
        this.#defect(synErr('SYN_ERR_HEARTBEAT_TIMEOUT', `Python worker ${this.#pid} did not answer heartbeats for ${Math.round(silentForMs)} ms; killed`, { ...this.#context(), silentForMs })),
    });
  }

  /** OS pid (also the process group id). */
  get pid(): number {
    return this.#pid;
  }

  /** Current lifecycle state. */
  get state(): ProcessState {
    return this.#lifecycle.state;
  }

  /** The `hello` frame (Python and pydantic-ai versions). */
  get hello(): HelloFrame | undefined {
    return this.#hello;
  }

  /** Names of the loaded agents (from `ready`). */
  get agents(): readonly string[] {
    return this.#agents;
  }

  /** Resolves once the process is gone, with how it ended. Never rejects. */
  get exited(): Promise<ProcessExit> {
    return this.#exited;
  }

  /**
   * Runs one request. Events stream to `handlers.onEvent`; TS tool calls go to `handlers.onToolCall`.
   *
   * @throws SYN_ERR_INVALID_ARGUMENT (malformed request or duplicate id), SYN_ERR_NO_AGENT (agent not loaded),
   *   SYN_ERR_OVERLOADED (`concurrency` runs in flight), SYN_ERR_FRAME_TOO_LARGE (request above `maxFrameBytes`),
   *   SYN_ERR_SHUTDOWN (draining or stopped), SYN_ERR_AGENT_FAILED (the agent raised; details `kind`, `type`,
   *   `traceback`, `retryable`), SYN_ERR_TIMEOUT, SYN_ERR_ABORTED, and — when the worker dies or misbehaves —
   *   SYN_ERR_AGENT_CRASHED (details `exitCode`, `signal`, `stderrTail`, `pid`), SYN_ERR_PROTOCOL,
   *   SYN_ERR_FRAME_TOO_LARGE, SYN_ERR_HEARTBEAT_TIMEOUT or SYN_ERR_MEMORY_LIMIT.
   */
  run(request: RunRequest, handlers: RunHandlers = {}): Promise<RunResult> {
    let line: string;
    try {
      const frame = validateRunRequest(request, this.#agents);
      const unavailable = this.#unavailable();
      if (unavailable !== undefined) throw unavailable;
      if (this.#runs.has(request.id)) throw synErr('SYN_ERR_INVALID_ARGUMENT', `A run with id "${request.id}" is already in flight`, { runId: request.id });
      if (handlers.signal?.aborted) throw synErr('SYN_ERR_ABORTED', `Run ${request.id} was aborted`, { runId: request.id }, handlers.signal.reason);
      if (this.#runs.size >= this.#opts.concurrency) {
        throw synErr('SYN_ERR_OVERLOADED', `Python worker ${this.#pid} already runs ${this.#opts.concurrency} requests`, { ...this.#context(), concurrency: this.#opts.concurrency });
      }
      line = encodeFrame(frame, this.#opts.maxFrameBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    const result = this.#runs.add(request, handlers);
    this.#writeLine(line);
    return result;
  }

  /** Cancels a run: its caller rejects with SYN_ERR_ABORTED now; Python cancels the task. Returns false if not in flight. */
  cancel(id: string): boolean {
    return this.#runs.cancel(id);
  }

  /** Stops accepting runs (SYN_ERR_SHUTDOWN) and resolves once the in-flight ones settled. */
  drain(): Promise<void> {
    if (this.#lifecycle.state === 'ready') this.#lifecycle.send({ type: 'DRAIN' });
    return this.#runs.whenIdle();
  }

  /** Accepts runs again after {@link drain}. */
  resume(): void {
    if (this.#lifecycle.state === 'draining') this.#lifecycle.send({ type: 'RESUME' });
  }

  /** Health snapshot. */
  stats(): ProcessStats {
    const h = this.#heartbeat.health;
    return { pid: this.#pid, inFlight: this.#runs.size, rssBytes: h.rssBytes, loopLagMs: h.loopLagMs, lastPongAt: h.lastPongAt };
  }

  /**
   * Graceful stop: in-flight runs reject with SYN_ERR_SHUTDOWN, `shutdown` is sent; if the process has not exited
   * after half of `timeoutMs` its group gets SIGTERM, after the other half SIGKILL. Resolves once it exited.
   * Idempotent (later calls return the first call's promise).
   *
   * @throws SYN_ERR_INVALID_OPTION for a bad option.
   */
  close(options: { timeoutMs?: number } = {}): Promise<ProcessExit> {
    if (this.#closing === undefined) {
      const { timeoutMs } = resolveOptions('close', options, { timeoutMs: v.optional(v.number({ min: 0 })) });
      this.#closing = this.#close(timeoutMs ?? this.#opts.shutdownTimeoutMs);
    }
    return this.#closing;
  }

  /** Immediate stop: SIGKILL to the process group; in-flight runs reject with SYN_ERR_SHUTDOWN. Idempotent. */
  kill(): void {
    if (this.#finalized) return;
    this.#beginStop('kill');
    killGroup(this.#pid, 'SIGKILL');
  }

  /** `await using proc = await PythonProcess.start(…)` closes it at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * @internal Fault injection for `synapse/testing` (`chaos(system).garbage()`): feeds `bytes`
   * to the inbound decoder exactly as if the worker had written them to its protocol stream.
   */
  [Symbol.for('synapse.testing.injectInbound')](bytes: Uint8Array): void {
    this.#onStdout(Buffer.from(bytes));
  }

  // ─── start-up ──────────────────────────────────────────────────────────────

  #spawn(): void {
    const { executable, cwd } = this.#opts;
    const env = buildChildEnv(process.env, this.#opts.env, process.pid);
    this.#spawnedAt = this.#clock.now();
    const child = spawn(executable, ['-m', 'synapse_bridge'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.#child = child;
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) {
        this.#log.warn({ err: error }, 'child process error');
        return; // a kill() on an exited process or similar: 'exit'/'close' still report the death
      }
      this.#failure = synErr('SYN_ERR_PYTHON_NOT_FOUND', `Cannot spawn ${executable}${cwd === undefined ? '' : ` in ${cwd}`}: ${error.message}`, { executable, cwd }, error);
      this.#finalize(null, null);
    });
    if (child.pid === undefined) return; // spawn failed: 'error' follows
    this.#pid = child.pid;
    this.#log = this.#log.child({ pythonPid: this.#pid });
    this.#lifecycle.send({ type: 'SPAWNED', pid: this.#pid });
    this.#pidFile?.add(this.#pid);
    this.#log.debug({ executable }, 'python worker spawned');
    this.#armStartTimer(this.#deferInit ? 'did not say hello' : 'was not ready');

    child.stdin.on('error', () => {
      // EPIPE/ECONNRESET after the worker died: the death itself is reported by 'exit'/'close'.
    });
    child.stdout.on('data', (chunk: Buffer) => this.#onStdout(chunk));
    child.stdout.on('end', () => this.#onStdoutEnd());
    const debug = this.#log.isLevelEnabled('debug');
    const onLine = debug ? (line: string) => this.#log.debug({ stream: 'stderr' }, line) : undefined;
    child.stderr.on('data', (chunk: Buffer) => this.#tail.push(chunk, onLine));
    child.on('exit', (code, signal) => this.#onExit(code, signal));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => this.#finalize(code, signal));
  }

  #armStartTimer(what: string): void {
    const { startTimeoutMs } = this.#opts;
    this.#startTimer = this.#clock.setTimeout(() => {
      this.#startTimer = undefined;
      this.#defect(synErr('SYN_ERR_STARTUP_TIMEOUT', `Python worker ${this.#pid} ${what} within ${startTimeoutMs} ms`, { ...this.#context(), startTimeoutMs }));
    }, startTimeoutMs);
  }

  /** Turns a spare into a worker: relabel, `init`, await `ready` (or the start-up failure). */
  async #assign(assign: SpareAssignOptions): Promise<PythonProcess> {
    const { label, signal } = assign;
    if (!this.#deferInit) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Spare ${this.#pid} was already assigned`, this.#context());
    const unavailable = this.#exit?.error ?? this.#failure ?? (this.#finalized || this.#stopping() ? synErr('SYN_ERR_SHUTDOWN', `Spare ${this.#pid} is ${this.state}`, this.#context()) : undefined);
    if (unavailable !== undefined) throw unavailable;
    if (signal?.aborted) throw synErr('SYN_ERR_ABORTED', 'Assignment of the spare was aborted', this.#context(), signal.reason);
    this.#deferInit = false;
    if (label !== undefined) {
      this.#opts = { ...this.#opts, label };
      this.#log = (this.#opts.log ?? silentLogger!).child({ agent: label.agent, worker: label.worker }).child({ pythonPid: this.#pid });
    }
    this.#spawnedAt = this.#clock.now();
    this.#armStartTimer('was not ready');
    const onAbort = (): void => this.#abortStart(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.#sendInit();
      await this.#ready;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return this;
  }

  #abortStart(reason: unknown): void {
    if (this.#wasReady || this.#finalized) return;
    this.#startAbort = synErr('SYN_ERR_ABORTED', 'Start of the Python worker was aborted', this.#context(), reason);
    this.kill();
  }

  #onHello(frame: HelloFrame): void {
    if (this.#hello !== undefined || this.#lifecycle.state !== 'handshaking') {
      this.#violation('unexpected "hello" frame');
      return;
    }
    this.#hello = frame;
    if (this.#deferInit) {
      // A spare: pydantic-ai is imported, no user code. Watch it while it waits for an assignment.
      if (this.#startTimer !== undefined) this.#clock.clearTimeout(this.#startTimer);
      this.#startTimer = undefined;
      this.#heartbeat.start();
      this.#log.debug({ helloMs: Math.round(this.#clock.now() - this.#spawnedAt) }, 'python spare warm');
      this.#helloResolve();
      return;
    }
    this.#sendInit();
  }

  #sendInit(): void {
    const { agents, tools, concurrency, maxFrameBytes, cwd, memoryLimitMb } = this.#opts;
    this.#send({
      t: 'init',
      agents,
      tools,
      concurrency,
      maxFrameBytes,
      ...(cwd === undefined ? {} : { cwd }),
      ...(memoryLimitMb === undefined ? {} : { memoryLimitMb }),
    });
  }

  #onReady(frame: ReadyFrame): void {
    if (this.#hello === undefined || this.#deferInit || this.#lifecycle.state !== 'handshaking') {
      this.#violation('unexpected "ready" frame');
      return;
    }
    const missing = this.#opts.agents.filter((a) => !frame.agents.includes(a.name)).map((a) => a.name);
    if (missing.length > 0) {
      this.#defect(synErr('SYN_ERR_STARTUP_FAILED', `Python worker did not load agents: ${missing.join(', ')}`, { ...this.#context(), missing }));
      return;
    }
    if (this.#startTimer !== undefined) this.#clock.clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
    this.#agents = Object.freeze([...frame.agents]);
    this.#wasReady = true;
    this.#lifecycle.send({ type: 'READY' });
    this.#heartbeat.start();
    this.#log.info({ startupMs: Math.round(this.#clock.now() - this.#spawnedAt), python: this.#hello.python, pydanticAi: this.#hello.pydanticAi }, 'python worker ready');
    this.#readyResolve();
  }

  // ─── inbound ───────────────────────────────────────────────────────────────

  #onStdout(chunk: Buffer): void {
    if (this.#failure !== undefined || this.#finalized) return; // already condemned: the rest of the stream is moot
    try {
      this.#decoder.push(chunk, (raw) => this.#onFrame(parseInbound(raw)));
    } catch (error) {
      this.#defect(error as SynapseError);
    }
  }

  #onStdoutEnd(): void {
    try {
      this.#decoder.end();
    } catch (error) {
      if (this.#failure === undefined && !this.#stopping()) this.#defect(error as SynapseError);
    }
  }

  #onFrame(frame: InboundFrame): void {
    if (this.#failure !== undefined) return;
    if (this.#stopping()) {
      if (frame.t === 'log') this.#onLog(frame);
      return; // runs were already settled with SYN_ERR_SHUTDOWN: late frames are expected and ignored
    }
    switch (frame.t) {
      case 'pong':
        this.#onPong(frame);
        return;
      case 'event':
        if (!this.#runs.event(frame)) this.#violation(`"event" for unknown run "${frame.id}"`);
        return;
      case 'result':
        if (!this.#runs.result(frame)) this.#violation(`"result" for unknown run "${frame.id}"`);
        return;
      case 'tool_call':
        if (!this.#runs.toolCall(frame)) this.#violation(`"tool_call" for unknown run "${frame.id}"`);
        return;
      case 'error':
        if (frame.id === null) {
          // The process failed as a whole (start-up or protocol error); it exits by itself.
          this.#defect(errorFromFrame(frame, this.#context()), FATAL_EXIT_GRACE_MS);
        } else if (!this.#runs.error({ ...frame, id: frame.id })) {
          this.#violation(`"error" for unknown run "${frame.id}"`);
        }
        return;
      case 'log':
        this.#onLog(frame);
        return;
      case 'hello':
        this.#onHello(frame);
        return;
      case 'ready':
        this.#onReady(frame);
        return;
      case 'bye':
        return; // only meaningful while stopping
    }
  }

  #onPong(frame: PongFrame): void {
    this.#heartbeat.pong(frame);
    if (this.listenerCount('health') > 0) this.#emitSafely('health', this.stats());
    const limitMb = this.#opts.memoryLimitMb;
    if (limitMb !== undefined && frame.rssBytes > limitMb * 1024 * 1024) {
      this.#defect(synErr('SYN_ERR_MEMORY_LIMIT', `Python worker ${this.#pid} uses ${Math.round(frame.rssBytes / 1048576)} MiB, above memoryLimitMb ${limitMb}; killed`, { ...this.#context(), rssBytes: frame.rssBytes, memoryLimitMb: limitMb }));
    }
  }

  #onLog(frame: LogFrame): void {
    const level = LOG_LEVEL[frame.level];
    if (!this.#log.isLevelEnabled(level)) return;
    this.#log[level]({ pyLogger: frame.logger, ...(frame.id === undefined ? {} : { runId: frame.id }) }, frame.msg);
  }

  #violation(what: string): void {
    this.#defect(synErr('SYN_ERR_PROTOCOL', `Protocol violation by Python worker ${this.#pid}: ${what}`, this.#context()));
  }

  // ─── failure, stop and exit ────────────────────────────────────────────────

  /**
   * The worker is defective: fail every run now, stop the heartbeat and kill the group
   * (after `graceMs` if given, so a worker that reported its own fatal error can exit cleanly).
   */
  #defect(error: SynapseError, graceMs?: number): void {
    if (this.#finalized || this.#failure !== undefined) return;
    if (this.#stopping()) {
      killGroup(this.#pid, 'SIGKILL'); // a misbehaving worker being stopped: just finish it
      return;
    }
    this.#failure = error;
    this.#lifecycle.send({ type: 'FAIL', error });
    this.#heartbeat.close();
    if (this.#startTimer !== undefined) this.#clock.clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
    this.#log.error({ code: error.code, err: error, inFlight: this.#runs.size }, 'python worker defective');
    this.#runs.failAll(error);
    if (graceMs === undefined) killGroup(this.#pid, 'SIGKILL');
    else this.#killTimer = this.#clock.setTimeout(() => killGroup(this.#pid, 'SIGKILL'), graceMs);
  }

  #stopping(): boolean {
    const s = this.#lifecycle.state;
    return s === 'stopping' || s === 'exited';
  }

  /** Marks a requested stop: no new runs, in-flight runs reject with SYN_ERR_SHUTDOWN. */
  #beginStop(reason: 'close' | 'kill'): void {
    if (this.#stopping() || this.#lifecycle.state === 'crashed') return;
    this.#lifecycle.send({ type: 'STOP' });
    this.#heartbeat.close();
    if (this.#startTimer !== undefined) this.#clock.clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
    this.#runs.failAll(synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.#pid} is stopping (${reason})`, { ...this.#context(), reason }));
  }

  async #close(timeoutMs: number): Promise<ProcessExit> {
    if (this.#finalized) return this.#exited;
    if (this.#lifecycle.state === 'crashed') {
      killGroup(this.#pid, 'SIGKILL');
      return this.#exited;
    }
    this.#beginStop('close');
    await escalateStop(
      this.#clock,
      {
        ask: () => this.#send({ t: 'shutdown' }),
        signal: (sig) => killGroup(this.#pid, sig),
        exited: this.#exited,
        onEscalate: (sig, afterMs) => this.#log.warn({ afterMs }, sig === 'SIGTERM' ? 'python worker ignored shutdown: SIGTERM' : 'python worker ignored SIGTERM: SIGKILL'),
      },
      timeoutMs,
    );
    return this.#exited;
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#exitStatus = { code, signal };
    // Take down anything the worker left in its group (its pipes would keep 'close' from firing).
    killGroup(this.#pid, 'SIGKILL');
    this.#closeTimer = this.#clock.setTimeout(() => {
      this.#closeTimer = undefined;
      const child = this.#child;
      child?.stdout.destroy();
      child?.stderr.destroy();
      this.#finalize(code, signal);
    }, CLOSE_AFTER_EXIT_MS);
  }

  /** Runs once, when the process is gone and its pipes are drained. */
  #finalize(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#finalized) return;
    this.#finalized = true;
    for (const t of [this.#startTimer, this.#killTimer, this.#closeTimer]) if (t !== undefined) this.#clock.clearTimeout(t);
    this.#heartbeat.close();
    this.#tail.flush((line) => this.#log.debug({ stream: 'stderr' }, line));
    const exitCode = this.#exitStatus?.code ?? code;
    const exitSignal = this.#exitStatus?.signal ?? signal;
    const stderrTail = this.#tail.text();
    const error = exitError({
      pid: this.#pid,
      exitCode,
      signal: exitSignal,
      stderrTail,
      failure: this.#failure,
      requested: this.#stopping(),
      wasReady: this.#wasReady,
      inFlight: this.#runs.size,
      context: this.#context(),
    });
    this.#runs.failAll(error ?? synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.#pid} stopped`, { ...this.#context(), exitCode, signal: exitSignal }));
    if (this.#lifecycle.state === 'stopping') this.#lifecycle.send({ type: 'EXITED' });
    else if (error !== undefined) this.#lifecycle.send({ type: 'FAIL', error });
    if (this.#pid > 0) this.#pidFile?.remove(this.#pid);
    this.#readyReject(this.#startAbort ?? error ?? synErr('SYN_ERR_SHUTDOWN', 'Python worker stopped before ready', this.#context()));
    this.#helloReject(this.#startAbort ?? error ?? synErr('SYN_ERR_SHUTDOWN', 'Python spare stopped before hello', this.#context()));
    const result: ProcessExit = error === undefined ? { exitCode, signal: exitSignal } : { exitCode, signal: exitSignal, error };
    this.#exit = result;
    if (error !== undefined && this.#failure === undefined) {
      this.#log.error({ code: error.code, exitCode, signal: exitSignal, stderrTail }, 'python worker died');
    } else this.#log.debug({ exitCode, signal: exitSignal }, 'python worker exited');
    this.#child?.removeAllListeners();
    this.#lifecycle.stop();
    this.#exitedResolve(result);
    this.#emitSafely('exit', result);
    this.removeAllListeners('state');
    this.removeAllListeners('health');
  }

  // ─── helpers ───────────────────────────────────────────────────────────────

  /** Why a new run cannot start now, or undefined if it can. */
  #unavailable(): SynapseError | undefined {
    const state = this.#lifecycle.state;
    if (state === 'ready') return undefined;
    if (state === 'crashed' && this.#failure !== undefined) return this.#failure;
    if (state === 'crashed') return synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${this.#pid} has crashed`, this.#context());
    return synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.#pid} is ${state}: not accepting runs`, { ...this.#context(), state });
  }

  #send(frame: OutboundFrame): void {
    this.#writeLine(encodeFrame(frame, this.#opts.maxFrameBytes));
  }

  #writeLine(line: string): void {
    const stdin = this.#child?.stdin;
    if (stdin === undefined || !stdin.writable) return; // the worker is gone; its death is reported elsewhere
    stdin.write(line);
  }

  #context(): ErrorDetails {
    const { agent, worker } = this.#opts.label;
    return { pid: this.#pid, ...(agent === undefined ? {} : { agent }), ...(worker === undefined ? {} : { worker }) };
  }

  #emitSafely<E extends keyof PythonProcessEvents>(event: E, ...args: Parameters<PythonProcessEvents[E]>): void {
    try {
      (this.emit as (e: E, ...a: Parameters<PythonProcessEvents[E]>) => boolean)(event, ...args);
    } catch (error) {
      setImmediate(() => {
        throw error; // a listener's bug must not break the worker's bookkeeping
      });
    }
  }
}
