/**
 * Heartbeat of one worker: a `ping` every `intervalMs`; if no `pong` arrived for `timeoutMs`
 * the worker is declared hung — but only once the worker has had a fair chance to answer: the
 * oldest unanswered ping must have been out for at least `max(timeoutMs - intervalMs,
 * timeoutMs / 2)`. When *Node's* event loop stalls (a long synchronous burst, a GC pause), no
 * ping goes out during the stall, so silence measured from the last pong alone would blame a
 * healthy worker for the parent's own stall. In the normal case (pings on time) the extra rule
 * never binds and detection stays at `timeoutMs` after the last pong.
 *
 * A full garbage collection in the worker holds the GIL, so its control thread cannot answer for
 * as long as it runs (seconds over a large heap). The worker announces one with a `gc` start notice
 * ({@link Heartbeat.gcStarted}): the worker was alive then, and the deadline becomes `timeoutMs +
 * gcGraceMs` from that moment; the stop notice or any pong ends it. A worker that announced a
 * collection and then went silent is still declared hung, at most `timeoutMs + gcGraceMs` after the
 * notice. All timers go through the injected clock.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import type { PongFrame } from '../protocol/frames.ts';

/** The last health report of a worker (from its latest `pong`). */
export interface Health {
  readonly lastPongAt: number | undefined;
  readonly loopLagMs: number;
  readonly rssBytes: number;
  readonly inFlight: number;
}

/** Ping timer plus pong deadline of one worker; `close()` is idempotent and clears both timers. */
export class Heartbeat {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #sendPing: (seq: number) => void;
  readonly #onTimeout: (silentForMs: number, collecting: boolean) => void;
  readonly #gcGraceMs: number;
  #seq = 0;
  #pingTimer: TimerHandle | undefined;
  #deadline: TimerHandle | undefined;
  #lastAliveAt = 0;
  /** When the oldest ping not followed by a pong was sent; undefined while none is out. */
  #outstandingSince: number | undefined;
  /** True between a `gc` start notice and the next stop notice or pong. */
  #collecting = false;
  #health: Health = { lastPongAt: undefined, loopLagMs: 0, rssBytes: 0, inFlight: 0 };
  #running = false;

  /**
   * `gcGraceMs` (default 0): extra silence allowed after a `gc` start notice. `onTimeout` gets how long
   * the worker has been silent and whether it was inside an announced collection.
   */
  constructor(options: {
    clock: Clock;
    intervalMs: number;
    timeoutMs: number;
    gcGraceMs?: number;
    sendPing: (seq: number) => void;
    onTimeout: (silentForMs: number, collecting: boolean) => void;
  }) {
    this.#clock = options.clock;
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#gcGraceMs = options.gcGraceMs ?? 0;
    this.#sendPing = options.sendPing;
    this.#onTimeout = options.onTimeout;
  }

  get health(): Health {
    return this.#health;
  }

  /** Starts pinging; the timeout window opens now. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#alive(false);
    this.#schedulePing();
  }

  /** Records a pong: the worker is alive. */
  pong(frame: PongFrame): void {
    this.#health = { lastPongAt: this.#clock.now(), loopLagMs: frame.loopLagMs, rssBytes: frame.rssBytes, inFlight: frame.inFlight };
    if (!this.#running) return;
    this.#alive(false);
  }

  /** A `gc` start notice: the worker is alive now and may stay silent for `timeoutMs + gcGraceMs`. */
  gcStarted(): void {
    if (this.#running) this.#alive(true);
  }

  /** A `gc` stop notice: the collection is over; the worker is alive now. */
  gcStopped(): void {
    if (this.#running) this.#alive(false);
  }

  /** Stops every timer. Idempotent. */
  close(): void {
    this.#running = false;
    if (this.#pingTimer !== undefined) this.#clock.clearTimeout(this.#pingTimer);
    if (this.#deadline !== undefined) this.#clock.clearTimeout(this.#deadline);
    this.#pingTimer = undefined;
    this.#deadline = undefined;
  }

  #alive(collecting: boolean): void {
    this.#lastAliveAt = this.#clock.now();
    this.#outstandingSince = undefined;
    this.#collecting = collecting;
    this.#armDeadline(this.#limit());
  }

  /** The silence allowed now: `timeoutMs`, plus `gcGraceMs` inside an announced collection. */
  #limit(): number {
    return this.#collecting ? this.#timeoutMs + this.#gcGraceMs : this.#timeoutMs;
  }

  #schedulePing(): void {
    this.#pingTimer = this.#clock.setTimeout(() => {
      if (!this.#running) return;
      this.#outstandingSince ??= this.#clock.now();
      this.#sendPing(++this.#seq);
      this.#schedulePing();
    }, this.#intervalMs);
  }

  #armDeadline(ms = this.#timeoutMs): void {
    if (this.#deadline !== undefined) this.#clock.clearTimeout(this.#deadline);
    this.#deadline = this.#clock.setTimeout(() => {
      this.#deadline = undefined;
      // A pong may be sitting unread in the pipe if *our* loop was blocked: let one I/O poll
      // phase run (setImmediate comes after it) before declaring the worker hung.
      setImmediate(() => this.#check());
    }, ms);
  }

  #check(): void {
    if (!this.#running || this.#deadline !== undefined) return; // stopped, or a pong re-armed it
    const now = this.#clock.now();
    const silent = now - this.#lastAliveAt;
    const limit = this.#limit();
    const grace = Math.max(limit - this.#intervalMs, limit / 2);
    const chance = this.#outstandingSince === undefined ? 0 : now - this.#outstandingSince;
    if (silent >= limit && chance >= grace) this.#onTimeout(silent, this.#collecting);
    else this.#armDeadline(Math.max(limit - silent, grace - chance, 1));
  }
}
