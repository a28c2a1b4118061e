/**
 * {@link ActorRuntime}: spawns actors, keeps the name registry, reports lifecycle events,
 * and shuts everything down in reverse spawn order.
 *
 * @example
 * ```ts
 * const runtime = new ActorRuntime();
 * const counter = runtime.spawn<number, number>({
 *   handle: (() => { let n = 0; return (by: number) => (n += by); })(),
 * }, { name: 'counter' });
 * counter.send(1);
 * await counter.call(2); // 3
 * await runtime.shutdown();
 * ```
 */
import pino, { type Logger } from 'pino';
import type { AnyStateMachine, EventFromLogic } from 'xstate';
import { realClock, type Clock } from '../clock.ts';
import { synErr } from '../errors.ts';
import { EventLog } from '../observe/event-log.ts';
import { SynapseEventEmitter } from '../observe/events.ts';
import { invalid, resolveOptions, v, type Field } from '../options.ts';
import { ActorCell, Status } from './cell.ts';
import { Kernel, type ResolvedMailbox } from './kernel.ts';
import { link } from './links.ts';
import { fromMachine, isStateMachine, type MachineReply } from './machine.ts';
import { validateName } from './names.ts';
import type { ActorId, ActorRef, ActorSystemLike, Behaviour, MailboxOptions, SpawnOptions } from './types.ts';

/** Defaults of {@link ActorRuntime}. */
export const ACTOR_RUNTIME_DEFAULTS = Object.freeze({
  /** Mailbox of every actor spawned without `mailbox` options. */
  mailbox: Object.freeze({ capacity: 10_000, overflow: 'reject' }) as ResolvedMailbox,
  /** Per-actor wait (ms) for a graceful stop during {@link ActorRuntime.shutdown} before the actor is killed. */
  shutdownTimeoutMs: 5000,
});

/** Largest accepted mailbox capacity. */
export const MAX_MAILBOX_CAPACITY = 2 ** 30;

/** Constructor options of {@link ActorRuntime}. */
export interface ActorRuntimeOptions {
  /** Time source for `call` timeouts and `ctx.sendAfter`. Default: the real clock. */
  clock?: Clock;
  /** Parent logger; each actor gets a child `{ actor, name }`. Default: a silent pino logger. */
  log?: Logger;
  /**
   * Where lifecycle events are emitted. Default: a new emitter, whose events the runtime logs to
   * `log` with an `EventLog`. An emitter given here is logged by its owner (the system's event log).
   */
  events?: SynapseEventEmitter;
  /** Mailbox options for actors spawned without their own. Default {@link ACTOR_RUNTIME_DEFAULTS}.mailbox. */
  defaultMailbox?: MailboxOptions;
}

/** Options of {@link ActorRuntime.shutdown}. */
export interface ShutdownOptions {
  /** Per-actor wait (ms) for the graceful stop before it is killed. Default 5000; `Infinity` waits forever. */
  timeout?: number;
}

/** A point-in-time view of one live actor (see {@link ActorRuntime.actors}). */
export interface ActorInfo {
  readonly id: ActorId;
  readonly name: string | undefined;
  readonly ref: ActorRef;
  readonly status: 'starting' | 'idle' | 'running' | 'stopping';
  /** Queued messages, including queued EXIT/DOWN signals. */
  readonly mailboxDepth: number;
  readonly mailboxCapacity: number;
  /** Messages dropped or rejected because the mailbox was full. */
  readonly dropped: number;
  /** The actor it was spawn-linked to, if any. */
  readonly parent: ActorId | undefined;
  readonly links: readonly ActorId[];
  /** Number of monitors this actor holds on others. */
  readonly monitors: number;
  readonly trapExit: boolean;
  /** Pending `sendAfter` timers. */
  readonly timers: number;
}

const STATUS_NAMES = ['starting', 'idle', 'running', 'stopping'] as const;

const isFn = (x: unknown): boolean => typeof x === 'function';
const clockField: Field<Clock> = (value, path) =>
  typeof value === 'object' && value !== null && isFn((value as Clock).now) && isFn((value as Clock).setTimeout) && isFn((value as Clock).clearTimeout)
    ? (value as Clock)
    : invalid(path, 'a Clock ({ now, setTimeout, clearTimeout })', value);
const loggerField: Field<Logger> = (value, path) =>
  typeof value === 'object' && value !== null && isFn((value as Logger).child) && isFn((value as Logger).isLevelEnabled)
    ? (value as Logger)
    : invalid(path, 'a pino Logger', value);
const eventsField: Field<SynapseEventEmitter> = (value, path) =>
  typeof value === 'object' && value !== null && isFn((value as SynapseEventEmitter).emit) && isFn((value as SynapseEventEmitter).listenerCount)
    ? (value as SynapseEventEmitter)
    : invalid(path, 'a SynapseEventEmitter', value);

const MAILBOX_SCHEMA = {
  capacity: v.optional(v.number({ min: 1, max: MAX_MAILBOX_CAPACITY, integer: true })),
  overflow: v.optional(v.oneOf(['reject', 'drop-newest', 'drop-oldest'] as const)),
};
const RUNTIME_SCHEMA = {
  clock: v.optional(clockField),
  log: v.optional(loggerField),
  events: v.optional(eventsField),
  defaultMailbox: v.optional(v.object(MAILBOX_SCHEMA)),
};
const SPAWN_SCHEMA = {
  name: v.optional(v.string()),
  mailbox: v.optional(v.object(MAILBOX_SCHEMA)),
  linkTo: v.any<ActorRef | undefined>(),
  trapExit: v.optional(v.boolean()),
  logContext: v.optional(v.record(v.any())),
};
const SHUTDOWN_SCHEMA = { timeout: v.optional(v.number({ min: 0 })) };

/**
 * The actor system core (`ActorSystemLike`): GenServer-style actors with links, monitors,
 * a name registry, bounded mailboxes and injected time.
 */
export class ActorRuntime implements ActorSystemLike {
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: SynapseEventEmitter;
  readonly #kernel: Kernel;
  #stopping = false;
  #shutdown: Promise<void> | undefined;

  /** @throws SYN_ERR_INVALID_OPTION naming the bad option. */
  constructor(options?: ActorRuntimeOptions) {
    const o = resolveOptions('', options, RUNTIME_SCHEMA);
    this.clock = o.clock ?? realClock;
    this.log = o.log ?? pino({ level: 'silent' });
    this.events = o.events ?? new SynapseEventEmitter();
    // Its own emitter: nobody else can log its events. Its listeners live and die with the emitter.
    if (o.events === undefined && o.log !== undefined) new EventLog(this.events, this.log);
    const mailbox = Object.freeze({ ...ACTOR_RUNTIME_DEFAULTS.mailbox, ...o.defaultMailbox }) as ResolvedMailbox;
    this.#kernel = new Kernel(this, this.clock, this.log, this.events, mailbox);
  }

  /**
   * Starts an actor and returns its ref; `init` runs on a microtask, after the link and the
   * name registration. An xstate `StateMachine` is wrapped with {@link fromMachine}.
   * @throws SYN_ERR_SYSTEM_STOPPED once shutdown has begun; SYN_ERR_INVALID_OPTION for bad
   * options; SYN_ERR_INVALID_ARGUMENT for a bad behaviour, name or `linkTo`;
   * SYN_ERR_NAME_TAKEN if a live actor holds the name; SYN_ERR_NO_PROC if `linkTo` is dead.
   */
  spawn<TMachine extends AnyStateMachine>(machine: TMachine, options?: SpawnOptions): ActorRef<EventFromLogic<TMachine>, MachineReply<TMachine>>;
  spawn<M, R>(behaviour: Behaviour<M, R>, options?: SpawnOptions): ActorRef<M, R>;
  spawn(behaviourOrMachine: Behaviour<unknown, unknown> | AnyStateMachine, options?: SpawnOptions): ActorRef {
    if (this.#stopping) throw synErr('SYN_ERR_SYSTEM_STOPPED', 'The actor system is shut down: cannot spawn');
    const behaviour = isStateMachine(behaviourOrMachine) ? fromMachine(behaviourOrMachine) : behaviourOrMachine;
    if (typeof behaviour !== 'object' || behaviour === null || typeof behaviour.handle !== 'function') {
      throw synErr('SYN_ERR_INVALID_ARGUMENT', 'spawn expects a behaviour ({ init?, handle, terminate? }) or an xstate StateMachine');
    }
    const kernel = this.#kernel;
    let name: string | undefined;
    let mailbox = kernel.defaultMailbox;
    let parent: ActorCell | undefined;
    let trapExit = false;
    let logContext: Record<string, unknown> | undefined;
    if (options !== undefined) {
      const o = resolveOptions('spawn options', options, SPAWN_SCHEMA);
      if (o.name !== undefined) {
        name = validateName(o.name);
        if (kernel.names.has(name)) throw synErr('SYN_ERR_NAME_TAKEN', `An actor named ${JSON.stringify(name)} is already alive`, { name });
      }
      if (o.mailbox !== undefined) mailbox = Object.freeze({ ...mailbox, ...o.mailbox }) as ResolvedMailbox;
      if (o.linkTo !== undefined) {
        parent = kernel.cellOf(o.linkTo, 'spawn option "linkTo"');
        if (!parent.isAlive()) throw synErr('SYN_ERR_NO_PROC', `Cannot spawn linked to actor ${parent.id}: it is not alive`, { actor: parent.id });
      }
      trapExit = o.trapExit ?? false;
      logContext = o.logContext;
    }
    const cell = new ActorCell(kernel, { id: kernel.nextActorId(), name, behaviour, mailbox, parent, trapExit, logContext });
    if (parent !== undefined) link(cell, parent);
    kernel.spawned(cell);
    cell.start();
    return cell;
  }

  /** The live actor registered under `name`, if any. */
  whereis(name: string): ActorRef | undefined {
    return this.#kernel.names.get(name);
  }

  /** Number of live actors. */
  get size(): number {
    return this.#kernel.live.size;
  }

  /** True once {@link shutdown} has begun. */
  get stopped(): boolean {
    return this.#stopping;
  }

  /** Snapshots of the live actors, in spawn order (for inspection; computed lazily per actor). */
  *actors(): IterableIterator<ActorInfo> {
    for (const cell of [...this.#kernel.live.values()]) {
      if (!cell.isAlive()) continue;
      yield {
        id: cell.id,
        name: cell.name,
        ref: cell,
        status: STATUS_NAMES[cell.status as Exclude<Status, 4>],
        mailboxDepth: cell.mailboxDepth,
        mailboxCapacity: cell.mailboxOptions.capacity,
        dropped: cell.dropped,
        parent: cell.parent?.id,
        links: cell.links === undefined ? [] : [...cell.links].map((c) => c.id),
        monitors: cell.monitorsOut?.size ?? 0,
        trapExit: cell.trapping,
        timers: cell.timers?.size ?? 0,
      };
    }
  }

  /**
   * Stops every live actor, newest first, each gracefully (`stop('shutdown')`) and killed if
   * it has not exited within `timeout` ms. Afterwards `spawn` throws SYN_ERR_SYSTEM_STOPPED.
   * Idempotent: later calls return the first call's promise.
   * @throws SYN_ERR_INVALID_OPTION for bad options (first call only).
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    if (this.#shutdown !== undefined) return this.#shutdown;
    const timeout = resolveOptions('shutdown options', options, SHUTDOWN_SCHEMA).timeout ?? ACTOR_RUNTIME_DEFAULTS.shutdownTimeoutMs;
    this.#stopping = true;
    this.#shutdown = this.#stopAll(timeout);
    return this.#shutdown;
  }

  /** Alias of {@link shutdown} with default options (the idempotent `close()` every owner has). */
  close(): Promise<void> {
    return this.shutdown();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #stopAll(timeout: number): Promise<void> {
    const kernel = this.#kernel;
    while (kernel.live.size > 0) {
      const cells = [...kernel.live.values()].reverse();
      for (const cell of cells) {
        if (!cell.isAlive()) continue;
        const done = cell.stop('shutdown');
        if (!cell.isAlive()) continue;
        if (timeout === Infinity) {
          await done;
          continue;
        }
        const timer = this.clock.setTimeout(() => cell.kill(), timeout);
        try {
          await done;
        } finally {
          this.clock.clearTimeout(timer);
        }
      }
    }
    kernel.deadlines.close();
  }
}
