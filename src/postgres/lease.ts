/**
 * {@link ConversationLease} on PostgreSQL: a row lease with a fencing token, on the database's
 * clock (`clock_timestamp()`), so front clocks never matter.
 *
 * - acquire: one `INSERT … ON CONFLICT DO UPDATE … WHERE lease_expires < clock_timestamp()`
 *   bumping `lease_token` and returning it with `next_seq`; no row → held elsewhere;
 * - renew every `renewMs`: `UPDATE … WHERE lease_token = $t AND lease_expires >= clock_timestamp()`;
 *   0 rows → lost: the grant's signal aborts with SYN_ERR_LEASE_LOST;
 * - commit: the store's fenced transaction (token + `next_seq` checked, then the insert);
 * - release: expire the row, `pg_notify` the waiters of every process.
 *
 * No connection is held between these statements, so none is held while a run executes
 * (unlike session advisory locks, see docs/decisions.md). While turns of this process wait
 * for a lease held elsewhere, one shared connection `LISTEN`s for releases; a timer set to the
 * holder's expiry (plus jitter, at most `pollMaxMs`) covers a holder that dies without releasing.
 */
import { hostname } from 'node:os';
import { nanoid } from 'nanoid';
import type { Notification, PoolClient } from 'pg';
import pg from 'pg';
import { holdEventLoop, realClock, type Clock, type TimerHandle } from '../clock.ts';
import { synErr, type SynapseError } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import type { ConversationLease, LeaseGrant, LeaseRequest } from '../conversation/lease.ts';
import type { CommitOutcome, TurnInput } from '../conversation/store.ts';
import { withClient } from './io.ts';
import { FENCED_COMMIT, PostgresHistoryStore } from './store.ts';

/** Options of {@link PostgresConversationLease}. */
export interface PostgresConversationLeaseOptions {
  /** The store whose database holds the leases (and which the grants commit to). */
  store: PostgresHistoryStore;
  /** Lease time to live, database clock. Default 30 000 ms. */
  ttlMs?: number;
  /** Renewal period; must be below `ttlMs`. Default 10 000 ms. */
  renewMs?: number;
  /** Longest wait between two acquire attempts while queued. Default 1 000 ms. */
  pollMaxMs?: number;
  /** Written to `lease_owner` (diagnostics only). Default `<hostname>:<pid>:<random>`. */
  owner?: string;
  /** Clock of the renewal and poll timers. Default the real clock. */
  clock?: Clock;
}

/** Defaults of {@link PostgresConversationLeaseOptions}. */
export const POSTGRES_LEASE_DEFAULTS = Object.freeze({ ttlMs: 30_000, renewMs: 10_000, pollMaxMs: 1_000 } as const);

const SCHEMA = {
  store: v.instanceOf(PostgresHistoryStore as unknown as abstract new () => PostgresHistoryStore, 'a PostgresHistoryStore'),
  ttlMs: v.optional(v.number({ min: 1, max: 86_400_000, integer: true })),
  renewMs: v.optional(v.number({ min: 1, integer: true })),
  pollMaxMs: v.optional(v.number({ min: 1, integer: true })),
  owner: v.optional(v.string({ min: 1, max: 200 })),
  clock: v.optional(v.duck<Clock>(['now', 'setTimeout', 'clearTimeout'], 'a Clock')),
};

interface Listener {
  readonly client: PoolClient;
  readonly onNotification: (n: Notification) => void;
  readonly onError: () => void;
}

interface Interest {
  turns: number;
  releases: number;
}

interface Waiter {
  readonly conversationId: string;
  readonly wake: () => void;
}

/**
 * Per-conversation lease across fronts sharing one PostgreSQL database.
 *
 * @example
 * ```ts
 * const history = await PostgresHistoryStore.open({ connectionString, migrate: true });
 * const lease = new PostgresConversationLease({ store: history, ttlMs: 30_000 });
 * const system = await Synapse.start({ history, lease, conversations: { policy: 'queue' } });
 * ```
 * @throws SYN_ERR_INVALID_OPTION from the constructor on bad options (`renewMs` ≥ `ttlMs` included).
 */
export class PostgresConversationLease implements ConversationLease {
  readonly store: PostgresHistoryStore;
  readonly ttlMs: number;
  readonly renewMs: number;
  readonly owner: string;
  readonly #pollMaxMs: number;
  readonly #clock: Clock;
  readonly #waiters = new Set<Waiter>();
  /** Turns between their first busy attempt and their grant or failure (the LISTEN connection lives while > 0). */
  #waiting = 0;
  /** Per conversation waited on: how many turns wait, and how many releases were announced. */
  readonly #interest = new Map<string, Interest>();
  #listener: Promise<Listener | undefined> | undefined;
  #closed = false;

  constructor(options: PostgresConversationLeaseOptions) {
    const o = resolveOptions('PostgresConversationLease', options, SCHEMA);
    this.store = o.store;
    this.ttlMs = o.ttlMs ?? POSTGRES_LEASE_DEFAULTS.ttlMs;
    this.renewMs = o.renewMs ?? Math.min(POSTGRES_LEASE_DEFAULTS.renewMs, Math.max(1, Math.floor(this.ttlMs / 3)));
    if (this.renewMs >= this.ttlMs) {
      throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "PostgresConversationLease.renewMs": expected an integer < ttlMs (${this.ttlMs}), got ${this.renewMs}`, { option: 'PostgresConversationLease.renewMs', expected: `an integer < ttlMs (${this.ttlMs})` });
    }
    this.#pollMaxMs = o.pollMaxMs ?? POSTGRES_LEASE_DEFAULTS.pollMaxMs;
    this.owner = o.owner ?? `${hostname()}:${process.pid}:${nanoid(8)}`;
    this.#clock = o.clock ?? realClock;
  }

  async acquire(request: LeaseRequest): Promise<LeaseGrant> {
    const { conversationId, turnId, policy, signal } = request;
    let interest: Interest | undefined;
    try {
      for (;;) {
        if (this.#closed) throw synErr('SYN_ERR_SHUTDOWN', 'PostgresConversationLease is closed', { conversationId, turnId });
        if (signal?.aborted) throw aborted(signal, conversationId, turnId);
        const seen = interest?.releases;
        const attempt = await this.#tryAcquire(conversationId);
        if ('token' in attempt) return new Grant(this, conversationId, turnId, attempt.token, attempt.seq);
        if (policy === 'reject') {
          throw synErr('SYN_ERR_CONVERSATION_BUSY', `Conversation "${conversationId}" is leased by another front (${attempt.owner ?? 'unknown'})`, { conversationId, turnId, holder: attempt.owner });
        }
        if (interest === undefined) {
          // First time busy: LISTEN, then try again at once, so no release can fall between
          // the attempt and the wait unnoticed (each later attempt is covered by `releases`).
          interest = this.#interested(conversationId);
          await this.#listen();
          continue;
        }
        if (interest.releases !== seen) continue; // a release was announced during the attempt
        await this.#wait(conversationId, attempt.waitMs, signal, turnId);
      }
    } finally {
      if (interest !== undefined) await this.#uninterested(conversationId, interest);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters) w.wake(); // each loop sees #closed and rejects with SYN_ERR_SHUTDOWN
    await this.#stopListening();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal The clock of renewals (used by grants). */
  get clock(): Clock {
    return this.#clock;
  }

  async #tryAcquire(conversationId: string): Promise<{ token: string; seq: string } | { waitMs: number; owner: string | null }> {
    const t = this.store.tables;
    return withClient(this.store.pool, 'lease acquire', async (c) => {
      const won = await c.query<{ token: string; seq: string }>(
        `INSERT INTO ${t.conversations} AS c (id, lease_owner, lease_token, lease_expires)
         VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
         ON CONFLICT (id) DO UPDATE SET lease_owner = EXCLUDED.lease_owner, lease_token = c.lease_token + 1, lease_expires = EXCLUDED.lease_expires
           WHERE c.lease_expires < clock_timestamp()
         RETURNING lease_token::text AS token, next_seq::text AS seq`,
        [conversationId, this.owner, this.ttlMs],
      );
      if (won.rows[0] !== undefined) return won.rows[0];
      const held = await c.query<{ wait_ms: number; owner: string | null }>(
        `SELECT GREATEST(0, ceil(extract(epoch FROM lease_expires - clock_timestamp()) * 1000))::float8 AS wait_ms, lease_owner AS owner FROM ${t.conversations} WHERE id = $1`,
        [conversationId],
      );
      return { waitMs: held.rows[0]?.wait_ms ?? 0, owner: held.rows[0]?.owner ?? null };
    });
  }

  /** Waits for a release notification, the holder's expiry (+ jitter, ≤ pollMaxMs), or the abort. */
  async #wait(conversationId: string, waitMs: number, signal: AbortSignal | undefined, turnId: string): Promise<void> {
    if (this.#closed) return; // the loop in acquire() reports it
    const release = holdEventLoop(); // the timer below is unref'ed; a queued turn keeps the process up
    try {
      await new Promise<void>((resolve, reject) => {
        let timer: TimerHandle | undefined;
        const done = (): void => {
          if (timer !== undefined) this.#clock.clearTimeout(timer);
          this.#waiters.delete(waiter);
          signal?.removeEventListener('abort', onAbort);
        };
        const waiter: Waiter = {
          conversationId,
          wake: () => {
            done();
            resolve();
          },
        };
        const onAbort = (): void => {
          done();
          reject(aborted(signal!, conversationId, turnId));
        };
        this.#waiters.add(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
        const jitter = Math.random() * Math.min(50, waitMs / 10 + 5);
        timer = this.#clock.setTimeout(waiter.wake, Math.min(waitMs + jitter, this.#pollMaxMs));
      });
    } finally {
      release();
    }
  }

  /** Registers a turn waiting on `conversationId` (the LISTEN connection lives while any does). */
  #interested(conversationId: string): Interest {
    let interest = this.#interest.get(conversationId);
    if (interest === undefined) {
      interest = { turns: 0, releases: 0 };
      this.#interest.set(conversationId, interest);
    }
    interest.turns++;
    this.#waiting++;
    return interest;
  }

  async #uninterested(conversationId: string, interest: Interest): Promise<void> {
    if (--interest.turns === 0) this.#interest.delete(conversationId);
    if (--this.#waiting === 0) await this.#stopListening();
  }

  /** Starts the shared LISTEN connection if needed; without it, waits fall back to polling. */
  #listen(): Promise<Listener | undefined> {
    this.#listener ??= (async () => {
      let client: PoolClient | undefined;
      const onNotification = (n: Notification): void => {
        const interest = n.payload === undefined ? undefined : this.#interest.get(n.payload);
        if (interest !== undefined) interest.releases++;
        for (const w of this.#waiters) if (w.conversationId === n.payload) w.wake();
      };
      const onError = (): void => {
        // The connection died: the next wait listens again; waits meanwhile still poll.
        this.#listener = undefined;
      };
      try {
        client = await this.store.pool.connect();
        client.on('notification', onNotification);
        client.on('error', onError);
        await client.query(`LISTEN ${pg.escapeIdentifier(this.store.tables.channel)}`);
        return { client, onNotification, onError };
      } catch (err) {
        if (client !== undefined) {
          client.off('notification', onNotification);
          client.off('error', onError);
          client.release(err as Error);
        }
        this.#listener = undefined; // polling still bounds every wait by pollMaxMs
        return undefined;
      }
    })();
    return this.#listener;
  }

  async #stopListening(): Promise<void> {
    const listener = this.#listener;
    this.#listener = undefined;
    const l = await listener;
    if (l === undefined) return;
    l.client.off('notification', l.onNotification);
    try {
      await l.client.query('UNLISTEN *');
      l.client.off('error', l.onError);
      l.client.release();
    } catch (err) {
      l.client.off('error', l.onError);
      l.client.release(err as Error); // destroyed: a connection that failed UNLISTEN is not reused
    }
  }
}

class Grant implements LeaseGrant {
  readonly token: string;
  readonly #lease: PostgresConversationLease;
  readonly #conversationId: string;
  readonly #turnId: string;
  readonly #seq: string;
  readonly #controller = new AbortController();
  #timer: TimerHandle | undefined;
  #released: Promise<void> | undefined;

  constructor(lease: PostgresConversationLease, conversationId: string, turnId: string, token: string, seq: string) {
    this.#lease = lease;
    this.#conversationId = conversationId;
    this.#turnId = turnId;
    this.token = token;
    this.#seq = seq;
    this.#schedule();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  commit(turn: TurnInput): Promise<CommitOutcome> {
    return this.#lease.store[FENCED_COMMIT](turn, { token: this.token, seq: this.#seq }, () => {
      const err = this.#lost('the commit was fenced');
      this.#controller.abort(err);
      throw err;
    });
  }

  release(): Promise<void> {
    this.#released ??= (async () => {
      if (this.#timer !== undefined) this.#lease.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      const t = this.#lease.store.tables;
      try {
        await withClient(this.#lease.store.pool, 'lease release', (c) =>
          c.query(
            `WITH r AS (UPDATE ${t.conversations} SET lease_expires = '-infinity', lease_owner = NULL WHERE id = $1 AND lease_token = $2 RETURNING id)
             SELECT pg_notify($3, id) FROM r`,
            [this.#conversationId, this.token, t.channel],
          ),
        );
      } catch {
        // Not released (database unreachable): the lease expires after its TTL, and no commit
        // can use it meanwhile (the token is only this grant's, and this grant is done).
      }
    })();
    return this.#released;
  }

  #schedule(): void {
    this.#timer = this.#lease.clock.setTimeout(() => void this.#renew(), this.#lease.renewMs);
  }

  async #renew(): Promise<void> {
    this.#timer = undefined;
    if (this.#released !== undefined) return;
    const t = this.#lease.store.tables;
    let lost = false;
    try {
      const r = await withClient(this.#lease.store.pool, 'lease renew', (c) =>
        c.query(`UPDATE ${t.conversations} SET lease_expires = clock_timestamp() + $3 * interval '1 millisecond' WHERE id = $1 AND lease_token = $2 AND lease_expires >= clock_timestamp()`, [
          this.#conversationId,
          this.token,
          this.#lease.ttlMs,
        ]),
      );
      lost = (r.rowCount ?? 0) === 0;
    } catch {
      // Unreachable database: the lease may still be valid; try again next period. If it
      // expires meanwhile, the fenced commit refuses the turn.
    }
    if (this.#released !== undefined) return;
    if (lost) this.#controller.abort(this.#lost('a renewal found it expired or taken over'));
    else this.#schedule();
  }

  #lost(why: string): SynapseError {
    return synErr('SYN_ERR_LEASE_LOST', `The lease of conversation "${this.#conversationId}" was lost (${why}): nothing committed, retry with the same turn id`, {
      conversationId: this.#conversationId,
      turnId: this.#turnId,
      token: this.token,
    });
  }
}

function aborted(signal: AbortSignal, conversationId: string, turnId: string): SynapseError {
  const reason: unknown = signal.reason;
  if (typeof reason === 'object' && reason !== null && typeof (reason as { code?: unknown }).code === 'string' && String((reason as { code: string }).code).startsWith('SYN_ERR_')) {
    return reason as SynapseError;
  }
  return synErr('SYN_ERR_ABORTED', 'The turn was aborted while waiting for the conversation lease', { conversationId, turnId }, reason);
}
