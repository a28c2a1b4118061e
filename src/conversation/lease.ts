/**
 * The seam for serialising turns across processes: a per-conversation lease taken under the
 * {@link TurnSerializer}'s local lane. The serializer holds the lease for one turn — from before
 * it loads history until after it commits — and commits through the lease's grant, so a store
 * can check the lease (a fencing token) in the commit itself. Implemented by
 * `PostgresConversationLease` (`synapse/postgres`); without a lease, the local lane is all.
 */
import type { CommitOutcome, HistoryStore, TurnInput } from './store.ts';

/** What {@link ConversationLease.acquire} is asked for. */
export interface LeaseRequest {
  readonly conversationId: string;
  readonly turnId: string;
  /** Held by another process: `'queue'` waits (bounded by `signal`), `'reject'` fails with SYN_ERR_CONVERSATION_BUSY. */
  readonly policy: 'queue' | 'reject';
  /** Aborting stops a wait (SYN_ERR_ABORTED, or the signal's coded reason). */
  readonly signal?: AbortSignal;
}

/** A held lease: valid until released, or lost (expired, taken over). */
export interface LeaseGrant {
  /** The fencing token (increases with every grant of this conversation). */
  readonly token: string;
  /** Aborted with SYN_ERR_LEASE_LOST once the lease is known lost (a renewal found it gone). */
  readonly signal: AbortSignal;
  /**
   * Commits a turn of the leased conversation, checking the token and the conversation's
   * sequence in the same transaction.
   * @throws SYN_ERR_LEASE_LOST (fenced: nothing committed), and the store's commit errors.
   */
  commit(turn: TurnInput): Promise<CommitOutcome>;
  /** Gives the lease up (wakes waiters). Idempotent; never rejects: a lease not released expires. */
  release(): Promise<void>;
}

/** A per-conversation lease shared by the processes that share a {@link HistoryStore}. */
export interface ConversationLease {
  /** The store the grants commit to; the system's `history` must be this store. */
  readonly store: HistoryStore;
  /**
   * Takes the conversation's lease, waiting per `request.policy` while another process holds it.
   * @throws SYN_ERR_CONVERSATION_BUSY (policy reject), SYN_ERR_ABORTED / the signal's reason,
   * SYN_ERR_STORE_IO, SYN_ERR_SHUTDOWN (closed).
   */
  acquire(request: LeaseRequest): Promise<LeaseGrant>;
  /** Stops waits (SYN_ERR_SHUTDOWN) and releases resources. Grants still held expire. Idempotent. */
  close(): Promise<void>;
}
