/**
 * The process layer: one Python OS process per {@link PythonProcess}, warm spares
 * ({@link SpareProcess}, {@link SparePool}), zygotes ({@link ZygotePool}), plus orphan reaping.
 */
export { PythonProcess } from './python-process.ts';
export { SpareProcess } from './spare.ts';
export type { SpareAssignOptions } from './spare.ts';
export { SparePool, SPARE_POOL_DEFAULTS, MAX_SPARES } from './spares.ts';
export type { SparePoolOptions, SparePoolEvents } from './spares.ts';
export type { ProcessExit, ProcessStats, PythonProcessEvents } from './python-process.ts';
export type { RunRequest, RunResult, RunHandlers, ToolCallRequest } from './runs.ts';
export { PYTHON_PROCESS_DEFAULTS, defaultPythonPath, findPython } from './options.ts';
export type { PythonProcessOptions, ProcessLabel } from './options.ts';
export type { ProcessState } from './lifecycle.ts';
export { PidFile, reapStale, defaultPidDir, getDefaultPidFile } from './pidfile.ts';
export type { PidEntry, ReapedPid } from './pidfile.ts';
export { ZygotePool, ZYGOTE_DEFAULTS } from './zygote.ts';
export type { ZygotePoolOptions, ForkSpec } from './zygote.ts';
