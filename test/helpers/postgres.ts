/**
 * A real PostgreSQL server for tests: the server itself is in ./pg-server.ts (re-exported here,
 * no vitest there, so benches share it); {@link usePostgres} is the per-file vitest fixture.
 */
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startPostgres, type PgServer } from './pg-server.ts';

export { freeLoopbackPort, startPostgres, type PgServer, type StartPostgresOptions } from './pg-server.ts';

/** What {@link usePostgres} gives a test file: the server and an admin client, set in `beforeAll`. */
export interface PostgresFixture {
  readonly server: PgServer;
  /** Connected to the server's database (for assertions on the tables); present with `admin: true`. */
  readonly admin: pg.Client;
}

/**
 * One real PostgreSQL server for the test file (started in `beforeAll`, stopped in `afterAll`),
 * with an admin client when `admin` is set. Read `fixture.server` / `fixture.admin` inside tests.
 */
export function usePostgres(options: { admin?: boolean } = {}): PostgresFixture {
  const fixture = {} as { server: PgServer; admin: pg.Client };
  beforeAll(async () => {
    fixture.server = await startPostgres();
    if (options.admin === true) {
      fixture.admin = new pg.Client({ connectionString: fixture.server.connectionString });
      await fixture.admin.connect();
    }
  });
  afterAll(async () => {
    await fixture.admin?.end();
    await fixture.server?.close();
  });
  return fixture;
}
