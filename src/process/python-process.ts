/**
 * One Python worker OS process running `python -m synapse_bridge`: spawn, handshake
 * (`hello` → `init` → `ready`, or a warm spare parked after `hello`) and the public run API.
 *
 * The rest is split by concern: `worker-base.ts` (shared state, inbound frames, defects, stop and
 * exit), `wire.ts` (framing), `dispatch.ts` (run admission, frame routing), `runs.ts` (in-flight
 * runs), `heartbeat.ts`, `lifecycle.ts`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { synErr } from '../errors.ts';
import { VERSION } from '../version.ts';
import { resolveOptions, v } from '../options.ts';
import { FEATURE_DEFERRED_TOOLS, FEATURE_DEPS_FACTORY, FEATURE_HISTORY_CHUNKS, FEATURE_MULTIMODAL_PROMPT, FEATURE_RUN_OPTIONS, FEATURE_STRUCTURED_OUTPUT, PROTOCOL_VERSION, type HelloFrame, type ReadyFrame } from '../protocol/frames.ts';
import { admitRun } from './dispatch.ts';
import { CONTROL_FDS } from './control.ts';
import { PYTHON_SETUP_COMMAND } from './interpreter.ts';
import { buildChildEnv } from './env.ts';
import { ForkedChild } from './forked-child.ts';
import type { WorkerChild } from './forked-child.ts';
import { resolveProcessOptions } from './options.ts';
import type { PythonProcessOptions, ResolvedProcessOptions } from './options.ts';
import { killGroup } from './proc.ts';
import type { ProcessExit } from './process-types.ts';
import type { RunHandlers, RunRequest, RunResult } from './runs.ts';
import { SpareProcess } from './spare.ts';
import type { SpareAssignOptions } from './spare.ts';
import { silentLogger, WorkerBase } from './worker-base.ts';

export type { ProcessExit, ProcessStats, PythonProcessEvents } from './process-types.ts';

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
export class PythonProcess extends WorkerBase {
  #hello: HelloFrame | undefined;
  #agents: readonly string[] = [];
  #closing: Promise<ProcessExit> | undefined;
  #spawnedAt = 0;
  /** True for a spare between spawn and assignment: `hello` does not trigger `init`. */
  #deferInit: boolean;
  /** Python announced {@link FEATURE_HISTORY_CHUNKS} in `hello`. */
  #historyChunks = false;
  /** Python announced {@link FEATURE_RUN_OPTIONS} in `hello`. */
  #runOptions = false;
  /** Python announced {@link FEATURE_DEFERRED_TOOLS} in `hello`. */
  #deferredTools = false;
  /** Python announced {@link FEATURE_STRUCTURED_OUTPUT} in `hello`. */
  #structuredOutput = false;
  /** Python announced {@link FEATURE_DEPS_FACTORY} in `hello`. */
  #depsFactory = false;
  /** Python announced {@link FEATURE_MULTIMODAL_PROMPT} in `hello`. */
  #multimodalPrompt = false;

  /**
   * Spawns a worker and resolves once it is ready (every agent loaded).
   *
   * @throws SYN_ERR_INVALID_OPTION for a bad option; SYN_ERR_PYTHON_NOT_FOUND if the interpreter is missing;
   *   SYN_ERR_STARTUP_TIMEOUT if not ready within `startTimeoutMs`; SYN_ERR_STARTUP_FAILED if it failed or exited
   *   before ready (details: `type`, `traceback`, `exitCode`, `signal`, `stderrTail`, `pid`); SYN_ERR_ABORTED if
   *   `signal` aborted; SYN_ERR_BRIDGE_VERSION if the Python synapse-bridge is another version than this package.
   *   In every failure case the process is gone before the promise rejects.
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
      await (spare ? proc.helloPromise : proc.readyPromise);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return proc;
  }

  private constructor(opts: ResolvedProcessOptions, deferInit = false) {
    super(opts);
    this.#deferInit = deferInit;
  }

  /** The `hello` frame (Python and pydantic-ai versions). */
  get hello(): HelloFrame | undefined {
    return this.#hello;
  }

  /** Names of the loaded agents (from `ready`). */
  get agents(): readonly string[] {
    return this.#agents;
  }

  /**
   * Runs one request. Events stream to `handlers.onEvent`; TS tool calls go to `handlers.onToolCall`.
   *
   * @throws SYN_ERR_INVALID_ARGUMENT (malformed request or duplicate id), SYN_ERR_NO_AGENT (agent not loaded),
   *   SYN_ERR_OVERLOADED (`concurrency` runs in flight), SYN_ERR_FRAME_TOO_LARGE (request above `maxFrameBytes`
   *   not because of its history: a history above it is sent in chunks), SYN_ERR_HISTORY_TOO_LARGE (history above
   *   `maxHistoryBytes`),
   *   SYN_ERR_SHUTDOWN (draining or stopped), SYN_ERR_AGENT_FAILED (the agent raised; details `kind`, `type`,
   *   `traceback`, `retryable`), SYN_ERR_TIMEOUT, SYN_ERR_ABORTED, and — when the worker dies or misbehaves —
   *   SYN_ERR_AGENT_CRASHED (details `exitCode`, `signal`, `stderrTail`, `pid`), SYN_ERR_PROTOCOL (also when its
   *   protocol stream ends while the process keeps running), SYN_ERR_FRAME_TOO_LARGE, SYN_ERR_HEARTBEAT_TIMEOUT
   *   or SYN_ERR_MEMORY_LIMIT.
   */
  run(request: RunRequest, handlers: RunHandlers = {}): Promise<RunResult> {
    let line: string;
    try {
      line = admitRun(request, handlers, {
        agents: this.#agents,
        runs: this.runs,
        concurrency: this.opts.concurrency,
        maxFrameBytes: this.opts.maxFrameBytes,
        historyChunks: this.#historyChunks,
        runOptions: this.#runOptions,
        deferredTools: this.#deferredTools,
        structuredOutput: this.#structuredOutput,
        multimodalPrompt: this.#multimodalPrompt,
        maxHistoryBytes: this.opts.maxHistoryBytes,
        pid: this.osPid,
        unavailable: this.unavailable(),
        context: this.context(),
      });
    } catch (error) {
      return Promise.reject(error);
    }
    const result = this.runs.add(request, handlers);
    this.wire.sendLine(line);
    return result;
  }

  /** Cancels a run: its caller rejects with SYN_ERR_ABORTED now; Python cancels the task. Returns false if not in flight. */
  cancel(id: string): boolean {
    return this.runs.cancel(id);
  }

  /** Stops accepting runs (SYN_ERR_SHUTDOWN) and resolves once the in-flight ones settled. */
  drain(): Promise<void> {
    if (this.lifecycle.state === 'ready') this.lifecycle.send({ type: 'DRAIN' });
    return this.runs.whenIdle();
  }

  /** Accepts runs again after {@link drain}. */
  resume(): void {
    if (this.lifecycle.state === 'draining') this.lifecycle.send({ type: 'RESUME' });
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
      this.#closing = this.stopGracefully(timeoutMs ?? this.opts.shutdownTimeoutMs);
    }
    return this.#closing;
  }

  /** Immediate stop: SIGKILL to the process group; in-flight runs reject with SYN_ERR_SHUTDOWN. Idempotent. */
  kill(): void {
    if (this.finalized) return;
    this.beginStop('kill');
    killGroup(this.osPid, 'SIGKILL');
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
    this.wire.push(Buffer.from(bytes));
  }

  // ─── start-up ──────────────────────────────────────────────────────────────

  #spawn(): void {
    const { executable, cwd, zygotes } = this.opts;
    // fds 3/4: the heartbeat control channel (pings served by a Python thread, see control.ts).
    // uvloop does not recover from allocation failures under RLIMIT_AS: a memory-capped worker
    // runs the stock asyncio loop unless the user's env chose otherwise (python-bridge __main__).
    const loop = this.opts.memoryLimitMb === undefined ? {} : { SYNAPSE_LOOP: 'asyncio' };
    const env = { ...loop, ...buildChildEnv(process.env, this.opts.env, process.pid), SYNAPSE_CONTROL_FDS: CONTROL_FDS };
    this.#spawnedAt = this.clock.now();
    const spawnChild = (): WorkerChild => spawn(executable, ['-m', 'synapse_bridge'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'], detached: true }) as unknown as ChildProcessWithoutNullStreams;
    if (zygotes === undefined) {
      this.#adopt(spawnChild());
      return;
    }
    // Forked from a zygote (docs/architecture.md, "Zygote"); spawned as usual when forking is unavailable.
    zygotes.fork({ executable, agentEnv: this.opts.env, env, cwd }).then(
      (child) => this.#adopt(child),
      () => {
        if (this.stopping() || this.failure !== undefined) this.finalize(null, null); // stopped while waiting: nothing ran
        else this.#adopt(spawnChild());
      },
    );
  }

  #adopt(child: WorkerChild): void {
    const { executable, cwd } = this.opts;
    this.child = child;
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) {
        this.log.warn({ err: error }, 'child process error');
        return; // a kill() on an exited process or similar: 'exit'/'close' still report the death
      }
      this.failure = synErr('SYN_ERR_PYTHON_NOT_FOUND', `Cannot spawn ${executable}${cwd === undefined ? '' : ` in ${cwd}`}: ${error.message} (run \`${PYTHON_SETUP_COMMAND}\`, or set SYNAPSE_PYTHON)`, { executable, cwd }, error);
      this.finalize(null, null);
    });
    if (child.pid === undefined) return; // spawn failed: 'error' follows
    this.osPid = child.pid;
    this.log = this.log.child({ pythonPid: this.osPid });
    this.lifecycle.send({ type: 'SPAWNED', pid: this.osPid });
    this.pidFile?.add(this.osPid);
    this.log.debug({ executable, forked: child instanceof ForkedChild }, 'python worker spawned');
    this.#armStartTimer(this.#deferInit ? 'did not say hello' : 'was not ready');
    this.attachChild(child);
    // Stopped (or aborted) while its fork was pending: it is attached now, so its exit is reported.
    if (this.stopping() || this.failure !== undefined) killGroup(this.osPid, 'SIGKILL');
  }

  #armStartTimer(what: string): void {
    const { startTimeoutMs } = this.opts;
    this.startTimer = this.clock.setTimeout(() => {
      this.startTimer = undefined;
      this.defect(synErr('SYN_ERR_STARTUP_TIMEOUT', `Python worker ${this.osPid} ${what} within ${startTimeoutMs} ms`, { ...this.context(), startTimeoutMs }));
    }, startTimeoutMs);
  }

  /** Turns a spare into a worker: relabel, `init`, await `ready` (or the start-up failure). */
  async #assign(assign: SpareAssignOptions): Promise<PythonProcess> {
    const { label, signal } = assign;
    if (!this.#deferInit) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Spare ${this.osPid} was already assigned`, this.context());
    const unavailable = this.exitReport?.error ?? this.failure ?? (this.finalized || this.stopping() ? synErr('SYN_ERR_SHUTDOWN', `Spare ${this.osPid} is ${this.state}`, this.context()) : undefined);
    if (unavailable !== undefined) throw unavailable;
    if (signal?.aborted) throw synErr('SYN_ERR_ABORTED', 'Assignment of the spare was aborted', this.context(), signal.reason);
    this.#deferInit = false;
    if (label !== undefined) {
      this.opts = { ...this.opts, label };
      this.log = (this.opts.log ?? silentLogger()).child({ agent: label.agent, worker: label.worker }).child({ pythonPid: this.osPid });
    }
    this.#spawnedAt = this.clock.now();
    this.#armStartTimer('was not ready');
    const onAbort = (): void => this.#abortStart(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.#sendInit();
      await this.readyPromise;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return this;
  }

  #abortStart(reason: unknown): void {
    if (this.wasReady || this.finalized) return;
    this.startAbort = synErr('SYN_ERR_ABORTED', 'Start of the Python worker was aborted', this.context(), reason);
    this.kill();
  }

  protected override onHello(frame: HelloFrame): void {
    if (this.#hello !== undefined || this.lifecycle.state !== 'handshaking') {
      this.violation('unexpected "hello" frame');
      return;
    }
    this.#hello = frame;
    if (frame.bridge !== VERSION) {
      // A venv set up for another release: its runtime may speak v1 yet differ in behaviour. Stop before any user code.
      const actual = frame.bridge ?? null;
      this.defect(
        synErr(
          'SYN_ERR_BRIDGE_VERSION',
          `Python synapse-bridge ${actual ?? '(too old to report a version)'} at ${this.opts.executable} does not match the Node package synapse ${VERSION}: run \`${PYTHON_SETUP_COMMAND}\` to reinstall the bundled bridge, or point SYNAPSE_PYTHON at a venv set up for ${VERSION}`,
          { ...this.context(), expected: VERSION, actual, executable: this.opts.executable, python: frame.python, pydanticAi: frame.pydanticAi },
        ),
      );
      return;
    }
    this.#historyChunks = frame.features?.includes(FEATURE_HISTORY_CHUNKS) ?? false;
    this.#runOptions = frame.features?.includes(FEATURE_RUN_OPTIONS) ?? false;
    this.#deferredTools = frame.features?.includes(FEATURE_DEFERRED_TOOLS) ?? false;
    this.#structuredOutput = frame.features?.includes(FEATURE_STRUCTURED_OUTPUT) ?? false;
    this.#depsFactory = frame.features?.includes(FEATURE_DEPS_FACTORY) ?? false;
    this.#multimodalPrompt = frame.features?.includes(FEATURE_MULTIMODAL_PROMPT) ?? false;
    if (this.#deferInit) {
      // A spare: pydantic-ai is imported, no user code. Watch it while it waits for an assignment.
      this.clearStartTimer();
      this.heartbeat.start();
      this.log.debug({ helloMs: Math.round(this.clock.now() - this.#spawnedAt) }, 'python spare warm');
      this.helloResolve();
      return;
    }
    this.#sendInit();
  }

  #sendInit(): void {
    const { agents, tools, concurrency, maxFrameBytes, maxHistoryBytes, cwd, memoryLimitMb } = this.opts;
    const withOptions = agents.find((a) => a.model !== undefined || a.modelSettings !== undefined || a.usageLimits !== undefined);
    if (withOptions !== undefined && !this.#runOptions) {
      this.defect(synErr('SYN_ERR_INVALID_OPTION', `Python worker ${this.osPid} does not support run options (model, modelSettings, usageLimits of agent "${withOptions.name}"): its bridge does not announce "run_options"`, { ...this.context(), option: 'model' }));
      return;
    }
    const withHooks = agents.find((a) => a.deps !== undefined || a.lifespan !== undefined);
    if (withHooks !== undefined && !this.#depsFactory) {
      const option = withHooks.deps !== undefined ? 'deps' : 'lifespan';
      this.defect(synErr('SYN_ERR_INVALID_OPTION', `Python worker ${this.osPid} does not support a deps factory or lifespan (${option} of agent "${withHooks.name}"): its bridge does not announce "${FEATURE_DEPS_FACTORY}"`, { ...this.context(), option }));
      return;
    }
    this.send({
      t: 'init',
      v: PROTOCOL_VERSION,
      agents,
      tools,
      concurrency,
      maxFrameBytes,
      maxHistoryBytes,
      ...(cwd === undefined ? {} : { cwd }),
      ...(memoryLimitMb === undefined ? {} : { memoryLimitMb }),
    });
  }

  protected override onReady(frame: ReadyFrame): void {
    if (this.#hello === undefined || this.#deferInit || this.lifecycle.state !== 'handshaking') {
      this.violation('unexpected "ready" frame');
      return;
    }
    const missing = this.opts.agents.filter((a) => !frame.agents.includes(a.name)).map((a) => a.name);
    if (missing.length > 0) {
      this.defect(synErr('SYN_ERR_STARTUP_FAILED', `Python worker did not load agents: ${missing.join(', ')}`, { ...this.context(), missing }));
      return;
    }
    this.clearStartTimer();
    this.#agents = Object.freeze([...frame.agents]);
    this.wasReady = true;
    this.lifecycle.send({ type: 'READY' });
    this.heartbeat.start();
    // Readiness itself is the agent layer's worker.ready event; this is only what it does not carry.
    this.log.debug({ python: this.#hello.python, pydanticAi: this.#hello.pydanticAi }, 'python versions');
    this.readyResolve();
  }
}
