/**
 * Chaos for load runs: per kind, a Poisson process (seeded) of faults injected into live
 * Python workers — `kill` (SIGKILL), `stop` (SIGSTOP: a hung worker the heartbeat must catch)
 * and `garbage` (SIGUSR1: the load agent writes a non-frame to the protocol stream). Times and
 * victims (agent × worker slot) come from the seeded PRNG, so the schedule replays from
 * `--seed`; the pid hit is whatever process occupies that slot at that moment.
 */
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { CHAOS_KINDS, type ChaosKind, type ChaosRates } from './args.ts';
import { rng, type Rng } from './prng.ts';
import type { WorkerSlot } from './targets.ts';

const SIGNALS: Record<ChaosKind, NodeJS.Signals> = { kill: 'SIGKILL', stop: 'SIGSTOP', garbage: 'SIGUSR1' };

/** Counts per chaos kind. */
export interface ChaosCounts {
  /** Faults injected. */
  fired: number;
  /** Scheduled faults skipped because the chosen slot had no ready worker (e.g. still restarting). */
  skipped: number;
}

/** One injected fault, for the JSON report. */
export interface ChaosEvent {
  readonly atMs: number;
  readonly kind: ChaosKind;
  readonly agent: string;
  readonly worker: number;
  readonly pid: number;
}

/** Options of {@link Chaos}. */
export interface ChaosOptions {
  readonly rates: ChaosRates;
  readonly seed: number;
  readonly clock: Clock;
  /** The current worker slots (stable order). */
  readonly slots: () => readonly WorkerSlot[];
  /** Sends a signal (default `process.kill`); injectable for tests. */
  readonly signal?: (pid: number, signal: NodeJS.Signals) => void;
  /** Most events kept for the report (older ones are counted, not kept). Default 10 000. */
  readonly maxEvents?: number;
}

/** A running chaos schedule. `close()` stops it and resumes every worker it stopped. */
export class Chaos {
  readonly counts: Record<ChaosKind, ChaosCounts>;
  readonly events: ChaosEvent[] = [];
  readonly #o: ChaosOptions;
  readonly #signal: (pid: number, signal: NodeJS.Signals) => void;
  readonly #timers = new Map<ChaosKind, TimerHandle>();
  readonly #stopped = new Set<number>();
  readonly #start: number;
  #closed = false;

  constructor(options: ChaosOptions) {
    this.#o = options;
    this.#signal = options.signal ?? ((pid, sig) => process.kill(pid, sig));
    this.#start = options.clock.now();
    this.counts = Object.fromEntries(CHAOS_KINDS.map((k) => [k, { fired: 0, skipped: 0 }])) as Record<ChaosKind, ChaosCounts>;
    for (const kind of CHAOS_KINDS) {
      const rate = options.rates[kind];
      if (rate !== undefined && rate > 0) this.#schedule(kind, rate, rng(options.seed, `chaos:${kind}`));
    }
  }

  /** Total faults injected. */
  get fired(): number {
    return CHAOS_KINDS.reduce((n, k) => n + this.counts[k].fired, 0);
  }

  #schedule(kind: ChaosKind, rate: number, random: Rng): void {
    const delay = random.exp(rate) * 1000;
    this.#timers.set(
      kind,
      this.#o.clock.setTimeout(() => {
        if (this.#closed) return;
        this.#fire(kind, random);
        this.#schedule(kind, rate, random);
      }, delay),
    );
  }

  #fire(kind: ChaosKind, random: Rng): void {
    const slots = this.#o.slots();
    const slot = slots.length === 0 ? undefined : slots[random.int(slots.length)];
    if (slot === undefined || slot.pid === undefined || slot.state !== 'ready' || this.#stopped.has(slot.pid)) {
      this.counts[kind].skipped++;
      return;
    }
    try {
      this.#signal(slot.pid, SIGNALS[kind]);
    } catch {
      this.counts[kind].skipped++; // the process died between the read and the signal
      return;
    }
    if (kind === 'stop') this.#stopped.add(slot.pid);
    this.counts[kind].fired++;
    if (this.events.length < (this.#o.maxEvents ?? 10_000)) {
      this.events.push({ atMs: Math.round(this.#o.clock.now() - this.#start), kind, agent: slot.agent, worker: slot.worker, pid: slot.pid });
    }
  }

  /**
   * Stops scheduling (idempotent) and sends SIGCONT to every worker this chaos stopped that is
   * still alive, so the system's graceful shutdown is not held up by a frozen process.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers.values()) this.#o.clock.clearTimeout(timer);
    this.#timers.clear();
    for (const pid of this.#stopped) {
      try {
        this.#signal(pid, 'SIGCONT');
      } catch {
        // already reaped by the supervisor (the usual case: the heartbeat killed it)
      }
    }
    this.#stopped.clear();
  }
}
