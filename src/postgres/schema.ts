/**
 * The PostgreSQL schema of Synapse conversations, versioned and migrated explicitly.
 *
 * One PostgreSQL schema (namespace, default `synapse`) holds three tables:
 * - `synapse_schema_version(version)`: one row, the schema version this code wrote;
 * - `conversations(id, next_seq, messages, lease_owner, lease_token, lease_expires)`: one row
 *   per conversation ever committed to or leased; never deleted (deleting a conversation's
 *   history keeps its sequence and lease token, so a stale lease holder stays fenced);
 * - `turns(conversation_id, seq, turn_id, …)`: one row per committed turn,
 *   `PRIMARY KEY (conversation_id, seq)`, `UNIQUE (conversation_id, turn_id)`.
 *
 * Turn payloads are `json`, not `jsonb`: `json` keeps the text exactly as committed (key order,
 * duplicate keys, and the `\u0000` escape that `jsonb` rejects), so a reload yields what the
 * journal store would. See docs/postgres.md.
 */
import type { PoolClient } from 'pg';
import pg from 'pg';
import { synErr } from '../errors.ts';

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = 1;

/** Valid PostgreSQL schema names accepted by the `schema` option (unquoted identifier rules, ≤ 63 bytes). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Fully qualified, quoted table names of one schema. */
export interface Tables {
  readonly schema: string;
  readonly version: string;
  readonly conversations: string;
  readonly turns: string;
  /** The `pg_notify` channel on which lease releases are announced. */
  readonly channel: string;
}

/** The quoted table names of `schema`. */
export function tablesOf(schema: string): Tables {
  const s = pg.escapeIdentifier(schema);
  return {
    schema,
    version: `${s}.synapse_schema_version`,
    conversations: `${s}.conversations`,
    turns: `${s}.turns`,
    channel: `synapse_lease_${schema}`,
  };
}

function migrationV1(t: Tables): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(t.schema)}`,
    `CREATE TABLE ${t.version} (version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    `CREATE TABLE ${t.conversations} (
       id text PRIMARY KEY,
       next_seq bigint NOT NULL DEFAULT 0,
       messages bigint NOT NULL DEFAULT 0,
       lease_owner text,
       lease_token bigint NOT NULL DEFAULT 0,
       lease_expires timestamptz NOT NULL DEFAULT '-infinity'
     )`,
    `CREATE TABLE ${t.turns} (
       conversation_id text NOT NULL REFERENCES ${t.conversations} (id),
       seq bigint NOT NULL,
       turn_id text NOT NULL,
       agent text NOT NULL,
       at double precision NOT NULL,
       messages json NOT NULL,
       output json,
       usage json,
       output_type text,
       deferred json,
       PRIMARY KEY (conversation_id, seq),
       UNIQUE (conversation_id, turn_id)
     )`,
    `INSERT INTO ${t.version} (version) VALUES (1)`,
  ];
}

/** The version recorded in the database, or `undefined` when the schema was never migrated. */
export async function readVersion(client: PoolClient, t: Tables): Promise<number | undefined> {
  const exists = await client.query<{ r: string | null }>('SELECT to_regclass($1) AS r', [t.version]);
  if (exists.rows[0]?.r == null) return undefined;
  const r = await client.query<{ version: number }>(`SELECT max(version) AS version FROM ${t.version}`);
  return r.rows[0]?.version ?? undefined;
}

/**
 * Brings the schema to {@link SCHEMA_VERSION} in one transaction. Concurrent migrators are
 * serialised by a transaction-scoped advisory lock (released at COMMIT, never held past it).
 *
 * @throws SYN_ERR_STORE_SCHEMA when the database holds a newer version.
 */
export async function migrate(client: PoolClient, t: Tables): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`synapse.migrate.${t.schema}`]);
    const version = (await readVersion(client, t)) ?? 0;
    if (version > SCHEMA_VERSION) newerSchema(t.schema, version);
    if (version < 1) for (const sql of migrationV1(t)) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined); // the migration error is the one to report
    throw err;
  }
}

/**
 * Checks that the schema is exactly {@link SCHEMA_VERSION}.
 * @throws SYN_ERR_STORE_SCHEMA (not migrated, or another version).
 */
export async function checkVersion(client: PoolClient, t: Tables): Promise<void> {
  const version = await readVersion(client, t);
  if (version === undefined) {
    throw synErr('SYN_ERR_STORE_SCHEMA', `PostgreSQL schema "${t.schema}" has no Synapse tables: open with { migrate: true } once`, { schema: t.schema, found: null, expected: SCHEMA_VERSION, option: 'migrate' });
  }
  if (version > SCHEMA_VERSION) newerSchema(t.schema, version);
  if (version < SCHEMA_VERSION) {
    throw synErr('SYN_ERR_STORE_SCHEMA', `PostgreSQL schema "${t.schema}" is at version ${version}, this Synapse needs ${SCHEMA_VERSION}: open with { migrate: true }`, { schema: t.schema, found: version, expected: SCHEMA_VERSION, option: 'migrate' });
  }
}

function newerSchema(schema: string, version: number): never {
  throw synErr('SYN_ERR_STORE_SCHEMA', `PostgreSQL schema "${schema}" is at version ${version}, newer than this Synapse (${SCHEMA_VERSION}): upgrade Synapse`, { schema, found: version, expected: SCHEMA_VERSION });
}
