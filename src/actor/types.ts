/**
 * The actor core's public contract. Implemented in this folder; the supervisor layer and
 * everything above code against these types only.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.ts';
import type { SynapseEventEmitter } from '../observe/events.ts';

/**
 * Why an actor exited (Erlang exit reasons):
 * - `'normal'`: finished its work; links do not propagate it.
 * - `'shutdown'` / `{ shutdown: x }`: stopped on purpose by its supervisor or owner.
 * - `'kill'`: killed brutally (cannot be trapped); links see it as `'killed'`.
 * - `'killed'`: the reason a linked actor sees when its peer was killed.
 * - an `Error` (or any other value): a crash.
 */
export type ExitReason = 'normal' | 'shutdown' | 'kill' | 'killed' | { readonly shutdown: unknown } | Error;

/** Unique, never reused id of one actor incarnation. */
export type ActorId = string;

/** Options of {@link ActorRef.call}. */
export interface CallOptions {
  /** Milliseconds before the call rejects with SYN_ERR_TIMEOUT. Default 5000 (like gen_server:call). `Infinity` disables. */
  timeout?: number;
  /** Aborting rejects the call with SYN_ERR_ABORTED (the message, if already handled, is not undone). */
  signal?: AbortSignal;
}

/** A handle to an actor. Stays valid after the actor exits (operations then fail with SYN_ERR_NO_PROC). */
export interface ActorRef<M = unknown, R = unknown> {
  readonly id: ActorId;
  readonly name: string | undefined;
  /** Fire and forget. @throws SYN_ERR_NO_PROC if not alive; SYN_ERR_MAILBOX_FULL when full and overflow is 'reject'. */
  send(message: M): void;
  /** Request/reply: resolves with what `handle` returned. Rejects with SYN_ERR_TIMEOUT / ABORTED / NO_PROC / ACTOR_EXITED / MAILBOX_FULL. */
  call(message: M, options?: CallOptions): Promise<R>;
  /** Graceful stop after the current message: runs `terminate(reason)`, then exits. Resolves once exited. Idempotent. */
  stop(reason?: ExitReason): Promise<void>;
  /** Immediate exit with reason 'kill': pending handler results are discarded, `terminate` is not run. */
  kill(): void;
  isAlive(): boolean;
  /** Resolves once `init` has completed (rejects with SYN_ERR_START_FAILED if init threw). Created lazily. */
  readonly started: Promise<void>;
  /** Resolves with the exit reason once the actor has exited. Created lazily. */
  readonly exited: Promise<ExitReason>;
}

/** Delivered to an actor that traps exits when a linked actor exits. */
export class ExitSignal {
  readonly type = 'EXIT' as const;
  constructor(
    readonly from: ActorRef,
    readonly reason: ExitReason,
  ) {}
}

/** Delivered once to the monitoring actor when the monitored actor exits (or was already dead: reason 'noproc'). */
export class DownSignal {
  readonly type = 'DOWN' as const;
  constructor(
    readonly monitor: MonitorRef,
    readonly actor: ActorRef,
    readonly reason: ExitReason | 'noproc',
  ) {}
}

/** Returned by `ctx.monitor(ref)`; pass it to `ctx.demonitor` and find it in the {@link DownSignal}. */
export interface MonitorRef {
  readonly id: string;
}

/** Returned by `ctx.sendAfter`: the pending timer, which dies with the actor. */
export interface TimerRef {
  /** Cancels the timer; returns false if it already fired or was cancelled. */
  cancel(): boolean;
}

/** An actor's mailbox bound (every mailbox is bounded) and what happens when it is full. */
export interface MailboxOptions {
  /** Maximum queued messages. Default 10 000. */
  capacity?: number;
  /** What to do when full: reject the new message (throw/reject SYN_ERR_MAILBOX_FULL, default), drop the newest, or drop the oldest. Drops are counted. */
  overflow?: 'reject' | 'drop-newest' | 'drop-oldest';
}

/** Options of `system.spawn(behaviour, options)`. */
export interface SpawnOptions {
  /** Registered name (see `system.whereis`). Must be unique among live actors. */
  name?: string;
  mailbox?: MailboxOptions;
  /** Link the new actor to this one (used by supervisors: spawn_link). */
  linkTo?: ActorRef;
  /** Start already trapping exits (supervisors do). */
  trapExit?: boolean;
  /** Extra context bound into the actor's child logger. */
  logContext?: Record<string, unknown>;
}

/** What a handler sees. Valid only while the actor is alive. */
export interface ActorContext<M = unknown> {
  readonly self: ActorRef<M>;
  readonly system: ActorSystemLike;
  readonly log: Logger;
  readonly clock: Clock;
  link(ref: ActorRef): void;
  unlink(ref: ActorRef): void;
  monitor(ref: ActorRef): MonitorRef;
  demonitor(monitor: MonitorRef): void;
  /** When true, exit signals from links arrive as {@link ExitSignal} messages instead of killing this actor. */
  trapExit(enabled: boolean): void;
  /** Sends `message` to `target` (default self) after `ms`. Cancellable; cancelled automatically when this actor exits. */
  sendAfter(message: unknown, ms: number, target?: ActorRef): TimerRef;
  /** Stops this actor after the current message. */
  stop(reason?: ExitReason): void;
}

/**
 * What an actor's `init` (or a supervisor child's `start`) may return to start nothing: OTP's
 * `ignore`. The actor exits with reason `'normal'` before handling anything, its `started`
 * rejects with SYN_ERR_START_FAILED (`details.ignored: true`), and a supervisor treats the child
 * as ignored (docs/supervision.md).
 */
export const IGNORE = 'ignore' as const;

/**
 * An actor behaviour. `init` runs before the first message; `handle` runs one message at a
 * time (a returned promise is awaited before the next message); its return value is the
 * reply to `call`. A throw from `init`/`handle` crashes the actor with that error. `init` may
 * return (or resolve to) {@link IGNORE} to start nothing.
 */
export interface Behaviour<M = unknown, R = unknown> {
  init?(ctx: ActorContext<M>): void | typeof IGNORE | Promise<void | typeof IGNORE>;
  handle(message: M, ctx: ActorContext<M>): R | Promise<R>;
  terminate?(reason: ExitReason, ctx: ActorContext<M>): void | Promise<void>;
}

/** The part of ActorSystem the core needs (the full system lives in src/system.ts). */
export interface ActorSystemLike {
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: SynapseEventEmitter;
  spawn<M, R>(behaviour: Behaviour<M, R>, options?: SpawnOptions): ActorRef<M, R>;
  whereis(name: string): ActorRef | undefined;
}

export type { Clock, TimerHandle };
