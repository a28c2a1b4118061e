/**
 * Well-formedness of a pydantic-ai message history (`ModelMessagesTypeAdapter` JSON).
 *
 * Rules, after pydantic-ai's own history repair in `pydantic_ai/messages.py`
 * (`_dangling_tool_calls_by_response`, `_drop_orphaned_tool_results`, `_is_tool_result_part`):
 *
 * 1. Every message is an object with `kind` `'request'` or `'response'` and an array `parts`
 *    of objects with a string `part_kind`.
 * 2. The history starts with a request; two responses never follow each other (two requests
 *    may: a turn ending on a tool-return request is followed by the next turn's prompt).
 * 3. Every `tool-call` part of a response (with string `tool_name` and `tool_call_id`) is
 *    answered in the very next message, which is a request, by a *tool result* with the same
 *    `tool_call_id`: a `tool-return` part or a `retry-prompt` part with a non-null
 *    `tool_name`. Calls repeating an id are answered first-in first-out. One exception, from
 *    pydantic-ai's deferred tools: a request that answers only some calls (the ordinary tools
 *    the model called beside deferred ones) may be followed by one more request answering all
 *    the rest (the resume with `deferred_tool_results`).
 * 4. Every tool result answers an open call of the response right before it (no orphans, no
 *    duplicates). A `retry-prompt` without `tool_name` is feedback, not a tool result.
 * 5. Native (`builtin-tool-call` / `builtin-tool-return`) parts are resolved inside their own
 *    response by the provider and are not matched.
 *
 * Only the last response may leave calls open, and only with `allowPendingToolCalls`
 * (pydantic-ai deferred tools: the next run answers them).
 */
import { synErr } from '../errors.ts';

/** Options of {@link findHistoryProblem}. */
export interface WellFormedOptions {
  /** Allow open tool calls in the history's last message (deferred tools). Default false. */
  readonly allowPendingToolCalls?: boolean;
}

/** Where and why a history is not well-formed. */
export interface HistoryProblem {
  /** Index of the offending message. */
  readonly index: number;
  readonly reason: string;
}

type Msg = { kind: 'request' | 'response'; parts: Array<Record<string, unknown>> };

function shapeProblem(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return 'message is not an object';
  const m = message as Record<string, unknown>;
  if (m.kind !== 'request' && m.kind !== 'response') return `message kind must be "request" or "response", got ${JSON.stringify(m.kind)}`;
  if (!Array.isArray(m.parts)) return 'message parts must be an array';
  for (const p of m.parts) {
    if (typeof p !== 'object' || p === null || Array.isArray(p) || typeof (p as Record<string, unknown>).part_kind !== 'string') {
      return 'every part must be an object with a string part_kind';
    }
  }
  return undefined;
}

/** The id a tool result part answers, or undefined if the part is not a tool result. */
function resultId(part: Record<string, unknown>): unknown {
  if (part.part_kind === 'tool-return') return part.tool_call_id;
  if (part.part_kind === 'retry-prompt' && part.tool_name !== null && part.tool_name !== undefined) return part.tool_call_id;
  return undefined;
}

/**
 * The first problem of `messages`, or `undefined` when the history is well-formed.
 *
 * @example
 * ```ts
 * findHistoryProblem([{ kind: 'response', parts: [] }]) // { index: 0, reason: 'history must start with a request' }
 * ```
 */
export function findHistoryProblem(messages: readonly unknown[], options: WellFormedOptions = {}): HistoryProblem | undefined {
  if (!Array.isArray(messages)) return { index: -1, reason: 'history must be an array' };
  let open: string[] = []; // tool_call_ids the previous response left open, in order
  let prev: Msg['kind'] | undefined;
  let carried = false; // `open` was carried over from a request that answered part of it
  for (let index = 0; index < messages.length; index++) {
    const shape = shapeProblem(messages[index]);
    if (shape !== undefined) return { index, reason: shape };
    const m = messages[index] as Msg;
    if (m.kind === 'response') {
      if (prev === undefined) return { index, reason: 'history must start with a request' };
      if (prev === 'response') return { index, reason: open.length > 0 ? `tool call ${JSON.stringify(open[0])} is not answered` : 'two responses in a row' };
      for (const p of m.parts) {
        if (p.part_kind !== 'tool-call') continue;
        if (typeof p.tool_call_id !== 'string' || typeof p.tool_name !== 'string') return { index, reason: 'tool-call part needs string tool_name and tool_call_id' };
        open.push(p.tool_call_id);
      }
    } else {
      let answered = 0;
      for (const p of m.parts) {
        const id = resultId(p);
        if (id === undefined) continue;
        const at = typeof id === 'string' ? open.indexOf(id) : -1;
        if (at < 0) return { index, reason: `tool result ${JSON.stringify(id)} answers no open tool call of the previous response` };
        open.splice(at, 1);
        answered++;
      }
      // Calls still open after a request that answered some of them: answered by the next request
      // (a deferred turn's resume), or pending at the very end (checked below).
      const next = messages[index + 1] as { kind?: unknown } | null | undefined;
      if (open.length > 0 && next !== undefined) {
        if (carried || answered === 0 || next?.kind !== 'request') return { index, reason: `tool call ${JSON.stringify(open[0])} is not answered` };
        carried = true;
      } else carried = false;
    }
    prev = m.kind;
  }
  if (open.length > 0 && options.allowPendingToolCalls !== true) {
    return { index: messages.length - 1, reason: `tool call ${JSON.stringify(open[0])} is not answered` };
  }
  return undefined;
}

/** Whether `messages` is a well-formed history (see the module rules). */
export function isWellFormed(messages: readonly unknown[], options: WellFormedOptions = {}): boolean {
  return findHistoryProblem(messages, options) === undefined;
}

/**
 * Throws unless `messages` is well-formed.
 *
 * @throws SYN_ERR_PROTOCOL with details `{ index, reason }`.
 */
export function assertWellFormed(messages: readonly unknown[], options: WellFormedOptions = {}): void {
  const problem = findHistoryProblem(messages, options);
  if (problem !== undefined) {
    throw synErr('SYN_ERR_PROTOCOL', `Message history is not well-formed at message ${problem.index}: ${problem.reason}`, { ...problem });
  }
}
