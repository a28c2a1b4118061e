/**
 * Which Python interpreter a worker runs: the documented resolution order (docs/install.md),
 * the same for the library, `npx synapse doctor` and every error that says what was tried.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synErr } from '../errors.ts';

/** The step that supplies a candidate interpreter, in the order they are tried. */
export type PythonStep = 'option' | 'SYNAPSE_PYTHON' | 'VIRTUAL_ENV' | 'app-venv' | 'package-venv';

/** Human names of the {@link PythonStep}s (used in errors and by `npx synapse doctor`). */
export const PYTHON_STEP_LABELS: Readonly<Record<PythonStep, string>> = Object.freeze({
  option: 'python.executable option',
  SYNAPSE_PYTHON: 'env SYNAPSE_PYTHON',
  VIRTUAL_ENV: 'active virtualenv (env VIRTUAL_ENV)',
  'app-venv': "the app's .venv (cwd, or env UV_PROJECT_ENVIRONMENT)",
  'package-venv': "the package's own .venv (dev checkout)",
});

/** The step that creates an interpreter Synapse finds (named by every "not found" error). */
export const PYTHON_SETUP_COMMAND = 'npx synapse python setup';

/** One step of the lookup that did not give an interpreter. */
export interface PythonMiss {
  readonly step: PythonStep;
  /** The candidate path, or undefined when the step's source (option, variable) is not set. */
  readonly path: string | undefined;
  readonly reason: string;
}

/** The outcome of {@link resolvePython}. */
export interface PythonResolution {
  /** The interpreter to spawn. */
  readonly executable: string;
  /** Which step supplied it. */
  readonly step: PythonStep;
  /** The earlier steps that missed, in order. */
  readonly tried: readonly PythonMiss[];
}

/** Inputs of {@link resolvePython}; each defaults to the live process's value. */
export interface PythonLookup {
  /** The `python.executable` option. */
  readonly explicit?: string | undefined;
  /** Environment read for `SYNAPSE_PYTHON`, `VIRTUAL_ENV`, `UV_PROJECT_ENVIRONMENT`. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The app directory whose `.venv` is tried. Default: `process.cwd()`. */
  readonly cwd?: string;
  /** Root of the Synapse package (its `.venv` is the dev layout). Default: this module's package. */
  readonly packageRoot?: string;
  /** Target platform (decides `bin/python` vs `Scripts/python.exe`). Default: `process.platform`. */
  readonly platform?: NodeJS.Platform;
}

/** Root of this package, resolved relative to this module (src/process/ or dist/process/). */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** The interpreter inside a venv directory (`bin/python`, or `Scripts\python.exe` on Windows). */
export function venvPython(venvDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? join(venvDir, 'Scripts', 'python.exe') : join(venvDir, 'bin', 'python');
}

/** `<package root>/.venv/bin/python`: the dev checkout's interpreter (the last step of {@link resolvePython}). */
export function defaultPythonPath(): string {
  return venvPython(join(packageRoot(), '.venv'));
}

/** Why `path` is not a usable interpreter, or undefined when it is one. */
function unusable(path: string): string | undefined {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return 'does not exist';
  if (stat.isDirectory()) return 'is a directory';
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return 'is not executable';
  }
  return undefined;
}

/**
 * Finds the interpreter, trying in order: the `python.executable` option, env
 * `SYNAPSE_PYTHON`, an active virtualenv (`$VIRTUAL_ENV`), the app's `.venv` (in `cwd`, or
 * `$UV_PROJECT_ENVIRONMENT` for a uv project that moved it), then the package's own `.venv`
 * (the dev layout of this repo). The first two are explicit: if set but unusable, the lookup
 * stops there rather than silently using another interpreter.
 *
 * @throws SYN_ERR_PYTHON_NOT_FOUND listing every step and why it missed (`details.tried`), and
 *   naming `npx synapse python setup`.
 * @example
 * ```ts
 * const { executable, step } = resolvePython(); // e.g. { executable: '/app/.venv/bin/python', step: 'app-venv' }
 * ```
 */
export function resolvePython(lookup: PythonLookup = {}): PythonResolution {
  const env = lookup.env ?? process.env;
  const cwd = lookup.cwd ?? process.cwd();
  const platform = lookup.platform ?? process.platform;
  const tried: PythonMiss[] = [];
  const explicit: [PythonStep, string | undefined][] = [
    ['option', lookup.explicit],
    ['SYNAPSE_PYTHON', env.SYNAPSE_PYTHON || undefined],
  ];
  for (const [step, path] of explicit) {
    if (path === undefined) {
      tried.push({ step, path, reason: 'not set' });
      continue;
    }
    const reason = unusable(path);
    if (reason === undefined) return { executable: path, step, tried };
    tried.push({ step, path, reason });
    throw notFound(tried, path);
  }
  const uvEnv = env.UV_PROJECT_ENVIRONMENT || undefined;
  const discovered: [PythonStep, string | undefined][] = [
    ['VIRTUAL_ENV', env.VIRTUAL_ENV ? venvPython(env.VIRTUAL_ENV, platform) : undefined],
    ['app-venv', venvPython(uvEnv === undefined ? join(cwd, '.venv') : isAbsolute(uvEnv) ? uvEnv : resolve(cwd, uvEnv), platform)],
    ['package-venv', venvPython(join(lookup.packageRoot ?? packageRoot(), '.venv'), platform)],
  ];
  for (const [step, path] of discovered) {
    if (path === undefined) {
      tried.push({ step, path, reason: 'not set' });
      continue;
    }
    // In this repo the app's .venv and the package's are one directory: try it once.
    if (tried.some((m) => m.path === path)) continue;
    const reason = unusable(path);
    if (reason === undefined) return { executable: path, step, tried };
    tried.push({ step, path, reason });
  }
  throw notFound(tried, undefined);
}

function notFound(tried: readonly PythonMiss[], executable: string | undefined): Error {
  const list = tried.map((m, i) => `${i + 1}. ${PYTHON_STEP_LABELS[m.step]}: ${m.path === undefined ? m.reason : `${m.path} ${m.reason}`}`).join('; ');
  const what = executable === undefined ? 'No Python interpreter found' : `Python interpreter not usable: ${executable}`;
  return synErr(
    'SYN_ERR_PYTHON_NOT_FOUND',
    `${what} (tried ${list}). Run \`${PYTHON_SETUP_COMMAND}\` in your app directory (creates ./.venv with synapse-bridge and pydantic-ai), or set SYNAPSE_PYTHON / python.executable to an interpreter that has synapse-bridge installed`,
    { ...(executable === undefined ? {} : { executable }), tried },
  );
}

/**
 * The interpreter to spawn: {@link resolvePython}`({ explicit })`'s executable.
 *
 * @throws SYN_ERR_PYTHON_NOT_FOUND if no step gives a usable interpreter.
 */
export function findPython(explicit?: string): string {
  return resolvePython({ explicit }).executable;
}
