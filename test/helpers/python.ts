/**
 * Paths and option presets for tests that run real Python workers.
 */
import { fileURLToPath } from 'node:url';
import type { PythonProcessOptions } from '../../src/process/options.ts';

/** Repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The project venv's interpreter (the real one, not a shim). */
export const VENV_PYTHON = `${REPO_ROOT}.venv/bin/python`;
/** `examples/agents/<file>:<attr>` as an absolute agent ref. */
export const exampleRef = (file: string, attr: string): string => `${REPO_ROOT}examples/agents/${file}:${attr}`;
/** `test/fixtures/agents/<file>:<attr>` as an absolute agent ref. */
export const fixtureRef = (file: string, attr: string): string => `${REPO_ROOT}test/fixtures/agents/${file}:${attr}`;

/** Options for a quick single-agent worker in tests: no pid file, short timeouts. */
export function workerOptions(agents: { name: string; ref: string }[], extra: PythonProcessOptions = {}): PythonProcessOptions {
  return { agents, cwd: REPO_ROOT, pidFile: null, startTimeoutMs: 20_000, shutdownTimeoutMs: 4_000, ...extra };
}
