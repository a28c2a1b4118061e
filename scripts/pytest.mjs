#!/usr/bin/env node
// Runs the python-bridge pytest suite in the project venv.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const r = spawnSync(join(root, '.venv', 'bin', 'python'), ['-m', 'pytest', '-q', ...process.argv.slice(2)], {
  cwd: join(root, 'python-bridge'),
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
