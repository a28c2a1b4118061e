/**
 * The turn record — the atomic unit every {@link HistoryStore} commits — and the checks both
 * stores apply before committing one (ids, shape, JSON-serialisability, size limits).
 */
import { synErr } from '../errors.ts';
import type { DeferredRequests } from '../protocol/frames.ts';
import { validateConversationId, validateId, validateTurnId } from './ids.ts';

/** What the caller hands to `HistoryStore.commit`. */
export interface TurnInput {
  readonly conversationId: string;
  /** Idempotency key: committing a turn id twice stores it once. */
  readonly turnId: string;
  /** The agent that produced the turn. */
  readonly agent: string;
  /** The run's new messages, pydantic-ai `ModelMessagesTypeAdapter` JSON objects. */
  readonly messages: readonly unknown[];
  /** Wall-clock time of the commit, epoch milliseconds. */
  readonly at: number;
  /** The run's output, kept so a retried turn id can return it without re-running. */
  readonly output?: unknown;
  /** The run's usage, kept for the same reason. */
  readonly usage?: unknown;
  /** The output's type name, kept for the same reason. */
  readonly outputType?: string;
  /** The deferred tool calls the turn ended on (pydantic-ai human in the loop), kept for the same reason. */
  readonly deferred?: DeferredRequests;
}

/** A committed turn as a store returns it. Treat it as read-only. */
export interface StoredTurn {
  readonly conversationId: string;
  readonly turnId: string;
  readonly agent: string;
  readonly messages: readonly unknown[];
  readonly at: number;
  readonly output?: unknown;
  readonly usage?: unknown;
  readonly outputType?: string;
  readonly deferred?: DeferredRequests;
}

/** Size limits shared by every store. */
export interface StoreLimits {
  /** Largest serialised turn (JSON bytes, UTF-8). */
  readonly maxTurnBytes: number;
  /** Most messages one conversation may hold (sum over its turns). */
  readonly maxMessagesPerConversation: number;
}

/** Default limits: 4 MiB per turn, 10 000 messages per conversation. */
export const DEFAULT_STORE_LIMITS: Readonly<StoreLimits> = Object.freeze({
  maxTurnBytes: 4 * 1024 * 1024,
  maxMessagesPerConversation: 10_000,
});

/** On-disk / in-memory version tag of a turn record. */
export const RECORD_VERSION = 1;

/** A validated turn plus its serialised JSON (computed once, reused by the journal). */
export interface PreparedTurn {
  readonly turn: StoredTurn;
  readonly json: string;
  readonly bytes: number;
}

function invalidArg(argument: string, reason: string): never {
  throw synErr('SYN_ERR_INVALID_ARGUMENT', `Invalid ${argument}: ${reason}`, { argument, reason });
}

/**
 * Validates a turn and serialises it.
 *
 * @throws SYN_ERR_INVALID_ARGUMENT on a bad id, a non-array `messages`, a non-finite `at`, a
 * value that is not JSON-serialisable, or a turn larger than `limits.maxTurnBytes`.
 */
export function prepareTurn(input: TurnInput, limits: StoreLimits): PreparedTurn {
  if (typeof input !== 'object' || input === null) invalidArg('turn', 'must be an object');
  const conversationId = validateConversationId(input.conversationId);
  const turnId = validateTurnId(input.turnId);
  const agent = validateId(input.agent, 'agent');
  if (!Array.isArray(input.messages)) invalidArg('messages', 'must be an array');
  if (typeof input.at !== 'number' || !Number.isFinite(input.at)) invalidArg('at', 'must be a finite number');
  if (input.messages.length > limits.maxMessagesPerConversation) {
    invalidArg('messages', `a turn of ${input.messages.length} messages exceeds maxMessagesPerConversation (${limits.maxMessagesPerConversation})`);
  }
  const record: Record<string, unknown> = { v: RECORD_VERSION, conversationId, turnId, agent, at: input.at, messages: input.messages };
  if (input.output !== undefined) record.output = input.output;
  if (input.usage !== undefined) record.usage = input.usage;
  if (input.outputType !== undefined) record.outputType = input.outputType;
  if (input.deferred !== undefined) record.deferred = input.deferred;
  let json: string;
  try {
    json = JSON.stringify(record);
  } catch (err) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', 'Invalid turn: not JSON-serialisable', { argument: 'turn', reason: 'not JSON-serialisable' }, err);
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > limits.maxTurnBytes) {
    invalidArg('turn', `serialised size ${bytes} bytes exceeds maxTurnBytes (${limits.maxTurnBytes})`);
  }
  // Round-trip so the stored value is exactly what a reload yields (undefined fields dropped, no shared references).
  return { turn: decodeTurn(JSON.parse(json) as unknown) as StoredTurn, json, bytes };
}

/** Parses a decoded record back into a {@link StoredTurn}; `undefined` if the shape is wrong. */
export function decodeTurn(value: unknown): StoredTurn | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const r = value as Record<string, unknown>;
  if (r.v !== RECORD_VERSION) return undefined;
  const { conversationId, turnId, agent, at, messages } = r;
  if (typeof conversationId !== 'string' || typeof turnId !== 'string' || typeof agent !== 'string') return undefined;
  if (typeof at !== 'number' || !Array.isArray(messages)) return undefined;
  const turn: { -readonly [K in keyof StoredTurn]: StoredTurn[K] } = { conversationId, turnId, agent, at, messages };
  if (r.output !== undefined) turn.output = r.output;
  if (r.usage !== undefined) turn.usage = r.usage;
  if (typeof r.outputType === 'string') turn.outputType = r.outputType;
  if (isDeferred(r.deferred)) turn.deferred = r.deferred;
  return turn;
}

function isDeferred(x: unknown): x is DeferredRequests {
  const d = x as { approvals?: unknown; calls?: unknown } | null;
  const list = (l: unknown): boolean => Array.isArray(l) && l.every((c) => typeof (c as { toolCallId?: unknown } | null)?.toolCallId === 'string');
  return typeof d === 'object' && d !== null && list(d.approvals) && list(d.calls);
}

/** Throws the "too many messages" error for a conversation. */
export function tooManyMessages(conversationId: string, current: number, adding: number, max: number): never {
  throw synErr(
    'SYN_ERR_INVALID_ARGUMENT',
    `Conversation "${conversationId}" would hold ${current + adding} messages, over maxMessagesPerConversation (${max})`,
    { argument: 'messages', reason: 'maxMessagesPerConversation exceeded', conversationId, current, adding, max },
  );
}

/** The full message history of a list of turns, in order. */
export function historyOf(turns: readonly StoredTurn[]): unknown[] {
  const out: unknown[] = [];
  for (const t of turns) for (const m of t.messages) out.push(m);
  return out;
}
