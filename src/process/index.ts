/**
 * The process layer: one Python OS process per {@link PythonWorker} (a warm spare is a worker in
 * the `parked` state), the per-agent {@link SparePool}, zygotes ({@link ZygotePool}), plus orphan reaping.
 */
export { PythonWorker, TRANSITIONS } from './worker.ts';
export type { ProcessExit, ProcessStats, PythonWorkerEvents, ProcessState, WorkerState, SpareAssignOptions } from './worker.ts';
export { SparePool, SPARE_POOL_DEFAULTS, MAX_SPARES } from './spares.ts';
export type { SparePoolOptions, SparePoolEvents } from './spares.ts';
export type { RunRequest, RunResult, RunHandlers, ToolCallRequest } from './runs.ts';
export { PYTHON_PROCESS_DEFAULTS, defaultPythonPath, findPython } from './options.ts';
export type { PythonProcessOptions, ProcessLabel } from './options.ts';
export { PidFile, reapStale, defaultPidDir, getDefaultPidFile } from './pidfile.ts';
export type { PidEntry, ReapedPid } from './pidfile.ts';
export { ZygotePool, ZYGOTE_DEFAULTS } from './zygote.ts';
export type { ZygotePoolOptions, ForkSpec } from './zygote.ts';
