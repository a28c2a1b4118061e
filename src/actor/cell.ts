/**
 * One actor incarnation: its bounded mailbox, the one-message-at-a-time loop, and its exit.
 * The cell *is* the {@link ActorRef} handed out by `spawn` (one object per actor; links,
 * monitors, timers, the mailbox storage, the context, the logger and the started/exited
 * promises are all allocated on first use, so an idle actor stays small).
 *
 * Loop: a message arriving at an idle actor schedules one microtask that drains the mailbox
 * synchronously while handlers return plain values; a handler returning a promise parks
 * the loop until it settles. A burst that runs longer than {@link TIME_SLICE_MS} yields a
 * macrotask so one busy actor cannot starve I/O.
 */
import type { Logger } from 'pino';
import { PendingCall, abortedError } from './call.ts';
import { exitedError, mailboxFullError, noProcError, shutdownError, startFailedError } from './cell-errors.ts';
import { ActorContextImpl, type ActorTimer } from './context.ts';
import type { Kernel, ResolvedMailbox } from './kernel.ts';
import { severAll } from './links.ts';
import { FifoQueue } from './queue.ts';
import { reasonFromThrown } from './reason.ts';
import { DownSignal, ExitSignal, type ActorId, type ActorRef, type Behaviour, type CallOptions, type ExitReason } from './types.ts';
import type { Monitor } from './links.ts';

/** Lifecycle states of a cell (starting: init pending; stopping: terminate running). */
export const Status = Object.freeze({ Starting: 0, Idle: 1, Running: 2, Stopping: 3, Dead: 4 } as const);
export type Status = (typeof Status)[keyof typeof Status];
// Module constants for the hot path (same values as Status).
const STARTING = 0;
const IDLE = 1;
const RUNNING = 2;
const STOPPING = 3;
const DEAD = 4;

/** Messages handled between two looks at the time slice. */
export const DRAIN_BUDGET = 1024;
/** A burst longer than this (real ms) yields a macrotask so one busy actor cannot starve I/O. */
export const TIME_SLICE_MS = 5;
/** Default `call` timeout (ms), as `gen_server:call`. */
export const DEFAULT_CALL_TIMEOUT = 5000;

const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};

/** A promise with its settle functions, created lazily for `started` / `exited`. */
class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.promise.catch(noop); // a rejection nobody awaited must not crash the process
  }
}

/** Construction parameters, resolved and validated by the runtime. */
export interface CellInit {
  readonly id: ActorId;
  readonly name: string | undefined;
  readonly behaviour: Behaviour<unknown, unknown>;
  readonly mailbox: ResolvedMailbox;
  readonly parent: ActorCell | undefined;
  readonly trapExit: boolean;
  readonly logContext: Record<string, unknown> | undefined;
}

/**
 * The implementation of {@link ActorRef} (internal: spawn returns it typed as `ActorRef`).
 * Members marked `@internal` are for the runtime, links, context and adapters in this folder.
 */
export class ActorCell<M = unknown, R = unknown> implements ActorRef<M, R> {
  readonly id: ActorId;
  readonly name: string | undefined;
  /** @internal */ readonly kernel: Kernel;
  /** @internal */ readonly behaviour: Behaviour<unknown, unknown>;
  /** @internal */ readonly mailboxOptions: ResolvedMailbox;
  /** @internal */ readonly parent: ActorCell | undefined;
  /** @internal */ readonly logContext: Record<string, unknown> | undefined;
  /** @internal */ status: Status = STARTING as Status;
  /** @internal */ trapping: boolean;
  /** @internal */ dropped = 0;
  /** @internal */ mailbox: FifoQueue<unknown> | undefined = undefined;
  /** @internal */ signalsQueued = 0;
  /** @internal */ links: Set<ActorCell> | undefined = undefined;
  /** @internal */ monitorsOut: Map<string, Monitor> | undefined = undefined;
  /** @internal */ monitorsIn: Map<string, Monitor> | undefined = undefined;
  /** @internal */ timers: Set<ActorTimer> | undefined = undefined;
  /** @internal */ exitHooks: (() => void)[] | undefined = undefined;
  #scheduled = false;
  #initDone = false;
  #stopRequested = false;
  #stopReason: ExitReason = 'normal';
  #exitReason: ExitReason | undefined = undefined;
  #current: PendingCall | undefined = undefined;
  #ctx: ActorContextImpl<M> | undefined = undefined;
  #logger: Logger | undefined = undefined;
  #started: Deferred<void> | undefined = undefined;
  #exited: Deferred<ExitReason> | undefined = undefined;
  #drain: (() => void) | undefined = undefined;
  #onAsyncOk: ((value: unknown) => void) | undefined = undefined;
  #onAsyncErr: ((error: unknown) => void) | undefined = undefined;

  constructor(kernel: Kernel, init: CellInit) {
    this.kernel = kernel;
    this.id = init.id;
    this.name = init.name;
    this.behaviour = init.behaviour;
    this.mailboxOptions = init.mailbox;
    this.parent = init.parent;
    this.trapping = init.trapExit;
    this.logContext = init.logContext;
  }

  // ── ActorRef ─────────────────────────────────────────────────────────────────────────

  send(message: M): void {
    if (this.status === DEAD) throw noProcError(this);
    // #enqueue, inlined by hand: this is the hottest path of the library.
    const box = (this.mailbox ??= new FifoQueue<unknown>());
    if (box.size - this.signalsQueued >= this.mailboxOptions.capacity && !this.#overflow(box, message)) return;
    box.push(message);
    if (this.status === IDLE && !this.#scheduled) this.#schedule();
  }

  call(message: M, options?: { timeout?: number; signal?: AbortSignal }): Promise<R> {
    let timeout = DEFAULT_CALL_TIMEOUT;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      try {
        ({ timeout, signal } = this.kernel.callOptions(options as CallOptions));
      } catch (err) {
        return Promise.reject(err); // an async API reports misuse by rejecting, never by throwing
      }
    }
    if (this.status === DEAD) return Promise.reject(noProcError(this));
    if (this.#stopRequested) return Promise.reject(shutdownError(this));
    if (signal?.aborted) return Promise.reject(abortedError(this.id, signal));
    const pending = new PendingCall(message, this.id, timeout);
    this.#enqueue(pending);
    if (!pending.settled) {
      if (timeout !== Infinity) this.kernel.deadlines.add(pending, timeout);
      if (signal !== undefined) pending.watch(signal);
    }
    return pending.promise as Promise<R>;
  }

  stop(reason: ExitReason = 'normal'): Promise<void> {
    if (this.status === DEAD) return RESOLVED;
    this.requestStop(reason);
    return this.isAlive() ? this.exited.then(noop) : RESOLVED;
  }

  kill(): void {
    if (this.status !== DEAD) this.#exit('kill', false);
  }

  isAlive(): boolean {
    return this.status !== DEAD;
  }

  get started(): Promise<void> {
    if (this.#started !== undefined) return this.#started.promise;
    if (this.#initDone) return RESOLVED;
    this.#started = new Deferred<void>();
    if (this.status === DEAD) this.#started.reject(startFailedError(this, this.#exitReason));
    return this.#started.promise;
  }

  get exited(): Promise<ExitReason> {
    if (this.#exited === undefined) {
      this.#exited = new Deferred<ExitReason>();
      if (this.status === DEAD) this.#exited.resolve(this.#exitReason!);
    }
    return this.#exited.promise;
  }

  // ── internal API (runtime, links, context, adapters) ─────────────────────────────────

  /** @internal The exit reason once dead. */
  get exitReason(): ExitReason | undefined {
    return this.#exitReason;
  }

  /** @internal Queued messages (including queued EXIT/DOWN signals). */
  get mailboxDepth(): number {
    return this.mailbox?.size ?? 0;
  }

  /** @internal The per-actor child logger, created on first use. */
  logger(): Logger {
    return (this.#logger ??= this.kernel.log.child({ actor: this.id, name: this.name, ...this.logContext }));
  }

  /** @internal Runs `init` (on a microtask, after spawn has linked and registered the actor). */
  start(): void {
    if (this.behaviour.init === undefined) {
      this.#initDone = true;
      this.status = IDLE;
      return;
    }
    queueMicrotask(() => this.#runInit());
  }

  /** @internal Graceful stop after the current message (what `ctx.stop` and `stop` do). */
  requestStop(reason: ExitReason): void {
    if (this.status === DEAD || this.#stopRequested) return;
    this.#stopRequested = true;
    this.#stopReason = reason;
    if (this.status === IDLE) this.#beginStop();
  }

  /** @internal Crashes the actor with `thrown` now, whatever it is doing. No-op once dead. */
  crash(thrown: unknown): void {
    if (this.status !== DEAD) this.#exit(reasonFromThrown(thrown), false);
  }

  /** @internal An exit signal from a linked actor: a message if trapping, else exit with it (unless 'normal'). */
  receiveExit(from: ActorCell, reason: ExitReason): void {
    if (this.status === DEAD) return;
    if (this.trapping) this.enqueueSignal(new ExitSignal(from, reason));
    else if (reason !== 'normal') this.#exit(reason, false);
  }

  /** @internal Queues an EXIT/DOWN signal. Signals bypass the capacity bound (they are bounded by links + monitors) and are never dropped. */
  enqueueSignal(signal: ExitSignal | DownSignal): void {
    if (this.status === DEAD) return;
    (this.mailbox ??= new FifoQueue<unknown>()).push(signal);
    this.signalsQueued++;
    this.#schedule();
  }

  // ── mailbox ──────────────────────────────────────────────────────────────────────────

  #enqueue(message: unknown): void {
    const box = (this.mailbox ??= new FifoQueue<unknown>());
    if (box.size - this.signalsQueued >= this.mailboxOptions.capacity && !this.#overflow(box, message)) return;
    box.push(message);
    if (this.status === IDLE && !this.#scheduled) this.#schedule();
  }

  /** Applies the overflow policy. Returns true if `message` should still be queued. */
  #overflow(box: FifoQueue<unknown>, message: unknown): boolean {
    const { capacity, overflow } = this.mailboxOptions;
    this.dropped++;
    this.kernel.mailboxDropped(this, overflow, capacity);
    if (overflow === 'drop-oldest') {
      const oldest = box.removeFirst(isUserMessage);
      if (oldest instanceof PendingCall) oldest.fail(mailboxFullError(this, capacity, overflow));
      return true;
    }
    const error = mailboxFullError(this, capacity, overflow);
    if (message instanceof PendingCall) message.fail(error);
    else if (overflow === 'reject') throw error;
    return false;
  }

  #schedule(): void {
    if (this.status !== IDLE || this.#scheduled) return;
    this.#scheduled = true;
    // A reaction on a resolved promise, not queueMicrotask: Node wraps every queueMicrotask
    // callback in an AsyncResource plus a bound function, about twice the cost per drain.
    void RESOLVED.then((this.#drain ??= () => this.#drainNow()));
  }

  // ── the loop ─────────────────────────────────────────────────────────────────────────

  #runInit(): void {
    if (this.status !== STARTING) return; // killed before init ran
    let result: unknown;
    try {
      result = this.behaviour.init!(this.#context());
    } catch (err) {
      this.crash(err);
      return;
    }
    if (isPromiseLike(result)) {
      Promise.resolve(result).then(
        () => this.#initialised(),
        (err: unknown) => {
          if (this.status === STARTING) this.crash(err);
        },
      );
    } else this.#initialised();
  }

  #initialised(): void {
    if (this.status !== STARTING) return; // exited while init was pending
    this.#initDone = true;
    this.status = IDLE;
    this.#started?.resolve();
    this.#drainNow();
  }

  /**
   * Handles queued messages until the mailbox is empty, a handler parks the loop on a
   * promise, or the time slice is used up. `status` stays Running for the whole burst (a
   * send during a handler must not schedule a second drain); it is Idle only between bursts.
   */
  #drainNow(): void {
    this.#scheduled = false;
    if (this.status !== IDLE) return;
    if (this.#stopRequested) {
      this.#beginStop();
      return;
    }
    const box = this.mailbox;
    if (box === undefined) return;
    this.status = RUNNING;
    const behaviour = this.behaviour;
    const ctx = this.#context();
    let budget = DRAIN_BUDGET;
    let sliceStart = -1;
    for (;;) {
      if (this.#stopRequested) {
        this.#beginStop();
        return;
      }
      if (box.size === 0) {
        this.status = IDLE;
        return;
      }
      if (--budget === 0) {
        budget = DRAIN_BUDGET;
        const now = performance.now(); // real CPU time, not the injected clock: this is about fairness
        if (sliceStart < 0) sliceStart = now;
        else if (now - sliceStart >= TIME_SLICE_MS) {
          this.status = IDLE;
          this.#scheduled = true;
          setImmediate((this.#drain ??= () => this.#drainNow())); // yield to I/O between bursts
          return;
        }
      }
      let message = box.shift();
      let call: PendingCall | undefined;
      if (message instanceof PendingCall) {
        if (message.settled) continue; // timed out or aborted before its turn: the caller has gone
        call = message;
        message = call.message;
        this.#current = call;
      } else if (this.signalsQueued > 0 && (message instanceof ExitSignal || message instanceof DownSignal)) {
        this.signalsQueued--;
      }
      let result: unknown;
      try {
        result = behaviour.handle(message, ctx);
      } catch (err) {
        if (this.status === RUNNING) this.crash(err);
        return;
      }
      if (this.status !== RUNNING) return; // exited during the handler (kill, link)
      if (isPromiseLike(result)) {
        const onOk = (this.#onAsyncOk ??= (value: unknown) => this.#asyncDone(value));
        const onErr = (this.#onAsyncErr ??= (err: unknown) => {
          if (this.status === RUNNING) this.crash(err);
        });
        (result instanceof Promise ? result : Promise.resolve(result)).then(onOk, onErr);
        return;
      }
      if (call !== undefined) {
        this.#current = undefined;
        call.ok(result);
      }
    }
  }

  #asyncDone(value: unknown): void {
    if (this.status !== RUNNING) return; // killed meanwhile: the result is discarded
    const call = this.#current;
    this.#current = undefined;
    call?.ok(value);
    if (this.status !== RUNNING) return;
    this.status = IDLE;
    this.#drainNow();
  }

  // ── exit ─────────────────────────────────────────────────────────────────────────────

  #beginStop(): void {
    this.status = STOPPING;
    const terminate = this.behaviour.terminate;
    if (terminate === undefined) {
      this.#exit(this.#stopReason, true);
      return;
    }
    let result: unknown;
    try {
      result = terminate.call(this.behaviour, this.#stopReason, this.#context());
    } catch (err) {
      this.#terminateFailed(err);
    }
    if (!isPromiseLike(result)) {
      this.#finishStop();
      return;
    }
    Promise.resolve(result).then(
      () => this.#finishStop(),
      (err: unknown) => {
        this.#terminateFailed(err);
        this.#finishStop();
      },
    );
  }

  #terminateFailed(err: unknown): void {
    // The exit reason stays the one stop() was given; the failure is reported, not swallowed.
    this.logger().error({ err }, 'actor terminate failed');
  }

  #finishStop(): void {
    if (this.status === STOPPING) this.#exit(this.#stopReason, true);
  }

  /**
   * Exits now. `graceful` (a completed stop) rejects still-queued calls with SYN_ERR_SHUTDOWN;
   * otherwise pending and queued calls reject with SYN_ERR_ACTOR_EXITED (cause: the reason).
   */
  #exit(reason: ExitReason, graceful: boolean): void {
    this.status = DEAD;
    this.#exitReason = reason;
    const current = this.#current;
    this.#current = undefined;
    if (current !== undefined) current.fail(exitedError(this, reason));
    const box = this.mailbox;
    this.mailbox = undefined;
    this.signalsQueued = 0;
    box?.drain((message) => {
      if (message instanceof PendingCall && !message.settled) message.fail(graceful ? shutdownError(this) : exitedError(this, reason));
    });
    const timers = this.timers;
    this.timers = undefined;
    if (timers !== undefined) for (const timer of timers) timer.cancel();
    const hooks = this.exitHooks;
    this.exitHooks = undefined;
    if (hooks !== undefined) for (const hook of hooks) this.#runHook(hook);
    this.kernel.exited(this, reason);
    if (!this.#initDone) this.#started?.reject(startFailedError(this, this.#exitReason));
    this.#exited?.resolve(reason);
    severAll(this, reason);
  }

  #runHook(hook: () => void): void {
    try {
      hook();
    } catch (err) {
      this.logger().error({ err }, 'actor exit hook failed');
    }
  }

  #context(): ActorContextImpl<M> {
    return (this.#ctx ??= new ActorContextImpl<M>(this));
  }
}

function isUserMessage(message: unknown): boolean {
  return !(message instanceof ExitSignal || message instanceof DownSignal);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
