// The `synapse/postgres` entry as a user imports it (plain node, package.json `exports`, dist/),
// and the optional peer dependency: with `pg` made unresolvable by a loader hook, `import
// 'synapse'` still loads and a system starts and stops, while `synapse/postgres` fails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PgServer } from '../../helpers/postgres.ts';
import { REPO_ROOT } from '../../helpers/python.ts';

let server: PgServer;
beforeAll(async () => {
  execFileSync(process.execPath, [`${REPO_ROOT}scripts/build-dist.mjs`, '--quiet'], { cwd: REPO_ROOT, stdio: 'inherit' });
  server = await startPostgres();
}, 120_000);
afterAll(() => server?.close());

const NO_PG_HOOK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (specifier === 'pg' || specifier.startsWith('pg/')) throw Object.assign(new Error('pg is not installed (test hook)'), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}\`));
`)}`;

function node(script: string, args: string[], extra: string[] = []): string {
  return execFileSync(process.execPath, [...extra, '--input-type=module', '-e', script, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
}

describe('synapse/postgres through package.json exports', () => {
  it('opens a store, commits, and leases with plain node', () => {
    const out = node(
      `
import { PostgresHistoryStore, PostgresConversationLease, SCHEMA_VERSION } from 'synapse/postgres';
const store = await PostgresHistoryStore.open({ connectionString: process.argv[1], migrate: true });
const lease = new PostgresConversationLease({ store });
const grant = await lease.acquire({ conversationId: 'c', turnId: 't', policy: 'reject' });
const outcome = await grant.commit({ conversationId: 'c', turnId: 't', agent: 'bot', at: 1, messages: [] });
await grant.release();
await lease.close();
const turns = await store.load('c');
await store.close();
console.log(JSON.stringify({ outcome, ids: turns.map((t) => t.turnId), SCHEMA_VERSION }));
`,
      [server.connectionString],
    );
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ outcome: 'committed', ids: ['t'], SCHEMA_VERSION: 1 });
  });

  it("without pg: 'synapse' imports and a system starts and stops; 'synapse/postgres' fails to load", () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synapse-nopg-'));
    try {
      const out = node(
        `
import { Synapse } from 'synapse';
const system = await Synapse.start({ logLevel: 'silent', stateDir: process.argv[1], metrics: false });
await system.stop();
let pg;
try { await import('synapse/postgres'); pg = 'loaded'; } catch (e) { pg = e.message; }
console.log(JSON.stringify({ core: 'ok', pg }));
`,
        [stateDir],
        ['--import', NO_PG_HOOK],
      );
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ core: 'ok', pg: expect.stringContaining('pg is not installed') });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
