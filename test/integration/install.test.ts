/**
 * Synapse installed as a dependency, the way the README's "Installing into your app" tells a
 * user: `npm pack` → `npm install <tarball>` into a fresh app, `npx synapse python setup`,
 * the README's agent.py and app.mjs (taken from the README itself), a real turn, and
 * `npx synapse doctor`. Slow (a venv with pydantic-ai is created): one file, generous timeouts.
 * The wheels pip needs are downloaded once into `$TMPDIR/synapse-test-wheels` and reused by
 * later runs (pip then installs offline from there), as a pip cache would for a user.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.ts';
import { REPO_ROOT } from '../helpers/python.ts';

const work = mkdtempSync(join(tmpdir(), 'synapse-install-'));
const app = join(work, 'app');
// The user's shell: no interpreter chosen for Synapse, no active venv; the offline guard on.
const WHEELS = join(tmpdir(), 'synapse-test-wheels');
const env: Record<string, string> = { PIP_FIND_LINKS: WHEELS, PIP_NO_INDEX: '1', SYNAPSE_ALLOW_MODEL_REQUESTS: '0' };
for (const [k, val] of Object.entries(process.env)) {
  if (val !== undefined && !['SYNAPSE_PYTHON', 'VIRTUAL_ENV', 'UV_PROJECT_ENVIRONMENT', 'PYTHONPATH', 'SYNAPSE_LOG_LEVEL', 'NODE_OPTIONS'].includes(k) && !(k in env)) env[k] = val;
}

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its exit, asynchronously (a blocking spawnSync would starve vitest's worker RPC). */
function sh(command: string, args: string[], cwd = app, timeout = 240_000, withEnv: Record<string, string> = env): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: withEnv, timeout, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function ok(ran: Promise<Ran>, what: string): Promise<Ran> {
  const r = await ran;
  if (r.status !== 0) throw new Error(`${what} exited ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

/** The README section's code blocks: its shell commands and the files it asks the user to write. */
function readmeSection(): { commands: string; files: Map<string, string> } {
  const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
  const section = readme.split('\n## Installing into your app\n')[1]?.split('\n## ')[0] ?? '';
  const files = new Map<string, string>();
  let commands = '';
  for (const [, lang, body] of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    if (lang === 'sh') commands += body;
    const name = /^(?:#|\/\/) (\S+\.\w+)\n/.exec(body ?? '')?.[1];
    if (name !== undefined) files.set(name, body ?? '');
  }
  return { commands, files };
}

beforeAll(async () => {
  // dist/ as `prepack` builds it (hash-stamped, so usually a no-op); packed without re-running it.
  await ok(sh(process.execPath, [`${REPO_ROOT}scripts/build-dist.mjs`, '--quiet'], REPO_ROOT), 'build-dist');
  const packed = await ok(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], REPO_ROOT), 'npm pack');
  const tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  // The wheels `python setup` installs (pins, and setuptools to build the bridge), for the
  // interpreter it will pick; fetched from the index once per machine and requirements set.
  const requirements = `${REPO_ROOT}python-bridge/requirements.txt`;
  const complete = join(WHEELS, `.complete-${createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 16)}`);
  if (!existsSync(complete)) {
    const base = env.SYNAPSE_BOOTSTRAP_PYTHON || 'python3';
    await ok(sh(base, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '-d', WHEELS, '-r', requirements, 'setuptools>=68'], REPO_ROOT, 300_000, { ...env, PIP_NO_INDEX: '0', PIP_FIND_LINKS: '' }), 'pip download');
    writeFileSync(complete, '');
  }
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'my-app', private: true, type: 'module' }, null, 2)}\n`);
  await ok(sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball]), 'npm install <tarball>');
  for (const [name, body] of readmeSection().files) writeFileSync(join(app, name), body);
}, 420_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('installed into an app from the packed tarball', () => {
  it('README section: the commands it lists are the ones run here, and it gives agent.py and app.mjs', async () => {
    const { commands, files } = readmeSection();
    expect(commands).toContain('npm install synapse');
    expect(commands).toContain('npx synapse python setup');
    expect(commands).toContain('npx synapse doctor agent.py:agent');
    expect(commands).toContain('node app.mjs');
    expect([...files.keys()].sort()).toEqual(['agent.py', 'app.mjs']);
    const bin = await sh('npx', ['synapse', '--help']);
    expect(bin.status).toBe(0);
    expect(bin.stdout).toContain('python setup');
  });

  it('before setup: SYN_ERR_PYTHON_NOT_FOUND lists the places tried and names `npx synapse python setup`', async () => {
    const r = await sh(process.execPath, ['app.mjs'], app, 60_000);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('SYN_ERR_PYTHON_NOT_FOUND');
    expect(r.stderr).toContain('npx synapse python setup');
    expect(r.stderr).toContain(join(app, '.venv', 'bin', 'python'));
    expect(r.stderr).not.toContain('scripts/setup.mjs');
  }, 60_000);

  it('`npx synapse python setup`, then the README app answers, doctor is happy; a second setup does nothing', async () => {
    const setup = await ok(sh('npx', ['synapse', 'python', 'setup']), 'npx synapse python setup');
    expect(setup.stdout).toContain(`ready: ${join(app, '.venv', 'bin', 'python')} (synapse-bridge ${VERSION}, pydantic-ai `);
    expect(existsSync(join(app, 'node_modules', 'synapse', 'python-bridge', 'build'))).toBe(false); // built from a copy

    const turn = await ok(sh(process.execPath, ['app.mjs'], app, 60_000), 'node app.mjs');
    expect(turn.stdout.trim().split('\n').at(-1)).toBe('Hello from Python');

    const doctor = await ok(sh('npx', ['synapse', 'doctor', 'agent.py:agent'], app, 90_000), 'npx synapse doctor');
    expect(doctor.stdout).toContain(`interpreter  ${join(app, '.venv', 'bin', 'python')}`);
    expect(doctor.stdout).toContain("found by     the app's .venv");
    expect(doctor.stdout).toContain(`bridge       synapse-bridge ${VERSION} (matches synapse ${VERSION})`);
    expect(doctor.stdout).toMatch(/pydantic-ai {2}\d+\.\d+/);
    expect(doctor.stdout).toContain('agent        agent.py:agent: ok');

    const bad = await sh('npx', ['synapse', 'doctor', 'agent.py:nope'], app, 90_000);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('agent.py:nope: FAILED (SYN_ERR_STARTUP_FAILED)');
    expect(bad.stderr).toContain("has no attribute 'nope'");

    const again = await ok(sh('npx', ['synapse', 'python', 'setup']), 'second npx synapse python setup');
    expect(again.stdout).toContain('is up to date');
    expect(again.stderr).not.toContain('pip');
  }, 300_000);
});
