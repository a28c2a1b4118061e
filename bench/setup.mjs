#!/usr/bin/env node
// Idempotent bootstrap of the bench-only dependencies (the rivals Synapse is compared with),
// kept apart from the library's own so they can never become library dependencies:
//   1. bench/node_modules from bench/package.json (python-shell);
//   2. bench/.venv with bench/requirements.txt (fastapi + uvicorn + the library's pinned pydantic-ai).
// Each step records a stamp and is skipped when nothing changed. `--quiet` prints only on work.
// Needs the library's venv first (`node scripts/setup.mjs`): its base interpreter is reused.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bench = dirname(fileURLToPath(import.meta.url));
const root = join(bench, '..');
const quiet = process.argv.includes('--quiet');
const say = (m) => { if (!quiet) console.log(`[bench setup] ${m}`); };
const run = (cmd, args, opts = {}) => {
  console.log(`[bench setup] ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: bench, stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) { console.error(`[bench setup] failed: ${cmd} ${args.join(' ')}`); process.exit(r.status ?? 1); }
};
const hashOf = (...files) => { const h = createHash('sha256'); for (const f of files) h.update(readFileSync(f)); return h.digest('hex'); };

// 1. npm (bench/package.json)
const npmStamp = join(bench, 'node_modules', '.synapse-bench-stamp');
const npmHash = hashOf(join(bench, 'package.json'));
if (!existsSync(npmStamp) || readFileSync(npmStamp, 'utf8') !== npmHash) {
  run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock']);
  writeFileSync(npmStamp, npmHash);
} else say('bench npm dependencies up to date');

// 2. bench/.venv
const libPython = join(root, '.venv', 'bin', 'python');
if (!existsSync(libPython)) { console.error('[bench setup] run `node scripts/setup.mjs` first (no .venv)'); process.exit(1); }
const venv = join(bench, '.venv');
const venvPython = join(venv, 'bin', 'python');
const pyStamp = join(venv, '.synapse-bench-stamp');
const pyHash = hashOf(join(bench, 'requirements.txt'), join(root, 'python-bridge', 'requirements.txt'));
if (!existsSync(pyStamp) || readFileSync(pyStamp, 'utf8') !== pyHash || !existsSync(venvPython)) {
  if (!existsSync(venvPython)) {
    // The real interpreter behind the library venv (not a pyenv shim), so both run the same Python.
    const base = execFileSync(libPython, ['-c', 'import sys; print(sys._base_executable)'], { encoding: 'utf8' }).trim();
    run(base, ['-m', 'venv', venv]);
  }
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', 'requirements.txt']);
  writeFileSync(pyStamp, pyHash);
} else say('bench venv up to date');
