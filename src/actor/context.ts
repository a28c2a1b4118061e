/**
 * The {@link ActorContext} handed to `init` / `handle` / `terminate`, and the actor-owned
 * timers behind `ctx.sendAfter`. Every operation acts as the actor itself; after the actor
 * has exited they throw SYN_ERR_NO_PROC (except `stop`, a no-op).
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { ActorCell } from './cell.ts';
import { demonitor, link, monitor, unlink } from './links.ts';
import type { ActorContext, ActorRef, ActorSystemLike, ExitReason, MonitorRef, TimerRef } from './types.ts';

/** A `sendAfter` timer, owned by (and cancelled with) the actor that created it. */
export class ActorTimer implements TimerRef {
  #handle: TimerHandle | undefined;

  constructor(
    private readonly owner: ActorCell,
    private readonly target: ActorCell,
    private message: unknown,
    ms: number,
  ) {
    this.#handle = owner.kernel.clock.setTimeout(() => this.#fire(), ms);
  }

  cancel(): boolean {
    if (this.#handle === undefined) return false;
    this.owner.kernel.clock.clearTimeout(this.#handle);
    this.#release();
    return true;
  }

  #fire(): void {
    if (this.#handle === undefined) return;
    const message = this.message;
    this.#release();
    if (!this.target.isAlive()) return; // like erlang:send_after to a dead pid: dropped silently
    try {
      this.target.send(message);
    } catch (err) {
      // The only possible failure is a full mailbox with overflow 'reject'; the drop is
      // already counted and reported as mailbox.dropped, so it is logged, not rethrown.
      this.owner.logger().warn({ err, target: this.target.id }, 'sendAfter message dropped');
    }
  }

  #release(): void {
    this.#handle = undefined;
    this.message = undefined;
    this.owner.timers?.delete(this);
  }
}

export class ActorContextImpl<M = unknown> implements ActorContext<M> {
  constructor(readonly cell: ActorCell) {}

  get self(): ActorRef<M> {
    return this.cell as ActorRef<M>;
  }

  get system(): ActorSystemLike {
    return this.cell.kernel.system;
  }

  get log(): Logger {
    return this.cell.logger();
  }

  get clock(): Clock {
    return this.cell.kernel.clock;
  }

  link(ref: ActorRef): void {
    link(this.#alive('link'), this.cell.kernel.cellOf(ref, 'link target'));
  }

  unlink(ref: ActorRef): void {
    unlink(this.#alive('unlink'), this.cell.kernel.cellOf(ref, 'unlink target'));
  }

  monitor(ref: ActorRef): MonitorRef {
    return monitor(this.#alive('monitor'), this.cell.kernel.cellOf(ref, 'monitor target'));
  }

  demonitor(ref: MonitorRef): void {
    demonitor(this.#alive('demonitor'), ref);
  }

  trapExit(enabled: boolean): void {
    if (typeof enabled !== 'boolean') throw synErr('SYN_ERR_INVALID_ARGUMENT', 'trapExit(enabled) expects a boolean');
    this.#alive('trapExit').trapping = enabled;
  }

  sendAfter(message: unknown, ms: number, target?: ActorRef): TimerRef {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw synErr('SYN_ERR_INVALID_ARGUMENT', `sendAfter: ms must be a finite number >= 0, got ${String(ms)}`);
    }
    const owner = this.#alive('sendAfter');
    const to = target === undefined ? owner : owner.kernel.cellOf(target, 'sendAfter target');
    const timer = new ActorTimer(owner, to, message, ms);
    (owner.timers ??= new Set()).add(timer);
    return timer;
  }

  stop(reason: ExitReason = 'normal'): void {
    this.cell.requestStop(reason);
  }

  #alive(op: string): ActorCell {
    if (!this.cell.isAlive()) throw synErr('SYN_ERR_NO_PROC', `ctx.${op}: actor ${this.cell.id} has exited`, { actor: this.cell.id });
    return this.cell;
  }
}

/**
 * Internal hook for adapters in this folder (xstate): runs `fn` when the actor exits for any
 * reason, including `kill` (when `terminate` is skipped). Hooks run once, in order.
 * @throws SYN_ERR_NO_PROC if the actor has already exited.
 */
export function onActorExit(ctx: ActorContext, fn: () => void): void {
  const cell = (ctx as ActorContextImpl).cell;
  if (!cell.isAlive()) throw synErr('SYN_ERR_NO_PROC', `actor ${cell.id} has exited`, { actor: cell.id });
  (cell.exitHooks ??= []).push(fn);
}

/** Internal: crashes the actor now with `error` (as if its handler had thrown). No-op once exited. */
export function crashActor(ctx: ActorContext, error: unknown): void {
  (ctx as ActorContextImpl).cell.crash(error);
}
