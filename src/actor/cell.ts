/**
 * One actor incarnation: its bounded mailbox, the one-message-at-a-time loop, and its exit.
 * The cell *is* the {@link ActorRef} handed out by `spawn` (one object per actor; links,
 * monitors, timers, the mailbox storage, the context, the logger and the started/exited
 * promises are all allocated on first use, so an idle actor stays small). The cold paths
 * (init, terminate, exit) live in `cell-lifecycle.ts`.
 *
 * Loop: a message arriving at an idle actor schedules one microtask that drains the mailbox
 * synchronously while handlers return plain values; a handler returning a promise parks
 * the loop until it settles. A burst that runs longer than {@link TIME_SLICE_MS} yields a
 * macrotask so one busy actor cannot starve I/O.
 *
 * Hot path: `send` allocates nothing once the mailbox exists; the loop only tests a message
 * against {@link PendingCall} / the signal classes while such entries are queued (counted
 * by `callsQueued` / `signalsQueued`), so a stream of plain messages pays two Smi compares
 * instead of `instanceof` checks.
 */
import type { Logger } from 'pino';
import { PendingCall, abortedError } from './call.ts';
import { mailboxFullError, noProcError, shutdownError, startFailedError } from './cell-errors.ts';
import { beginStop, Deferred, exitCell, isPromiseLike, runInit } from './cell-lifecycle.ts';
import { ActorContextImpl, type ActorTimer } from './context.ts';
import type { Kernel, ResolvedMailbox } from './kernel.ts';
import { FifoQueue } from './queue.ts';
import { reasonFromThrown } from './reason.ts';
import { Status } from './status.ts';
import { DownSignal, ExitSignal, type ActorId, type ActorRef, type Behaviour, type CallOptions, type ExitReason } from './types.ts';
import type { Monitor } from './links.ts';

export { Status } from './status.ts';
// Module constants for the hot path (same values as Status).
const STARTING = 0;
const IDLE = 1;
const RUNNING = 2;
const DEAD = 4;

/** Messages handled between two looks at the time slice. */
export const DRAIN_BUDGET = 1024;
/** A burst longer than this (real ms) yields a macrotask so one busy actor cannot starve I/O. */
export const TIME_SLICE_MS = 5;
/** Default `call` timeout (ms), as `gen_server:call`. */
export const DEFAULT_CALL_TIMEOUT = 5000;

const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};

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
 * Members marked `@internal` are for the runtime, links, context, lifecycle and adapters in
 * this folder.
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
  /** @internal Queued EXIT/DOWN signals (they bypass the capacity bound). */ signalsQueued = 0;
  /** @internal Queued {@link PendingCall} entries, settled or not. */ callsQueued = 0;
  /** @internal */ links: Set<ActorCell> | undefined = undefined;
  /** @internal */ monitorsOut: Map<string, Monitor> | undefined = undefined;
  /** @internal */ monitorsIn: Map<string, Monitor> | undefined = undefined;
  /** @internal */ timers: Set<ActorTimer> | undefined = undefined;
  /** @internal */ exitHooks: (() => void)[] | undefined = undefined;
  /** @internal True once `init` has completed. */ initDone = false;
  /** @internal The reason a requested graceful stop will exit with. */ stopReason: ExitReason = 'normal';
  /** @internal The exit reason once dead. */ exitReason: ExitReason | undefined = undefined;
  /** @internal The call whose handler is running (or parked on a promise). */ current: PendingCall | undefined = undefined;
  /** @internal */ startedDeferred: Deferred<void> | undefined = undefined;
  /** @internal */ exitedDeferred: Deferred<ExitReason> | undefined = undefined;
  #scheduled = false;
  #stopRequested = false;
  #ctx: ActorContextImpl<M> | undefined = undefined;
  #logger: Logger | undefined = undefined;
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
    const box = (this.mailbox ??= new FifoQueue<unknown>());
    if (box.size - this.signalsQueued < this.mailboxOptions.capacity || this.#overflow(box, pending)) {
      box.push(pending);
      this.callsQueued++;
      if (this.status === IDLE && !this.#scheduled) this.#schedule();
    }
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
    if (this.status !== DEAD) exitCell(this, 'kill', false);
  }

  isAlive(): boolean {
    return this.status !== DEAD;
  }

  get started(): Promise<void> {
    if (this.startedDeferred !== undefined) return this.startedDeferred.promise;
    if (this.initDone) return RESOLVED;
    this.startedDeferred = new Deferred<void>();
    if (this.status === DEAD) this.startedDeferred.reject(startFailedError(this, this.exitReason));
    return this.startedDeferred.promise;
  }

  get exited(): Promise<ExitReason> {
    if (this.exitedDeferred === undefined) {
      this.exitedDeferred = new Deferred<ExitReason>();
      if (this.status === DEAD) this.exitedDeferred.resolve(this.exitReason!);
    }
    return this.exitedDeferred.promise;
  }

  // ── internal API (runtime, links, context, lifecycle, adapters) ──────────────────────

  /** @internal Queued messages (including queued EXIT/DOWN signals). */
  get mailboxDepth(): number {
    return this.mailbox?.size ?? 0;
  }

  /** @internal The per-actor child logger, created on first use. */
  logger(): Logger {
    return (this.#logger ??= this.kernel.log.child({ actor: this.id, name: this.name, ...this.logContext }));
  }

  /** @internal The context handed to the behaviour, created on first use. */
  context(): ActorContextImpl<M> {
    return (this.#ctx ??= new ActorContextImpl<M>(this));
  }

  /** @internal Runs `init` (on a microtask, after spawn has linked and registered the actor). */
  start(): void {
    if (this.behaviour.init === undefined) {
      this.initDone = true;
      this.status = IDLE;
      return;
    }
    queueMicrotask(() => runInit(this));
  }

  /** @internal Graceful stop after the current message (what `ctx.stop` and `stop` do). */
  requestStop(reason: ExitReason): void {
    if (this.status === DEAD || this.#stopRequested) return;
    this.#stopRequested = true;
    this.stopReason = reason;
    if (this.status === IDLE) beginStop(this);
  }

  /** @internal Crashes the actor with `thrown` now, whatever it is doing. No-op once dead. */
  crash(thrown: unknown): void {
    if (this.status !== DEAD) exitCell(this, reasonFromThrown(thrown), false);
  }

  /** @internal An exit signal from a linked actor: a message if trapping, else exit with it (unless 'normal'). */
  receiveExit(from: ActorCell, reason: ExitReason): void {
    if (this.status === DEAD) return;
    if (this.trapping) this.enqueueSignal(new ExitSignal(from, reason));
    else if (reason !== 'normal') exitCell(this, reason, false);
  }

  /** @internal Queues an EXIT/DOWN signal. Signals bypass the capacity bound (they are bounded by links + monitors) and are never dropped. */
  enqueueSignal(signal: ExitSignal | DownSignal): void {
    if (this.status === DEAD) return;
    (this.mailbox ??= new FifoQueue<unknown>()).push(signal);
    this.signalsQueued++;
    this.#schedule();
  }

  // ── mailbox ──────────────────────────────────────────────────────────────────────────

  /** Applies the overflow policy. Returns true if `message` should still be queued. */
  #overflow(box: FifoQueue<unknown>, message: unknown): boolean {
    const { capacity, overflow } = this.mailboxOptions;
    this.dropped++;
    this.kernel.mailboxDropped(this, overflow, capacity);
    if (overflow === 'drop-oldest') {
      const oldest = box.removeFirst(isUserMessage);
      if (oldest instanceof PendingCall) {
        this.callsQueued--;
        oldest.fail(mailboxFullError(this, capacity, overflow));
      }
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
    void RESOLVED.then((this.#drain ??= () => this.drainNow()));
  }

  // ── the loop ─────────────────────────────────────────────────────────────────────────

  /**
   * @internal Handles queued messages until the mailbox is empty, a handler parks the loop
   * on a promise, or the time slice is used up. `status` stays Running for the whole burst
   * (a send during a handler must not schedule a second drain); it is Idle only between
   * bursts.
   */
  drainNow(): void {
    this.#scheduled = false;
    if (this.status !== IDLE) return;
    if (this.#stopRequested) {
      beginStop(this);
      return;
    }
    const box = this.mailbox;
    if (box === undefined) return;
    this.status = RUNNING;
    const behaviour = this.behaviour;
    const ctx = this.context();
    let budget = DRAIN_BUDGET;
    let sliceStart = -1;
    for (;;) {
      if (this.#stopRequested) {
        beginStop(this);
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
          setImmediate((this.#drain ??= () => this.drainNow())); // yield to I/O between bursts
          return;
        }
      }
      let message = box.shift();
      let call: PendingCall | undefined;
      // The counters keep plain messages off the instanceof checks (see the module comment).
      if (this.callsQueued !== 0 && message instanceof PendingCall) {
        this.callsQueued--;
        if (message.settled) continue; // timed out or aborted before its turn: the caller has gone
        call = message;
        message = call.message;
        this.current = call;
      } else if (this.signalsQueued !== 0 && (message instanceof ExitSignal || message instanceof DownSignal)) {
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
      if (result !== undefined && isPromiseLike(result)) {
        const onOk = (this.#onAsyncOk ??= (value: unknown) => this.#asyncDone(value));
        const onErr = (this.#onAsyncErr ??= (err: unknown) => {
          if (this.status === RUNNING) this.crash(err);
        });
        (result instanceof Promise ? result : Promise.resolve(result)).then(onOk, onErr);
        return;
      }
      if (call !== undefined) {
        this.current = undefined;
        call.ok(result);
      }
    }
  }

  #asyncDone(value: unknown): void {
    if (this.status !== RUNNING) return; // killed meanwhile: the result is discarded
    const call = this.current;
    this.current = undefined;
    call?.ok(value);
    if (this.status !== RUNNING) return;
    this.status = IDLE;
    this.drainNow();
  }
}

function isUserMessage(message: unknown): boolean {
  return !(message instanceof ExitSignal || message instanceof DownSignal);
}
