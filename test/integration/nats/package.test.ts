// The `synapse/nats` entry as a user imports it (plain node, package.json `exports`, dist/), and
// the optional peer dependency: with `@nats-io/*` made unresolvable by a loader hook, `import
// 'synapse'` still loads and a system starts and stops, while `synapse/nats` fails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/python.ts';

beforeAll(() => {
  execFileSync(process.execPath, [`${REPO_ROOT}scripts/build-dist.mjs`, '--quiet'], { cwd: REPO_ROOT, stdio: 'inherit' });
}, 120_000);

const NO_NATS_HOOK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@nats-io/')) throw Object.assign(new Error('@nats-io is not installed (test hook)'), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}\`));
`)}`;

function node(script: string, args: string[], extra: string[] = []): string {
  return execFileSync(process.execPath, [...extra, '--input-type=module', '-e', script, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
}

describe('synapse/nats through package.json exports', () => {
  it('loads with plain node: the factories check their options, the codec round-trips', () => {
    const out = node(
      `
import { natsFront, natsHost, encodeHopFrame, decodeHopFrame, HOP_VERSION } from 'synapse/nats';
const front = natsFront({ servers: 'nats://127.0.0.1:1', namespace: 'ns' });
let bad; try { natsHost({ servers: 'nats://127.0.0.1:1', namespace: 'a.b', hostId: 'h' }); } catch (e) { bad = e.code + ':' + e.details.option; }
const frame = decodeHopFrame(encodeHopFrame({ t: 'cancel', id: 'r', reason: 'SYN_ERR_TIMEOUT' }));
console.log(JSON.stringify({ kind: front.kind, bad, frame, HOP_VERSION }));
`,
      [],
    );
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ kind: 'nats', bad: 'SYN_ERR_INVALID_OPTION:namespace', frame: { t: 'cancel', id: 'r', reason: 'SYN_ERR_TIMEOUT' }, HOP_VERSION: 1 });
  });

  it("without @nats-io: 'synapse' imports and a system starts and stops; 'synapse/nats' fails to load", () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synapse-nonats-'));
    try {
      const out = node(
        `
import { Synapse } from 'synapse';
const system = await Synapse.start({ logLevel: 'silent', stateDir: process.argv[1], metrics: false });
await system.stop();
let nats;
try { await import('synapse/nats'); nats = 'loaded'; } catch (e) { nats = e.message; }
console.log(JSON.stringify({ core: 'ok', nats }));
`,
        [stateDir],
        ['--import', NO_NATS_HOOK],
      );
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ core: 'ok', nats: expect.stringContaining('@nats-io is not installed') });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
