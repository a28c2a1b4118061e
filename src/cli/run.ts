/**
 * `synapse <command>`: argument parsing and dispatch for `python setup` and `doctor`.
 */
import { parseArgs } from 'node:util';
import { VERSION } from '../version.ts';
import { doctor } from './doctor.ts';
import { CliError, processIo } from './io.ts';
import type { CliIo } from './io.ts';
import { pythonSetup } from './python-setup.ts';

/** The text of `npx synapse --help`. */
export const HELP = `Usage: npx synapse <command> [options]

Commands:
  python setup [--venv DIR] [--extra NAME]... [--python PATH]
      Create or update a Python venv (default ./.venv) with the synapse-bridge bundled in
      this package and its pinned pydantic-ai. Idempotent: a second run with nothing changed
      returns at once. --extra adds pydantic-ai-slim extras (e.g. --extra openai
      --extra anthropic); --python picks the base interpreter (Python >= 3.11) used to
      create the venv (default: SYNAPSE_BOOTSTRAP_PYTHON, else python3 / python on PATH).

  doctor [AGENT_REF]...
      Show which Python interpreter Synapse would use and which lookup step found it, the
      synapse-bridge and pydantic-ai versions, and whether each agent ref
      (path/to/file.py:attr or package.module:attr) imports. Exits 1 if anything is wrong.

Options:
  -h, --help     this text
  -v, --version  the Synapse version

Synapse looks for the interpreter in this order: the python.executable option, env
SYNAPSE_PYTHON, an active virtualenv (VIRTUAL_ENV), ./.venv (or UV_PROJECT_ENVIRONMENT),
the package's own .venv (dev checkout). See docs/install.md.`;

/**
 * Runs one `synapse` command line and resolves with its exit code (0 ok, 1 failed, 2 usage).
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['doctor', 'agent.py:agent']);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.out(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === '-v' || command === '--version') {
      io.out(VERSION);
      return 0;
    }
    if (command === 'python') {
      const [sub, ...args] = rest;
      if (sub !== 'setup') return usage(io, sub === undefined ? 'missing subcommand: `python setup`' : `unknown subcommand \`python ${sub}\` (did you mean \`python setup\`?)`);
      const { values } = parse(args, {
        venv: { type: 'string' },
        extra: { type: 'string', multiple: true },
        python: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      });
      if (values.help === true) return help(io);
      const extras = (values.extra ?? []).flatMap((e) => e.split(',')).map((e) => e.trim()).filter((e) => e !== '');
      await pythonSetup({ venv: values.venv ?? '.venv', extras, ...(values.python === undefined ? {} : { python: values.python }) }, io);
      return 0;
    }
    if (command === 'doctor') {
      const { values, positionals } = parse(rest, { help: { type: 'boolean', short: 'h' } }, true);
      if (values.help === true) return help(io);
      return await doctor(positionals, io);
    }
    return usage(io, `unknown command \`${command}\``);
  } catch (error) {
    if (error instanceof UsageError) return usage(io, error.message);
    if (error instanceof CliError) {
      io.err(`synapse: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

class UsageError extends Error {}

type Spec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

function parse<S extends Spec>(args: readonly string[], options: S, positionals = false): ReturnType<typeof parseArgs<{ options: S; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: positionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function help(io: CliIo): number {
  io.out(HELP);
  return 0;
}

function usage(io: CliIo, problem: string): number {
  io.err(`synapse: ${problem}. See \`npx synapse --help\`.`);
  return 2;
}
