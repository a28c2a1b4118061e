/**
 * Conversation and turn ids: validation and generation.
 *
 * Ids travel to Python, into logs and (hashed, see `./journal-files.ts`) into file names, so
 * they are checked once at the edge: a string of 1..{@link MAX_ID_LENGTH} UTF-16 units, no
 * control characters (C0, DEL, C1), no lone surrogates (they would collapse to U+FFFD in UTF-8
 * and make two ids collide on disk), no leading or trailing whitespace. Path separators and dots
 * are allowed: no file name is ever built from an id verbatim.
 */
import { nanoid } from 'nanoid';
import { synErr } from '../errors.ts';

/** Longest accepted id, in UTF-16 code units. */
export const MAX_ID_LENGTH = 200;

/** Which argument an id was passed as; named in the error details. */
export type IdArgument = 'conversationId' | 'turnId' | 'agent';

// C0 controls, DEL, C1 controls; and the line/paragraph separators that break log lines.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why `value` is not a valid id, or `undefined` when it is.
 *
 * @example
 * ```ts
 * idProblem('') // 'must not be empty'
 * ```
 */
export function idProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string, got ${value === null ? 'null' : typeof value}`;
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_ID_LENGTH) return `must be at most ${MAX_ID_LENGTH} characters, got ${value.length}`;
  if (CONTROL.test(value)) return 'must not contain control characters';
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode (lone surrogate)';
  if (value.trim() !== value) return 'must not start or end with whitespace';
  return undefined;
}

/**
 * Returns `value` if it is a valid id.
 *
 * @throws SYN_ERR_INVALID_ARGUMENT with details `{ argument, reason }`.
 * @example
 * ```ts
 * const id = validateId(req.conversationId, 'conversationId');
 * ```
 */
export function validateId(value: unknown, argument: IdArgument): string {
  const reason = idProblem(value);
  if (reason !== undefined) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `Invalid ${argument}: ${reason}`, { argument, reason });
  }
  return value as string;
}

/**
 * Validates a conversation id.
 * @throws SYN_ERR_INVALID_ARGUMENT (details.argument = 'conversationId').
 */
export function validateConversationId(value: unknown): string {
  return validateId(value, 'conversationId');
}

/**
 * Validates a turn id.
 * @throws SYN_ERR_INVALID_ARGUMENT (details.argument = 'turnId').
 */
export function validateTurnId(value: unknown): string {
  return validateId(value, 'turnId');
}

/** A fresh conversation id (nanoid, 21 URL-safe characters, ~126 bits of randomness). */
export function newConversationId(): string {
  return nanoid();
}

/** A fresh turn id (nanoid). Callers that may retry a turn should create it once and reuse it. */
export function newTurnId(): string {
  return nanoid();
}
