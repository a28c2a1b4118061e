/**
 * One Python worker OS process running `python -m synapse_bridge`, in one class whose sections
 * follow its life: spawn → handshake → runs → inbound frames → end of life.
 *
 * What the worker can do and why it ended is one field, {@link PythonWorker.state}: a
 * discriminated union changed only by `#to()`, which checks the move against {@link TRANSITIONS}
 * and emits `'state'`. A warm spare is a worker in the `parked` state (interpreter up, pydantic-ai
 * imported, no user code); {@link PythonWorker.assign} is legal only there.
 *
 * ```
 * spawning ─▶ handshaking ─▶ ready ─▶ stopping ─▶ exited
 *    │            ▲  │          │         ▲
 *    └─(spare)─▶ parked ────────┼─────────┘
 *    every live state ──defect──┴─▶ crashed (its `exit` is set once the OS process is gone)
 * ```
 *
 * Invariants:
 * - every run settles exactly once (value or coded error) — the {@link RunTable} owns that;
 * - when the worker dies or misbehaves, every in-flight run rejects at once, the process group is
 *   killed, then `exited` resolves and `'exit'` fires, once;
 * - nothing outlives `exited`: timers cleared, listeners removed, pid file entry dropped;
 * - the worker is the only counter of its slots: `free()` is what a router may dispatch, and
 *   `'capacity'` fires whenever that number may have grown.
 *
 * xstate is not used here (docs/decisions.md, "Process lifecycle without xstate"): the machine is
 * seven states, every transition carries data the state needs, and a plain union checked by the
 * compiler says more than a machine whose context nobody read.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import { realClock } from '../clock.ts';
import { silentLogger } from '../observe/log.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { ErrorDetails, SynapseError } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import { FEATURE_DEPS_FACTORY, FEATURE_GC_NOTICES, FEATURE_MODEL_SLOTS, FEATURE_RUN_OPTIONS, PROTOCOL_VERSION } from '../protocol/frames.ts';
import type { GcFrame, HelloFrame, InboundFrame, LogFrame, OutboundFrame, PongFrame, ReadyFrame } from '../protocol/frames.ts';
import { rethrowLater } from '../rethrow.ts';
import { VERSION } from '../version.ts';
import { CONTROL_FDS, ControlChannel } from './control.ts';
import { buildChildEnv } from './env.ts';
import { watchEof } from './eof.ts';
import { exitError } from './exit-report.ts';
import { ForkedChild } from './forked-child.ts';
import type { WorkerChild } from './forked-child.ts';
import { Heartbeat } from './heartbeat.ts';
import { PYTHON_SETUP_COMMAND } from './interpreter.ts';
import { resolveProcessOptions } from './options.ts';
import type { ProcessLabel, PythonProcessOptions, ResolvedProcessOptions } from './options.ts';
import { getDefaultPidFile } from './pidfile.ts';
import type { PidFile } from './pidfile.ts';
import { killGroup } from './proc.ts';
import { RunTable } from './runs.ts';
import type { RunHandlers, RunRequest, RunResult } from './runs.ts';
import { scrubText, secretValues } from './scrub.ts';
import { escalateStop } from './shutdown.ts';
import { StderrTail } from './stderr-tail.ts';
import { errorFromFrame } from './wire-errors.ts';
import { WireChannel } from './wire.ts';

/** Time given to a worker that reported a fatal error to exit on its own (so its stderr is complete) before SIGKILL. */
const FATAL_EXIT_GRACE_MS = 1_000;
/** After `exit`, how long to wait for the stdio pipes to close (a grandchild may hold them) before finalising anyway. */
const CLOSE_AFTER_EXIT_MS = 2_000;

// ─── public types ────────────────────────────────────────────────────────────

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

/**
 * A worker's state and the data that state needs (see the module comment for the graph):
 * - `spawning`: no OS process yet (spawn or zygote fork under way); `spare` if it will park.
 * - `handshaking`: `hello` → `init` → `ready` under the start deadline (`spare`: waiting for `hello` only).
 * - `parked`: a warm spare after `hello`: heartbeated, no user code, waiting for {@link PythonWorker.assign}.
 * - `ready`: runs accepted; `agents` loaded.
 * - `stopping`: a requested stop (`close` or `kill`); `startAbort` when it was an aborted start.
 * - `crashed`: found defective (`error`); `exit` once the OS process is gone.
 * - `exited`: gone after a requested stop.
 */
export type WorkerState =
  | { readonly kind: 'spawning'; readonly spare: boolean }
  | { readonly kind: 'handshaking'; readonly pid: number; readonly spare: boolean }
  | { readonly kind: 'parked'; readonly pid: number }
  | { readonly kind: 'ready'; readonly pid: number; readonly agents: readonly string[] }
  | { readonly kind: 'stopping'; readonly pid: number; readonly reason: 'close' | 'kill'; readonly wasReady: boolean; readonly startAbort?: SynapseError }
  | { readonly kind: 'crashed'; readonly pid: number; readonly error: SynapseError; readonly wasReady: boolean; readonly exit?: ProcessExit }
  | { readonly kind: 'exited'; readonly pid: number; readonly exit: ProcessExit };

/** The name of a {@link WorkerState}. */
export type ProcessState = WorkerState['kind'];

/**
 * The legal moves of {@link WorkerState} (`crashed → crashed` records the exit of a condemned
 * worker, `stopping → stopping` the pid of a fork that arrived after the stop). Exported for tests and docs; the worker refuses any other move.
 */
export const TRANSITIONS: Readonly<Record<ProcessState, readonly ProcessState[]>> = Object.freeze({
  spawning: ['handshaking', 'stopping', 'crashed'],
  handshaking: ['parked', 'ready', 'stopping', 'crashed'],
  parked: ['handshaking', 'stopping', 'crashed'],
  ready: ['stopping', 'crashed'],
  stopping: ['stopping', 'exited'],
  crashed: ['crashed'],
  exited: [],
});

/** Events of a {@link PythonWorker}. */
export interface PythonWorkerEvents {
  /** Fired once, after every run settled and the OS process is gone. */
  exit: (exit: ProcessExit) => void;
  /** Each state change (the new state's name; `worker.current` has its data). */
  state: (state: ProcessState) => void;
  /** Each heartbeat answer, with the worker's health (RSS, loop lag, in-flight). */
  health: (stats: ProcessStats) => void;
  /** A slot may have become free (a run settled, a cancel was acknowledged, the worker became ready). */
  capacity: () => void;
}

/** Options of {@link PythonWorker.assign}. */
export interface SpareAssignOptions {
  /** Labels of the worker it becomes (logs and error details); default: the labels given at spawn. */
  label?: ProcessLabel;
  /** Aborting before `ready` kills the process; the promise rejects with SYN_ERR_ABORTED. */
  signal?: AbortSignal;
}

const SIGNAL = v.optional(v.instanceOf(AbortSignal, 'an AbortSignal'));
const ASSIGN_SCHEMA = {
  label: v.optional(v.object({ agent: v.optional(v.string()), worker: v.optional(v.number({ min: 0, integer: true })) })),
  signal: SIGNAL,
};

/**
 * Which spawn-level agent fields need which bridge feature (checked before `init`: an old bridge
 * would ignore them silently). Per-run gates are in `runs.ts` (`RUN_GATES`).
 */
const INIT_GATES: readonly { readonly feature: string; readonly option: (agent: ResolvedProcessOptions['agents'][number]) => string | undefined }[] = [
  { feature: FEATURE_RUN_OPTIONS, option: (a) => (a.model !== undefined ? 'model' : a.modelSettings !== undefined ? 'modelSettings' : a.usageLimits !== undefined ? 'usageLimits' : undefined) },
  { feature: FEATURE_DEPS_FACTORY, option: (a) => (a.deps !== undefined ? 'deps' : a.lifespan !== undefined ? 'lifespan' : undefined) },
  { feature: FEATURE_MODEL_SLOTS, option: (a) => (a.modelSlots === true ? 'rateLimit' : undefined) },
];

interface StartWaiter {
  readonly resolve: () => void;
  readonly reject: (error: SynapseError) => void;
}

/**
 * A Python worker process speaking protocol v1 (see `docs/protocol.md`).
 *
 * @example
 * ```ts
 * const proc = await PythonWorker.start({ agents: [{ name: 'echo', ref: 'examples/agents/echo.py:agent' }] });
 * const { output } = await proc.run({ id: 'r1', agent: 'echo', prompt: 'hi' });
 * await proc.close();
 * ```
 */
export class PythonWorker extends EventEmitter<PythonWorkerEvents> {
  #state: WorkerState;
  #opts: ResolvedProcessOptions;
  readonly #clock: Clock;
  #log: Logger;
  readonly #pidFile: PidFile | null;
  /** Values of `opts.env` scrubbed from what the worker says about itself (see `scrub.ts`). */
  readonly #secrets: readonly string[];
  readonly #wire: WireChannel;
  /** The heartbeat control channel (child fds 3/4): pings out, pongs in, apart from the protocol stream. */
  readonly #control: ControlChannel;
  readonly #heartbeat: Heartbeat;
  readonly #runs: RunTable;
  readonly #tail = new StderrTail();
  #hello: HelloFrame | undefined;
  // OS resources (not state): the child, its exit status while its pipes drain, the timers.
  #child: WorkerChild | undefined;
  #exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #startTimer: TimerHandle | undefined;
  #killTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  #eofTimer: TimerHandle | undefined;
  #startedAt = 0;
  /** Who awaits the current start phase (`start`: ready; `spawnSpare`: parked; `assign`: ready). */
  #waiter: StartWaiter | undefined;
  #closing: Promise<ProcessExit> | undefined;
  readonly #exited: Promise<ProcessExit>;
  #exitedResolve!: (exit: ProcessExit) => void;

  // ─── spawn ─────────────────────────────────────────────────────────────────

  /**
   * Spawns a worker and resolves once it is ready (every agent loaded).
   *
   * @throws SYN_ERR_INVALID_OPTION for a bad option; SYN_ERR_PYTHON_NOT_FOUND if the interpreter is missing;
   *   SYN_ERR_STARTUP_TIMEOUT if not ready within `startTimeoutMs`; SYN_ERR_STARTUP_FAILED if it failed or exited
   *   before ready (details: `type`, `traceback`, `exitCode`, `signal`, `stderrTail`, `pid`); SYN_ERR_ABORTED if
   *   `signal` aborted; SYN_ERR_BRIDGE_VERSION if the Python synapse-bridge is another version than this package.
   *   In every failure case the process is gone before the promise rejects.
   */
  static start(options?: PythonProcessOptions, startOptions: { signal?: AbortSignal } = {}): Promise<PythonWorker> {
    return PythonWorker.#launch(options, startOptions, false);
  }

  /**
   * Spawns a warm spare: the interpreter starts and imports pydantic-ai (`hello`), then the worker
   * parks; no user code is loaded until {@link assign} sends `init`. `options` are the full options
   * of the worker it will become (executable, cwd and env — which may hold one agent's secrets —
   * are fixed at spawn, so a spare serves exactly one agent). A parked spare is in the pid file and
   * heartbeated; one that dies or stops answering is reaped.
   *
   * @throws the same codes as {@link start}; the deadline `startTimeoutMs` applies to `hello` here
   *   (and again from `assign` to `ready`).
   */
  static spawnSpare(options?: PythonProcessOptions, startOptions: { signal?: AbortSignal } = {}): Promise<PythonWorker> {
    return PythonWorker.#launch(options, startOptions, true);
  }

  static async #launch(options: PythonProcessOptions | undefined, startOptions: { signal?: AbortSignal }, spare: boolean): Promise<PythonWorker> {
    const resolved = resolveProcessOptions(options);
    const { signal } = resolveOptions('startOptions', startOptions, { signal: SIGNAL });
    if (signal?.aborted) throw synErr('SYN_ERR_ABORTED', 'Start of the Python worker was aborted', {}, signal.reason);
    const worker = new PythonWorker(resolved, spare);
    await worker.#awaitStart(signal, () => worker.#spawn());
    return worker;
  }

  private constructor(opts: ResolvedProcessOptions, spare: boolean) {
    super();
    this.#state = { kind: 'spawning', spare };
    this.#opts = opts;
    this.#secrets = secretValues(opts.env, opts.secrets);
    this.#clock = opts.clock ?? realClock;
    this.#log = (opts.log ?? silentLogger()).child({ agent: opts.label.agent, worker: opts.label.worker });
    this.#pidFile = opts.pidFile === undefined ? getDefaultPidFile() : opts.pidFile;
    this.#exited = new Promise<ProcessExit>((resolve) => (this.#exitedResolve = resolve));
    const deaf = (): boolean => this.#state.kind === 'crashed' || this.#gone();
    this.#wire = new WireChannel(opts.maxFrameBytes, {
      onFrame: (frame) => this.#onFrame(frame),
      onViolation: (error) => this.#defect(error),
      onEnd: (truncated) => this.#onStreamEnd(truncated),
      ignoreInbound: deaf,
    });
    this.#control = new ControlChannel({
      onPong: (frame) => {
        if (this.#live()) this.#onPong(frame);
      },
      onGc: (frame) => {
        if (this.#live()) this.#onGc(frame);
      },
      onViolation: (error) => this.#defect(error),
      ignoreInbound: deaf,
    });
    this.#heartbeat = new Heartbeat({
      clock: this.#clock,
      intervalMs: opts.heartbeatIntervalMs,
      timeoutMs: opts.heartbeatTimeoutMs,
      gcGraceMs: opts.gcGraceMs,
      sendPing: (seq) => this.#control.ping(seq),
      onTimeout: (silentForMs, collecting) =>
        this.#defect(
          synErr(
            'SYN_ERR_HEARTBEAT_TIMEOUT',
            `Python worker ${this.pid} did not answer heartbeats for ${Math.round(silentForMs)} ms${collecting ? ` (inside a garbage collection it announced; gcGraceMs ${opts.gcGraceMs})` : ''}; killed`,
            { ...this.#context(), silentForMs, ...(collecting ? { gc: true } : {}) },
          ),
        ),
    });
    this.#runs = new RunTable({
      clock: this.#clock,
      cancelGraceMs: opts.cancelGraceMs,
      concurrency: opts.concurrency,
      maxFrameBytes: opts.maxFrameBytes,
      maxHistoryBytes: opts.maxHistoryBytes,
      send: (frame) => this.#wire.send(frame),
      sendLine: (line) => this.#wire.sendLine(line),
      onUnresponsive: (runId, graceMs) =>
        this.#defect(
          synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${this.pid} did not acknowledge the cancel of run ${runId} within ${graceMs} ms; killed`, {
            ...this.#context(),
            reason: 'cancel_unacknowledged',
            runId,
          }),
        ),
      onFreed: () => this.#emitSafely('capacity'),
      context: () => this.#context(),
    });
  }

  #spawn(): void {
    const { executable, cwd, zygotes } = this.#opts;
    // fds 3/4: the heartbeat control channel (pings served by a Python thread, see control.ts).
    // uvloop does not recover from allocation failures under RLIMIT_AS: a memory-capped worker
    // runs the stock asyncio loop unless the user's env chose otherwise (python-bridge __main__).
    const loop = this.#opts.memoryLimitMb === undefined ? {} : { SYNAPSE_LOOP: 'asyncio' };
    // SYNAPSE_LOG_FORWARD: Python leaves unsent the `log` frames #forwardLog would drop (the logger's level at spawn).
    const env = { ...loop, ...buildChildEnv(process.env, this.#opts.env, process.pid), SYNAPSE_CONTROL_FDS: CONTROL_FDS, SYNAPSE_LOG_FORWARD: forwardLevel(this.#log) };
    this.#startedAt = this.#clock.now();
    const spawnChild = (): WorkerChild => spawn(executable, ['-m', 'synapse_bridge'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'], detached: true }) as unknown as ChildProcessWithoutNullStreams;
    if (zygotes === undefined) {
      this.#adopt(spawnChild());
      return;
    }
    // Forked from a zygote (docs/architecture.md, "Zygote"); spawned as usual when forking is unavailable.
    zygotes.fork({ executable, agentEnv: this.#opts.env, env, cwd }).then(
      (child) => this.#adopt(child),
      () => {
        if (this.#state.kind === 'spawning') this.#adopt(spawnChild());
        else this.#finalize(null, null); // stopped while waiting: nothing ran
      },
    );
  }

  #adopt(child: WorkerChild): void {
    const { executable, cwd } = this.#opts;
    this.#child = child;
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) {
        this.#log.warn({ err: error }, 'child process error');
        return; // a kill() on an exited process or similar: 'exit'/'close' still report the death
      }
      const notFound = synErr('SYN_ERR_PYTHON_NOT_FOUND', `Cannot spawn ${executable}${cwd === undefined ? '' : ` in ${cwd}`}: ${error.message} (run \`${PYTHON_SETUP_COMMAND}\`, or set SYNAPSE_PYTHON)`, { executable, cwd }, error);
      if (this.#state.kind === 'spawning') this.#to({ kind: 'crashed', pid: -1, error: notFound, wasReady: false });
      this.#finalize(null, null);
    });
    if (child.pid === undefined) return; // spawn failed: 'error' follows
    const pid = child.pid;
    this.#log = this.#log.child({ pythonPid: pid });
    this.#pidFile?.add(pid);
    this.#log.debug({ executable, forked: child instanceof ForkedChild }, 'python worker spawned');
    this.#attach(child);
    const s = this.#state;
    if (s.kind === 'stopping' || s.kind === 'crashed') {
      // Stopped (or aborted, or condemned) while its fork was pending: attached now, so its exit is reported.
      this.#to({ ...s, pid });
      killGroup(pid, 'SIGKILL');
      return;
    }
    if (s.kind !== 'spawning') return; // unreachable: only a pending start adopts a child
    const spare = s.spare;
    this.#to({ kind: 'handshaking', pid, spare });
    this.#armStartTimer(spare ? 'did not say hello' : 'was not ready');
  }

  /** Wires the child's pipes (or a forked child's sockets) and exit to this worker. */
  #attach(child: WorkerChild): void {
    this.#wire.attach(child.stdin, child.stdout);
    const [, , , pingPipe, pongPipe] = child.stdio as unknown as [unknown, unknown, unknown, Writable | null | undefined, Readable | null | undefined];
    if (pingPipe && pongPipe) this.#control.attach(pingPipe, pongPipe);
    const onLine = this.#log.isLevelEnabled('debug') ? (line: string) => this.#log.debug({ stream: 'stderr' }, scrubText(line, this.#secrets)) : undefined;
    child.stderr.on('data', (chunk: Buffer) => this.#tail.push(chunk, onLine));
    child.on('exit', (code, signal) => this.#onExit(code, signal));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => this.#finalize(code, signal));
  }

  // ─── handshake ─────────────────────────────────────────────────────────────

  /**
   * Turns a parked spare into a worker: relabel, `init`, await `ready` (or the start-up failure).
   * The caller then owns the worker (`close`/`kill` it).
   *
   * @throws SYN_ERR_INVALID_OPTION for a bad option; SYN_ERR_INVALID_ARGUMENT if it is not a parked
   *   spare (already assigned, or never one); SYN_ERR_STARTUP_FAILED (the agent module failed to
   *   import, or the spare died: details as {@link start}), SYN_ERR_STARTUP_TIMEOUT,
   *   SYN_ERR_HEARTBEAT_TIMEOUT, SYN_ERR_SHUTDOWN (the spare was stopped), SYN_ERR_ABORTED. On every
   *   failure the process is gone (or going).
   */
  async assign(options: SpareAssignOptions = {}): Promise<PythonWorker> {
    const o = resolveOptions('assign', options, ASSIGN_SCHEMA);
    const s = this.#state;
    if (s.kind === 'crashed') throw s.exit?.error ?? s.error;
    if (s.kind === 'stopping' || s.kind === 'exited') throw synErr('SYN_ERR_SHUTDOWN', `Spare ${this.pid} is ${s.kind}`, this.#context());
    if (s.kind !== 'parked') throw synErr('SYN_ERR_INVALID_ARGUMENT', `Worker ${this.pid} is ${s.kind}, not a parked spare: it cannot be assigned`, this.#context());
    if (o.signal?.aborted) throw synErr('SYN_ERR_ABORTED', 'Assignment of the spare was aborted', this.#context(), o.signal.reason);
    if (o.label !== undefined) {
      this.#opts = { ...this.#opts, label: { agent: o.label.agent, worker: o.label.worker } };
      this.#log = (this.#opts.log ?? silentLogger()).child({ agent: o.label.agent, worker: o.label.worker }).child({ pythonPid: s.pid });
    }
    await this.#awaitStart(o.signal, () => {
      this.#startedAt = this.#clock.now();
      this.#to({ kind: 'handshaking', pid: s.pid, spare: false });
      this.#armStartTimer('was not ready');
      this.#sendInit();
    });
    return this;
  }

  /** Runs `begin` and resolves when the start phase it begins ends (parked or ready); rejects once the process is gone. */
  async #awaitStart(signal: AbortSignal | undefined, begin: () => void): Promise<void> {
    const done = new Promise<void>((resolve, reject) => (this.#waiter = { resolve, reject }));
    const onAbort = (): void => this.#abortStart(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      begin();
      await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #abortStart(reason: unknown): void {
    const k = this.#state.kind;
    if (k !== 'spawning' && k !== 'handshaking' && k !== 'parked') return;
    this.#beginStop('kill', synErr('SYN_ERR_ABORTED', 'Start of the Python worker was aborted', this.#context(), reason));
    killGroup(this.pid, 'SIGKILL');
  }

  #armStartTimer(what: string): void {
    const { startTimeoutMs } = this.#opts;
    this.#startTimer = this.#clock.setTimeout(() => {
      this.#startTimer = undefined;
      this.#defect(synErr('SYN_ERR_STARTUP_TIMEOUT', `Python worker ${this.pid} ${what} within ${startTimeoutMs} ms`, { ...this.#context(), startTimeoutMs }));
    }, startTimeoutMs);
  }

  #clearStartTimer(): void {
    if (this.#startTimer !== undefined) this.#clock.clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
  }

  #onHello(frame: HelloFrame): void {
    const s = this.#state;
    if (this.#hello !== undefined || s.kind !== 'handshaking') {
      this.#violation('unexpected "hello" frame');
      return;
    }
    this.#hello = frame;
    if (frame.bridge !== VERSION) {
      // A venv set up for another release: its runtime may speak v1 yet differ in behaviour. Stop before any user code.
      const actual = frame.bridge ?? null;
      this.#defect(
        synErr(
          'SYN_ERR_BRIDGE_VERSION',
          `Python synapse-bridge ${actual ?? '(too old to report a version)'} at ${this.#opts.executable} does not match the Node package synapse ${VERSION}: run \`${PYTHON_SETUP_COMMAND}\` to reinstall the bundled bridge, or point SYNAPSE_PYTHON at a venv set up for ${VERSION}`,
          { ...this.#context(), expected: VERSION, actual, executable: this.#opts.executable, python: frame.python, pydanticAi: frame.pydanticAi },
        ),
      );
      return;
    }
    this.#runs.features = new Set(frame.features ?? []);
    if (!s.spare) {
      this.#sendInit();
      return;
    }
    // A spare: pydantic-ai is imported, no user code. Watch it while it waits for an assignment.
    this.#clearStartTimer();
    this.#heartbeat.start();
    this.#log.debug({ helloMs: Math.round(this.#clock.now() - this.#startedAt) }, 'python spare warm');
    this.#to({ kind: 'parked', pid: s.pid });
    this.#settleStart();
  }

  #sendInit(): void {
    const { agents, tools, concurrency, maxFrameBytes, maxHistoryBytes, cwd, memoryLimitMb, gcGraceMs, gcThresholds } = this.#opts;
    for (const gate of INIT_GATES) {
      if (this.#runs.features.has(gate.feature)) continue;
      for (const agent of agents) {
        const option = gate.option(agent);
        if (option === undefined) continue;
        this.#defect(synErr('SYN_ERR_INVALID_OPTION', `Python worker ${this.pid} does not support ${option} (of agent "${agent.name}"): its bridge does not announce "${gate.feature}"`, { ...this.#context(), option }));
        return;
      }
    }
    this.#wire.send({
      t: 'init',
      v: PROTOCOL_VERSION,
      agents,
      tools,
      concurrency,
      maxFrameBytes,
      maxHistoryBytes,
      ...(cwd === undefined ? {} : { cwd }),
      ...(memoryLimitMb === undefined ? {} : { memoryLimitMb }),
      // Only a bridge that announces the feature knows the frame; grace 0 means "treat silence as before".
      ...(gcGraceMs > 0 && this.#runs.features.has(FEATURE_GC_NOTICES) ? { gcNotices: true } : {}),
      ...(gcThresholds === undefined ? {} : { gcThresholds }),
    });
  }

  #onReady(frame: ReadyFrame): void {
    const s = this.#state;
    if (this.#hello === undefined || s.kind !== 'handshaking' || s.spare) {
      this.#violation('unexpected "ready" frame');
      return;
    }
    const missing = this.#opts.agents.filter((a) => !frame.agents.includes(a.name)).map((a) => a.name);
    if (missing.length > 0) {
      this.#defect(synErr('SYN_ERR_STARTUP_FAILED', `Python worker did not load agents: ${missing.join(', ')}`, { ...this.#context(), missing }));
      return;
    }
    this.#clearStartTimer();
    this.#heartbeat.start();
    this.#to({ kind: 'ready', pid: s.pid, agents: Object.freeze([...frame.agents]) });
    // Readiness itself is the agent layer's worker.ready event; this is only what it does not carry.
    this.#log.debug({ python: this.#hello.python, pydanticAi: this.#hello.pydanticAi }, 'python versions');
    this.#settleStart();
    this.#emitSafely('capacity');
  }

  #settleStart(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve();
  }

  // ─── runs ──────────────────────────────────────────────────────────────────

  /** OS pid (also the process group id); -1 before spawn. */
  get pid(): number {
    return 'pid' in this.#state ? this.#state.pid : -1;
  }

  /** The current state's name. */
  get state(): ProcessState {
    return this.#state.kind;
  }

  /** The current state with its data. */
  get current(): WorkerState {
    return this.#state;
  }

  /** The `hello` frame (Python and pydantic-ai versions). */
  get hello(): HelloFrame | undefined {
    return this.#hello;
  }

  /** Names of the loaded agents (from `ready`; empty before). */
  get agents(): readonly string[] {
    return this.#state.kind === 'ready' ? this.#state.agents : [];
  }

  /** Resolves once the process is gone, with how it ended. Never rejects. */
  get exited(): Promise<ProcessExit> {
    return this.#exited;
  }

  /** Runs that can start now: `concurrency` minus the occupied slots while ready, else 0. */
  free(): number {
    return this.#state.kind === 'ready' ? Math.max(0, this.#opts.concurrency - this.#runs.size) : 0;
  }

  /** Health snapshot. */
  stats(): ProcessStats {
    const h = this.#heartbeat.health;
    return { pid: this.pid, inFlight: this.#runs.size, rssBytes: h.rssBytes, loopLagMs: h.loopLagMs, lastPongAt: h.lastPongAt };
  }

  /**
   * Runs one request (already validated at the public edge). Events stream to `handlers.onEvent`;
   * TS tool calls go to `handlers.onToolCall`.
   *
   * @throws what {@link RunTable.admit} refuses (SYN_ERR_NO_AGENT, SYN_ERR_OVERLOADED, SYN_ERR_FRAME_TOO_LARGE,
   *   SYN_ERR_HISTORY_TOO_LARGE, SYN_ERR_INVALID_OPTION / SYN_ERR_INVALID_ARGUMENT for a feature the bridge lacks,
   *   a duplicate id), SYN_ERR_SHUTDOWN (stopping or stopped), SYN_ERR_AGENT_FAILED (the agent raised; details
   *   `kind`, `type`, `traceback`, `retryable`), SYN_ERR_TIMEOUT, SYN_ERR_ABORTED, and — when the worker dies or
   *   misbehaves — SYN_ERR_AGENT_CRASHED (details `exitCode`, `signal`, `stderrTail`, `pid`), SYN_ERR_PROTOCOL (also
   *   when its protocol stream ends while the process keeps running), SYN_ERR_FRAME_TOO_LARGE,
   *   SYN_ERR_HEARTBEAT_TIMEOUT or SYN_ERR_MEMORY_LIMIT.
   */
  run(request: RunRequest, handlers: RunHandlers = {}): Promise<RunResult> {
    try {
      return this.#runs.admit(request, handlers, this.agents, this.#unavailable());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Why a new run cannot start now, or undefined if it can. */
  #unavailable(): SynapseError | undefined {
    const s = this.#state;
    if (s.kind === 'ready') return undefined;
    if (s.kind === 'crashed') return s.error;
    return synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.pid} is ${s.kind}: not accepting runs`, { ...this.#context(), state: s.kind });
  }

  // ─── inbound frames ────────────────────────────────────────────────────────

  #onFrame(inbound: InboundFrame): void {
    if (this.#state.kind === 'crashed') return;
    const frame = this.#scrub(inbound);
    if (this.#stopping()) {
      if (frame.t === 'log') this.#forwardLog(frame);
      return; // runs were already settled with SYN_ERR_SHUTDOWN: late frames are expected and ignored
    }
    switch (frame.t) {
      case 'pong':
        this.#onPong(frame);
        return;
      case 'gc':
        this.#violation('"gc" frame on the protocol stream (it belongs on the control channel)');
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
      case 'model_slot':
        if (!this.#runs.modelSlot(frame)) this.#violation(`"model_slot" for unknown run "${frame.id}"`);
        return;
      case 'model_slot_release':
        if (!this.#runs.modelSlotRelease(frame)) this.#violation(`"model_slot_release" for unknown run "${frame.id}"`);
        return;
      case 'error':
        // `id: null`: the process failed as a whole (start-up or protocol error); it exits by itself.
        if (frame.id === null) this.#defect(errorFromFrame(frame, this.#context()), FATAL_EXIT_GRACE_MS);
        else if (!this.#runs.error({ ...frame, id: frame.id })) this.#violation(`"error" for unknown run "${frame.id}"`);
        return;
      case 'log':
        this.#forwardLog(frame);
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

  /** A `log` or `error` frame with the worker's env secrets replaced in its free text; any other frame as is. */
  #scrub(frame: InboundFrame): InboundFrame {
    if (this.#secrets.length === 0) return frame;
    const s = (text: string): string => scrubText(text, this.#secrets);
    if (frame.t === 'log') return { ...frame, msg: s(frame.msg), logger: s(frame.logger) };
    if (frame.t === 'error') return { ...frame, message: s(frame.message), type: s(frame.type), traceback: s(frame.traceback) };
    return frame;
  }

  /** Forwards a Python `log` frame to pino at the matching level (skipped when that level is off). */
  #forwardLog(frame: LogFrame): void {
    const level = LOG_LEVEL[frame.level];
    if (!this.#log.isLevelEnabled(level)) return;
    this.#log[level]({ pyLogger: frame.logger, ...(frame.id === undefined ? {} : { runId: frame.id }) }, frame.msg);
  }

  /** A full garbage collection started or ended in the worker: the heartbeat allows for it (heartbeat.ts). */
  #onGc(frame: GcFrame): void {
    if (frame.phase === 'start') this.#heartbeat.gcStarted();
    else {
      this.#heartbeat.gcStopped();
      if (frame.pauseMs !== undefined) this.#log.debug({ pauseMs: Math.round(frame.pauseMs) }, 'python full gc');
    }
  }

  #onPong(frame: PongFrame): void {
    this.#heartbeat.pong(frame);
    if (this.listenerCount('health') > 0) this.#emitSafely('health', this.stats());
    const limitMb = this.#opts.memoryLimitMb;
    if (limitMb !== undefined && frame.rssBytes > limitMb * 1024 * 1024) {
      this.#defect(synErr('SYN_ERR_MEMORY_LIMIT', `Python worker ${this.pid} uses ${Math.round(frame.rssBytes / 1048576)} MiB, above memoryLimitMb ${limitMb}; killed`, { ...this.#context(), rssBytes: frame.rssBytes, memoryLimitMb: limitMb }));
    }
  }

  /** The protocol stream ended. Unless stopping or already condemned, that is a defect (see `eof.ts`). */
  #onStreamEnd(truncated: SynapseError | undefined): void {
    if (!this.#live()) return;
    if (truncated !== undefined) {
      this.#defect(truncated);
      return;
    }
    if (this.#exitStatus !== undefined) return; // it exited first: 'close' reports the death
    this.#eofTimer = watchEof({
      clock: this.#clock,
      pid: this.pid,
      settled: () => !this.#live() || this.#exitStatus !== undefined,
      onDefect: (error) => this.#defect(error),
      context: () => this.#context(),
    });
  }

  #violation(what: string): void {
    this.#defect(synErr('SYN_ERR_PROTOCOL', `Protocol violation by Python worker ${this.pid}: ${what}`, this.#context()));
  }

  // ─── end of life ───────────────────────────────────────────────────────────

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
      this.#closing = this.#stopGracefully(timeoutMs ?? this.#opts.shutdownTimeoutMs);
    }
    return this.#closing;
  }

  /** Immediate stop: SIGKILL to the process group; in-flight runs reject with SYN_ERR_SHUTDOWN. Idempotent. */
  kill(): void {
    if (this.#gone()) return;
    this.#beginStop('kill');
    killGroup(this.pid, 'SIGKILL');
  }

  /** `await using proc = await PythonWorker.start(…)` closes it at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * @internal Fault injection for `synapse/testing` (`chaos(system).garbage()`): feeds `bytes`
   * to the inbound decoder exactly as if the worker had written them to its protocol stream.
   */
  [Symbol.for('synapse.testing.injectInbound')](bytes: Uint8Array): void {
    this.#wire.push(Buffer.from(bytes));
  }

  /**
   * The worker is defective: fail every run now, stop the heartbeat and kill the group
   * (after `graceMs` if given, so a worker that reported its own fatal error can exit cleanly).
   */
  #defect(error: SynapseError, graceMs?: number): void {
    const s = this.#state;
    if (s.kind === 'crashed' || s.kind === 'exited') return;
    if (s.kind === 'stopping') {
      killGroup(this.pid, 'SIGKILL'); // a misbehaving worker being stopped: just finish it
      return;
    }
    this.#to({ kind: 'crashed', pid: this.pid, error, wasReady: s.kind === 'ready' });
    this.#heartbeat.close();
    this.#clearStartTimer();
    // Debug: the agent layer reports the death as worker.crashed (or a start-up failure), logged by the event log.
    this.#log.debug({ code: error.code, err: error, inFlight: this.#runs.size }, 'python worker defective');
    this.#runs.failAll(error);
    if (graceMs === undefined) killGroup(this.pid, 'SIGKILL');
    else this.#killTimer = this.#clock.setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
  }

  /** Marks a requested stop: no new runs, in-flight runs reject with SYN_ERR_SHUTDOWN. */
  #beginStop(reason: 'close' | 'kill', startAbort?: SynapseError): void {
    const s = this.#state;
    if (s.kind === 'stopping' || s.kind === 'exited' || s.kind === 'crashed') return;
    this.#to({ kind: 'stopping', pid: this.pid, reason, wasReady: s.kind === 'ready', ...(startAbort === undefined ? {} : { startAbort }) });
    this.#heartbeat.close();
    this.#clearStartTimer();
    this.#runs.failAll(synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.pid} is stopping (${reason})`, { ...this.#context(), reason }));
  }

  /** `shutdown` → SIGTERM → SIGKILL within about `timeoutMs` (see `escalateStop`); resolves once exited. */
  async #stopGracefully(timeoutMs: number): Promise<ProcessExit> {
    if (this.#gone()) return this.#exited;
    if (this.#state.kind === 'crashed') {
      killGroup(this.pid, 'SIGKILL');
      return this.#exited;
    }
    this.#beginStop('close');
    await escalateStop(
      this.#clock,
      {
        ask: () => this.#wire.send({ t: 'shutdown' } satisfies OutboundFrame),
        signal: (sig) => killGroup(this.pid, sig),
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
    killGroup(this.pid, 'SIGKILL');
    this.#closeTimer = this.#clock.setTimeout(() => {
      this.#closeTimer = undefined;
      this.#child?.stdout.destroy();
      this.#child?.stderr.destroy();
      this.#finalize(code, signal);
    }, CLOSE_AFTER_EXIT_MS);
  }

  /** Runs once, when the process is gone and its pipes are drained (or it could not be spawned). */
  #finalize(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#gone()) return;
    for (const t of [this.#startTimer, this.#killTimer, this.#closeTimer, this.#eofTimer]) if (t !== undefined) this.#clock.clearTimeout(t);
    this.#startTimer = this.#killTimer = this.#closeTimer = this.#eofTimer = undefined;
    this.#heartbeat.close();
    this.#tail.flush((line) => this.#log.debug({ stream: 'stderr' }, scrubText(line, this.#secrets)));
    const exitCode = this.#exitStatus?.code ?? code;
    const exitSignal = this.#exitStatus?.signal ?? signal;
    const s = this.#state;
    const error = exitError({
      pid: this.pid,
      exitCode,
      signal: exitSignal,
      stderrTail: scrubText(this.#tail.text(), this.#secrets),
      failure: s.kind === 'crashed' ? s.error : undefined,
      requested: s.kind === 'stopping',
      wasReady: s.kind === 'ready' || ((s.kind === 'stopping' || s.kind === 'crashed') && s.wasReady),
      inFlight: this.#runs.size,
      context: this.#context(),
      memoryCapped: this.#opts.memoryLimitMb !== undefined,
    });
    this.#runs.failAll(error ?? synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.pid} stopped`, { ...this.#context(), exitCode, signal: exitSignal }));
    const exit: ProcessExit = error === undefined ? { exitCode, signal: exitSignal } : { exitCode, signal: exitSignal, error };
    const startAbort = s.kind === 'stopping' ? s.startAbort : undefined;
    if (s.kind === 'stopping') this.#to({ kind: 'exited', pid: this.pid, exit });
    else {
      const reason = error ?? synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${this.pid} exited`, { ...this.#context(), exitCode, signal: exitSignal });
      this.#to({ kind: 'crashed', pid: this.pid, error: reason, wasReady: s.kind === 'ready' || (s.kind === 'crashed' && s.wasReady), exit });
    }
    if (this.pid > 0) this.#pidFile?.remove(this.pid);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(startAbort ?? error ?? synErr('SYN_ERR_SHUTDOWN', 'Python worker stopped before ready', this.#context()));
    // Not logged here: the agent layer reports the exit as worker.crashed / worker.exited (one event, one line).
    this.#child?.removeAllListeners();
    this.#exitedResolve(exit);
    this.#emitSafely('exit', exit);
    this.removeAllListeners();
  }

  // ─── helpers ───────────────────────────────────────────────────────────────

  /**
   * The one way the state changes: checks the move against {@link TRANSITIONS} (an illegal one is
   * a bug here, logged and refused) and emits `'state'` when the state's name changes.
   */
  #to(next: WorkerState): void {
    const from = this.#state.kind;
    if (!TRANSITIONS[from].includes(next.kind)) {
      this.#log.error({ from, to: next.kind }, 'illegal worker state transition refused');
      return;
    }
    this.#state = next;
    if (next.kind !== from) this.#emitSafely('state', next.kind);
  }

  /** Neither condemned nor stopping nor gone: frames, pongs and EOF still mean something. */
  #live(): boolean {
    const k = this.#state.kind;
    return k !== 'crashed' && k !== 'stopping' && k !== 'exited';
  }

  #stopping(): boolean {
    const k = this.#state.kind;
    return k === 'stopping' || k === 'exited';
  }

  /** The OS process is gone and the end was reported. */
  #gone(): boolean {
    const s = this.#state;
    return s.kind === 'exited' || (s.kind === 'crashed' && s.exit !== undefined);
  }

  #context(): ErrorDetails {
    const { agent, worker } = this.#opts.label;
    return { pid: this.pid, ...(agent === undefined ? {} : { agent }), ...(worker === undefined ? {} : { worker }) };
  }

  #emitSafely<E extends keyof PythonWorkerEvents>(event: E, ...args: Parameters<PythonWorkerEvents[E]>): void {
    try {
      (this.emit as (e: E, ...a: Parameters<PythonWorkerEvents[E]>) => boolean)(event, ...args);
    } catch (error) {
      rethrowLater(error); // a listener's bug must not break the worker's bookkeeping
    }
  }
}

const LOG_LEVEL = { debug: 'debug', info: 'info', warning: 'warn', error: 'error' } as const;

/**
 * The lowest wire level of the `log` frames `log` keeps (env `SYNAPSE_LOG_FORWARD` of a worker), or `'off'`
 * when it keeps none: the bridge does not send the others (python-bridge `_logging.py`), so a `silent` or
 * `warn` logger costs no frame per httpx request line. Read at spawn: a level lowered later does not bring
 * back what the worker was told to leave unsent.
 */
export function forwardLevel(log: Logger): keyof typeof LOG_LEVEL | 'off' {
  for (const wire of ['debug', 'info', 'warning', 'error'] as const) if (log.isLevelEnabled(LOG_LEVEL[wire])) return wire;
  return 'off';
}
