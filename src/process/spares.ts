/**
 * A bounded pool of warm spares for one agent (see {@link PythonWorker}).
 *
 * - At most `size` processes are idle, spawning or being assigned at any time.
 * - Refill happens in the background: one spawn at a time, started only after an assignment
 *   settled, so it never competes with the restart it serves.
 * - A spawn that fails, or a spare that dies while idle, counts as a failure: the next spawn
 *   waits a full-jitter exponential backoff (a broken interpreter cannot make the pool spin).
 *   A successful assignment resets the count.
 * - `close()` stops refilling, aborts an in-flight spawn and stops every idle spare; it resolves
 *   once they are all gone. Assigned processes belong to whoever took them.
 */
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import { silentLogger } from '../observe/log.ts';
import { realClock } from '../clock.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { SynapseError } from '../errors.ts';
import { invalid, resolveOptions, v } from '../options.ts';
import { nextDelay } from '../backoff.ts';
import { resolveProcessOptions } from './options.ts';
import type { PythonProcessOptions } from './options.ts';
import { PythonWorker } from './worker.ts';
import type { ProcessExit, SpareAssignOptions } from './worker.ts';
import { rethrowLater } from '../rethrow.ts';

/** Largest allowed pool: each spare is an idle interpreter (~50–70 MB RSS). */
export const MAX_SPARES = 8;

/** Defaults of {@link SparePoolOptions}. */
export const SPARE_POOL_DEFAULTS = Object.freeze({
  /** Backoff between failed spawns: 500 ms doubling to 30 s, full jitter. */
  backoff: Object.freeze({ minMs: 500, maxMs: 30_000 }),
  /** A spare that lived idle this long before dying does not count as a failure. */
  healthyAfterMs: 60_000,
});

/** Options of {@link SparePool}. */
export interface SparePoolOptions {
  /** Spares kept warm, 0–{@link MAX_SPARES}. 0: the pool never spawns and `assign` always returns undefined. */
  size: number;
  /** Options of every spare: the full options of the worker it becomes (executable, cwd, env, agents…). `clock` and `log` are used by the pool too. */
  process: PythonProcessOptions;
  /** Spawn-failure backoff. Default {@link SPARE_POOL_DEFAULTS}.backoff. */
  backoff?: { minMs?: number; maxMs?: number };
  /** Random source of the backoff jitter, in [0, 1). Default `Math.random`. */
  rand?: () => number;
}

/** Events of a {@link SparePool}. */
export interface SparePoolEvents {
  /** A new spare is warm and idle. */
  spare: (pid: number) => void;
  /** An idle spare died (it is discarded; a replacement follows after the backoff). */
  died: (pid: number, exit: ProcessExit) => void;
  /** Spawning a spare failed; the next attempt waits `retryInMs`. */
  failed: (error: SynapseError, retryInMs: number) => void;
}

interface Idle {
  readonly spare: PythonWorker;
  readonly since: number;
  /** Taken by {@link SparePool.assign}: the taker owns it from then on. */
  assigned: boolean;
}


/**
 * Keeps `size` warm spares of one agent.
 *
 * @example
 * ```ts
 * const pool = new SparePool({ size: 1, process: { agents: [{ name: 'bot', ref: 'bot.py:agent' }], env } });
 * const proc = (await pool.assign({ label: { agent: 'bot', worker: 0 } })) ?? (await PythonWorker.start(options));
 * await pool.close();
 * ```
 */
export class SparePool extends EventEmitter<SparePoolEvents> {
  readonly size: number;
  readonly #process: PythonProcessOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #backoff: { minMs: number; maxMs: number };
  readonly #rand: () => number;
  readonly #shutdownTimeoutMs: number;
  readonly #idle: Idle[] = [];
  readonly #abort = new AbortController();
  #spawning: Promise<void> | undefined;
  #assigning = 0;
  #failures = 0;
  #retryTimer: TimerHandle | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * Validates the options and starts filling the pool in the background.
   *
   * @throws SYN_ERR_INVALID_OPTION naming the bad option (`size`, `backoff.minMs`, `process.…`);
   *   SYN_ERR_PYTHON_NOT_FOUND if the interpreter does not exist.
   */
  constructor(options: SparePoolOptions) {
    super();
    const o = resolveOptions('', options, {
      size: v.number({ min: 0, max: MAX_SPARES, integer: true }),
      process: v.any<PythonProcessOptions>(),
      backoff: v.optional(v.object({ minMs: v.optional(v.number({ min: 0, max: 2 ** 31 - 1 })), maxMs: v.optional(v.number({ min: 0, max: 2 ** 31 - 1 })) })),
      rand: v.optional(v.func<() => number>()),
    });
    if (o.size === undefined) invalid('size', `an integer >= 0 <= ${MAX_SPARES}`, undefined);
    let resolved: ReturnType<typeof resolveProcessOptions>;
    try {
      resolved = resolveProcessOptions(o.process);
    } catch (error) {
      const e = error as SynapseError;
      if (e.code !== 'SYN_ERR_INVALID_OPTION') throw error;
      const option = e.details.option === '' || e.details.option === undefined ? 'process' : `process.${String(e.details.option)}`;
      throw synErr('SYN_ERR_INVALID_OPTION', e.message.replace(/option "[^"]*"/, `option "${option}"`), { ...e.details, option }, e);
    }
    this.size = o.size;
    this.#process = o.process;
    this.#clock = resolved.clock ?? realClock;
    this.#log = (resolved.log ?? silentLogger()).child({ agent: resolved.label.agent, component: 'spares' });
    this.#backoff = { ...SPARE_POOL_DEFAULTS.backoff, ...(o.backoff?.minMs === undefined ? {} : { minMs: o.backoff.minMs }), ...(o.backoff?.maxMs === undefined ? {} : { maxMs: o.backoff.maxMs }) };
    this.#rand = o.rand ?? Math.random;
    this.#shutdownTimeoutMs = resolved.shutdownTimeoutMs;
    this.#fill();
  }

  /** Spares warm and waiting. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Pids of the idle spares. */
  pids(): number[] {
    return this.#idle.map((i) => i.spare.pid);
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Takes an idle spare and assigns it (`init` → `ready`), or returns `undefined` at once when
   * none is idle (the caller then spawns a fresh process). The refill starts once the assignment
   * settled. The resolved process belongs to the caller.
   *
   * @throws (rejects) as {@link PythonWorker.assign}.
   */
  assign(options: SpareAssignOptions = {}): Promise<PythonWorker> | undefined {
    if (this.#closed) return undefined;
    let entry: Idle | undefined;
    while ((entry = this.#idle.shift()) !== undefined && entry.spare.state !== 'parked') {
      // Died a moment ago; its exit handler has not run yet. It counts once, there.
    }
    if (entry === undefined) return undefined;
    this.#assigning++;
    entry.assigned = true;
    const assigned = entry.spare.assign(options);
    void assigned.then(
      () => {
        this.#failures = 0;
        this.#settleAssignment();
      },
      () => this.#settleAssignment(), // the taker sees the error; a fresh spare is spawned anyway
    );
    return assigned;
  }

  /** Stops refilling and stops every idle spare (and an in-flight spawn). Resolves once they are gone. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #settleAssignment(): void {
    this.#assigning--;
    this.#fill();
  }

  #fill(): void {
    if (this.#closed || this.#spawning !== undefined || this.#retryTimer !== undefined) return;
    if (this.#idle.length + this.#assigning >= this.size) return;
    this.#spawning = this.#spawnOne().finally(() => {
      this.#spawning = undefined;
      this.#fill();
    });
  }

  async #spawnOne(): Promise<void> {
    let spare: PythonWorker;
    try {
      spare = await PythonWorker.spawnSpare(this.#process, { signal: this.#abort.signal });
    } catch (error) {
      if (!this.#closed) this.#failed(error as SynapseError);
      return;
    }
    if (this.#closed) {
      await spare.close({ timeoutMs: this.#shutdownTimeoutMs });
      return;
    }
    const entry: Idle = { spare, since: this.#clock.now(), assigned: false };
    this.#idle.push(entry);
    void spare.exited.then((exit) => this.#onExit(entry, exit));
    this.#emitSafely('spare', spare.pid); // reported (and logged) as spare.ready by the agent layer
  }

  #onExit(entry: Idle, exit: ProcessExit): void {
    if (entry.assigned || this.#closed) return; // assigned: the taker owns it; closed: we stopped it
    const i = this.#idle.indexOf(entry);
    if (i >= 0) this.#idle.splice(i, 1);
    const livedMs = this.#clock.now() - entry.since;
    this.#log.warn({ pythonPid: entry.spare.pid, exitCode: exit.exitCode, signal: exit.signal, livedMs: Math.round(livedMs), code: exit.error?.code }, 'idle spare died; replacing it');
    this.#emitSafely('died', entry.spare.pid, exit);
    if (livedMs >= SPARE_POOL_DEFAULTS.healthyAfterMs) this.#failures = 0;
    this.#failures++;
    this.#retryAfterBackoff();
  }

  #failed(error: SynapseError): void {
    this.#failures++;
    const delay = this.#retryAfterBackoff();
    this.#log.warn({ err: error, code: error.code, failures: this.#failures, retryInMs: delay }, 'spawning a spare failed');
    this.#emitSafely('failed', error, delay);
  }

  /** Schedules the next fill after the backoff of the current failure count; returns the delay. */
  #retryAfterBackoff(): number {
    const delay = nextDelay(this.#failures - 1, this.#backoff, this.#rand);
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#fill();
    }, delay);
    return delay;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#abort.abort(synErr('SYN_ERR_SHUTDOWN', 'the spare pool was closed'));
    const idle = this.#idle.splice(0);
    await Promise.all([...idle.map((i) => i.spare.close({ timeoutMs: this.#shutdownTimeoutMs })), this.#spawning]);
    this.#log.debug({ stopped: idle.length }, 'spare pool closed');
  }

  #emitSafely<E extends keyof SparePoolEvents>(event: E, ...args: Parameters<SparePoolEvents[E]>): void {
    try {
      (this.emit as (e: E, ...a: Parameters<SparePoolEvents[E]>) => boolean)(event, ...args);
    } catch (error) {
      rethrowLater(error); // a listener's bug must not break the pool's bookkeeping
    }
  }
}
