// Core runs without the optional peer `@opentelemetry/api` (issue #15 §2): a child Node process
// with the package made unresolvable (test/fixtures/no-otel/hide-otel.cjs) runs real turns,
// plain and streamed, and its turn tracer reports the API absent.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from '../../helpers/system.ts';

const HIDE = fileURLToPath(new URL('../../fixtures/no-otel/hide-otel.cjs', import.meta.url));
const CHILD = fileURLToPath(new URL('../../fixtures/no-otel/turn.ts', import.meta.url));

describe('without @opentelemetry/api installed', () => {
  it('turns run and nothing is traced', async () => {
    const state = tempDir('synapse-no-otel-');
    try {
      const child = spawn(process.execPath, ['--require', HIDE, '--import', 'tsx', CHILD, state.dir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect({ code, err }).toEqual({ code: 0, err: '' });
      expect(JSON.parse(out)).toEqual({ enabled: false, output: 'turns=1', streamed: 'turns=2' });
    } finally {
      state.remove();
    }
  }, 120_000);
});
