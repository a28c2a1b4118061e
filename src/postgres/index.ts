/**
 * `synapse/postgres` — conversations in PostgreSQL, shared by several fronts. Needs the
 * optional peer dependency `pg` (`npm install pg`); the core `synapse` entry never loads it.
 *
 * @example
 * ```ts
 * import { Synapse } from 'synapse';
 * import { PostgresHistoryStore, PostgresConversationLease } from 'synapse/postgres';
 *
 * const history = await PostgresHistoryStore.open({ connectionString: process.env.DATABASE_URL, migrate: true });
 * const lease = new PostgresConversationLease({ store: history });
 * const system = await Synapse.start({ history, lease });
 * ```
 */
export { PostgresHistoryStore, POSTGRES_STORE_DEFAULTS } from './store.ts';
export type { PostgresHistoryStoreOptions } from './store.ts';
export { SCHEMA_VERSION } from './schema.ts';
export { PostgresConversationLease, POSTGRES_LEASE_DEFAULTS } from './lease.ts';
export type { PostgresConversationLeaseOptions } from './lease.ts';
export type { ConversationLease, LeaseGrant, LeaseRequest } from '../conversation/lease.ts';
