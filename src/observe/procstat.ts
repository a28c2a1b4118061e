/**
 * Resident memory and CPU time of a process, read from Linux `/proc/<pid>/stat` and
 * `/proc/<pid>/statm` (no child process, no native module). On systems without `/proc` every
 * read resolves to `undefined` and the metrics that use it are simply absent.
 */
import { readFile } from 'node:fs/promises';
import { synErr } from '../errors.ts';

/** One sample of a process. */
export interface ProcStat {
  readonly pid: number;
  /** Single-letter state from `stat`: R running, S sleeping, D disk, Z zombie, T stopped, … */
  readonly state: string;
  readonly ppid: number;
  /** Resident set size in bytes (`statm` resident pages × page size). */
  readonly rssBytes: number;
  /** User CPU seconds (`utime`). */
  readonly userSeconds: number;
  /** System CPU seconds (`stime`). */
  readonly systemSeconds: number;
  /** `userSeconds + systemSeconds`. */
  readonly cpuSeconds: number;
}

/**
 * `USER_HZ`: the unit of `utime`/`stime` in `/proc/<pid>/stat`. Fixed at 100 in the Linux
 * user-space ABI on every mainstream architecture (`sysconf(_SC_CLK_TCK)`).
 */
export const CLOCK_TICKS_PER_SECOND = 100;

/** The fields of `/proc/<pid>/stat` Synapse uses. `comm` may hold spaces and parentheses. */
export function parseStat(text: string): { state: string; ppid: number; utimeTicks: number; stimeTicks: number } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Fields after "comm)": state(3) ppid(4) … utime(14) stime(15); index 0 here is field 3.
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const state = fields[0];
  const ppid = Number(fields[1]);
  const utimeTicks = Number(fields[11]);
  const stimeTicks = Number(fields[12]);
  if (state === undefined || ![ppid, utimeTicks, stimeTicks].every(Number.isFinite)) return undefined;
  return { state, ppid, utimeTicks, stimeTicks };
}

/** Resident pages (second field) of `/proc/<pid>/statm`. */
export function parseStatmResidentPages(text: string): number | undefined {
  const resident = Number(text.trim().split(/\s+/)[1]);
  return Number.isFinite(resident) ? resident : undefined;
}

let pageSize: Promise<number> | undefined;

/**
 * The kernel page size in bytes, derived once from this process (`VmRSS` kB ÷ `statm` resident
 * pages, rounded to the nearest of 4, 16 or 64 KiB); 4096 when it cannot be derived.
 */
export function procPageSize(procRoot = '/proc'): Promise<number> {
  pageSize ??= (async () => {
    try {
      const [status, statm] = await Promise.all([readFile(`${procRoot}/self/status`, 'utf8'), readFile(`${procRoot}/self/statm`, 'utf8')]);
      const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
      const pages = parseStatmResidentPages(statm);
      if (!Number.isFinite(kb) || pages === undefined || pages <= 0) return 4096;
      const ratio = (kb * 1024) / pages;
      return [4096, 16384, 65536].reduce((best, size) => (Math.abs(size - ratio) < Math.abs(best - ratio) ? size : best), 4096);
    } catch {
      return 4096; // no /proc: the value is never used
    }
  })();
  return pageSize;
}

/**
 * Samples one process.
 * @returns the sample, or `undefined` when the process does not exist (any more) or `/proc` is absent.
 * @throws SYN_ERR_INVALID_ARGUMENT when `pid` is not a positive integer.
 * @example
 * ```ts
 * const s = await readProcStat(child.pid!); // { rssBytes: 41_000_000, cpuSeconds: 0.31, … }
 * ```
 */
export async function readProcStat(pid: number, procRoot = '/proc'): Promise<ProcStat | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Invalid pid ${String(pid)}`, { pid });
  let statText: string;
  let statmText: string;
  try {
    [statText, statmText] = await Promise.all([readFile(`${procRoot}/${pid}/stat`, 'utf8'), readFile(`${procRoot}/${pid}/statm`, 'utf8')]);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'ENOTDIR') return undefined; // process gone or no /proc
    throw err;
  }
  const stat = parseStat(statText);
  const pages = parseStatmResidentPages(statmText);
  if (stat === undefined || pages === undefined) return undefined;
  const userSeconds = stat.utimeTicks / CLOCK_TICKS_PER_SECOND;
  const systemSeconds = stat.stimeTicks / CLOCK_TICKS_PER_SECOND;
  return {
    pid,
    state: stat.state,
    ppid: stat.ppid,
    rssBytes: pages * (await procPageSize(procRoot)),
    userSeconds,
    systemSeconds,
    cpuSeconds: userSeconds + systemSeconds,
  };
}
