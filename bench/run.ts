/**
 * `npm run bench`: every benchmark in sequence, each in its own Node process (so one bench's
 * heap, timers and children never skew the next), after the bench-only dependencies are set
 * up (`bench/setup.mjs`). Benches that do not exist yet are skipped with a note.
 *
 * Usage: `tsx bench/run.ts [--quick]` — `--quick` sets `BENCH_QUICK=1` (smaller sizes) for every bench.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bench = dirname(fileURLToPath(import.meta.url));
const root = join(bench, '..');
/** In order: cheapest first, the long side-by-side agent bench last. */
const BENCHES = ['actor.ts', 'supervisor.ts', 'bridge.ts', 'restart.ts', 'zygote.ts', 'stop.ts', 'reliability.ts', 'observability.ts', 'distributed.ts', 'provider.ts', 'agents.ts'];
const env = { ...process.env, ...(process.argv.includes('--quick') ? { BENCH_QUICK: '1' } : {}) };

const setup = spawnSync(process.execPath, [join(bench, 'setup.mjs'), '--quiet'], { cwd: root, stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);

let failed = 0;
for (const name of BENCHES) {
  const file = join(bench, name);
  if (!existsSync(file)) {
    process.stdout.write(`\n<!-- bench/${name}: not present, skipped -->\n`);
    continue;
  }
  process.stderr.write(`\n[bench] ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`[bench] ${name} failed (exit ${r.status ?? r.signal})\n`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
