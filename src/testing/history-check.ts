/**
 * `checkHistory`: the history invariants of a fault run — every acknowledged turn is in its
 * conversation's history exactly once, in acknowledgement order, and every history is
 * well-formed (pydantic-ai rules, see `src/conversation/history.ts`).
 */
import { findHistoryProblem } from '../conversation/history.ts';
import { assertNone } from './invariant.ts';

/** A turn whose `sendMessage` (or stream) resolved: the caller was told it is committed. */
export interface AckedTurn {
  readonly conversationId: string;
  readonly turnId: string;
  /** The new messages the caller received (pydantic-ai JSON). */
  readonly messages: readonly unknown[];
  /** The prompt sent (optional; enables the "no prompt committed twice" check). */
  readonly prompt?: string;
}

/** What {@link checkHistory} needs of a system (an `ActorSystem` fits). */
export interface HistorySource {
  history(conversationId: string): Promise<unknown[]>;
}

/** Options of {@link checkHistory}. */
export interface CheckHistoryOptions {
  /**
   * Prompts of calls that failed or were never acked. Each may appear in its history at most
   * once (a failed turn commits nothing, or — if it committed before failing — once).
   */
  unackedPrompts?: ReadonlyArray<{ conversationId: string; prompt: string }>;
}

const key = (m: unknown): string => JSON.stringify(m);

function userPrompts(messages: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const m of messages) {
    const parts = (m as { kind?: unknown; parts?: unknown }).parts;
    if ((m as { kind?: unknown }).kind !== 'request' || !Array.isArray(parts)) continue;
    for (const p of parts as { part_kind?: unknown; content?: unknown }[]) {
      if (p.part_kind === 'user-prompt' && typeof p.content === 'string') out.push(p.content);
    }
  }
  return out;
}

/** Positions where `needle` occurs as a contiguous run of messages in `hay` (by JSON equality). */
function occurrences(hay: readonly string[], needle: readonly string[]): number[] {
  const at: number[] = [];
  if (needle.length === 0) return at;
  for (let i = 0; i + needle.length <= hay.length; i++) {
    let ok = true;
    for (let j = 0; j < needle.length && ok; j++) ok = hay[i + j] === needle[j];
    if (ok) at.push(i);
  }
  return at;
}

/**
 * The violations of the history invariants (empty when they hold).
 *
 * `acked` must be in acknowledgement order (the order the calls resolved), as a
 * `CallLedger` or `runFaultSchedule` reports it.
 */
export async function historyViolations(system: HistorySource, acked: readonly AckedTurn[], options: CheckHistoryOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const byConversation = new Map<string, AckedTurn[]>();
  for (const t of acked) {
    const list = byConversation.get(t.conversationId) ?? [];
    list.push(t);
    byConversation.set(t.conversationId, list);
  }
  const unacked = new Map<string, string[]>();
  for (const u of options.unackedPrompts ?? []) {
    const list = unacked.get(u.conversationId) ?? [];
    list.push(u.prompt);
    unacked.set(u.conversationId, list);
  }
  for (const conversationId of new Set([...byConversation.keys(), ...unacked.keys()])) {
    const history = await system.history(conversationId);
    const problem = findHistoryProblem(history);
    if (problem !== undefined) out.push(`${conversationId}: history not well-formed at message ${problem.index}: ${problem.reason}`);
    const hay = history.map(key);
    let last = -1;
    for (const turn of byConversation.get(conversationId) ?? []) {
      const name = `${conversationId} turn ${turn.turnId}`;
      if (turn.messages.length === 0) {
        out.push(`${name}: acked with no messages`);
        continue;
      }
      const at = occurrences(hay, turn.messages.map(key));
      if (at.length === 0) out.push(`${name}: acked but not in history`);
      else if (at.length > 1) out.push(`${name}: in history ${at.length} times (at ${at.join(', ')})`);
      else {
        if (at[0]! <= last) out.push(`${name}: at message ${at[0]}, before the turn acked before it (at ${last})`);
        last = at[0]!;
      }
    }
    const prompts = userPrompts(history);
    const count = (p: string) => prompts.filter((x) => x === p).length;
    for (const turn of byConversation.get(conversationId) ?? []) {
      if (turn.prompt !== undefined && count(turn.prompt) !== 1) out.push(`${conversationId} turn ${turn.turnId}: prompt ${JSON.stringify(turn.prompt)} appears ${count(turn.prompt)} times`);
    }
    for (const prompt of unacked.get(conversationId) ?? []) {
      if (count(prompt) > 1) out.push(`${conversationId}: unacked prompt ${JSON.stringify(prompt)} committed ${count(prompt)} times`);
    }
  }
  return out;
}

/**
 * Asserts the history invariants.
 * @throws FaultInvariantError (`history`) listing every violation.
 * @example
 * ```ts
 * await checkHistory(system, result.acked);
 * ```
 */
export async function checkHistory(system: HistorySource, acked: readonly AckedTurn[], options: CheckHistoryOptions = {}): Promise<void> {
  assertNone('history', await historyViolations(system, acked, options));
}
