#!/usr/bin/env node
// Idempotent bootstrap for a fresh machine with only Node >= 20 and Python >= 3.11:
//   1. npm dependencies (npm ci when node_modules is missing or older than the lock file);
//   2. a Python venv at .venv with the pinned requirements and python-bridge installed;
//   3. dist/ (the compiled package: what `import 'synapse'` and `synapse/testing` resolve to).
// Each step records a stamp and is skipped when nothing changed. `--quiet` prints only on work.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const say = (m) => { if (!quiet) console.log(`[setup] ${m}`); };
const run = (cmd, args, opts = {}) => {
  console.log(`[setup] ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) { console.error(`[setup] failed: ${cmd} ${args.join(' ')}`); process.exit(r.status ?? 1); }
};
const hashOf = (...files) => { const h = createHash('sha256'); for (const f of files) h.update(readFileSync(join(root, f))); return h.digest('hex'); };

// 1. npm
const lock = join(root, 'package-lock.json');
const npmStamp = join(root, 'node_modules', '.synapse-stamp');
const npmHash = hashOf('package-lock.json');
if (!existsSync(npmStamp) || readFileSync(npmStamp, 'utf8') !== npmHash) {
  // `npm install` (not `npm ci`): npm 11.19's ci rejects locks that omit other platforms' optional rollup binaries.
  run('npm', ['install', '--no-audit', '--no-fund']);
  writeFileSync(npmStamp, npmHash);
} else say('npm dependencies up to date');
void lock; void statSync;

// 2. Python venv with the pinned requirements
const venv = join(root, '.venv');
const venvPython = join(venv, 'bin', 'python');
const pyStamp = join(venv, '.synapse-stamp');
const pyHash = hashOf('python-bridge/requirements.txt', 'python-bridge/requirements-dev.txt', 'python-bridge/pyproject.toml');
if (!existsSync(pyStamp) || readFileSync(pyStamp, 'utf8') !== pyHash || !existsSync(venvPython)) {
  if (!existsSync(venvPython)) {
    const candidates = [process.env.SYNAPSE_BOOTSTRAP_PYTHON, 'python3.11', 'python3', 'python'].filter(Boolean);
    let base;
    for (const c of candidates) {
      try {
        // Resolve the real interpreter (not a pyenv shim) and check the version.
        const out = execFileSync(c, ['-c', 'import sys; print(sys.executable); print(sys.version_info >= (3, 11))'], { encoding: 'utf8' }).trim().split('\n');
        if (out[1] === 'True') { base = out[0]; break; }
      } catch { /* try the next candidate */ }
    }
    if (!base) { console.error('[setup] need Python >= 3.11 on PATH (or SYNAPSE_BOOTSTRAP_PYTHON)'); process.exit(1); }
    run(base, ['-m', 'venv', venv]);
  }
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', 'python-bridge/requirements.txt', '-r', 'python-bridge/requirements-dev.txt']);
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '-e', 'python-bridge']);
  writeFileSync(pyStamp, pyHash);
} else say('python venv up to date');

// 3. dist/ (scripts/build-dist.mjs: rebuilt only when src/ or the build config changed)
{
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-dist.mjs'), ...(quiet ? ['--quiet'] : [])], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
