/**
 * State shared by every cell of one runtime: clock, logger, events, the live-actor table
 * (in spawn order), the name registry, call deadlines, and the exit-signal worklist.
 * Internal: the public face is {@link ActorRuntime}.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { SynapseEventEmitter, SynapseEvents } from '../observe/events.ts';
import { invalid, resolveOptions, v } from '../options.ts';
import { ActorCell, DEFAULT_CALL_TIMEOUT } from './cell.ts';
import { DeadlineScheduler } from './deadlines.ts';
import { formatReason, isCleanExit, isKillReason } from './reason.ts';
import type { ActorId, ActorSystemLike, CallOptions, ExitReason } from './types.ts';
import { rethrowLater } from '../rethrow.ts';

/** Mailbox options after defaults. */
export interface ResolvedMailbox {
  readonly capacity: number;
  readonly overflow: 'reject' | 'drop-newest' | 'drop-oldest';
}

const CALL_OPTIONS = {
  timeout: v.optional(v.number({ min: 0 })),
  signal: v.optional((value: unknown, path: string): AbortSignal => (value instanceof AbortSignal ? value : invalid(path, 'an AbortSignal', value))),
};

let runtimeSeq = 0;

export class Kernel {
  /** Live cells by id, in spawn order. */
  readonly live = new Map<ActorId, ActorCell>();
  /** Registered names of live cells. */
  readonly names = new Map<string, ActorCell>();
  readonly deadlines: DeadlineScheduler;
  readonly #prefix = ++runtimeSeq;
  #actorSeq = 0;
  #monitorSeq = 0;
  /** Exit-signal worklist as flat triples (target, from, reason); see {@link deliverExit}. */
  readonly #signals: unknown[] = [];
  #delivering = false;

  constructor(
    readonly system: ActorSystemLike,
    readonly clock: Clock,
    readonly log: Logger,
    readonly events: SynapseEventEmitter,
    readonly defaultMailbox: ResolvedMailbox,
  ) {
    this.deadlines = new DeadlineScheduler(clock);
  }

  nextActorId(): ActorId {
    return `<${this.#prefix}.${++this.#actorSeq}>`;
  }

  nextMonitorId(): string {
    return `#Ref<${this.#prefix}.${++this.#monitorSeq}>`;
  }

  /**
   * The cell behind `ref`, checked to belong to this runtime.
   * @throws SYN_ERR_INVALID_ARGUMENT for anything else.
   */
  cellOf(ref: unknown, what: string): ActorCell {
    if (ref instanceof ActorCell && ref.kernel === this) return ref;
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `${what} must be an ActorRef from this actor system`);
  }

  /** Validates per-call options (fast path for the common shapes; resolveOptions for errors). */
  callOptions(options: CallOptions): { timeout: number; signal: AbortSignal | undefined } {
    if (typeof options === 'object' && options !== null) {
      let known = true;
      for (const key in options) if (key !== 'timeout' && key !== 'signal') known = false;
      const { timeout, signal } = options;
      if (known && (timeout === undefined || (typeof timeout === 'number' && timeout >= 0)) && (signal === undefined || signal instanceof AbortSignal)) {
        return { timeout: timeout ?? DEFAULT_CALL_TIMEOUT, signal };
      }
    }
    const { timeout, signal } = resolveOptions('call options', options, CALL_OPTIONS) as { timeout?: number; signal?: AbortSignal };
    return { timeout: timeout ?? DEFAULT_CALL_TIMEOUT, signal };
  }

  /** Records a new live cell and reports it (as an event only). */
  spawned(cell: ActorCell): void {
    this.live.set(cell.id, cell);
    if (cell.name !== undefined) this.names.set(cell.name, cell);
    if (this.events.listenerCount('actor.spawned') > 0) {
      this.emit('actor.spawned', { actor: cell.id, name: cell.name, parent: cell.parent?.id });
    }
  }

  /** Forgets a cell that has exited (frees its name) and reports the exit (as an event only: the event log logs it). */
  exited(cell: ActorCell, reason: ExitReason): void {
    this.live.delete(cell.id);
    if (cell.name !== undefined && this.names.get(cell.name) === cell) this.names.delete(cell.name);
    if (isCleanExit(reason) || isKillReason(reason)) {
      if (this.events.listenerCount('actor.stopped') > 0) {
        this.emit('actor.stopped', { actor: cell.id, name: cell.name, reason: formatReason(reason) });
      }
      return;
    }
    if (this.events.listenerCount('actor.crashed') > 0) {
      this.emit('actor.crashed', { actor: cell.id, name: cell.name, reason: formatReason(reason), error: reason });
    }
  }

  /** Reports a mailbox overflow (every policy, including 'reject'). */
  mailboxDropped(cell: ActorCell, policy: string, capacity: number): void {
    if (this.events.listenerCount('mailbox.dropped') > 0) {
      this.emit('mailbox.dropped', { actor: cell.id, name: cell.name, policy, capacity });
    }
  }

  /**
   * Delivers an exit signal from `from` to its linked `target`. Deliveries that cause further
   * exits are queued and processed iteratively by the outermost call, so arbitrarily long
   * chains of links never grow the stack.
   */
  deliverExit(target: ActorCell, from: ActorCell, reason: ExitReason): void {
    const work = this.#signals;
    work.push(target, from, reason);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let i = 0; i < work.length; i += 3) {
        (work[i] as ActorCell).receiveExit(work[i + 1] as ActorCell, work[i + 2] as ExitReason);
      }
    } finally {
      work.length = 0;
      this.#delivering = false;
    }
  }

  /**
   * Emits on the event emitter. A listener that throws must not break the actor loop: the
   * error is re-thrown on a fresh macrotask (xstate's reportUnhandledError), deliberately on
   * the real timer queue rather than the injected clock so it surfaces even under a
   * simulated clock.
   */
  emit<K extends keyof SynapseEvents>(name: K, payload: SynapseEvents[K]): void {
    try {
      (this.events.emit as (event: K, arg: SynapseEvents[K]) => boolean)(name, payload);
    } catch (err) {
      rethrowLater(err);
    }
  }
}
