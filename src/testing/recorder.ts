/**
 * `EventRecorder`: a bounded in-memory log of a system's lifecycle events (its `inspect`
 * stream), stamped with the system clock, with a way to await an event instead of sleeping.
 */
import type { Clock } from '../clock.ts';
import type { InspectEvent, SynapseEventName, SynapseEvents } from '../observe/events.ts';

/** A recorded event: the payload, its `type`, and `t` = the system clock when it was seen. */
export type Recorded<K extends SynapseEventName = SynapseEventName> = { [P in K]: SynapseEvents[P] & { readonly type: P; readonly t: number } }[K];

/** What {@link EventRecorder} needs of a system (an `ActorSystem` fits). */
export interface RecordableSystem {
  readonly clock: Clock;
  on(event: 'inspect', listener: (e: InspectEvent) => void): () => void;
}

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  /** Most events kept; older ones are dropped first (default 100 000). */
  capacity?: number;
}

interface Waiter {
  readonly match: (e: Recorded) => boolean;
  readonly resolve: (e: Recorded) => void;
}

/**
 * Records every lifecycle event of a system.
 *
 * @example
 * ```ts
 * const events = new EventRecorder(system);
 * chaos(system).kill('bot');
 * await events.waitFor('worker.ready', (e) => e.agent === 'bot', { after: mark });
 * events.close();
 * ```
 */
export class EventRecorder {
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #events: Recorded[] = [];
  #dropped = 0;
  #waiters: Waiter[] = [];
  readonly #off: () => void;

  constructor(system: RecordableSystem, options: EventRecorderOptions = {}) {
    this.#clock = system.clock;
    this.#capacity = options.capacity ?? 100_000;
    this.#off = system.on('inspect', (e) => this.#record(e));
  }

  /** Recorded events, oldest first (at most `capacity`). */
  get events(): readonly Recorded[] {
    return this.#events;
  }

  /** A position to pass as `after`: only events recorded from now on match. */
  mark(): number {
    return this.#dropped + this.#events.length;
  }

  /** Events of one type (optionally filtered), oldest first. */
  of<K extends SynapseEventName>(type: K, filter?: (e: Recorded<K>) => boolean, after = 0): Recorded<K>[] {
    const start = Math.max(0, after - this.#dropped);
    const match = (e: Recorded): boolean => e.type === type && (filter === undefined || filter(e as unknown as Recorded<K>));
    return this.#events.slice(start).filter(match) as unknown as Recorded<K>[];
  }

  /**
   * Resolves with the first event of `type` matching `filter`, recorded at or after position
   * `after` (default 0: past events count too).
   * @throws Error when none arrives within `timeoutMs` of real time (default 30 s), naming the wait.
   */
  waitFor<K extends SynapseEventName>(type: K, filter?: (e: Recorded<K>) => boolean, options: { after?: number; timeoutMs?: number } = {}): Promise<Recorded<K>> {
    const past = this.of(type, filter, options.after ?? 0)[0];
    if (past !== undefined) return Promise.resolve(past);
    return new Promise<Recorded<K>>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 30_000;
      // A real timer on purpose: a test driving a SimulatedClock must still get a bounded wait.
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`No "${type}" event${filter === undefined ? '' : ' matching the filter'} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        match: (e) => e.type === type && (filter === undefined || filter(e as unknown as Recorded<K>)),
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e as unknown as Recorded<K>);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Stops recording (idempotent). Pending waits keep their timeouts. */
  close(): void {
    this.#off();
  }

  #record(e: InspectEvent): void {
    const { at: _at, ...rest } = e;
    const rec = { ...rest, t: this.#clock.now() } as Recorded;
    this.#events.push(rec);
    if (this.#events.length > this.#capacity) {
      this.#events.shift();
      this.#dropped++;
    }
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.match(rec)) w.resolve(rec);
      else still.push(w);
    }
    this.#waiters = still;
  }
}
