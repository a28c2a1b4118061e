/**
 * Validation of a {@link RunRequest} into a `run` frame (arguments, not options: a bad field
 * is SYN_ERR_INVALID_ARGUMENT naming it).
 */
import { synErr } from '../errors.ts';
import type { RunFrame } from '../protocol/frames.ts';
import type { RunRequest } from './runs.ts';

function badArg(field: string, expected: string): never {
  throw synErr('SYN_ERR_INVALID_ARGUMENT', `Invalid run request: "${field}" must be ${expected}`, { field });
}

/**
 * Checks a request and builds its `run` frame.
 *
 * @throws SYN_ERR_INVALID_ARGUMENT naming the bad field; SYN_ERR_NO_AGENT if `agent` is not loaded.
 */
export function validateRunRequest(request: RunRequest, agents: readonly string[]): RunFrame {
  if (typeof request !== 'object' || request === null) badArg('request', 'an object');
  const { id, agent, prompt, history = [], timeoutMs = null, stream = false, conversationId, turnId, options, toolResults } = request;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) badArg('id', 'a non-empty string of at most 256 characters');
  if (typeof agent !== 'string') badArg('agent', 'a string');
  if (toolResults !== undefined && (typeof toolResults !== 'object' || toolResults === null || Array.isArray(toolResults))) badArg('toolResults', 'an object');
  const promptOk = typeof prompt === 'string' || (Array.isArray(prompt) && prompt.length > 0) || (prompt === null && toolResults !== undefined);
  if (!promptOk) badArg('prompt', 'a string or a non-empty array of content parts (null only with toolResults)');
  if (!Array.isArray(history)) badArg('history', 'an array of messages');
  if (timeoutMs !== null && (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) badArg('timeoutMs', 'a finite number > 0 or null');
  if (typeof stream !== 'boolean') badArg('stream', 'a boolean');
  if (conversationId !== undefined && typeof conversationId !== 'string') badArg('conversationId', 'a string');
  if (turnId !== undefined && typeof turnId !== 'string') badArg('turnId', 'a string');
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) badArg('options', 'an object');
  if (!agents.includes(agent)) throw synErr('SYN_ERR_NO_AGENT', `Agent "${agent}" is not loaded in this worker (loaded: ${agents.join(', ') || 'none'})`, { agent });
  return {
    t: 'run',
    id,
    agent,
    prompt,
    history,
    timeoutMs,
    stream,
    ...(conversationId === undefined ? {} : { conversationId }),
    ...(turnId === undefined ? {} : { turnId }),
    ...(options === undefined ? {} : { options }),
    ...(toolResults === undefined ? {} : { toolResults }),
  };
}
