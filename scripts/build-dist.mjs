#!/usr/bin/env node
// Compiles src/ to dist/ (what `import 'synapse'` and `synapse/testing` resolve to) when any file
// under src/ or the build config changed since the last build (a content hash, not mtimes).
// Run by scripts/setup.mjs and by npm's `prepare` (so a plain `npm install` of the repo, or of
// the package from git, leaves a usable dist/). `--force` rebuilds regardless.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const stamp = join(root, 'dist', '.synapse-stamp');
const srcFiles = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile())
  .map((d) => join(d.parentPath ?? d.path, d.name).slice(root.length + 1))
  .sort();
const h = createHash('sha256');
for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json', ...srcFiles]) {
  h.update(f);
  h.update(readFileSync(join(root, f)));
}
const hash = h.digest('hex');
if (!process.argv.includes('--force') && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) {
  if (!quiet) console.log('[build-dist] dist up to date');
} else {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  console.log(`[build-dist] ${process.execPath} ${tsc} -p tsconfig.build.json`);
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('[build-dist] failed');
    process.exit(r.status ?? 1);
  }
  writeFileSync(stamp, hash);
}
