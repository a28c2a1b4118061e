/**
 * The `input` of `sendMessage` / `streamMessage`: `{ prompt }`, or `{ toolResults, prompt? }` to
 * answer the deferred tool calls a conversation waits on (pydantic-ai human in the loop,
 * docs/agents.md). Validated once, here, at the public edge.
 */
import { checkToolResultsShape } from './conversation/deferred.ts';
import { synErr } from './errors.ts';
import type { ApprovalAnswer, ToolResultsFrame } from './protocol/frames.ts';
import { checkPrompt, type Prompt } from './prompt.ts';

export type { ApprovalAnswer } from './protocol/frames.ts';

/** A user prompt as `sendMessage` accepts it: a string or an array of content parts (see `checkPrompt`). */
export type { Prompt } from './prompt.ts';

/**
 * Answers to a conversation's pending deferred tool calls, keyed by `toolCallId` (the ids of
 * `SendResult.deferred`). Every pending call must be answered, each in its own list.
 */
export interface ToolResults {
  /** For `deferred.approvals`: `true`, `false`, `{ denied: message }` or `{ approved: true, overrideArgs? }`. */
  readonly approvals?: Readonly<Record<string, ApprovalAnswer>>;
  /** For `deferred.calls`: the tool's return value (any JSON). */
  readonly calls?: Readonly<Record<string, unknown>>;
}

/**
 * What a turn sends: a prompt, or answers to the pending deferred calls (then the prompt is
 * optional: without it pydantic-ai resumes with no new user message).
 */
export type MessageInput = { readonly prompt: Prompt } | { readonly toolResults: ToolResults; readonly prompt?: Prompt };

/**
 * @returns the prompt (`undefined` only with `toolResults`) and the wire form of `toolResults`.
 * @throws SYN_ERR_INVALID_ARGUMENT naming the bad field.
 */
export function checkMessageInput(input: unknown, maxPromptBytes: number): { prompt: Prompt | undefined; toolResults: ToolResultsFrame | undefined } {
  if (typeof input !== 'object' || input === null || !Object.hasOwn(input, 'toolResults')) return { prompt: checkPrompt(input, maxPromptBytes), toolResults: undefined };
  const { toolResults, ...rest } = input as { toolResults: unknown };
  const extra = Object.keys(rest).filter((k) => k !== 'prompt');
  if (extra.length > 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Unknown message field "${extra[0]}" (expected { prompt } or { toolResults, prompt? })`, { argument: `message.${extra[0]}` });
  const results = checkToolResultsShape(toolResults);
  const prompt = (rest as { prompt?: unknown }).prompt === undefined ? undefined : checkPrompt(rest, maxPromptBytes);
  return { prompt, toolResults: results };
}
