/**
 * Small Linux `/proc` and signal helpers. Every function tolerates a process that vanished
 * meanwhile (returns `undefined` / `false` instead of throwing).
 */
import { readFileSync } from 'node:fs';

/** Fields of `/proc/<pid>/stat` we use. */
export interface ProcStat {
  /** One-letter state: R, S, D, T (stopped), Z (zombie)… */
  readonly state: string;
  /** Process group id. */
  readonly pgid: number;
  /** Start time in clock ticks since boot: with the pid, identifies one process (pids are reused). */
  readonly startTime: string;
  /** Resident set size in bytes. */
  readonly rssBytes: number;
}

const PAGE_SIZE = 4096;

/** Reads `/proc/<pid>/stat`, or `undefined` if the process does not exist (or not on Linux). */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone, or no procfs: both mean "nothing to report"
  }
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const state = rest[0];
  const pgid = Number(rest[2]);
  const startTime = rest[19];
  const rssPages = Number(rest[21]);
  if (state === undefined || startTime === undefined) return undefined;
  return { state, pgid, startTime, rssBytes: rssPages * PAGE_SIZE };
}

/**
 * Sends `signal` to the process group `pgid` (the worker's pid: it is spawned as group leader).
 * Returns false if the group no longer exists.
 */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  // Not spawned yet (pid -1, e.g. a worker still waiting for its fork): -pgid would name init or every process.
  if (!(pgid > 1)) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: the group is gone; EPERM cannot happen for our own children. Nothing to do either way.
    return false;
  }
}
