/**
 * The cold paths of an {@link ActorCell}: running `init`, the graceful stop (`terminate`),
 * and the exit itself (failing pending calls, cancelling timers, running exit hooks,
 * reporting, signalling links and monitors). Split from `cell.ts` so the hot path (mailbox
 * and loop) reads on its own; these functions act on the cell's `@internal` fields.
 */
import { PendingCall } from './call.ts';
import type { ActorCell } from './cell.ts';
import { exitedError, ignoredError, shutdownError, startFailedError } from './cell-errors.ts';
import { severAll } from './links.ts';
import { Status } from './status.ts';
import type { ExitReason } from './types.ts';

const noop = (): void => {};

/** A promise with its settle functions, created lazily for `started` / `exited`. */
export class Deferred<T> {
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

/** True for anything with a callable `then` (a handler's async result). */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Runs `init` (scheduled on a microtask by `cell.start()`); a throw or rejection crashes the actor. */
export function runInit(cell: ActorCell): void {
  if (cell.status !== Status.Starting) return; // killed before init ran
  let result: unknown;
  try {
    result = cell.behaviour.init!(cell.context());
  } catch (err) {
    cell.crash(err);
    return;
  }
  if (isPromiseLike(result)) {
    Promise.resolve(result).then(
      (value) => initialised(cell, value),
      (err: unknown) => {
        if (cell.status === Status.Starting) cell.crash(err);
      },
    );
  } else initialised(cell, result);
}

function initialised(cell: ActorCell, result: unknown): void {
  if (cell.status !== Status.Starting) return; // exited while init was pending
  if (result === 'ignore') {
    // OTP `ignore`: start nothing. `started` says so before the exit is signalled, so a
    // supervisor awaiting it knows the 'normal' exit that follows is not a crash.
    (cell.startedDeferred ??= new Deferred<void>()).reject(ignoredError(cell));
    exitCell(cell, 'normal', false);
    return;
  }
  cell.initDone = true;
  cell.status = Status.Idle;
  cell.startedDeferred?.resolve();
  cell.drainNow();
}

/** Runs `terminate(stopReason)` (if any), then exits with the stop reason. */
export function beginStop(cell: ActorCell): void {
  cell.status = Status.Stopping;
  const behaviour = cell.behaviour;
  const terminate = behaviour.terminate;
  if (terminate === undefined) {
    exitCell(cell, cell.stopReason, true);
    return;
  }
  let result: unknown;
  try {
    result = terminate.call(behaviour, cell.stopReason, cell.context());
  } catch (err) {
    terminateFailed(cell, err);
  }
  if (!isPromiseLike(result)) {
    finishStop(cell);
    return;
  }
  Promise.resolve(result).then(
    () => finishStop(cell),
    (err: unknown) => {
      terminateFailed(cell, err);
      finishStop(cell);
    },
  );
}

function terminateFailed(cell: ActorCell, err: unknown): void {
  // The exit reason stays the one stop() was given; the failure is reported, not swallowed.
  cell.logger().error({ err }, 'actor terminate failed');
}

function finishStop(cell: ActorCell): void {
  if (cell.status === Status.Stopping) exitCell(cell, cell.stopReason, true);
}

/**
 * Exits now. `graceful` (a completed stop) rejects still-queued calls with SYN_ERR_SHUTDOWN;
 * otherwise pending and queued calls reject with SYN_ERR_ACTOR_EXITED (cause: the reason).
 */
export function exitCell(cell: ActorCell, reason: ExitReason, graceful: boolean): void {
  cell.status = Status.Dead;
  cell.exitReason = reason;
  const current = cell.current;
  cell.current = undefined;
  if (current !== undefined) current.fail(exitedError(cell, reason));
  const box = cell.mailbox;
  cell.mailbox = undefined;
  cell.signalsQueued = 0;
  cell.callsQueued = 0;
  box?.drain((message) => {
    if (message instanceof PendingCall && !message.settled) message.fail(graceful ? shutdownError(cell) : exitedError(cell, reason));
  });
  const timers = cell.timers;
  cell.timers = undefined;
  if (timers !== undefined) for (const timer of timers) timer.cancel();
  const hooks = cell.exitHooks;
  cell.exitHooks = undefined;
  if (hooks !== undefined) for (const hook of hooks) runHook(cell, hook);
  cell.kernel.exited(cell, reason);
  if (!cell.initDone) cell.startedDeferred?.reject(startFailedError(cell, reason));
  cell.exitedDeferred?.resolve(reason);
  severAll(cell, reason);
}

function runHook(cell: ActorCell, hook: () => void): void {
  try {
    hook();
  } catch (err) {
    cell.logger().error({ err }, 'actor exit hook failed');
  }
}
