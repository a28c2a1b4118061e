/**
 * Conversations: history owned by Node, turn serialisation, history stores.
 * See docs/conversations.md.
 */
export { MAX_ID_LENGTH, idProblem, validateId, validateConversationId, validateTurnId, newConversationId, newTurnId } from './ids.ts';
export type { IdArgument } from './ids.ts';
export { DEFAULT_STORE_LIMITS, historyOf, MemoryHistoryStore } from './store.ts';
export type { CommitOutcome, HistoryStore, MemoryHistoryStoreOptions, StoreLimits, StoredTurn, TurnInput } from './store.ts';
export { JournalHistoryStore, JOURNAL_STORE_DEFAULTS } from './journal.ts';
export type { JournalHistoryStoreOptions, RecoveryReport } from './journal.ts';
export type { ForeignLockPolicy } from './dir-lock.ts';
export { journalFileName } from './journal-files.ts';
export { assertWellFormed, findHistoryProblem, isWellFormed } from './history.ts';
export type { HistoryProblem, WellFormedOptions } from './history.ts';
export { TurnSerializer, TURN_SERIALIZER_DEFAULTS } from './turns.ts';
export type { TurnContext, TurnOutput, TurnRequest, TurnResult, TurnSerializerOptions } from './turns.ts';
