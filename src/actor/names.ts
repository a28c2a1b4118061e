/**
 * Registered-name rules. Names come from configuration; anything derived from untrusted
 * input must pass {@link validateName} first (the runtime does this on every spawn).
 */
import { synErr } from '../errors.ts';

/** Longest accepted registered name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 200;

// C0/C1 control characters plus the Unicode line/paragraph separators: nothing that can
// forge a log line or hide in a terminal.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Checks a registered name: a non-empty string of at most {@link MAX_NAME_LENGTH} characters
 * without control characters.
 * @throws SYN_ERR_INVALID_ARGUMENT naming the problem.
 */
export function validateName(name: unknown): string {
  if (typeof name !== 'string') throw synErr('SYN_ERR_INVALID_ARGUMENT', `Actor name must be a string, got ${typeof name}`);
  if (name.length === 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'Actor name must not be empty');
  if (name.length > MAX_NAME_LENGTH) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `Actor name is ${name.length} characters long; the maximum is ${MAX_NAME_LENGTH}`, { length: name.length });
  }
  if (FORBIDDEN.test(name)) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Actor name ${JSON.stringify(name.slice(0, 60))} contains a control character`);
  return name;
}
