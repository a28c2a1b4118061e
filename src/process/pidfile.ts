/**
 * Pid files for orphan reaping, the last layer of orphan-proofing.
 *
 * Each Node process records the Python workers it spawned in `<dir>/<node pid>.json`, with
 * each pid's start time from `/proc/<pid>/stat` (so a reused pid is never mistaken for our
 * worker). At the next `Synapse.start()`, {@link reapStale} kills the process groups recorded
 * by Node processes that are gone, when the recorded start time still matches.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killGroup, readProcStat } from './proc.ts';

/** One recorded worker. */
export interface PidEntry {
  readonly pid: number;
  /** `/proc/<pid>/stat` start time (clock ticks since boot). */
  readonly startTime: string;
}

/** The JSON content of a pid file. */
export interface PidFileContent {
  readonly ownerPid: number;
  readonly ownerStartTime: string | undefined;
  readonly entries: readonly PidEntry[];
}

/** A worker killed by {@link reapStale}. */
export interface ReapedPid {
  readonly pid: number;
  readonly pidFile: string;
}

/** `<os tmpdir>/synapse-<uid>/pids`: the default state directory for pid files. */
export function defaultPidDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return join(tmpdir(), `synapse-${uid}`, 'pids');
}

/**
 * The pid file of this Node process. Writes are synchronous and atomic (temp file + rename);
 * they happen only at spawn and exit of a worker, never on the message path.
 */
export class PidFile {
  readonly dir: string;
  readonly path: string;
  readonly #entries = new Map<number, PidEntry>();
  readonly #ownerStartTime = readProcStat(process.pid)?.startTime;

  constructor(options: { dir?: string } = {}) {
    this.dir = options.dir ?? defaultPidDir();
    this.path = join(this.dir, `${process.pid}.json`);
  }

  /** Records a live worker. A pid that already exited is not recorded. Returns false if it could not be recorded. */
  add(pid: number): boolean {
    const stat = readProcStat(pid);
    if (stat === undefined) return false;
    this.#entries.set(pid, { pid, startTime: stat.startTime });
    return this.#write();
  }

  /** Forgets a worker (after it exited); deletes the file when no worker is left. */
  remove(pid: number): void {
    if (!this.#entries.delete(pid)) return;
    if (this.#entries.size === 0) {
      rmSync(this.path, { force: true });
      return;
    }
    this.#write();
  }

  /** The recorded workers. */
  entries(): PidEntry[] {
    return [...this.#entries.values()];
  }

  #write(): boolean {
    const content: PidFileContent = { ownerPid: process.pid, ownerStartTime: this.#ownerStartTime, entries: this.entries() };
    const tmp = `${this.path}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileSync(tmp, JSON.stringify(content), { mode: 0o600 });
      renameSync(tmp, this.path);
      return true;
    } catch {
      // Best effort: a read-only tmp dir must not stop workers from starting. Orphan-proofing
      // still has three other layers (stdin EOF, watchdog, PDEATHSIG).
      return false;
    }
  }
}

let defaultPidFile: PidFile | undefined;

/** The process-wide pid file in {@link defaultPidDir}, created on first use. */
export function getDefaultPidFile(): PidFile {
  defaultPidFile ??= new PidFile();
  return defaultPidFile;
}

function ownerAlive(content: PidFileContent): boolean {
  const stat = readProcStat(content.ownerPid);
  if (stat === undefined || stat.state === 'Z') return false;
  // A different start time means the owner's pid was reused by another process: the owner is gone.
  return content.ownerStartTime === undefined || stat.startTime === content.ownerStartTime;
}

function parseContent(text: string): PidFileContent | undefined {
  try {
    const o = JSON.parse(text) as PidFileContent;
    if (typeof o.ownerPid !== 'number' || !Array.isArray(o.entries)) return undefined;
    return o;
  } catch {
    return undefined; // a torn or foreign file: skip it rather than kill on bad data
  }
}

/**
 * Kills (SIGKILL to the process group) the workers recorded by Node processes that no longer
 * run, if each worker's start time still matches, and deletes their pid files. Files of live
 * Node processes (including this one) are left alone.
 *
 * @param dir the state directory (default {@link defaultPidDir}).
 * @returns the workers it killed.
 */
export function reapStale(dir: string = defaultPidDir()): ReapedPid[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no directory yet: nothing was ever recorded
  }
  const reaped: ReapedPid[] = [];
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    const file = join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // removed concurrently by its owner
    }
    const content = parseContent(text);
    if (content === undefined || content.ownerPid === process.pid || ownerAlive(content)) continue;
    for (const entry of content.entries) {
      const stat = readProcStat(entry.pid);
      // Gone, a zombie (dead already, waiting for its new parent to reap it), or the pid was reused.
      if (stat === undefined || stat.state === 'Z' || stat.startTime !== entry.startTime) continue;
      killGroup(entry.pid, 'SIGKILL');
      try {
        process.kill(entry.pid, 'SIGKILL'); // in case it left its group
      } catch {
        // already dead (ESRCH): the group kill got it
      }
      reaped.push({ pid: entry.pid, pidFile: file });
    }
    rmSync(file, { force: true });
  }
  return reaped;
}
