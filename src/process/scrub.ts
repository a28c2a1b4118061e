/**
 * Value scrubbing for what a worker says about itself. Key-based redaction (`observe/redact.ts`)
 * cannot see a secret inside free text, and Python code leaks its environment in free text all
 * the time: a provider SDK's "invalid key sk-…" exception, a debug `print`, a log line. So the
 * values of a worker's `python.env` (its secrets live there, never in argv) are replaced in the
 * channels that reach logs and errors: forwarded Python log records, `error` frames (message,
 * type, traceback) and the stderr lines and tail. Run outputs and stream events are the caller's
 * data and are not touched.
 */

/** Replaces a scrubbed value. */
export const SCRUBBED = '[Redacted]';

/** Shortest value scrubbed: shorter ones (`"1"`, `"true"`, a port) are not secrets and would mangle text. */
export const MIN_SECRET_LENGTH = 8;

/** Keys whose values are configuration, not secrets (kept readable in logs). */
const NOT_SECRET = /^(PATH|PYTHONPATH|HOME|LANG|TZ|VIRTUAL_ENV|PYTHONUNBUFFERED|PYTHONDONTWRITEBYTECODE|LC_.*|SYNAPSE_.*)$/;

/**
 * The values of `env` to scrub, longest first (so a secret containing another is replaced
 * whole): every value of at least {@link MIN_SECRET_LENGTH} characters, except of the
 * configuration keys above.
 */
export function secretValues(env: Readonly<Record<string, string>>): readonly string[] {
  const values = new Set<string>();
  for (const [key, value] of Object.entries(env)) {
    if (value.length >= MIN_SECRET_LENGTH && !NOT_SECRET.test(key)) values.add(value);
  }
  return Object.freeze([...values].sort((a, b) => b.length - a.length));
}

/** `text` with every occurrence of each secret replaced by {@link SCRUBBED} (itself when none occurs). */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, SCRUBBED);
  return out;
}
