/**
 * The package as a user imports it: plain `node` (no tsx, no `#synapse` alias) resolving
 * `synapse` and `synapse/testing` through package.json `exports` to the compiled `dist/`, then
 * driving a real Python agent through the public API.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleRef, REPO_ROOT } from '../helpers/python.ts';

const SCRIPT = `
import { Synapse, SynapseError } from 'synapse';
import { SimulatedClock, faultSchedule, chaos, assertNoLeakedPids } from 'synapse/testing';
const system = await Synapse.start({ logLevel: 'silent', stateDir: process.argv[2] });
await system.spawnAgent({ id: 'support', agent: process.argv[1] });
const r = await system.sendMessage('support', { prompt: 'where is order 42?' }, { conversationId: 'c1' });
let code;
try { await system.sendMessage('nobody', { prompt: 'x' }); } catch (e) { code = e instanceof SynapseError ? e.code : String(e); }
const status = system.agentStatus('support');
await system.stop();
assertNoLeakedPids();
console.log(JSON.stringify({ output: r.output, turns: r.messages.length > 0, code, state: status.state,
  kit: [typeof SimulatedClock, typeof faultSchedule, typeof chaos] }));
`;

describe('the published entry points (dist/ via package.json exports)', () => {
  beforeAll(() => {
    // dist/ is built by the setup step the README commands run; make sure it is current here too.
    execFileSync(process.execPath, [`${REPO_ROOT}scripts/setup.mjs`, '--quiet'], { cwd: REPO_ROOT, stdio: 'inherit' });
  }, 120_000);

  it("import 'synapse' and 'synapse/testing' with plain node: a real agent answers, errors are coded", () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synapse-package-'));
    let out: string;
    try {
      out = execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT, exampleRef('support.py', 'agent'), stateDir], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(result).toEqual({
      output: expect.stringContaining('order 42'),
      turns: true,
      code: 'SYN_ERR_NO_AGENT',
      state: 'ready',
      kit: ['function', 'function', 'function'],
    });
  }, 90_000);
});
