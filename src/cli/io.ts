/**
 * What a CLI command reads and writes, passed in (tests capture it; `main.ts` gives the real process's).
 */

/** The environment of one CLI invocation. */
export interface CliIo {
  /** Writes one line of normal output (stdout). */
  readonly out: (line: string) => void;
  /** Writes one line of diagnostics (stderr). */
  readonly err: (line: string) => void;
  /** The directory the command runs in (the app directory). */
  readonly cwd: string;
  /** Environment variables the command reads. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A CLI failure whose message says what to do; printed without a stack, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** The live process's {@link CliIo}. */
export function processIo(): CliIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    cwd: process.cwd(),
    env: process.env,
  };
}
