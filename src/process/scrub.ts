/**
 * Value scrubbing for what a worker says about itself. Key-based redaction (`observe/redact.ts`)
 * cannot see a secret inside free text, and Python code leaks its environment in free text all
 * the time: a provider SDK's "invalid key sk-…" exception, a debug `print`, a log line. So the
 * values of a worker's secret `python.env` variables (secrets live there, never in argv) are
 * replaced in the channels that reach logs and errors: forwarded Python log records, `error`
 * frames (message, type, traceback) and the stderr lines and tail. Run outputs and stream events
 * are the caller's data and are not touched.
 *
 * Secrets, not configuration: a variable is secret when `python.secrets` names it or its name
 * matches {@link SECRET_NAME} (`OPENAI_API_KEY`, `GITHUB_TOKEN`, `DB_PASSWORD`…). Everything else
 * (`OPENAI_BASE_URL`, a model name) stays readable in errors and logs (docs/providers.md).
 */

/** Replaces a scrubbed value. */
export const SCRUBBED = '[Redacted]';

/**
 * Shortest value scrubbed for a variable that is secret by {@link SECRET_NAME} only: shorter ones
 * (`"1"`, `"true"`, a port) would mangle text. A variable named in `python.secrets` is scrubbed
 * whatever its length.
 */
export const MIN_SECRET_LENGTH = 8;

/** The default rule: a `python.env` variable whose name matches this holds a secret. */
export const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL/i;

/**
 * The values of `env` to scrub, longest first (so a secret containing another is replaced
 * whole): of every variable named in `names` (`python.secrets`), and of every variable whose name matches {@link SECRET_NAME} and whose
 * value has at least {@link MIN_SECRET_LENGTH} characters.
 */
export function secretValues(env: Readonly<Record<string, string>>, names?: readonly string[]): readonly string[] {
  const listed = new Set(names ?? []);
  const values = new Set<string>();
  for (const [key, value] of Object.entries(env)) {
    if (value.length === 0) continue;
    if (listed.has(key) || (SECRET_NAME.test(key) && value.length >= MIN_SECRET_LENGTH)) values.add(value);
  }
  return Object.freeze([...values].sort((a, b) => b.length - a.length));
}

/** `text` with every occurrence of each secret replaced by {@link SCRUBBED} (itself when none occurs). */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, SCRUBBED);
  return out;
}
