/**
 * Turn serialisation: at most one turn in flight per conversation, and each turn's new
 * messages committed atomically before the caller is answered.
 *
 * A turn: (retry? return the stored result) → load history → `fn(history)` (the Python run)
 * → validate `history + new messages` → commit → resolve. If `fn` rejects or its messages are
 * not well-formed, nothing is committed.
 */
import { errorCodeOf, synErr } from '../errors.ts';
import type { SynapseError } from '../errors.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEventEmitter } from '../observe/events.ts';
import { resolveOptions, v } from '../options.ts';
import type { DeferredRequests } from '../protocol/frames.ts';
import { pendingToolCalls, type PendingCall } from './deferred.ts';
import { assertWellFormed } from './history.ts';
import { newTurnId, validateConversationId, validateId, validateTurnId } from './ids.ts';
import { historyOf } from './record.ts';
import type { ConversationLease, LeaseGrant } from './lease.ts';
import type { CommitOutcome, HistoryStore } from './store.ts';

/** What a turn function receives. */
export interface TurnContext {
  readonly conversationId: string;
  readonly turnId: string;
  /** The conversation's committed messages, oldest first. */
  readonly history: readonly unknown[];
  /** The deferred tool calls the history ends on (see `./deferred.ts`); `[]` when none are pending. */
  readonly pending: readonly PendingCall[];
  /** Aborted when the caller aborts or the serializer closes. Pass it to the run. */
  readonly signal: AbortSignal;
}

/** What a turn function returns: the run's new messages (and what a retry must reproduce). */
export interface TurnOutput<O = unknown> {
  readonly messages: readonly unknown[];
  readonly output?: O;
  readonly usage?: unknown;
  /** The output's type name (stored with the turn, returned on replay). */
  readonly outputType?: string | undefined;
  /** The deferred tool calls the run ended on: the turn may then leave them open (stored, returned on replay). */
  readonly deferred?: DeferredRequests | undefined;
}

/** The answer to {@link TurnSerializer.run}. */
export interface TurnResult<O = unknown> {
  readonly conversationId: string;
  readonly turnId: string;
  readonly messages: readonly unknown[];
  readonly output: O | undefined;
  readonly usage: unknown;
  readonly outputType?: string;
  readonly deferred?: DeferredRequests;
  /** True when the turn id was already committed and `fn` was not called. */
  readonly replayed: boolean;
}

/** One call of {@link TurnSerializer.run}. */
export interface TurnRequest {
  readonly conversationId: string;
  /** Idempotency key; generated when omitted. Retry a failed call with the same id. */
  readonly turnId?: string;
  /** The agent running the turn (recorded with it). */
  readonly agent: string;
  /** Aborting removes a queued turn (SYN_ERR_ABORTED) or is passed on to a running `fn`. */
  readonly signal?: AbortSignal;
}

/** Options of {@link TurnSerializer}. */
export interface TurnSerializerOptions {
  store: HistoryStore;
  /** When a turn is running: `'queue'` (default) waits, `'reject'` fails with SYN_ERR_CONVERSATION_BUSY. */
  policy?: 'queue' | 'reject';
  /** Max turns waiting per conversation (policy queue); over → SYN_ERR_OVERLOADED. Default 100. */
  maxQueue?: number;
  /** Accept new messages that end with open tool calls (pydantic-ai deferred tools). Default false. */
  allowPendingToolCalls?: boolean;
  /** Wall clock (epoch ms) for `at`. Default `Date.now`. */
  now?: () => number;
  /** Receives `turn.committed` / `turn.failed`. */
  events?: SynapseEventEmitter;
  /**
   * A lease across processes (e.g. `PostgresConversationLease`), taken under the local lane for
   * each turn and committed through; `policy` applies to it too. Its `store` must be `store`.
   */
  lease?: ConversationLease;
}

/** Defaults of {@link TurnSerializerOptions}. */
export const TURN_SERIALIZER_DEFAULTS = Object.freeze({ policy: 'queue', maxQueue: 100, allowPendingToolCalls: false } as const);

const SCHEMA = {
  store: v.any<HistoryStore>(),
  policy: v.optional(v.oneOf(['queue', 'reject'] as const)),
  maxQueue: v.optional(v.number({ min: 0, integer: true })),
  allowPendingToolCalls: v.optional(v.boolean()),
  now: v.optional(v.func<() => number>()),
  events: v.optional(v.any<SynapseEventEmitter>()),
  lease: v.optional(v.duck<ConversationLease>(['acquire', 'close'], 'a ConversationLease')),
};

interface Waiter {
  readonly start: () => void;
  readonly fail: (err: SynapseError) => void;
}

interface Lane {
  running: boolean;
  readonly queue: Waiter[];
}

/**
 * Serialises turns per conversation and commits them through a {@link HistoryStore}.
 * Does not own the store: close the store yourself after closing the serializer.
 *
 * @example
 * ```ts
 * const turns = new TurnSerializer({ store: new MemoryHistoryStore() });
 * const r = await turns.run({ conversationId, agent: 'bot' }, async ({ history, signal }) => {
 *   const res = await worker.run({ prompt, history, signal });
 *   return { messages: res.messages, output: res.output, usage: res.usage };
 * });
 * ```
 * @throws SYN_ERR_INVALID_OPTION from the constructor on bad options.
 */
export class TurnSerializer {
  readonly #store: HistoryStore;
  readonly #policy: 'queue' | 'reject';
  readonly #maxQueue: number;
  readonly #allowPending: boolean;
  readonly #now: () => number;
  readonly #events: SynapseEventEmitter | undefined;
  readonly #lease: ConversationLease | undefined;
  /** `store` label of the commit-latency metric ({@link HistoryStore.kind}). */
  readonly #storeKind: string;
  readonly #lanes = new Map<string, Lane>();
  readonly #running = new Set<Promise<unknown>>();
  /**
   * One controller per running turn, aborted by close(). Not one shared signal: every run
   * listens on its signal (router queue, run table), and more than 10 listeners on one
   * AbortSignal trip Node's MaxListenersExceededWarning.
   */
  readonly #controllers = new Set<AbortController>();
  #closeReason: SynapseError | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: TurnSerializerOptions) {
    const o = resolveOptions('TurnSerializer', options, SCHEMA);
    const store = o.store as HistoryStore | undefined;
    if (typeof store?.commit !== 'function' || typeof store.load !== 'function' || typeof store.getTurn !== 'function') {
      throw synErr('SYN_ERR_INVALID_OPTION', 'Invalid option "TurnSerializer.store": expected a HistoryStore', { option: 'TurnSerializer.store', expected: 'a HistoryStore' });
    }
    this.#store = store;
    this.#policy = o.policy ?? TURN_SERIALIZER_DEFAULTS.policy;
    this.#maxQueue = o.maxQueue ?? TURN_SERIALIZER_DEFAULTS.maxQueue;
    this.#allowPending = o.allowPendingToolCalls ?? TURN_SERIALIZER_DEFAULTS.allowPendingToolCalls;
    this.#now = o.now ?? Date.now;
    this.#events = o.events;
    this.#storeKind = typeof store.kind === 'string' && store.kind !== '' ? store.kind : 'custom';
    this.#lease = o.lease;
    if (this.#lease !== undefined && this.#lease.store !== store) {
      throw synErr('SYN_ERR_INVALID_OPTION', 'Invalid option "TurnSerializer.lease": its store is not the serializer\'s store', { option: 'TurnSerializer.lease', expected: 'a lease on the same store' });
    }
  }

  /**
   * Runs one turn when the conversation is free, commits its messages, and resolves with them.
   *
   * @throws SYN_ERR_INVALID_ARGUMENT (bad ids), SYN_ERR_CONVERSATION_BUSY (policy reject),
   * SYN_ERR_OVERLOADED (queue full), SYN_ERR_ABORTED (aborted while queued), SYN_ERR_SHUTDOWN
   * (closed), SYN_ERR_PROTOCOL (messages not well-formed: nothing committed), whatever `fn`
   * rejects with (nothing committed), the store's errors, and with a lease SYN_ERR_LEASE_LOST
   * (fenced: nothing committed, retry with the same turn id).
   */
  async run<O = unknown>(request: TurnRequest, fn: (ctx: TurnContext) => Promise<TurnOutput<O>>): Promise<TurnResult<O>> {
    const conversationId = validateConversationId(request.conversationId);
    const turnId = request.turnId === undefined ? newTurnId() : validateTurnId(request.turnId);
    const agent = validateId(request.agent, 'agent');
    const { signal } = request;
    if (this.#closed !== undefined) throw synErr('SYN_ERR_SHUTDOWN', 'TurnSerializer is closed', { conversationId, turnId });
    if (signal?.aborted) throw abortError(signal, conversationId, turnId);
    await this.#acquire(conversationId, turnId, signal);
    const work = this.#execute<O>(conversationId, turnId, agent, signal, fn);
    this.#running.add(work);
    try {
      return await work;
    } finally {
      this.#running.delete(work);
      this.#release(conversationId);
    }
  }

  /** Turns running or queued on a conversation. */
  pending(conversationId: string): number {
    const lane = this.#lanes.get(conversationId);
    return lane === undefined ? 0 : lane.queue.length + (lane.running ? 1 : 0);
  }

  /**
   * Rejects queued turns with SYN_ERR_SHUTDOWN, aborts running ones' signals and waits for them
   * to settle (a running turn whose `fn` still resolves is committed). Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const reason = synErr('SYN_ERR_SHUTDOWN', 'TurnSerializer closed');
      this.#closeReason = reason;
      for (const controller of this.#controllers) controller.abort(reason);
      for (const lane of this.#lanes.values()) {
        for (const w of lane.queue.splice(0)) w.fail(synErr('SYN_ERR_SHUTDOWN', 'TurnSerializer closed while the turn was queued'));
      }
      await Promise.allSettled([...this.#running]);
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #acquire(conversationId: string, turnId: string, signal: AbortSignal | undefined): Promise<void> {
    let lane = this.#lanes.get(conversationId);
    if (lane === undefined) {
      lane = { running: false, queue: [] };
      this.#lanes.set(conversationId, lane);
    }
    if (!lane.running) {
      lane.running = true;
      return Promise.resolve();
    }
    if (this.#policy === 'reject') {
      return Promise.reject(synErr('SYN_ERR_CONVERSATION_BUSY', `A turn is already running on conversation "${conversationId}"`, { conversationId, turnId }));
    }
    if (lane.queue.length >= this.#maxQueue) {
      return Promise.reject(synErr('SYN_ERR_OVERLOADED', `Turn queue of conversation "${conversationId}" is full (${this.#maxQueue})`, { conversationId, turnId, maxQueue: this.#maxQueue }));
    }
    const queue = lane.queue;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        this.#dropIfIdle(conversationId);
        reject(abortError(signal!, conversationId, turnId));
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  #release(conversationId: string): void {
    const lane = this.#lanes.get(conversationId);
    if (lane === undefined) return;
    const next = lane.queue.shift();
    if (next !== undefined) next.start(); // lane stays running: ownership passes to `next`
    else {
      lane.running = false;
      this.#dropIfIdle(conversationId);
    }
  }

  #dropIfIdle(conversationId: string): void {
    const lane = this.#lanes.get(conversationId);
    if (lane !== undefined && !lane.running && lane.queue.length === 0) this.#lanes.delete(conversationId);
  }

  async #execute<O>(conversationId: string, turnId: string, agent: string, signal: AbortSignal | undefined, fn: (ctx: TurnContext) => Promise<TurnOutput<O>>): Promise<TurnResult<O>> {
    const own = new AbortController();
    if (this.#closeReason !== undefined) own.abort(this.#closeReason);
    this.#controllers.add(own);
    let grant: LeaseGrant | undefined;
    // Observability (turn.committed / turn.failed fields, docs/observability.md): where it failed, how long the lease and the commit took.
    const obs: { stage: 'lease' | 'run' | 'commit'; leaseWaitMs?: number; commitMs?: number } = { stage: 'run' };
    try {
      if (this.#lease !== undefined) {
        obs.stage = 'lease';
        const t0 = performance.now();
        try {
          // Under the local lane: at most one waiter per conversation per process asks the database.
          grant = await this.#lease.acquire({ conversationId, turnId, policy: this.#policy, signal: signal === undefined ? own.signal : AbortSignal.any([signal, own.signal]) });
        } finally {
          obs.leaseWaitMs = performance.now() - t0;
        }
        obs.stage = 'run';
      }
      const stored = await this.#store.getTurn(conversationId, turnId);
      if (stored !== undefined) return replay<O>(stored, agent);
      if (own.signal.aborted) throw synErr('SYN_ERR_SHUTDOWN', 'TurnSerializer closed before the turn started', { conversationId, turnId });
      const turns = await this.#store.load(conversationId);
      const history = historyOf(turns);
      const pending = pendingToolCalls(history, turns.at(-1));
      const signals = [signal, own.signal, grant?.signal].filter((s): s is AbortSignal => s !== undefined);
      const runSignal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
      let out: TurnOutput<O>;
      try {
        out = await fn({ conversationId, turnId, history, pending, signal: runSignal });
      } catch (err) {
        // A run stopped because the lease was lost fails as that, whatever the run made of the abort.
        if (grant?.signal.aborted && !signal?.aborted) throw grant.signal.reason;
        throw err;
      }
      // The caller's abort wins until the commit begins: a result that arrives after the caller
      // gave up (a stream consumer that broke out of its loop, an aborted sendMessage) is
      // discarded, so a turn is committed exactly when its caller is handed the result.
      if (signal?.aborted) throw synErr('SYN_ERR_ABORTED', 'The turn was aborted before its result was committed (nothing committed)', { conversationId, turnId }, signal.reason);
      // A deferred turn ends on the calls it waits for; any other must answer every call it made.
      const messages = checkOutput(out, history, this.#allowPending || out.deferred !== undefined, conversationId, turnId);
      const extra = { ...(out.outputType === undefined ? {} : { outputType: out.outputType }), ...(out.deferred === undefined ? {} : { deferred: out.deferred }) };
      const turn = { conversationId, turnId, agent, messages, at: this.#now(), output: out.output, usage: out.usage, ...extra };
      if (grant?.signal.aborted) throw grant.signal.reason; // known lost: the fenced commit would refuse it
      obs.stage = 'commit';
      const c0 = performance.now();
      let outcome: CommitOutcome;
      try {
        outcome = grant === undefined ? await this.#store.commit(turn) : await grant.commit(turn);
      } finally {
        obs.commitMs = performance.now() - c0;
      }
      if (outcome === 'duplicate') {
        // Another writer committed this turn id meanwhile: its record is the truth.
        const winner = await this.#store.getTurn(conversationId, turnId);
        if (winner !== undefined) return replay<O>(winner, agent);
      }
      if (this.#events) emit(this.#events, 'turn.committed', { conversationId, turnId, agent, messages: messages.length, store: this.#storeKind, commitMs: obs.commitMs!, ...(obs.leaseWaitMs === undefined ? {} : { leaseWaitMs: obs.leaseWaitMs }) }, { now: this.#now });
      return { conversationId, turnId, messages, output: out.output, usage: out.usage, ...extra, replayed: false };
    } catch (err) {
      const code = errorCodeOf(err);
      if (this.#events) {
        const timing = { ...(obs.leaseWaitMs === undefined ? {} : { leaseWaitMs: obs.leaseWaitMs }), ...(obs.commitMs === undefined ? {} : { commitMs: obs.commitMs }) };
        emit(this.#events, 'turn.failed', { conversationId, turnId, agent, code, store: this.#storeKind, stage: obs.stage, ...timing }, { now: this.#now });
      }
      throw err;
    } finally {
      this.#controllers.delete(own);
      await grant?.release();
    }
  }
}

function checkOutput(out: TurnOutput<unknown>, history: readonly unknown[], allowPendingToolCalls: boolean, conversationId: string, turnId: string): readonly unknown[] {
  const messages = (out as TurnOutput<unknown> | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw synErr('SYN_ERR_PROTOCOL', 'A turn must return a non-empty messages array', { conversationId, turnId, reason: 'no messages' });
  }
  try {
    assertWellFormed([...history, ...messages], { allowPendingToolCalls });
  } catch (err) {
    const d = (err as SynapseError).details;
    const index = typeof d.index === 'number' ? d.index - history.length : -1;
    throw synErr('SYN_ERR_PROTOCOL', `Turn messages rejected (nothing committed): message ${index}: ${String(d.reason)}`, { conversationId, turnId, index, reason: d.reason }, err);
  }
  return messages;
}

/**
 * The committed turn as the result of a retry. A turn id is an idempotency key for one agent's
 * turn: a retry naming another agent is a caller bug, rejected rather than answered with the
 * other agent's reply. (The prompt is not compared: the committed messages are the truth.)
 */
function replay<O>(stored: { conversationId: string; turnId: string; agent: string; messages: readonly unknown[]; output?: unknown; usage?: unknown; outputType?: string; deferred?: DeferredRequests }, agent: string): TurnResult<O> {
  if (stored.agent !== agent) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `Turn "${stored.turnId}" of conversation "${stored.conversationId}" was committed by agent "${stored.agent}", not "${agent}": a turn id names one turn`, {
      argument: 'turnId',
      conversationId: stored.conversationId,
      turnId: stored.turnId,
      committedBy: stored.agent,
    });
  }
  const outputType = stored.outputType === undefined ? {} : { outputType: stored.outputType };
  const deferred = stored.deferred === undefined ? {} : { deferred: stored.deferred };
  return { conversationId: stored.conversationId, turnId: stored.turnId, messages: stored.messages, output: stored.output as O | undefined, usage: stored.usage, ...outputType, ...deferred, replayed: true };
}

function abortError(signal: AbortSignal, conversationId: string, turnId: string): SynapseError {
  return synErr('SYN_ERR_ABORTED', 'The turn was aborted before it started', { conversationId, turnId }, signal.reason);
}
