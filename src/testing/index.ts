/**
 * `synapse/testing`: the fault-suite kit. Deterministic time (`SimulatedClock`), fast-check
 * arbitraries of fault schedules, a chaos driver for live Python workers, a schedule runner,
 * and invariant checkers. Needs `fast-check` (an optional peer dependency) for the
 * arbitraries. See docs/testing.md.
 */
export { SimulatedClock } from './clock.ts';
export { CallLedger } from './ledger.ts';
export type { LedgerEntry, LedgerCheckOptions, Outcome } from './ledger.ts';
export { EventRecorder } from './recorder.ts';
export type { Recorded, RecordableSystem, EventRecorderOptions } from './recorder.ts';
export { chaos, GARBAGE_BYTES } from './chaos.ts';
export type { Chaos, ChaosAction, ChaosTarget, WorkerRef } from './chaos.ts';
export { checkHistory, historyViolations } from './history-check.ts';
export type { AckedTurn, CheckHistoryOptions, HistorySource } from './history-check.ts';
export { checkRestartsWithinPolicy, restartViolations } from './policy-check.ts';
export type { RestartPolicy, RestartCheckOptions } from './policy-check.ts';
export { assertNoLeakedPids, findWorkerPids, isPidAlive } from './pids.ts';
export { FaultInvariantError } from './invariant.ts';
export { faultSchedule, describeSchedule, plainPrompt, replayParameters, FIXTURE_FAULT_WORDS } from './schedule.ts';
export type { FaultStep, FaultScheduleOptions } from './schedule.ts';
export { runFaultSchedule } from './run.ts';
export type { RunFaultScheduleOptions, FaultRunResult } from './run.ts';
