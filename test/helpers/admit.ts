/**
 * Admission of a run by a {@link RunTable} without a process: a table with the given limits and
 * bridge features, and the `run` line it would write.
 */
import type { SynapseError } from '../../src/errors.ts';
import { RunTable } from '../../src/process/runs.ts';
import type { RunHandlers, RunRequest } from '../../src/process/runs.ts';
import { FEATURE_DEFERRED_TOOLS, FEATURE_HISTORY_CHUNKS, FEATURE_MULTIMODAL_PROMPT, FEATURE_RUN_OPTIONS, FEATURE_STRUCTURED_OUTPUT } from '../../src/protocol/frames.ts';
import type { OutboundFrame } from '../../src/protocol/frames.ts';
import { SimulatedClock } from '../../src/testing/clock.ts';

/** The worker a test admits against: limits, the bridge's features, and whether it is ready. */
export interface TestAdmission {
  agents?: readonly string[];
  concurrency?: number;
  maxFrameBytes?: number;
  maxHistoryBytes?: number;
  historyChunks?: boolean;
  runOptions?: boolean;
  deferredTools?: boolean;
  structuredOutput?: boolean;
  multimodalPrompt?: boolean;
  /** Why the worker is not ready (thrown first), if it is not. */
  unavailable?: SynapseError;
}

/** A run table for a worker with `a` (pid 7), recording the lines and frames it writes. */
export function testTable(a: TestAdmission = {}) {
  const lines: string[] = [];
  const sent: OutboundFrame[] = [];
  const table = new RunTable({
    clock: new SimulatedClock(),
    cancelGraceMs: 1_000,
    concurrency: a.concurrency ?? 1,
    maxFrameBytes: a.maxFrameBytes ?? 1 << 20,
    maxHistoryBytes: a.maxHistoryBytes ?? 1 << 30,
    send: (f) => sent.push(f),
    sendLine: (l) => lines.push(l),
    onUnresponsive: () => {},
    context: () => ({ pid: 7 }),
  });
  const flags: [boolean | undefined, string][] = [
    [a.historyChunks, FEATURE_HISTORY_CHUNKS],
    [a.runOptions, FEATURE_RUN_OPTIONS],
    [a.deferredTools, FEATURE_DEFERRED_TOOLS],
    [a.structuredOutput, FEATURE_STRUCTURED_OUTPUT],
    [a.multimodalPrompt, FEATURE_MULTIMODAL_PROMPT],
  ];
  table.features = new Set(flags.filter(([on]) => on === true).map(([, f]) => f));
  /** Admits a run; returns the line written (throws what admission refuses). The run stays in flight. */
  const admit = (request: RunRequest, handlers: RunHandlers = {}): string => {
    void table.admit(request, handlers, a.agents ?? ['a'], a.unavailable).catch(() => {});
    return lines.pop() ?? '';
  };
  return { table, lines, sent, admit };
}

/** The `run` line a fresh table for `a` writes for `request` (throws what admission refuses). */
export function admitRun(request: RunRequest, handlers: RunHandlers, a: TestAdmission = {}): string {
  return testTable(a).admit(request, handlers);
}
