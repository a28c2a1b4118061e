/**
 * The part of a Python worker every state shares (base of {@link PythonProcess}): its parts
 * (wire, runs, heartbeat, lifecycle, stderr tail), inbound frame handling, and the end of
 * its life — defects, requested stops, the OS exit and the one final report.
 *
 * Invariants:
 * - every run settles exactly once (value or coded error);
 * - when the worker dies or misbehaves, every in-flight run rejects at once, the process
 *   group is killed, then `exited` resolves and `'exit'` fires, once;
 * - nothing outlives `exited`: timers cleared, listeners removed, pid file entry dropped.
 */
import type { Readable, Writable } from 'node:stream';
import { EventEmitter } from 'eventemitter3';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { realClock } from '../clock.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { ErrorDetails, SynapseError } from '../errors.ts';
import type { HelloFrame, InboundFrame, OutboundFrame, PongFrame, ReadyFrame } from '../protocol/frames.ts';
import { forwardLog, routeFrame } from './dispatch.ts';
import type { FrameTarget } from './dispatch.ts';
import { exitError } from './exit-report.ts';
import type { WorkerChild } from './forked-child.ts';
import { ControlChannel } from './control.ts';
import { Heartbeat } from './heartbeat.ts';
import { createLifecycle } from './lifecycle.ts';
import type { Lifecycle, ProcessState } from './lifecycle.ts';
import type { ResolvedProcessOptions } from './options.ts';
import { getDefaultPidFile } from './pidfile.ts';
import type { PidFile } from './pidfile.ts';
import { watchEof } from './eof.ts';
import { killGroup } from './proc.ts';
import type { ProcessExit, ProcessStats, PythonProcessEvents } from './process-types.ts';
import { RunTable } from './runs.ts';
import { escalateStop } from './shutdown.ts';
import { scrubText, secretValues } from './scrub.ts';
import { StderrTail } from './stderr-tail.ts';
import { errorFromFrame } from './wire-errors.ts';
import { WireChannel } from './wire.ts';
import { rethrowLater } from '../rethrow.ts';

/** Time given to a worker that reported a fatal error to exit on its own (so its stderr is complete) before SIGKILL. */
const FATAL_EXIT_GRACE_MS = 1_000;
/** After `exit`, how long to wait for the stdio pipes to close (a grandchild may hold them) before finalising anyway. */
const CLOSE_AFTER_EXIT_MS = 2_000;
let silent: Logger | undefined;

/** The shared no-op logger used when none is configured. */
export function silentLogger(): Logger {
  silent ??= pino({ level: 'silent' });
  return silent;
}

/** The state and end-of-life handling of one worker; {@link PythonProcess} adds start-up and the run API. */
export abstract class WorkerBase extends EventEmitter<PythonProcessEvents> {
  protected opts: ResolvedProcessOptions;
  protected readonly clock: Clock;
  protected log: Logger;
  protected readonly pidFile: PidFile | null;
  protected readonly wire: WireChannel;
  protected readonly tail = new StderrTail();
  /** Values of `opts.env` scrubbed from what the worker says about itself (see `scrub.ts`). */
  readonly #secrets: readonly string[];
  protected readonly lifecycle: Lifecycle;
  protected readonly runs: RunTable;
  protected readonly heartbeat: Heartbeat;
  /** The heartbeat control channel (child fds 3/4): pings out, pongs in, apart from the protocol stream. */
  protected readonly control: ControlChannel;
  protected child: WorkerChild | undefined;
  protected osPid = -1;
  protected wasReady = false;
  /** The defect that condemned the worker, once found. */
  protected failure: SynapseError | undefined;
  protected startAbort: SynapseError | undefined;
  protected finalized = false;
  protected startTimer: TimerHandle | undefined;
  /** How it ended, once finalised. */
  protected exitReport: ProcessExit | undefined;
  protected readonly readyPromise: Promise<void>;
  protected readyResolve!: () => void;
  protected readonly helloPromise: Promise<void>;
  protected helloResolve!: () => void;
  #readyReject!: (error: SynapseError) => void;
  #helloReject!: (error: SynapseError) => void;
  readonly #exited: Promise<ProcessExit>;
  #exitedResolve!: (exit: ProcessExit) => void;
  readonly #frameTarget: FrameTarget;
  #exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #killTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  #eofTimer: TimerHandle | undefined;

  protected constructor(opts: ResolvedProcessOptions) {
    super();
    this.opts = opts;
    this.#secrets = secretValues(opts.env);
    this.clock = opts.clock ?? realClock;
    this.log = (opts.log ?? silentLogger()).child({ agent: opts.label.agent, worker: opts.label.worker });
    this.pidFile = opts.pidFile === undefined ? getDefaultPidFile() : opts.pidFile;
    this.wire = new WireChannel(opts.maxFrameBytes, {
      onFrame: (frame) => this.#onFrame(frame),
      onViolation: (error) => this.defect(error),
      onEnd: (truncated) => this.#onStreamEnd(truncated),
      ignoreInbound: () => this.failure !== undefined || this.finalized,
    });
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.readyPromise.catch(() => {}); // observed by start(); pre-handled so an early failure is never "unhandled"
    this.helloPromise = new Promise<void>((resolve, reject) => {
      this.helloResolve = resolve;
      this.#helloReject = reject;
    });
    this.helloPromise.catch(() => {}); // observed by spawnSpare() only
    this.#exited = new Promise<ProcessExit>((resolve) => (this.#exitedResolve = resolve));
    this.lifecycle = createLifecycle(
      (state) => this.emitSafely('state', state),
      (error) => this.log.error({ err: error }, 'lifecycle machine error'),
    );
    this.runs = new RunTable({
      clock: this.clock,
      cancelGraceMs: opts.cancelGraceMs,
      send: (frame) => this.send(frame),
      onUnresponsive: (runId, graceMs) =>
        this.defect(
          synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${this.osPid} did not acknowledge the cancel of run ${runId} within ${graceMs} ms; killed`, {
            ...this.context(),
            reason: 'cancel_unacknowledged',
            runId,
          }),
        ),
      context: () => this.context(),
      onCancelAcknowledged: () => this.emitSafely('released'),
    });
    this.heartbeat = new Heartbeat({
      clock: this.clock,
      intervalMs: opts.heartbeatIntervalMs,
      timeoutMs: opts.heartbeatTimeoutMs,
      sendPing: (seq) => this.control.ping(seq),
      onTimeout: (silentForMs) =>
        this.defect(synErr('SYN_ERR_HEARTBEAT_TIMEOUT', `Python worker ${this.osPid} did not answer heartbeats for ${Math.round(silentForMs)} ms; killed`, { ...this.context(), silentForMs })),
    });
    this.control = new ControlChannel({
      onPong: (frame) => {
        if (this.failure === undefined && !this.stopping()) this.#onPong(frame);
      },
      onViolation: (error) => this.defect(error),
      ignoreInbound: () => this.failure !== undefined || this.finalized,
    });
    this.#frameTarget = {
      runs: this.runs,
      onPong: (frame) => this.#onPong(frame),
      onLog: (frame) => forwardLog(this.log, frame),
      onHello: (frame) => this.onHello(frame),
      onReady: (frame) => this.onReady(frame),
      // The process failed as a whole (start-up or protocol error); it exits by itself.
      onFatal: (frame) => this.defect(errorFromFrame(frame, this.context()), FATAL_EXIT_GRACE_MS),
      violation: (what) => this.violation(what),
    };
  }

  /** OS pid (also the process group id). */
  get pid(): number {
    return this.osPid;
  }

  /** Current lifecycle state. */
  get state(): ProcessState {
    return this.lifecycle.state;
  }

  /** Resolves once the process is gone, with how it ended. Never rejects. */
  get exited(): Promise<ProcessExit> {
    return this.#exited;
  }

  /** Health snapshot. */
  stats(): ProcessStats {
    const h = this.heartbeat.health;
    return { pid: this.osPid, inFlight: this.runs.size, rssBytes: h.rssBytes, loopLagMs: h.loopLagMs, lastPongAt: h.lastPongAt };
  }

  /** The `hello` frame arrived (handshake). */
  protected abstract onHello(frame: HelloFrame): void;
  /** The `ready` frame arrived (handshake). */
  protected abstract onReady(frame: ReadyFrame): void;

  /** Wires the child's pipes (or a forked child's sockets) and exit to this worker. */
  protected attachChild(child: WorkerChild): void {
    this.wire.attach(child.stdin, child.stdout);
    const [, , , pingPipe, pongPipe] = child.stdio as unknown as [unknown, unknown, unknown, Writable | null | undefined, Readable | null | undefined];
    if (pingPipe && pongPipe) this.control.attach(pingPipe, pongPipe);
    const onLine = this.log.isLevelEnabled('debug') ? (line: string) => this.log.debug({ stream: 'stderr' }, scrubText(line, this.#secrets)) : undefined;
    child.stderr.on('data', (chunk: Buffer) => this.tail.push(chunk, onLine));
    child.on('exit', (code, signal) => this.#onExit(code, signal));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => this.finalize(code, signal));
  }

  // ─── inbound ───────────────────────────────────────────────────────────────

  #onFrame(inbound: InboundFrame): void {
    if (this.failure !== undefined) return;
    const frame = this.#scrub(inbound);
    if (this.stopping()) {
      if (frame.t === 'log') forwardLog(this.log, frame);
      return; // runs were already settled with SYN_ERR_SHUTDOWN: late frames are expected and ignored
    }
    routeFrame(frame, this.#frameTarget);
  }

  /** A `log` or `error` frame with the worker's env secrets replaced in its free text; any other frame as is. */
  #scrub(frame: InboundFrame): InboundFrame {
    if (this.#secrets.length === 0) return frame;
    const s = (text: string): string => scrubText(text, this.#secrets);
    if (frame.t === 'log') return { ...frame, msg: s(frame.msg), logger: s(frame.logger) };
    if (frame.t === 'error') return { ...frame, message: s(frame.message), type: s(frame.type), traceback: s(frame.traceback) };
    return frame;
  }

  #onPong(frame: PongFrame): void {
    this.heartbeat.pong(frame);
    if (this.listenerCount('health') > 0) this.emitSafely('health', this.stats());
    const limitMb = this.opts.memoryLimitMb;
    if (limitMb !== undefined && frame.rssBytes > limitMb * 1024 * 1024) {
      this.defect(synErr('SYN_ERR_MEMORY_LIMIT', `Python worker ${this.osPid} uses ${Math.round(frame.rssBytes / 1048576)} MiB, above memoryLimitMb ${limitMb}; killed`, { ...this.context(), rssBytes: frame.rssBytes, memoryLimitMb: limitMb }));
    }
  }

  /** The protocol stream ended. Unless stopping or already condemned, that is a defect (see `eof.ts`). */
  #onStreamEnd(truncated: SynapseError | undefined): void {
    if (this.failure !== undefined || this.stopping() || this.finalized) return;
    if (truncated !== undefined) {
      this.defect(truncated);
      return;
    }
    if (this.#exitStatus !== undefined) return; // it exited first: 'close' reports the death
    this.#eofTimer = watchEof({
      clock: this.clock,
      pid: this.osPid,
      settled: () => this.failure !== undefined || this.stopping() || this.finalized || this.#exitStatus !== undefined,
      onDefect: (error) => this.defect(error),
      context: () => this.context(),
    });
  }

  protected violation(what: string): void {
    this.defect(synErr('SYN_ERR_PROTOCOL', `Protocol violation by Python worker ${this.osPid}: ${what}`, this.context()));
  }

  // ─── failure, stop and exit ────────────────────────────────────────────────

  /**
   * The worker is defective: fail every run now, stop the heartbeat and kill the group
   * (after `graceMs` if given, so a worker that reported its own fatal error can exit cleanly).
   */
  protected defect(error: SynapseError, graceMs?: number): void {
    if (this.finalized || this.failure !== undefined) return;
    if (this.stopping()) {
      killGroup(this.osPid, 'SIGKILL'); // a misbehaving worker being stopped: just finish it
      return;
    }
    this.failure = error;
    this.lifecycle.send({ type: 'FAIL', error });
    this.heartbeat.close();
    this.clearStartTimer();
    // Debug: the agent layer reports the death as worker.crashed (or a start-up failure), logged by the event log.
    this.log.debug({ code: error.code, err: error, inFlight: this.runs.size }, 'python worker defective');
    this.runs.failAll(error);
    if (graceMs === undefined) killGroup(this.osPid, 'SIGKILL');
    else this.#killTimer = this.clock.setTimeout(() => killGroup(this.osPid, 'SIGKILL'), graceMs);
  }

  protected clearStartTimer(): void {
    if (this.startTimer !== undefined) this.clock.clearTimeout(this.startTimer);
    this.startTimer = undefined;
  }

  protected stopping(): boolean {
    const s = this.lifecycle.state;
    return s === 'stopping' || s === 'exited';
  }

  /** Marks a requested stop: no new runs, in-flight runs reject with SYN_ERR_SHUTDOWN. */
  protected beginStop(reason: 'close' | 'kill'): void {
    if (this.stopping() || this.lifecycle.state === 'crashed') return;
    this.lifecycle.send({ type: 'STOP' });
    this.heartbeat.close();
    this.clearStartTimer();
    this.runs.failAll(synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.osPid} is stopping (${reason})`, { ...this.context(), reason }));
  }

  /** `shutdown` → SIGTERM → SIGKILL within about `timeoutMs` (see `escalateStop`); resolves once exited. */
  protected async stopGracefully(timeoutMs: number): Promise<ProcessExit> {
    if (this.finalized) return this.#exited;
    if (this.lifecycle.state === 'crashed') {
      killGroup(this.osPid, 'SIGKILL');
      return this.#exited;
    }
    this.beginStop('close');
    await escalateStop(
      this.clock,
      {
        ask: () => this.send({ t: 'shutdown' }),
        signal: (sig) => killGroup(this.osPid, sig),
        exited: this.#exited,
        onEscalate: (sig, afterMs) => this.log.warn({ afterMs }, sig === 'SIGTERM' ? 'python worker ignored shutdown: SIGTERM' : 'python worker ignored SIGTERM: SIGKILL'),
      },
      timeoutMs,
    );
    return this.#exited;
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#exitStatus = { code, signal };
    // Take down anything the worker left in its group (its pipes would keep 'close' from firing).
    killGroup(this.osPid, 'SIGKILL');
    this.#closeTimer = this.clock.setTimeout(() => {
      this.#closeTimer = undefined;
      const child = this.child;
      child?.stdout.destroy();
      child?.stderr.destroy();
      this.finalize(code, signal);
    }, CLOSE_AFTER_EXIT_MS);
  }

  /** Runs once, when the process is gone and its pipes are drained (or it could not be spawned). */
  protected finalize(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.finalized) return;
    this.finalized = true;
    for (const t of [this.startTimer, this.#killTimer, this.#closeTimer, this.#eofTimer]) if (t !== undefined) this.clock.clearTimeout(t);
    this.heartbeat.close();
    this.tail.flush((line) => this.log.debug({ stream: 'stderr' }, scrubText(line, this.#secrets)));
    const exitCode = this.#exitStatus?.code ?? code;
    const exitSignal = this.#exitStatus?.signal ?? signal;
    const stderrTail = scrubText(this.tail.text(), this.#secrets);
    const error = exitError({
      pid: this.osPid,
      exitCode,
      signal: exitSignal,
      stderrTail,
      failure: this.failure,
      requested: this.stopping(),
      wasReady: this.wasReady,
      inFlight: this.runs.size,
      context: this.context(),
    });
    this.runs.failAll(error ?? synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.osPid} stopped`, { ...this.context(), exitCode, signal: exitSignal }));
    if (this.lifecycle.state === 'stopping') this.lifecycle.send({ type: 'EXITED' });
    else if (error !== undefined) this.lifecycle.send({ type: 'FAIL', error });
    if (this.osPid > 0) this.pidFile?.remove(this.osPid);
    this.#readyReject(this.startAbort ?? error ?? synErr('SYN_ERR_SHUTDOWN', 'Python worker stopped before ready', this.context()));
    this.#helloReject(this.startAbort ?? error ?? synErr('SYN_ERR_SHUTDOWN', 'Python spare stopped before hello', this.context()));
    const result: ProcessExit = error === undefined ? { exitCode, signal: exitSignal } : { exitCode, signal: exitSignal, error };
    this.exitReport = result;
    // Not logged here: the agent layer reports the exit as worker.crashed / worker.exited (one event, one line).
    this.child?.removeAllListeners();
    this.lifecycle.stop();
    this.#exitedResolve(result);
    this.emitSafely('exit', result);
    this.removeAllListeners('state');
    this.removeAllListeners('health');
    this.removeAllListeners('released');
  }

  // ─── helpers ───────────────────────────────────────────────────────────────

  /** Why a new run cannot start now, or undefined if it can. */
  protected unavailable(): SynapseError | undefined {
    const state = this.lifecycle.state;
    if (state === 'ready') return undefined;
    if (state === 'crashed' && this.failure !== undefined) return this.failure;
    if (state === 'crashed') return synErr('SYN_ERR_AGENT_CRASHED', `Python worker ${this.osPid} has crashed`, this.context());
    return synErr('SYN_ERR_SHUTDOWN', `Python worker ${this.osPid} is ${state}: not accepting runs`, { ...this.context(), state });
  }

  protected send(frame: OutboundFrame): void {
    this.wire.send(frame);
  }

  protected context(): ErrorDetails {
    const { agent, worker } = this.opts.label;
    return { pid: this.osPid, ...(agent === undefined ? {} : { agent }), ...(worker === undefined ? {} : { worker }) };
  }

  protected emitSafely<E extends keyof PythonProcessEvents>(event: E, ...args: Parameters<PythonProcessEvents[E]>): void {
    try {
      (this.emit as (e: E, ...a: Parameters<PythonProcessEvents[E]>) => boolean)(event, ...args);
    } catch (error) {
      rethrowLater(error); // a listener's bug must not break the worker's bookkeeping
    }
  }
}
