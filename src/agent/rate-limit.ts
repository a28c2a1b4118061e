/**
 * `spawnAgent({ rateLimit })`: the per-agent limiter of model requests, shared by all the agent's
 * workers. Python asks for a slot before each model request (`model_slot`) and gives it back after
 * (`model_slot_release`, with the tokens the response used); the worker's {@link RunTable} routes
 * both here through `RunHandlers.onModelSlot`.
 *
 * - `maxConcurrentModelRequests`: a semaphore (a slot is held from grant to release).
 * - `requestsPerMinute`: a token bucket of `rpm / 60` requests (one second of budget, at least 1),
 *   refilled continuously — requests are spread, not sent in a burst of a whole minute.
 * - `tokensPerMinute`: a token bucket of `tpm / 60` tokens refilled continuously; a request is
 *   admitted while the bucket is not in debt and debits its estimate (the request's `estTokens`, else
 *   the running mean of the tokens recent responses used); the release corrects the debit to the
 *   tokens actually used, so one large request may put the bucket in debt that later ones wait out.
 *
 * Waiters are served first come, first served from a bounded queue. Every timer goes through the
 * injected clock. See docs/providers.md "Rate limits".
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { SynapseError } from '../errors.ts';
import type { ModelSlotCall } from '../process/runs.ts';

/** `spawnAgent({ rateLimit })`: see {@link SpawnAgentOptions.rateLimit}. */
export interface RateLimitOption {
  /** Most model requests started per minute, across all the agent's workers (spread evenly). */
  requestsPerMinute?: number;
  /** Most tokens (input + output, from the responses' usage) per minute, across all workers. */
  tokensPerMinute?: number;
  /** Most model requests in flight at once, across all workers. */
  maxConcurrentModelRequests?: number;
}

/** One model request asking for a slot: the worker's run table builds it from a `model_slot` frame. */
export type ModelSlotRequest = ModelSlotCall;

/** A granted slot. */
export interface ModelSlot {
  /** Gives the slot back; `tokensUsed` (from the response's usage) corrects the tpm debit. Idempotent. */
  release(tokensUsed?: number): void;
}

/** How one wait for a slot ended (`model.slot_waited` event, `synapse_model_slot_wait_seconds`). */
export type ModelSlotOutcome = 'granted' | 'rejected' | 'aborted';

/** Options of a {@link ModelRateLimiter}. */
export interface ModelRateLimiterOptions {
  readonly agent: string;
  readonly clock: Clock;
  readonly limits: RateLimitOption;
  /** Bound of the wait queue (SYN_ERR_OVERLOADED above it). */
  readonly maxWaiting: number;
  /** Called once per request when its wait ends, with how long it waited. */
  readonly onWaited?: (event: { readonly runId: string; readonly waitMs: number; readonly outcome: ModelSlotOutcome }) => void;
}

/** Weight of the latest response in the running mean of tokens per request. */
const TOKEN_MEAN_WEIGHT = 0.2;

class Bucket {
  level: number;
  #at: number;
  constructor(
    readonly capacity: number,
    /** Refill per ms. */
    readonly rate: number,
    now: number,
  ) {
    this.level = capacity;
    this.#at = now;
  }
  refill(now: number): void {
    this.level = Math.min(this.capacity, this.level + (now - this.#at) * this.rate);
    this.#at = now;
  }
  /** Ms until `level` reaches `target` (0 if it already has). */
  msUntil(target: number): number {
    return this.level >= target ? 0 : (target - this.level) / this.rate;
  }
}

interface Waiter {
  readonly request: ModelSlotRequest;
  readonly est: number;
  readonly since: number;
  readonly resolve: (slot: ModelSlot) => void;
  readonly reject: (error: SynapseError) => void;
  readonly unlisten: () => void;
}

/**
 * The model-request limiter of one agent (see the module docs). One per agent, created when
 * `rateLimit` is set; `close()` rejects the waiters and clears its timer.
 */
export class ModelRateLimiter {
  readonly #o: ModelRateLimiterOptions;
  readonly #rpm: Bucket | undefined;
  readonly #tpm: Bucket | undefined;
  readonly #max: number;
  readonly #queue = new Set<Waiter>();
  #active = 0;
  #meanTokens = 0;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #closed: SynapseError | undefined;

  constructor(options: ModelRateLimiterOptions) {
    this.#o = options;
    const { requestsPerMinute: rpm, tokensPerMinute: tpm, maxConcurrentModelRequests: max } = options.limits;
    const now = options.clock.now();
    this.#rpm = rpm === undefined ? undefined : new Bucket(Math.max(1, rpm / 60), rpm / 60_000, now);
    this.#tpm = tpm === undefined ? undefined : new Bucket(tpm / 60, tpm / 60_000, now);
    this.#max = max ?? Infinity;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#queue.size;
  }

  /** Slots granted and not yet released. */
  get active(): number {
    return this.#active;
  }

  /**
   * Waits for a slot for one model request.
   *
   * @throws (rejects) SYN_ERR_PROVIDER (category `rate_limit`, `retryAfterMs`, `retryable: true`) at
   *   once when the rpm/tpm budget cannot start the request before `deadlineAt`; SYN_ERR_OVERLOADED
   *   when `maxWaiting` requests already wait; SYN_ERR_ABORTED when `signal` aborts first;
   *   SYN_ERR_SHUTDOWN after {@link ModelRateLimiter.close}.
   */
  acquire(request: ModelSlotRequest): Promise<ModelSlot> {
    const { clock, agent } = this.#o;
    const now = clock.now();
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (request.signal.aborted) return Promise.reject(this.#aborted(request));
    const est = Math.max(0, request.estTokens ?? this.#meanTokens);
    if (this.#queue.size === 0 && this.#canGrant(now)) {
      this.#o.onWaited?.({ runId: request.runId, waitMs: 0, outcome: 'granted' });
      return Promise.resolve(this.#grant(est));
    }
    const waitMs = Math.ceil(this.#budgetWait());
    if (request.deadlineAt !== undefined && now + waitMs >= request.deadlineAt) {
      this.#o.onWaited?.({ runId: request.runId, waitMs: 0, outcome: 'rejected' });
      return Promise.reject(
        synErr(
          'SYN_ERR_PROVIDER',
          `Agent "${agent}": run ${request.runId} would wait ~${waitMs} ms for a model request slot (rateLimit), past its deadline in ${Math.max(0, Math.round(request.deadlineAt - now))} ms`,
          { agent, runId: request.runId, category: 'rate_limit', retryAfterMs: waitMs, retryable: true },
        ),
      );
    }
    if (this.#queue.size >= this.#o.maxWaiting) {
      this.#o.onWaited?.({ runId: request.runId, waitMs: 0, outcome: 'rejected' });
      return Promise.reject(synErr('SYN_ERR_OVERLOADED', `Agent "${agent}": ${this.#queue.size} model requests already wait for a slot (rateLimit)`, { agent, runId: request.runId, waiting: this.#queue.size }));
    }
    return new Promise<ModelSlot>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.#queue.delete(waiter)) return;
        waiter.unlisten();
        this.#o.onWaited?.({ runId: request.runId, waitMs: this.#o.clock.now() - waiter.since, outcome: 'aborted' });
        reject(this.#aborted(request));
        this.#pump(); // the head may have been the one blocking the budget estimate
      };
      const waiter: Waiter = { request, est, since: now, resolve, reject, unlisten: () => request.signal.removeEventListener('abort', onAbort) };
      request.signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.add(waiter);
      this.#pump();
    });
  }

  /** Rejects every waiter with SYN_ERR_SHUTDOWN and refuses new ones; granted slots may still be released. */
  close(): void {
    this.#closed ??= synErr('SYN_ERR_SHUTDOWN', `Agent "${this.#o.agent}" stopped: its model request limiter is closed`, { agent: this.#o.agent });
    this.#clearTimer();
    const waiters = [...this.#queue];
    this.#queue.clear();
    for (const w of waiters) {
      w.unlisten();
      w.reject(this.#closed);
    }
  }

  /** Admits again after {@link ModelRateLimiter.close} (the agent is restarted); budgets and slots carry over. */
  reopen(): void {
    this.#closed = undefined;
  }

  #aborted(request: ModelSlotRequest): SynapseError {
    return synErr('SYN_ERR_ABORTED', `Run ${request.runId} stopped waiting for a model request slot`, { agent: this.#o.agent, runId: request.runId }, request.signal.reason);
  }

  #canGrant(now: number): boolean {
    this.#rpm?.refill(now);
    this.#tpm?.refill(now);
    if (this.#active >= this.#max) return false;
    return (this.#rpm === undefined || this.#rpm.level >= 1) && (this.#tpm === undefined || this.#tpm.level >= 0);
  }

  /** Ms until the rpm/tpm budget could start a new request queued behind the current waiters (concurrency not counted). */
  #budgetWait(): number {
    const now = this.#o.clock.now();
    this.#rpm?.refill(now);
    this.#tpm?.refill(now);
    let aheadTokens = 0;
    for (const w of this.#queue) aheadTokens += w.est;
    const rpm = this.#rpm?.msUntil(this.#queue.size + 1) ?? 0;
    const tpm = this.#tpm?.msUntil(aheadTokens) ?? 0;
    return Math.max(rpm, tpm);
  }

  #grant(est: number): ModelSlot {
    this.#active++;
    if (this.#rpm !== undefined) this.#rpm.level -= 1;
    if (this.#tpm !== undefined) this.#tpm.level -= est;
    let released = false;
    return {
      release: (tokensUsed?: number) => {
        if (released) return;
        released = true;
        this.#active--;
        if (tokensUsed !== undefined && Number.isFinite(tokensUsed) && tokensUsed >= 0) {
          if (this.#tpm !== undefined) this.#tpm.level += est - tokensUsed;
          this.#meanTokens = this.#meanTokens === 0 ? tokensUsed : this.#meanTokens + TOKEN_MEAN_WEIGHT * (tokensUsed - this.#meanTokens);
        }
        this.#pump();
      },
    };
  }

  /** Grants waiters in order while the budget allows; else arms one timer for when it will. */
  #pump(): void {
    const now = this.#o.clock.now();
    for (const w of this.#queue) {
      if (!this.#canGrant(now)) {
        if (this.#active >= this.#max) this.#clearTimer(); // a release pumps again
        else this.#armTimer(now, Math.max(this.#rpm?.msUntil(1) ?? 0, this.#tpm?.msUntil(0) ?? 0));
        return;
      }
      this.#queue.delete(w);
      w.unlisten();
      this.#o.onWaited?.({ runId: w.request.runId, waitMs: now - w.since, outcome: 'granted' });
      w.resolve(this.#grant(w.est));
    }
    this.#clearTimer();
  }

  #armTimer(now: number, ms: number): void {
    const at = now + Math.max(1, Math.ceil(ms));
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#pump();
    }, at - now);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }
}
