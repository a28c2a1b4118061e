// The interpreter lookup order (src/process/interpreter.ts), step by step, on fake directories
// holding executable stubs: each step hit, each miss listed (and why) in SYN_ERR_PYTHON_NOT_FOUND.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import type { SynapseError } from '../../../src/errors.ts';
import { resolvePython } from '../../../src/process/interpreter.ts';
import type { PythonLookup, PythonStep } from '../../../src/process/interpreter.ts';

const root = mkdtempSync(join(tmpdir(), 'synapse-interp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake venv `<root>/<name>` whose bin/python is an executable stub (or a plain file if `exec` is false). */
function venv(name: string, exec = true): { dir: string; python: string } {
  const dir = join(root, name);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const python = join(dir, 'bin', 'python');
  writeFileSync(python, '#!/bin/sh\n');
  chmodSync(python, exec ? 0o755 : 0o644);
  return { dir, python };
}

const explicitPy = venv('explicit').python;
const envPy = venv('env').python;
const active = venv('active');
const app = venv('app/.venv');
const uv = venv('app/custom-env');
const pkg = venv('pkg/.venv');
const broken = venv('broken', false);
const emptyApp = join(root, 'empty-app');
mkdirSync(emptyApp, { recursive: true });

const APP = join(root, 'app');
const PKG = join(root, 'pkg');
const NO_PKG = join(root, 'no-pkg');

function lookup(over: Partial<PythonLookup> & { env?: Record<string, string> }): PythonLookup {
  return { cwd: APP, packageRoot: PKG, platform: 'linux', env: {}, ...over };
}

function notFound(l: PythonLookup): SynapseError {
  try {
    resolvePython(l);
  } catch (error) {
    if (isSynapseError(error, 'SYN_ERR_PYTHON_NOT_FOUND')) return error;
    throw error;
  }
  throw new Error('expected SYN_ERR_PYTHON_NOT_FOUND');
}

describe('resolvePython: the documented order', () => {
  const hits: [string, PythonLookup, string, PythonStep, PythonStep[]][] = [
    ['the python.executable option beats everything', lookup({ explicit: explicitPy, env: { SYNAPSE_PYTHON: envPy, VIRTUAL_ENV: active.dir } }), explicitPy, 'option', []],
    ['SYNAPSE_PYTHON next', lookup({ env: { SYNAPSE_PYTHON: envPy, VIRTUAL_ENV: active.dir } }), envPy, 'SYNAPSE_PYTHON', ['option']],
    ['an empty SYNAPSE_PYTHON counts as unset', lookup({ env: { SYNAPSE_PYTHON: '', VIRTUAL_ENV: active.dir } }), active.python, 'VIRTUAL_ENV', ['option', 'SYNAPSE_PYTHON']],
    ['then an active virtualenv', lookup({ env: { VIRTUAL_ENV: active.dir } }), active.python, 'VIRTUAL_ENV', ['option', 'SYNAPSE_PYTHON']],
    ["a VIRTUAL_ENV without an interpreter is a miss, not an error: the app's .venv", lookup({ env: { VIRTUAL_ENV: join(root, 'gone') } }), app.python, 'app-venv', ['option', 'SYNAPSE_PYTHON', 'VIRTUAL_ENV']],
    ["then the app's ./.venv (cwd)", lookup({}), app.python, 'app-venv', ['option', 'SYNAPSE_PYTHON', 'VIRTUAL_ENV']],
    ['a uv project that moved its env (UV_PROJECT_ENVIRONMENT, relative to cwd)', lookup({ env: { UV_PROJECT_ENVIRONMENT: 'custom-env' } }), uv.python, 'app-venv', ['option', 'SYNAPSE_PYTHON', 'VIRTUAL_ENV']],
    ["last, the package's own .venv (dev checkout)", lookup({ cwd: emptyApp }), pkg.python, 'package-venv', ['option', 'SYNAPSE_PYTHON', 'VIRTUAL_ENV', 'app-venv']],
    ['in the repo itself app and package .venv are one directory, tried once', lookup({ cwd: PKG }), pkg.python, 'app-venv', ['option', 'SYNAPSE_PYTHON', 'VIRTUAL_ENV']],
  ];
  it.each(hits)('%s', (_name, l, executable, step, missed) => {
    const r = resolvePython(l);
    expect(r).toMatchObject({ executable, step });
    expect(r.tried.map((m) => m.step)).toEqual(missed);
  });

  it('Windows venvs: Scripts\\python.exe', () => {
    const win = join(root, 'win');
    mkdirSync(join(win, '.venv', 'Scripts'), { recursive: true });
    writeFileSync(join(win, '.venv', 'Scripts', 'python.exe'), '');
    chmodSync(join(win, '.venv', 'Scripts', 'python.exe'), 0o755);
    expect(resolvePython(lookup({ cwd: win, platform: 'win32' })).executable).toBe(join(win, '.venv', 'Scripts', 'python.exe'));
  });
});

describe('resolvePython: misses', () => {
  it('nothing anywhere: every step listed with its path and reason, and the setup command named', () => {
    const error = notFound(lookup({ cwd: emptyApp, packageRoot: NO_PKG, env: { VIRTUAL_ENV: join(root, 'gone') } }));
    expect(error.details.executable).toBeUndefined();
    expect(error.details.tried).toEqual([
      { step: 'option', path: undefined, reason: 'not set' },
      { step: 'SYNAPSE_PYTHON', path: undefined, reason: 'not set' },
      { step: 'VIRTUAL_ENV', path: join(root, 'gone', 'bin', 'python'), reason: 'does not exist' },
      { step: 'app-venv', path: join(emptyApp, '.venv', 'bin', 'python'), reason: 'does not exist' },
      { step: 'package-venv', path: join(NO_PKG, '.venv', 'bin', 'python'), reason: 'does not exist' },
    ]);
    expect(error.message).toContain('npx synapse python setup');
    expect(error.message).toContain(join(emptyApp, '.venv', 'bin', 'python'));
    expect(error.message).toContain('VIRTUAL_ENV');
  });

  it('an explicit option or SYNAPSE_PYTHON that is unusable stops the lookup (no silent fallback)', () => {
    const opt = notFound(lookup({ explicit: join(root, 'nope', 'python') }));
    expect(opt.details).toMatchObject({ executable: join(root, 'nope', 'python'), tried: [{ step: 'option', reason: 'does not exist' }] });
    const env = notFound(lookup({ env: { SYNAPSE_PYTHON: broken.python } }));
    expect(env.details).toMatchObject({ executable: broken.python, tried: [{ step: 'option' }, { step: 'SYNAPSE_PYTHON', reason: 'is not executable' }] });
    expect(env.message).toContain('npx synapse python setup');
    const dir = notFound(lookup({ explicit: root }));
    expect((dir.details.tried as { reason: string }[])[0]?.reason).toBe('is a directory');
  });

  it('a non-executable .venv/bin/python is a miss with its reason', () => {
    const brokenApp = join(root, 'broken-app2');
    mkdirSync(join(brokenApp, '.venv', 'bin'), { recursive: true });
    writeFileSync(join(brokenApp, '.venv', 'bin', 'python'), '');
    const e2 = notFound(lookup({ cwd: brokenApp, packageRoot: NO_PKG }));
    expect((e2.details.tried as { step: string; reason: string }[])[3]).toMatchObject({ step: 'app-venv', reason: 'is not executable' });
  });
});
