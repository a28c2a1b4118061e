/**
 * The {@link HistoryStore} contract and the in-memory store (the library default).
 *
 * Turns are the atomic unit: a turn's messages are committed together or not at all, and a
 * turn id is committed at most once (`commit` of a known turn id is a no-op returning
 * `'duplicate'`, so a retried commit is safe). The durable store is `JournalHistoryStore`
 * (`./journal.ts`).
 */
import { synErr } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import { validateConversationId, validateTurnId } from './ids.ts';
import { DEFAULT_STORE_LIMITS, prepareTurn, tooManyMessages } from './record.ts';
import type { StoreLimits, StoredTurn, TurnInput } from './record.ts';

export type { StoreLimits, StoredTurn, TurnInput } from './record.ts';
export { DEFAULT_STORE_LIMITS, historyOf } from './record.ts';

/** Outcome of {@link HistoryStore.commit}. */
export type CommitOutcome = 'committed' | 'duplicate';

/**
 * Where conversation history lives. Implementations must:
 * - commit a turn atomically (all its messages or none) and durably as far as they promise;
 * - treat a second commit of the same `(conversationId, turnId)` as a no-op (`'duplicate'`);
 * - serialise commits to one conversation and allow concurrent commits to different ones;
 * - return turns from `load` in commit order.
 */
export interface HistoryStore {
  /** Short name of the store for metrics and logs (`memory`, `journal`, `postgres`); `custom` when absent. */
  readonly kind?: string;
  /**
   * The committed turns of a conversation in commit order (`[]` if unknown).
   * @throws SYN_ERR_INVALID_ARGUMENT (bad id), SYN_ERR_STORE_CORRUPT, SYN_ERR_STORE_IO, SYN_ERR_SHUTDOWN (closed).
   */
  load(conversationId: string): Promise<readonly StoredTurn[]>;
  /**
   * Commits one turn; resolves once it is as durable as the store promises.
   * @throws SYN_ERR_INVALID_ARGUMENT (bad ids, limits), SYN_ERR_STORE_IO (outcome unknown: retry with the same turn id), SYN_ERR_SHUTDOWN.
   */
  commit(turn: TurnInput): Promise<CommitOutcome>;
  /** The committed turn with this id, or `undefined`. Same errors as `load`. */
  getTurn(conversationId: string, turnId: string): Promise<StoredTurn | undefined>;
  /** Whether this turn id is committed. Same errors as `load`. */
  hasTurn(conversationId: string, turnId: string): Promise<boolean>;
  /** Ids of every conversation with at least one turn (unordered). */
  list(): Promise<string[]>;
  /** Deletes a conversation's history; resolves `true` if it existed. */
  delete(conversationId: string): Promise<boolean>;
  /** Waits for in-flight commits, then releases resources. Idempotent; later calls reject with SYN_ERR_SHUTDOWN. */
  close(): Promise<void>;
}

/** Options of {@link MemoryHistoryStore}. */
export interface MemoryHistoryStoreOptions {
  /** Largest serialised turn in bytes. Default {@link DEFAULT_STORE_LIMITS}.maxTurnBytes (4 MiB). */
  maxTurnBytes?: number;
  /** Most messages per conversation. Default {@link DEFAULT_STORE_LIMITS}.maxMessagesPerConversation (10 000). */
  maxMessagesPerConversation?: number;
}

/** Option schema shared by the stores for their limits. */
export const LIMIT_FIELDS = {
  maxTurnBytes: v.optional(v.number({ min: 1, integer: true })),
  maxMessagesPerConversation: v.optional(v.number({ min: 1, integer: true })),
} as const;

/** Resolves the limit fields of a store's options, applying defaults. */
export function resolveLimits(resolved: { maxTurnBytes?: number | undefined; maxMessagesPerConversation?: number | undefined }): StoreLimits {
  return {
    maxTurnBytes: resolved.maxTurnBytes ?? DEFAULT_STORE_LIMITS.maxTurnBytes,
    maxMessagesPerConversation: resolved.maxMessagesPerConversation ?? DEFAULT_STORE_LIMITS.maxMessagesPerConversation,
  };
}

/** Throws SYN_ERR_SHUTDOWN for an operation on a closed store. */
export function storeClosed(store: string): never {
  throw synErr('SYN_ERR_SHUTDOWN', `${store} is closed`, { reason: 'store closed' });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

interface MemoryConversation {
  readonly turns: StoredTurn[];
  readonly byId: Map<string, StoredTurn>;
  messages: number;
}

/**
 * History in process memory: fast, lost when the process exits. The default for library use.
 * Stored turns are deep-frozen copies (a caller mutating its messages after commit changes nothing).
 *
 * @example
 * ```ts
 * const store = new MemoryHistoryStore({ maxMessagesPerConversation: 1_000 });
 * await store.commit({ conversationId: 'c1', turnId: 't1', agent: 'bot', messages, at: Date.now() });
 * ```
 * @throws SYN_ERR_INVALID_OPTION from the constructor on bad options.
 */
export class MemoryHistoryStore implements HistoryStore {
  /** `'memory'` (the `store` label of `synapse_store_commit_duration_seconds`). */
  readonly kind = 'memory';
  readonly limits: StoreLimits;
  #conversations = new Map<string, MemoryConversation>();
  #closed = false;

  constructor(options: MemoryHistoryStoreOptions = {}) {
    this.limits = Object.freeze(resolveLimits(resolveOptions('MemoryHistoryStore', options, LIMIT_FIELDS)));
  }

  async load(conversationId: string): Promise<readonly StoredTurn[]> {
    this.#check();
    const c = this.#conversations.get(validateConversationId(conversationId));
    return c === undefined ? [] : [...c.turns];
  }

  async commit(input: TurnInput): Promise<CommitOutcome> {
    this.#check();
    const { turn } = prepareTurn(input, this.limits);
    let c = this.#conversations.get(turn.conversationId);
    if (c?.byId.has(turn.turnId)) return 'duplicate';
    const current = c?.messages ?? 0;
    if (current + turn.messages.length > this.limits.maxMessagesPerConversation) {
      tooManyMessages(turn.conversationId, current, turn.messages.length, this.limits.maxMessagesPerConversation);
    }
    if (c === undefined) {
      c = { turns: [], byId: new Map(), messages: 0 };
      this.#conversations.set(turn.conversationId, c);
    }
    deepFreeze(turn);
    c.turns.push(turn);
    c.byId.set(turn.turnId, turn);
    c.messages += turn.messages.length;
    return 'committed';
  }

  async getTurn(conversationId: string, turnId: string): Promise<StoredTurn | undefined> {
    this.#check();
    const c = this.#conversations.get(validateConversationId(conversationId));
    const id = validateTurnId(turnId);
    return c?.byId.get(id);
  }

  async hasTurn(conversationId: string, turnId: string): Promise<boolean> {
    return (await this.getTurn(conversationId, turnId)) !== undefined;
  }

  async list(): Promise<string[]> {
    this.#check();
    return [...this.#conversations.keys()];
  }

  async delete(conversationId: string): Promise<boolean> {
    this.#check();
    return this.#conversations.delete(validateConversationId(conversationId));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#conversations.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #check(): void {
    if (this.#closed) storeClosed('MemoryHistoryStore');
  }
}
