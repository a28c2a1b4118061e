/**
 * A worker forked by the zygote, seen through the part of `ChildProcess` a worker uses
 * ({@link WorkerChild}): four Unix sockets instead of pipes, and an exit learnt from the
 * zygote's reap report instead of `waitpid` (the worker is the zygote's child, not Node's).
 */
import type { Readable, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import { readProcStat } from './proc.ts';

/** The part of a spawned `ChildProcess` a worker relies on; a {@link ForkedChild} has the same. */
export interface WorkerChild {
  /** OS pid (also its process group id), or `undefined` if it never started. */
  readonly pid?: number | undefined;
  /** Protocol stream to the worker (its fd 0). */
  readonly stdin: Writable;
  /** Protocol stream from the worker (its fd 1). */
  readonly stdout: Readable;
  /** The worker's stderr (fd 2). */
  readonly stderr: Readable;
  /** fd 0–4 as seen by the worker; [3] carries pings, [4] pongs (see control.ts). */
  readonly stdio: readonly unknown[];
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  on(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  removeAllListeners(): this;
}

/** The four sockets of one forked worker, by the role it announced (see `_zygote.py`, `ROLES`). */
export interface ForkedSockets {
  readonly in: Socket;
  readonly out: Socket;
  readonly err: Socket;
  readonly ctl: Socket;
}

interface ForkedChildEvents {
  error: [error: NodeJS.ErrnoException];
  exit: [code: number | null, signal: NodeJS.Signals | null];
  close: [code: number | null, signal: NodeJS.Signals | null];
}

/** How often an orphaned worker (its zygote died, so no reap report will come) is checked in `/proc` once its sockets closed. */
const ORPHAN_POLL_MS = 20;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** A signal number from the zygote's report as Node's name (`9` → `'SIGKILL'`). */
export function signalName(signal: number | null): NodeJS.Signals | null {
  return signal === null ? null : (SIGNAL_NAMES.get(signal) ?? null);
}

/**
 * One forked worker: emits `'exit'` once its exit is known and `'close'` once, in addition,
 * its sockets are closed — as `ChildProcess` does. The exit comes from the zygote
 * ({@link reportExit}); if the zygote died first ({@link orphan}), from `/proc` once the
 * worker's sockets closed (`exit(null, null)`: its status went to whoever reaped it).
 */
export class ForkedChild extends EventEmitter<ForkedChildEvents> implements WorkerChild {
  readonly pid: number;
  readonly stdin: Socket;
  readonly stdout: Socket;
  readonly stderr: Socket;
  readonly stdio: readonly [Socket, Socket, Socket, Socket, Socket];
  #open: number;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #orphaned = false;
  #poll: NodeJS.Timeout | undefined;
  #closed = false;
  /** `/proc` start time at fork: a reused pid is not mistaken for this worker. */
  readonly #startTime: string | undefined;

  constructor(pid: number, sockets: ForkedSockets) {
    super();
    this.pid = pid;
    this.#startTime = readProcStat(pid)?.startTime;
    this.stdin = sockets.in;
    this.stdout = sockets.out;
    this.stderr = sockets.err;
    this.stdio = [sockets.in, sockets.out, sockets.err, sockets.ctl, sockets.ctl];
    const all = [sockets.in, sockets.out, sockets.err, sockets.ctl];
    this.#open = all.length;
    sockets.in.resume(); // nothing is read from fd 0's socket, but its end must be seen for 'close'
    for (const s of all) {
      s.on('error', () => {
        // ECONNRESET/EPIPE when the worker dies: its death is reported by 'exit'.
      });
      s.once('close', () => {
        this.#open -= 1;
        this.#settle();
      });
    }
  }

  /** The zygote reaped the worker. */
  reportExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exit !== undefined) return;
    this.#exit = { code, signal };
    this.emit('exit', code, signal);
    this.#settle();
  }

  /** The zygote that forked it is gone: no report will come; watch `/proc` once the sockets closed. */
  orphan(): void {
    this.#orphaned = true;
    this.#settle();
  }

  /** True once `'close'` fired. */
  get closed(): boolean {
    return this.#closed;
  }

  #settle(): void {
    if (this.#closed) return;
    if (this.#exit === undefined && this.#orphaned && this.#open === 0 && this.#poll === undefined) {
      const check = (): void => {
        const stat = readProcStat(this.pid);
        if (stat !== undefined && stat.state !== 'Z' && stat.startTime === this.#startTime) return;
        clearInterval(this.#poll);
        this.reportExit(null, null);
      };
      this.#poll = setInterval(check, ORPHAN_POLL_MS);
      this.#poll.unref();
      check();
      return;
    }
    if (this.#exit === undefined || this.#open > 0) return;
    this.#closed = true;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.emit('close', this.#exit.code, this.#exit.signal);
  }
}
