/**
 * Heartbeat of one worker: a `ping` every `intervalMs`; if no `pong` arrived for `timeoutMs`
 * the worker is declared hung — but only once the worker has had a fair chance to answer: the
 * oldest unanswered ping must have been out for at least `max(timeoutMs - intervalMs,
 * timeoutMs / 2)`. When *Node's* event loop stalls (a long synchronous burst, a GC pause), no
 * ping goes out during the stall, so silence measured from the last pong alone would blame a
 * healthy worker for the parent's own stall. In the normal case (pings on time) the extra rule
 * never binds and detection stays at `timeoutMs` after the last pong. All timers go through the
 * injected clock.
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
  readonly #onTimeout: (silentForMs: number) => void;
  #seq = 0;
  #pingTimer: TimerHandle | undefined;
  #deadline: TimerHandle | undefined;
  #lastAliveAt = 0;
  /** When the oldest ping not followed by a pong was sent; undefined while none is out. */
  #outstandingSince: number | undefined;
  #health: Health = { lastPongAt: undefined, loopLagMs: 0, rssBytes: 0, inFlight: 0 };
  #running = false;

  constructor(options: { clock: Clock; intervalMs: number; timeoutMs: number; sendPing: (seq: number) => void; onTimeout: (silentForMs: number) => void }) {
    this.#clock = options.clock;
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
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
    this.#lastAliveAt = this.#clock.now();
    this.#outstandingSince = undefined;
    this.#armDeadline();
    this.#schedulePing();
  }

  /** Records a pong: the worker is alive. */
  pong(frame: PongFrame): void {
    this.#health = { lastPongAt: this.#clock.now(), loopLagMs: frame.loopLagMs, rssBytes: frame.rssBytes, inFlight: frame.inFlight };
    if (!this.#running) return;
    this.#lastAliveAt = this.#clock.now();
    this.#outstandingSince = undefined;
    this.#armDeadline();
  }

  /** Stops every timer. Idempotent. */
  close(): void {
    this.#running = false;
    if (this.#pingTimer !== undefined) this.#clock.clearTimeout(this.#pingTimer);
    if (this.#deadline !== undefined) this.#clock.clearTimeout(this.#deadline);
    this.#pingTimer = undefined;
    this.#deadline = undefined;
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
    const grace = Math.max(this.#timeoutMs - this.#intervalMs, this.#timeoutMs / 2);
    const chance = this.#outstandingSince === undefined ? 0 : now - this.#outstandingSince;
    if (silent >= this.#timeoutMs && chance >= grace) this.#onTimeout(silent);
    else this.#armDeadline(Math.max(this.#timeoutMs - silent, grace - chance, 1));
  }
}
