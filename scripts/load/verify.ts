/**
 * After a load run: every acknowledged turn must be in its conversation's committed history
 * exactly once, in acknowledgement order, and the history must be well formed (no tool call
 * without its return). Prompts are unique per turn, so a turn is recognised by its prompt.
 */

/** What the driver knows about one conversation at the end of a run. */
export interface ConversationRecord {
  readonly conversationId: string;
  /** Prompts of acknowledged turns, in acknowledgement order. */
  readonly acked: readonly string[];
  /** Prompts of turns that failed (every retry included) — they may or may not be committed. */
  readonly failed: readonly string[];
}

/** Result of {@link verifyConversations}. All counts must be 0 except `phantom` (see below). */
export interface Verification {
  readonly conversations: number;
  readonly ackedTurns: number;
  /** Acknowledged turns missing from the history. */
  readonly lost: number;
  /** Acknowledged turns present more than once. */
  readonly duplicated: number;
  /** Conversations whose acknowledged turns appear in another order than acknowledged. */
  readonly outOfOrder: number;
  /** History prompts that belong to no turn the driver sent (cross-talk between conversations). */
  readonly foreign: number;
  /** Tool calls without a matching tool return (a half-committed turn). */
  readonly danglingToolCalls: number;
  /**
   * Turns reported as failed that are committed anyway. Not a loss, but worth seeing: a turn
   * that timed out in Node after Python finished is committed only if the store says so.
   */
  readonly phantom: number;
  /** Examples of violations (at most 10), for the report. */
  readonly examples: readonly string[];
}

interface Part {
  part_kind?: unknown;
  content?: unknown;
  tool_call_id?: unknown;
}

/** User prompts, tool-call ids and tool-return ids of a pydantic-ai message list. */
export function scanHistory(messages: readonly unknown[]): { prompts: string[]; calls: Set<string>; returns: Set<string> } {
  const prompts: string[] = [];
  const calls = new Set<string>();
  const returns = new Set<string>();
  for (const message of messages) {
    const parts = (message as { parts?: unknown }).parts;
    if (!Array.isArray(parts)) continue;
    for (const part of parts as Part[]) {
      if (part.part_kind === 'user-prompt' && typeof part.content === 'string') prompts.push(part.content);
      else if (part.part_kind === 'tool-call' && typeof part.tool_call_id === 'string') calls.add(part.tool_call_id);
      else if ((part.part_kind === 'tool-return' || part.part_kind === 'retry-prompt') && typeof part.tool_call_id === 'string') returns.add(part.tool_call_id);
    }
  }
  return { prompts, calls, returns };
}

/** Checks every conversation against its committed history (loaded with `history`). */
export async function verifyConversations(records: readonly ConversationRecord[], history: (conversationId: string) => Promise<readonly unknown[]>): Promise<Verification> {
  let ackedTurns = 0;
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let foreign = 0;
  let dangling = 0;
  let phantom = 0;
  const examples: string[] = [];
  const note = (text: string): void => {
    if (examples.length < 10) examples.push(text);
  };
  for (const record of records) {
    const { prompts, calls, returns } = scanHistory(await history(record.conversationId));
    const counts = new Map<string, number>();
    for (const p of prompts) counts.set(p, (counts.get(p) ?? 0) + 1);
    ackedTurns += record.acked.length;
    for (const prompt of record.acked) {
      const n = counts.get(prompt) ?? 0;
      if (n === 0) {
        lost++;
        note(`lost: ${record.conversationId} "${prompt}"`);
      } else if (n > 1) {
        duplicated++;
        note(`duplicated ×${n}: ${record.conversationId} "${prompt}"`);
      }
    }
    const ackedSet = new Set(record.acked);
    const failedSet = new Set(record.failed);
    const order = prompts.filter((p) => ackedSet.has(p));
    const firstSeen = [...new Set(order)];
    if (firstSeen.length === record.acked.length && firstSeen.some((p, i) => p !== record.acked[i])) {
      outOfOrder++;
      note(`out of order: ${record.conversationId}`);
    }
    for (const p of counts.keys()) {
      if (ackedSet.has(p)) continue;
      if (failedSet.has(p)) phantom++;
      else {
        foreign++;
        note(`foreign prompt in ${record.conversationId}: "${p}"`);
      }
    }
    for (const id of calls) {
      if (!returns.has(id)) {
        dangling++;
        note(`dangling tool call ${id} in ${record.conversationId}`);
      }
    }
  }
  return { conversations: records.length, ackedTurns, lost, duplicated, outOfOrder, foreign, danglingToolCalls: dangling, phantom, examples };
}
