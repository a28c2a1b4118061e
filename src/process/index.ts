/**
 * The process layer: one Python OS process per {@link PythonProcess}, plus orphan reaping.
 */
export { PythonProcess } from './python-process.ts';
export type { ProcessExit, ProcessStats, PythonProcessEvents } from './python-process.ts';
export type { RunRequest, RunResult, RunHandlers, ToolCallRequest } from './runs.ts';
export { PYTHON_PROCESS_DEFAULTS, defaultPythonPath, findPython } from './options.ts';
export type { PythonProcessOptions, ProcessLabel } from './options.ts';
export type { ProcessState } from './lifecycle.ts';
export { PidFile, reapStale, defaultPidDir, getDefaultPidFile } from './pidfile.ts';
export type { PidEntry, ReapedPid } from './pidfile.ts';
