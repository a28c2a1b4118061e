/**
 * `CallLedger`: books every call a fault run makes and how it ended, to check the first
 * reliability invariant — every call settles exactly once, with a value or a coded
 * `SynapseError` (never a bare Error, never a hang, never twice).
 */
import { ERROR_CODES, SynapseError } from '../errors.ts';
import { assertNone, FaultInvariantError } from './invariant.ts';

/** How a booked call ended. */
export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown; readonly code: string };

/** One booked call. */
export interface LedgerEntry {
  readonly seq: number;
  /** Caller-chosen label (e.g. `send#3 a/c1`). */
  readonly label: string;
  /** Free-form metadata (agent, conversation, prompt…) for reports and history checks. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** How many times it settled (the invariant: exactly 1). */
  settleCount: number;
  outcome: Outcome | undefined;
  /** Stream calls only: items delivered after the terminal item or error (must stay 0). */
  lateItems: number;
  /** Order of settlement across the ledger (1-based), or 0 while pending. */
  settledAs: number;
}

/** Options of {@link CallLedger.check}. */
export interface LedgerCheckOptions {
  /** Error codes that are acceptable outcomes. Default: any code in the registry. */
  allowedCodes?: readonly string[];
}

/**
 * A ledger of calls under fault injection.
 *
 * @example
 * ```ts
 * const ledger = new CallLedger();
 * ledger.track('hello', system.sendMessage('bot', { prompt: 'hi' }));
 * await ledger.settled(30_000);
 * ledger.check(); // throws FaultInvariantError listing every violation
 * ```
 */
export class CallLedger {
  readonly #entries: LedgerEntry[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  #settledCount = 0;

  /** Every booked call, in booking order. */
  get entries(): readonly LedgerEntry[] {
    return this.#entries;
  }

  /** Calls not settled yet. */
  get pending(): number {
    return this.#entries.filter((e) => e.settleCount === 0).length;
  }

  /**
   * Books a promise-returning call. The returned promise mirrors it but never rejects
   * (it resolves with the {@link Outcome}), so a fault run can fire and forget.
   */
  track(label: string, call: Promise<unknown> | (() => Promise<unknown>), meta: Record<string, unknown> = {}): Promise<Outcome> {
    const entry = this.#book(label, meta);
    let promise: Promise<unknown>;
    try {
      promise = typeof call === 'function' ? call() : call;
    } catch (error) {
      promise = Promise.reject(error); // a synchronous throw is a settlement too
    }
    const done = promise.then(
      (value) => this.#settle(entry, { ok: true, value }),
      (error: unknown) => this.#settle(entry, { ok: false, error, code: codeOf(error) }),
    );
    this.#watch(done);
    return done;
  }

  /**
   * Books a streaming call: consumes `stream` to the end. The terminal is either a last item
   * for which `isFinal(item)` holds (the value) or a thrown error; any item after a final one
   * is counted in `lateItems`, a second final counts as a second settlement.
   */
  trackStream<T>(label: string, stream: AsyncIterable<T> | (() => AsyncIterable<T>), isFinal: (item: T) => boolean, meta: Record<string, unknown> = {}): Promise<Outcome> {
    const entry = this.#book(label, meta);
    const consume = async (): Promise<Outcome> => {
      let final: T | undefined;
      let finals = 0;
      try {
        const iterable = typeof stream === 'function' ? stream() : stream;
        for await (const item of iterable) {
          if (finals > 0) entry.lateItems++;
          if (isFinal(item)) {
            finals++;
            final = item;
          }
        }
      } catch (error) {
        if (finals > 0) entry.settleCount += finals; // a result and then an error: settled twice
        return this.#settle(entry, { ok: false, error, code: codeOf(error) });
      }
      if (finals === 0) {
        return this.#settle(entry, { ok: false, error: new Error('stream ended without a final item'), code: 'NO_FINAL_ITEM' });
      }
      entry.settleCount += finals - 1;
      return this.#settle(entry, { ok: true, value: final });
    };
    const done = consume();
    this.#watch(done);
    return done;
  }

  /**
   * Resolves once every booked call settled (including calls booked while waiting).
   * @throws FaultInvariantError (`ledger`) listing the calls still pending after `timeoutMs`
   *   (real time; default 60 s).
   */
  async settled(timeoutMs = 60_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      while (this.#pending.size > 0) {
        const r = await Promise.race([Promise.all([...this.#pending]), expired]);
        if (r === 'timeout') {
          const stuck = this.#entries.filter((e) => e.settleCount === 0).map((e) => `pending after ${timeoutMs} ms: #${e.seq} ${e.label}`);
          throw new FaultInvariantError('ledger', stuck);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Outcome counts: `ok` and one entry per error code (`'UNCODED'` for a non-Synapse error). */
  outcomes(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of this.#entries) {
      const key = e.outcome === undefined ? 'PENDING' : e.outcome.ok ? 'ok' : e.outcome.code;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  /** The violations of the invariant (empty when it holds). */
  violations(options: LedgerCheckOptions = {}): string[] {
    const allowed = options.allowedCodes === undefined ? undefined : new Set(options.allowedCodes);
    const out: string[] = [];
    for (const e of this.#entries) {
      const name = `#${e.seq} ${e.label}`;
      if (e.settleCount === 0) out.push(`${name}: never settled`);
      else if (e.settleCount > 1) out.push(`${name}: settled ${e.settleCount} times`);
      if (e.lateItems > 0) out.push(`${name}: ${e.lateItems} stream item(s) after the final one`);
      const o = e.outcome;
      if (o === undefined || o.ok) continue;
      if (!(o.error instanceof SynapseError)) out.push(`${name}: rejected with an uncoded error: ${describe(o.error)}`);
      else if (!(o.code in ERROR_CODES)) out.push(`${name}: code ${o.code} is not in the registry`);
      else if (allowed !== undefined && !allowed.has(o.code)) out.push(`${name}: unexpected code ${o.code}: ${o.error.message}`);
    }
    return out;
  }

  /**
   * Asserts the invariant.
   * @throws FaultInvariantError (`ledger`) listing every violation.
   */
  check(options: LedgerCheckOptions = {}): void {
    assertNone('ledger', this.violations(options));
  }

  #book(label: string, meta: Record<string, unknown>): LedgerEntry {
    const entry: LedgerEntry = { seq: this.#entries.length + 1, label, meta: Object.freeze({ ...meta }), settleCount: 0, outcome: undefined, lateItems: 0, settledAs: 0 };
    this.#entries.push(entry);
    return entry;
  }

  #settle(entry: LedgerEntry, outcome: Outcome): Outcome {
    entry.settleCount++;
    if (entry.outcome === undefined) {
      entry.outcome = outcome;
      entry.settledAs = ++this.#settledCount;
    }
    return outcome;
  }

  #watch(done: Promise<unknown>): void {
    this.#pending.add(done);
    void done.finally(() => this.#pending.delete(done));
  }
}

function codeOf(error: unknown): string {
  return error instanceof SynapseError ? error.code : 'UNCODED';
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
