/**
 * Public types of a Python worker ({@link PythonProcess}): how it ended, its health, its events.
 */
import type { SynapseError } from '../errors.ts';
import type { ProcessState } from './lifecycle.ts';

/** How a worker ended. `error` is absent after a requested stop (`close`/`kill`). */
export interface ProcessExit {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: SynapseError;
}

/** A snapshot of a worker's health (from its latest pong). */
export interface ProcessStats {
  readonly pid: number;
  readonly inFlight: number;
  readonly rssBytes: number;
  readonly loopLagMs: number;
  /** Clock time of the latest pong; undefined before the first. */
  readonly lastPongAt: number | undefined;
}

/** Events of a {@link PythonProcess}. */
export interface PythonProcessEvents {
  /** Fired once, after every run settled and the OS process is gone. */
  exit: (exit: ProcessExit) => void;
  /** Each lifecycle state change. */
  state: (state: ProcessState) => void;
  /** Each heartbeat answer, with the worker's health (RSS, loop lag, in-flight). */
  health: (stats: ProcessStats) => void;
  /** Python acknowledged a cancelled (or timed-out) run: the slot it held is free again. */
  released: () => void;
}
