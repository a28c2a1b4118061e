/**
 * `npx synapse python setup`: creates or updates a venv with the synapse-bridge bundled in this
 * package (`python-bridge/`) and its pinned dependencies (`python-bridge/requirements.txt`).
 * A stamp in the venv records what was installed, so a second run with nothing changed
 * spawns nothing.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { packageRoot, PYTHON_SETUP_COMMAND, venvPython } from '../process/interpreter.ts';
import { VERSION } from '../version.ts';
import { CliError } from './io.ts';
import type { CliIo } from './io.ts';

/** Options of {@link pythonSetup} (the command line's flags). */
export interface PythonSetupOptions {
  /** The venv directory, relative to the app directory. */
  readonly venv: string;
  /** pydantic-ai-slim extras to install as well (e.g. `openai`). */
  readonly extras: readonly string[];
  /** Base interpreter used to create the venv. Default: env `SYNAPSE_BOOTSTRAP_PYTHON`, else `python3`, `python`. */
  readonly python?: string;
}

/** What the stamp file in the venv records. */
interface Stamp {
  readonly hash: string;
  readonly extras: readonly string[];
}

/** The stamp file's name inside the venv. */
export const SETUP_STAMP = '.synapse-setup.json';
const EXTRA = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PIP = ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet'];

/**
 * Creates `options.venv` if missing (from a Python >= 3.11), then installs the pinned
 * requirements, the requested extras and the bundled bridge, unless the stamp says all of it
 * is there already.
 *
 * @throws CliError naming what is missing and the step that fixes it.
 */
export async function pythonSetup(options: PythonSetupOptions, io: CliIo): Promise<void> {
  for (const extra of options.extras) if (!EXTRA.test(extra)) throw new CliError(`--extra ${JSON.stringify(extra)} is not a pydantic-ai-slim extra name (e.g. openai, anthropic, google)`);
  const root = packageRoot();
  const bridgeDir = join(root, 'python-bridge');
  if (!existsSync(join(bridgeDir, 'pyproject.toml'))) throw new CliError(`${bridgeDir} is missing: the synapse package is incomplete; reinstall it (npm install synapse)`);
  const venvDir = resolve(io.cwd, options.venv);
  if (venvDir === join(root, '.venv') && !root.split(/[\\/]/).includes('node_modules')) {
    throw new CliError(`${venvDir} is this checkout's development venv; it is managed by \`npm run setup\` (which installs the bridge editable)`);
  }
  const python = venvPython(venvDir);
  const shown = relative(io.cwd, venvDir) || '.';
  const hash = inputsHash(bridgeDir);
  const stamp = readStamp(join(venvDir, SETUP_STAMP));
  const extras = [...new Set([...(stamp?.hash === hash ? stamp.extras : []), ...options.extras])].sort();
  if (existsSync(python) && stamp?.hash === hash && options.extras.every((e) => stamp.extras.includes(e))) {
    io.out(`${shown} is up to date (synapse-bridge ${VERSION}${stamp.extras.length > 0 ? `, extras: ${stamp.extras.join(', ')}` : ''}): nothing to do`);
    return;
  }

  if (existsSync(python)) {
    pythonVersion(python, `${python} (the existing venv) is not a working Python >= 3.11: remove ${venvDir} and run \`${PYTHON_SETUP_COMMAND}\` again`);
    io.out(`updating ${shown} (${python})`);
  } else {
    const base = baseInterpreter(options.python, io);
    io.out(`creating ${shown} with ${base}`);
    run(io, base, ['-m', 'venv', venvDir], `could not create a venv at ${venvDir}`);
  }
  if (spawnSync(python, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status !== 0) {
    // A venv made by `uv venv` has no pip.
    run(io, python, ['-m', 'ensurepip', '--default-pip'], `${python} has no pip and ensurepip failed; install pip into it, or pass another --venv`);
  }
  const requirements = join(bridgeDir, 'requirements.txt');
  const pin = /^pydantic-ai-slim==(\S+)/m.exec(readFileSync(requirements, 'utf8'))?.[1];
  const extraSpec = extras.length > 0 && pin !== undefined ? [`pydantic-ai-slim[${extras.join(',')}]==${pin}`] : [];
  io.out(`installing the pinned requirements${extras.length > 0 ? ` with pydantic-ai-slim extras: ${extras.join(', ')}` : ''}`);
  run(io, python, [...PIP, '-r', requirements, ...extraSpec], 'pip could not install the pinned requirements (see its output above; network or index problems are the usual cause)');

  // pip builds a local project in place; build from a copy so node_modules stays untouched.
  const build = mkdtempSync(join(tmpdir(), 'synapse-bridge-'));
  try {
    cpSync(join(bridgeDir, 'pyproject.toml'), join(build, 'pyproject.toml'));
    cpSync(join(bridgeDir, 'synapse_bridge'), join(build, 'synapse_bridge'), { recursive: true, filter: (src) => !src.includes('__pycache__') });
    io.out(`installing synapse-bridge ${VERSION} from ${bridgeDir}`);
    run(io, python, [...PIP, '--no-deps', '--force-reinstall', build], 'pip could not install synapse-bridge (see its output above)');
  } finally {
    rmSync(build, { recursive: true, force: true });
  }

  const check = spawnSync(python, ['-c', 'import importlib.metadata as m, synapse_bridge; print(synapse_bridge.__version__); print(m.version("pydantic-ai-slim"))'], { encoding: 'utf8' });
  const [bridge, pydanticAi] = check.stdout.trim().split('\n');
  if (check.status !== 0 || bridge !== VERSION) {
    throw new CliError(`the venv does not import synapse-bridge ${VERSION} after installing it (got ${bridge ?? check.stderr.trim()}); remove ${venvDir} and run \`${PYTHON_SETUP_COMMAND}\` again`);
  }
  writeFileSync(join(venvDir, SETUP_STAMP), `${JSON.stringify({ hash, extras } satisfies Stamp)}\n`);
  io.out(`ready: ${python} (synapse-bridge ${bridge}, pydantic-ai ${pydanticAi})`);
  const found = venvDir === resolve(io.cwd, '.venv');
  io.out(
    found
      ? 'Synapse uses it when Node runs in this directory (no setting needed); check with `npx synapse doctor`.'
      : `Synapse does not look in ${shown} by itself: set SYNAPSE_PYTHON=${python} (or python.executable); check with \`npx synapse doctor\`.`,
  );
}

/** Hash of everything the install depends on: the package version, the pins, the bridge's files. */
function inputsHash(bridgeDir: string): string {
  const sources = readdirSync(join(bridgeDir, 'synapse_bridge'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && !d.name.endsWith('.pyc'))
    .map((d) => relative(bridgeDir, join(d.parentPath, d.name)))
    .filter((f) => !f.includes('__pycache__'));
  const h = createHash('sha256').update(VERSION);
  for (const f of ['requirements.txt', 'pyproject.toml', ...sources.sort()]) h.update(f).update(readFileSync(join(bridgeDir, f)));
  return h.digest('hex');
}

function readStamp(path: string): Stamp | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Stamp>;
    return typeof parsed.hash === 'string' && Array.isArray(parsed.extras) ? { hash: parsed.hash, extras: parsed.extras } : undefined;
  } catch {
    return undefined; // no stamp (or a damaged one): install again
  }
}

/** The real interpreter (not a pyenv shim) behind `command`, if it is Python >= 3.11; throws `problem` otherwise. */
function pythonVersion(command: string, problem: string): string {
  const r = spawnSync(command, ['-c', 'import sys; print(sys.executable); print(sys.version_info >= (3, 11))'], { encoding: 'utf8' });
  const [executable, ok] = (r.stdout ?? '').trim().split('\n');
  if (r.status !== 0 || ok !== 'True' || executable === undefined || executable === '') throw new CliError(problem);
  return executable;
}

function baseInterpreter(explicit: string | undefined, io: CliIo): string {
  if (explicit !== undefined) return pythonVersion(explicit, `--python ${explicit} is not a working Python >= 3.11`);
  for (const candidate of [io.env.SYNAPSE_BOOTSTRAP_PYTHON, 'python3', 'python']) {
    if (candidate === undefined || candidate === '') continue;
    try {
      return pythonVersion(candidate, '');
    } catch {
      // not there, or too old: try the next one
    }
  }
  throw new CliError('need Python >= 3.11 to create the venv: install it, or pass `--python /path/to/python3.11` (or set SYNAPSE_BOOTSTRAP_PYTHON)');
}

function run(io: CliIo, command: string, args: readonly string[], problem: string): void {
  io.err(`$ ${command} ${args.join(' ')}`);
  const r = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new CliError(`${problem} [exit ${r.status ?? r.signal}]`);
}
