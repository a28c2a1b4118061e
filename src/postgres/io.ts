/**
 * The one edge where `pg` errors become Synapse errors, and the connection / transaction
 * helpers every PostgreSQL query of Synapse goes through.
 */
import type { Pool, PoolClient } from 'pg';
import { isSynapseError, synErr } from '../errors.ts';

/**
 * Wraps a foreign error as SYN_ERR_STORE_IO (outcome unknown); Synapse errors pass through.
 * `details.sqlState` is the server's SQLSTATE (e.g. `57P01` for a terminated backend),
 * `details.errno` a socket error code (e.g. `ECONNREFUSED`).
 */
export function storeIoError(op: string, cause: unknown): never {
  if (isSynapseError(cause)) throw cause;
  const code = (cause as { code?: unknown } | null)?.code;
  const details: Record<string, unknown> = { op };
  if (typeof code === 'string') details[/^[0-9A-Z]{5}$/.test(code) ? 'sqlState' : 'errno'] = code;
  throw synErr('SYN_ERR_STORE_IO', `PostgreSQL ${op} failed: ${(cause as Error)?.message ?? String(cause)}`, details, cause);
}

/** Runs `fn` on a pooled connection, released (destroyed if it failed) afterwards. */
export async function withClient<T>(pool: Pool, op: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    return storeIoError(op, err);
  }
  let failed: Error | undefined;
  // A checked-out connection that dies between two queries emits 'error' (the pool listens only
  // on idle ones); unheard, it would crash the process. The next query on it rejects anyway.
  const onError = (err: Error): void => {
    failed ??= err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    // A Synapse error raised by `fn` itself (a check) leaves the connection healthy.
    if (!isSynapseError(err)) failed = err as Error;
    return storeIoError(op, err);
  } finally {
    client.off('error', onError);
    client.release(failed);
  }
}

/** Marks a transaction outcome that must be rolled back without being an error (e.g. a duplicate). */
export class Rollback<T> {
  constructor(readonly value: T) {}
}

/**
 * Runs `fn` inside `BEGIN … COMMIT` on one pooled connection; resolves only after COMMIT
 * returned. `fn` returning a {@link Rollback} rolls back and resolves with its value; `fn`
 * throwing rolls back and rethrows (a foreign error as SYN_ERR_STORE_IO).
 */
export function transaction<T>(pool: Pool, op: string, fn: (client: PoolClient) => Promise<T | Rollback<T>>): Promise<T> {
  return withClient(pool, op, async (client) => {
    await client.query('BEGIN');
    let result: T | Rollback<T>;
    try {
      result = await fn(client);
    } catch (err) {
      if (isSynapseError(err)) await client.query('ROLLBACK'); // a check failed on a healthy connection
      throw err; // otherwise the connection is destroyed, which aborts the transaction server-side
    }
    if (result instanceof Rollback) {
      await client.query('ROLLBACK');
      return result.value;
    }
    await client.query('COMMIT');
    return result;
  });
}
