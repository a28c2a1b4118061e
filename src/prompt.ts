/**
 * Validation of a user prompt at the API edge: a string, valid Unicode (no lone surrogates,
 * which cannot be encoded as UTF-8), no NUL, at most `maxBytes` UTF-8 bytes.
 */
import { synErr } from './errors.ts';

/**
 * @returns the prompt string.
 * @throws SYN_ERR_INVALID_ARGUMENT naming the problem.
 */
export function checkPrompt(input: unknown, maxBytes: number): string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `The message must be an object like { prompt: string }, got ${input === null ? 'null' : typeof input}`, { argument: 'message' });
  }
  const extra = Object.keys(input).filter((k) => k !== 'prompt');
  if (extra.length > 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Unknown message field "${extra[0]}" (expected only { prompt })`, { argument: `message.${extra[0]}` });
  const prompt = (input as { prompt?: unknown }).prompt;
  if (typeof prompt !== 'string') throw synErr('SYN_ERR_INVALID_ARGUMENT', `message.prompt must be a string, got ${prompt === null ? 'null' : typeof prompt}`, { argument: 'message.prompt', reason: 'type' });
  if (prompt.length === 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'message.prompt must not be empty', { argument: 'message.prompt', reason: 'empty' });
  // Cheap upper bound first: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (prompt.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(prompt, 'utf8');
    if (bytes > maxBytes) throw synErr('SYN_ERR_INVALID_ARGUMENT', `message.prompt is ${bytes} bytes; the limit is ${maxBytes}`, { argument: 'message.prompt', reason: 'too_large', bytes, maxBytes });
  }
  if (!prompt.isWellFormed()) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'message.prompt contains a lone surrogate (not valid Unicode, cannot be sent as UTF-8)', { argument: 'message.prompt', reason: 'invalid_unicode' });
  if (prompt.includes('\0')) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'message.prompt contains a NUL character', { argument: 'message.prompt', reason: 'nul' });
  return prompt;
}
