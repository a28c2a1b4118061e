/**
 * Pending deferred tool calls of a conversation (pydantic-ai human in the loop).
 *
 * A turn that ended in `DeferredToolRequests` commits messages whose last model response has
 * tool calls no later request answers. The committed history is the truth about *which* calls
 * are pending (it is what the journal replays after a restart, and what pydantic-ai resumes
 * from); the turn record's stored `deferred` (approvals vs external calls) only adds each call's
 * kind, and is used only when it names exactly the pending ids.
 *
 * The next turn on such a conversation must answer every pending call, each in its own list
 * (`toolResults.approvals` / `toolResults.calls`), and nothing else: {@link checkToolResults}
 * decides before anything is sent to Python.
 */
import { jsonSize } from '../json.ts';
import { synErr } from '../errors.ts';
import type { ApprovalAnswer, DeferredRequests, ToolResultsFrame } from '../protocol/frames.ts';
import type { StoredTurn } from './record.ts';

/** One tool call a conversation waits on. */
export interface PendingCall {
  readonly toolCallId: string;
  readonly tool: string;
  /** `'approval'` / `'call'` from the stored turn's `deferred`; `undefined` when it does not say. */
  readonly kind: 'approval' | 'call' | undefined;
}

type Part = Record<string, unknown>;
type Message = { kind?: unknown; parts?: unknown };

function partsOf(m: unknown): Part[] {
  const parts = (m as Message | null)?.parts;
  return Array.isArray(parts) ? (parts as Part[]) : [];
}

/**
 * The pending tool calls of a committed conversation, in call order (`[]`: nothing pending):
 * the tool calls of the last model response not answered by a tool result in a later request.
 * `lastTurn` (the conversation's last stored turn) gives their kinds when its `deferred` matches.
 *
 * @example
 * ```ts
 * const pending = pendingToolCalls(historyOf(turns), turns.at(-1));
 * ```
 */
export function pendingToolCalls(history: readonly unknown[], lastTurn?: Pick<StoredTurn, 'deferred'>): readonly PendingCall[] {
  let at = history.length - 1;
  while (at >= 0 && (history[at] as Message | null)?.kind !== 'response') at--;
  if (at < 0) return [];
  const answered = new Set<unknown>();
  for (const m of history.slice(at + 1)) for (const p of partsOf(m)) if (p.part_kind === 'tool-return' || (p.part_kind === 'retry-prompt' && p.tool_name != null)) answered.add(p.tool_call_id);
  const open = partsOf(history[at]).filter((p) => p.part_kind === 'tool-call' && typeof p.tool_call_id === 'string' && !answered.has(p.tool_call_id));
  if (open.length === 0) return [];
  const kinds = kindsOf(lastTurn?.deferred, open.map((p) => p.tool_call_id as string));
  return open.map((p) => ({ toolCallId: p.tool_call_id as string, tool: String(p.tool_name), kind: kinds?.get(p.tool_call_id as string) }));
}

function kindsOf(deferred: DeferredRequests | undefined, ids: readonly string[]): Map<string, 'approval' | 'call'> | undefined {
  if (deferred === undefined) return undefined;
  const kinds = new Map<string, 'approval' | 'call'>();
  for (const c of deferred.approvals) kinds.set(c.toolCallId, 'approval');
  for (const c of deferred.calls) kinds.set(c.toolCallId, 'call');
  return kinds.size === ids.length && ids.every((id) => kinds.has(id)) ? kinds : undefined;
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isApproval(x: unknown): x is ApprovalAnswer {
  if (typeof x === 'boolean') return true;
  if (!isObj(x)) return false;
  const keys = Object.keys(x);
  if (keys.length === 1 && keys[0] === 'denied') return typeof x.denied === 'string';
  return x.approved === true && keys.every((k) => k === 'approved' || k === 'overrideArgs') && (x.overrideArgs === undefined || isObj(x.overrideArgs));
}

/**
 * Validates `input.toolResults` at the API edge (shape only; which ids it may name is
 * {@link checkToolResults}'s job, once the conversation's history is loaded).
 *
 * @throws SYN_ERR_INVALID_ARGUMENT naming the bad field (a value that is not plain JSON: `details.argument`
 *   `message.toolResults`, the message naming where inside it, never the value).
 */
export function checkToolResultsShape(value: unknown): ToolResultsFrame {
  const bad = (argument: string, message: string): never => {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', message, { argument });
  };
  if (!isObj(value)) return bad('message.toolResults', 'message.toolResults must be an object like { approvals?, calls? }');
  for (const k of Object.keys(value)) if (k !== 'approvals' && k !== 'calls') bad(`message.toolResults.${k}`, `Unknown message.toolResults field "${k}" (expected approvals, calls)`);
  const { approvals = {}, calls = {} } = value as { approvals?: unknown; calls?: unknown };
  if (!isObj(approvals)) bad('message.toolResults.approvals', 'message.toolResults.approvals must be an object keyed by toolCallId');
  if (!isObj(calls)) bad('message.toolResults.calls', 'message.toolResults.calls must be an object keyed by toolCallId');
  const a = approvals as Record<string, unknown>;
  const c = calls as Record<string, unknown>;
  if (Object.keys(a).length + Object.keys(c).length === 0) bad('message.toolResults', 'message.toolResults must answer at least one pending tool call');
  for (const [id, answer] of Object.entries(a)) {
    if (!isApproval(answer)) bad(`message.toolResults.approvals.${id}`, `message.toolResults.approvals["${id}"] must be true, false, { denied: string } or { approved: true, overrideArgs?: object }`);
  }
  for (const [id, v] of Object.entries(c)) if (v === undefined) bad(`message.toolResults.calls.${id}`, `message.toolResults.calls["${id}"] must be a JSON value`);
  // Plain JSON only, as deps and metadata (no function silently dropped, no Date turned into a string, no BigInt or cycle failing the frame).
  jsonSize(value, 'message.toolResults', 'SYN_ERR_INVALID_ARGUMENT');
  for (const id of Object.keys(a)) if (Object.hasOwn(c, id)) bad(`message.toolResults`, `toolCallId "${id}" is answered in both approvals and calls`);
  return { ...(value.approvals === undefined ? {} : { approvals: a as Record<string, ApprovalAnswer> }), ...(value.calls === undefined ? {} : { calls: c }) };
}

/**
 * Checks a turn against its conversation's pending calls: with calls pending, `toolResults` must
 * answer exactly them, each in its list (when the kinds are known); without, `toolResults` must be absent.
 *
 * @throws SYN_ERR_DEFERRED_PENDING (details `conversationId`, `pending`, `missing`, `unknown`,
 *   `misplaced`), SYN_ERR_INVALID_ARGUMENT (`toolResults` on a conversation with nothing pending).
 */
export function checkToolResults(pending: readonly PendingCall[], toolResults: ToolResultsFrame | undefined, conversationId: string): void {
  if (pending.length === 0) {
    if (toolResults === undefined) return;
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `message.toolResults was given, but conversation "${conversationId}" has no pending deferred tool calls`, { argument: 'message.toolResults', conversationId });
  }
  const ids = pending.map((p) => p.toolCallId);
  const approvals = Object.keys(toolResults?.approvals ?? {});
  const calls = Object.keys(toolResults?.calls ?? {});
  const given = new Set([...approvals, ...calls]);
  const missing = ids.filter((id) => !given.has(id));
  const unknown = [...given].filter((id) => !ids.includes(id));
  const kind = new Map(pending.map((p) => [p.toolCallId, p.kind]));
  const misplaced = [...approvals.filter((id) => kind.get(id) === 'call'), ...calls.filter((id) => kind.get(id) === 'approval')];
  if (toolResults !== undefined && missing.length === 0 && unknown.length === 0 && misplaced.length === 0) return;
  const why =
    toolResults === undefined
      ? 'this turn does not answer them (pass message.toolResults)'
      : [
          missing.length > 0 ? `no answer for ${missing.join(', ')}` : '',
          unknown.length > 0 ? `not pending: ${unknown.join(', ')}` : '',
          misplaced.length > 0 ? `answered in the wrong list (approvals vs calls): ${misplaced.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ');
  throw synErr('SYN_ERR_DEFERRED_PENDING', `Conversation "${conversationId}" waits for answers to its pending tool calls ${ids.join(', ')}: ${why} (nothing was run or committed)`, {
    conversationId,
    pending: ids,
    missing,
    unknown,
    misplaced,
  });
}
