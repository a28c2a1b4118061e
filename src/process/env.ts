/**
 * The environment of a Python worker: an allow-list of the parent's variables plus the
 * caller's extras. Nothing else leaks through (API keys in the parent's env stay there unless
 * passed explicitly in `options.env`); secrets travel only in env, never in argv.
 */

/**
 * Variables copied from the parent environment when set (plus every `LC_*`).
 * `SYNAPSE_ALLOW_MODEL_REQUESTS=0` is the offline guard: set it once in a test or CI process
 * and every worker runs with pydantic-ai's `ALLOW_MODEL_REQUESTS = False`.
 */
export const ENV_ALLOW_LIST: readonly string[] = Object.freeze(['PATH', 'HOME', 'LANG', 'TZ', 'VIRTUAL_ENV', 'PYTHONPATH', 'SYNAPSE_ALLOW_MODEL_REQUESTS']);

/**
 * Builds the child environment: allow-listed parent variables, then `extra`, then the
 * variables the runtime relies on (`SYNAPSE_PARENT_PID` for the orphan watchdog,
 * `PYTHONUNBUFFERED=1`), which `extra` cannot override.
 */
export function buildChildEnv(parent: NodeJS.ProcessEnv, extra: Readonly<Record<string, string>>, parentPid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    if (ENV_ALLOW_LIST.includes(key) || key.startsWith('LC_')) env[key] = value;
  }
  Object.assign(env, extra);
  delete env.PYTHONDONTWRITEBYTECODE;
  env.SYNAPSE_PARENT_PID = String(parentPid);
  env.PYTHONUNBUFFERED = '1';
  return env;
}
