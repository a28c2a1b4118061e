/**
 * {@link HistoryStore} on PostgreSQL: the journal store's contract, shared by every front that
 * opens the same database. A commit is one transaction, acked only after `COMMIT` returned;
 * `UNIQUE (conversation_id, turn_id)` makes a retried turn id a `'duplicate'`; any connection
 * or server error is SYN_ERR_STORE_IO (outcome unknown: retry with the same turn id).
 *
 * Commits to one conversation are ordered twice: in this process by a per-conversation chain
 * (call order, like the journal store), across processes by the conversation row's lock
 * (`SELECT … FOR UPDATE`), or — under a {@link PostgresConversationLease} — by the fenced
 * sequence check of `./lease.ts`.
 */
import pg from 'pg';
import type { Pool, PoolClient } from 'pg';
import { synErr } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import { validateConversationId, validateTurnId } from '../conversation/ids.ts';
import { prepareTurn, tooManyMessages } from '../conversation/record.ts';
import type { PreparedTurn, StoreLimits, StoredTurn, TurnInput } from '../conversation/record.ts';
import { LIMIT_FIELDS, resolveLimits, storeClosed } from '../conversation/store.ts';
import type { CommitOutcome, HistoryStore } from '../conversation/store.ts';
import { Rollback, transaction, withClient } from './io.ts';
import { SCHEMA_NAME, checkVersion, migrate, tablesOf, type Tables } from './schema.ts';

/** Options of {@link PostgresHistoryStore.open}: exactly one of `pool` and `connectionString`. */
export interface PostgresHistoryStoreOptions {
  /** A `pg.Pool` you own (not ended by {@link PostgresHistoryStore.close}). */
  pool?: Pool;
  /** A connection string; the store creates (and ends on close) its own pool. */
  connectionString?: string;
  /** PostgreSQL schema (namespace) of the tables. Default `'synapse'`. */
  schema?: string;
  /**
   * Create or upgrade the tables before use (in one transaction, safe to race). Default
   * `false`: an unmigrated or other-version schema is SYN_ERR_STORE_SCHEMA.
   */
  migrate?: boolean;
  /** Largest serialised turn in bytes. Default 4 MiB. */
  maxTurnBytes?: number;
  /** Most messages per conversation. Default 10 000. */
  maxMessagesPerConversation?: number;
  /** Size of the pool created for `connectionString`. Default 10. */
  poolSize?: number;
}

/** Defaults of {@link PostgresHistoryStoreOptions}, and the connect timeout of the pool the store creates for `connectionString`. */
export const POSTGRES_STORE_DEFAULTS = Object.freeze({ schema: 'synapse', migrate: false, poolSize: 10, connectionTimeoutMs: 10_000 } as const);

const SCHEMA = {
  pool: v.optional(v.duck<Pool>(['connect', 'query', 'end'], 'a pg.Pool')),
  connectionString: v.optional(v.string({ min: 1 })),
  schema: v.optional(v.string({ pattern: SCHEMA_NAME })),
  migrate: v.optional(v.boolean()),
  poolSize: v.optional(v.number({ min: 1, max: 1_000, integer: true })),
  ...LIMIT_FIELDS,
};

/** A fence checked inside the commit transaction (see `./lease.ts`). */
export interface CommitFence {
  readonly token: string;
  readonly seq: string;
}

/** Internal seam for the lease: a fenced commit. Not exported from `synapse/postgres`. */
export const FENCED_COMMIT = Symbol('synapse.postgres.fencedCommit');

interface TurnRow {
  conversation_id: string;
  turn_id: string;
  agent: string;
  at: number;
  messages: unknown[];
  output: unknown;
  usage: unknown;
  output_type: string | null;
  deferred: unknown;
  no_output: boolean;
  no_usage: boolean;
}

const TURN_COLUMNS = 'conversation_id, turn_id, agent, at, messages, output, usage, output_type, deferred, output IS NULL AS no_output, usage IS NULL AS no_usage';

function rowToTurn(r: TurnRow): StoredTurn {
  const turn: { -readonly [K in keyof StoredTurn]: StoredTurn[K] } = { conversationId: r.conversation_id, turnId: r.turn_id, agent: r.agent, at: r.at, messages: r.messages };
  if (!r.no_output) turn.output = r.output;
  if (!r.no_usage) turn.usage = r.usage;
  if (r.output_type !== null) turn.outputType = r.output_type;
  if (r.deferred !== null) turn.deferred = r.deferred as NonNullable<StoredTurn['deferred']>;
  return turn;
}

const json = (x: unknown): string | null => (x === undefined ? null : JSON.stringify(x));

/**
 * Durable, shared history in PostgreSQL.
 *
 * @example
 * ```ts
 * import { PostgresHistoryStore } from 'synapse/postgres';
 * const store = await PostgresHistoryStore.open({ connectionString: process.env.DATABASE_URL, migrate: true });
 * const system = await Synapse.start({ history: store });
 * ```
 */
export class PostgresHistoryStore implements HistoryStore {
  /** `'postgres'` (the `store` label of `synapse_store_commit_duration_seconds`). */
  readonly kind = 'postgres';
  readonly limits: StoreLimits;
  /** The PostgreSQL schema holding the tables. */
  readonly schema: string;
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #tables: Tables;
  readonly #onPoolError: (err: Error) => void;
  readonly #chains = new Map<string, Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(pool: Pool, ownsPool: boolean, tables: Tables, limits: StoreLimits) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#tables = tables;
    this.schema = tables.schema;
    this.limits = Object.freeze(limits);
    // An idle pooled connection that dies (server restart) is reported here; without a
    // listener the process would crash. The next query gets a fresh connection or a coded error.
    this.#onPoolError = () => undefined;
    pool.on('error', this.#onPoolError);
  }

  /**
   * Connects, checks (or with `migrate: true` creates/upgrades) the schema.
   *
   * @throws SYN_ERR_INVALID_OPTION (bad options; neither or both of pool/connectionString),
   * SYN_ERR_STORE_SCHEMA (not migrated, or another version), SYN_ERR_STORE_IO (cannot connect).
   */
  static async open(options: PostgresHistoryStoreOptions): Promise<PostgresHistoryStore> {
    const o = resolveOptions('PostgresHistoryStore', options, SCHEMA);
    if ((o.pool === undefined) === (o.connectionString === undefined)) {
      throw synErr('SYN_ERR_INVALID_OPTION', 'PostgresHistoryStore: pass exactly one of "pool" and "connectionString"', { option: 'PostgresHistoryStore.pool', expected: 'exactly one of pool, connectionString' });
    }
    const limits = resolveLimits(o);
    const pool =
      o.pool ??
      new pg.Pool({
        connectionString: o.connectionString,
        max: o.poolSize ?? POSTGRES_STORE_DEFAULTS.poolSize,
        connectionTimeoutMillis: POSTGRES_STORE_DEFAULTS.connectionTimeoutMs,
        application_name: 'synapse',
      });
    const store = new PostgresHistoryStore(pool, o.pool === undefined, tablesOf(o.schema ?? POSTGRES_STORE_DEFAULTS.schema), limits);
    try {
      await withClient(pool, 'open', async (client) => {
        if (o.migrate ?? POSTGRES_STORE_DEFAULTS.migrate) await migrate(client, store.#tables);
        else await checkVersion(client, store.#tables);
      });
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** The pool queries run on (the lease shares it). */
  get pool(): Pool {
    return this.#pool;
  }

  /** @internal The quoted table names (the lease shares them). */
  get tables(): Tables {
    return this.#tables;
  }

  async load(conversationId: string): Promise<readonly StoredTurn[]> {
    this.#check();
    const id = validateConversationId(conversationId);
    const r = await withClient(this.#pool, 'load', (c) => c.query<TurnRow>(`SELECT ${TURN_COLUMNS} FROM ${this.#tables.turns} WHERE conversation_id = $1 ORDER BY seq`, [id]));
    return r.rows.map(rowToTurn);
  }

  async getTurn(conversationId: string, turnId: string): Promise<StoredTurn | undefined> {
    this.#check();
    const id = validateConversationId(conversationId);
    const tid = validateTurnId(turnId);
    const r = await withClient(this.#pool, 'getTurn', (c) => c.query<TurnRow>(`SELECT ${TURN_COLUMNS} FROM ${this.#tables.turns} WHERE conversation_id = $1 AND turn_id = $2`, [id, tid]));
    const row = r.rows[0];
    return row === undefined ? undefined : rowToTurn(row);
  }

  async hasTurn(conversationId: string, turnId: string): Promise<boolean> {
    this.#check();
    const id = validateConversationId(conversationId);
    const tid = validateTurnId(turnId);
    const r = await withClient(this.#pool, 'hasTurn', (c) => c.query(`SELECT 1 FROM ${this.#tables.turns} WHERE conversation_id = $1 AND turn_id = $2`, [id, tid]));
    return r.rows.length > 0;
  }

  async commit(input: TurnInput): Promise<CommitOutcome> {
    this.#check();
    const prepared = prepareTurn(input, this.limits);
    return this.#serial(prepared.turn.conversationId, () => transaction(this.#pool, 'commit', (c) => this.#commitUnfenced(c, prepared)));
  }

  /** @internal A commit that first checks `fence` (lease token + sequence) in the same transaction. */
  [FENCED_COMMIT](input: TurnInput, fence: CommitFence, lost: () => never): Promise<CommitOutcome> {
    this.#check();
    const prepared = prepareTurn(input, this.limits);
    return this.#serial(prepared.turn.conversationId, () => transaction(this.#pool, 'commit', (c) => this.#commitFenced(c, prepared, fence, lost)));
  }

  async list(): Promise<string[]> {
    this.#check();
    const r = await withClient(this.#pool, 'list', (c) => c.query<{ id: string }>(`SELECT DISTINCT conversation_id AS id FROM ${this.#tables.turns}`));
    return r.rows.map((row) => row.id);
  }

  async delete(conversationId: string): Promise<boolean> {
    this.#check();
    const id = validateConversationId(conversationId);
    // The conversation row stays: its sequence and lease token must never go back (fencing).
    return this.#serial(id, () =>
      transaction(this.#pool, 'delete', async (c) => {
        await c.query(`SELECT 1 FROM ${this.#tables.conversations} WHERE id = $1 FOR UPDATE`, [id]);
        const r = await c.query(`DELETE FROM ${this.#tables.turns} WHERE conversation_id = $1`, [id]);
        await c.query(`UPDATE ${this.#tables.conversations} SET messages = 0 WHERE id = $1`, [id]);
        return (r.rowCount ?? 0) > 0;
      }),
    );
  }

  /** Waits for in-flight commits, then ends the pool if the store created it. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#chains.values()]);
      // An own pool keeps the listener: a connection may still report an error while it ends.
      if (this.#ownsPool) await this.#pool.end().catch(() => undefined); // nothing left to lose: every commit settled
      else this.#pool.off('error', this.#onPoolError);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #check(): void {
    if (this.#closed) storeClosed('PostgresHistoryStore');
  }

  async #commitUnfenced(c: PoolClient, p: PreparedTurn): Promise<CommitOutcome | Rollback<CommitOutcome>> {
    const t = this.#tables;
    const { conversationId, turnId } = p.turn;
    await c.query(`INSERT INTO ${t.conversations} (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [conversationId]);
    const row = await c.query<{ next_seq: string; messages: string }>(`SELECT next_seq, messages FROM ${t.conversations} WHERE id = $1 FOR UPDATE`, [conversationId]);
    const dup = await c.query(`SELECT 1 FROM ${t.turns} WHERE conversation_id = $1 AND turn_id = $2`, [conversationId, turnId]);
    if (dup.rows.length > 0) return new Rollback('duplicate' as const);
    const current = Number(row.rows[0]!.messages);
    if (current + p.turn.messages.length > this.limits.maxMessagesPerConversation) {
      tooManyMessages(conversationId, current, p.turn.messages.length, this.limits.maxMessagesPerConversation);
    }
    await this.#insert(c, p, row.rows[0]!.next_seq);
    await c.query(`UPDATE ${t.conversations} SET next_seq = next_seq + 1, messages = messages + $2 WHERE id = $1`, [conversationId, p.turn.messages.length]);
    return 'committed';
  }

  async #commitFenced(c: PoolClient, p: PreparedTurn, fence: CommitFence, lost: () => never): Promise<CommitOutcome | Rollback<CommitOutcome>> {
    const t = this.#tables;
    const { conversationId } = p.turn;
    const row = await c.query<{ messages: string }>(
      `UPDATE ${t.conversations} SET next_seq = next_seq + 1
        WHERE id = $1 AND lease_token = $2 AND next_seq = $3 AND lease_expires >= clock_timestamp()
        RETURNING messages`,
      [conversationId, fence.token, fence.seq],
    );
    if (row.rows.length === 0) lost();
    const inserted = await this.#insert(c, p, fence.seq);
    if (!inserted) return new Rollback('duplicate' as const);
    const current = Number(row.rows[0]!.messages);
    if (current + p.turn.messages.length > this.limits.maxMessagesPerConversation) {
      tooManyMessages(conversationId, current, p.turn.messages.length, this.limits.maxMessagesPerConversation);
    }
    await c.query(`UPDATE ${t.conversations} SET messages = messages + $2 WHERE id = $1`, [conversationId, p.turn.messages.length]);
    return 'committed';
  }

  /** Inserts the turn row at `seq`; false when the turn id is already committed. */
  async #insert(c: PoolClient, p: PreparedTurn, seq: string): Promise<boolean> {
    const x = p.turn;
    const r = await c.query(
      `INSERT INTO ${this.#tables.turns} (conversation_id, seq, turn_id, agent, at, messages, output, usage, output_type, deferred)
       VALUES ($1, $2, $3, $4, $5, $6::json, $7::json, $8::json, $9, $10::json)
       ON CONFLICT (conversation_id, turn_id) DO NOTHING`,
      [x.conversationId, seq, x.turnId, x.agent, x.at, JSON.stringify(x.messages), json(x.output), json(x.usage), x.outputType ?? null, json(x.deferred)],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** Runs `fn` after every earlier operation of this process on the same conversation. */
  #serial<T>(conversationId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(conversationId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined); // the caller gets the error; the chain only orders
    this.#chains.set(conversationId, tail);
    void tail.then(() => {
      if (this.#chains.get(conversationId) === tail) this.#chains.delete(conversationId);
    });
    return run;
  }
}
