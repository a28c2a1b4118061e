/**
 * `npm run load -- --agents N --conversations M --concurrency C --duration 60s
 *   [--chaos kill=0.1/s,stop=0.05/s,garbage=0.05/s] [--json out.json] [--seed S] [--workers W]`
 *
 * Drives multi-step conversations against real Python agents, shows live progress (one
 * rewritten line on a TTY, a line every 5 s otherwise, on stderr), prints a summary on stdout
 * and exits 0 only when every acknowledged turn is committed exactly once (2 on bad arguments).
 * See docs/benchmarks.md for sizes and results.
 */
import { writeFile } from 'node:fs/promises';
import { isSynapseError } from '../src/errors.ts';
import { parseLoadArgs, USAGE } from './load/args.ts';
import { formatProgress, formatSummary } from './load/report.ts';
import { runLoad, type LoadProgress } from './load/run.ts';

async function main(): Promise<number> {
  let config;
  try {
    config = parseLoadArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${isSynapseError(error) ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const onProgress = (p: LoadProgress): void => {
    if (config.progress === 'off') return;
    if (tty) process.stderr.write(`\r\x1b[K${formatProgress(p)}`);
    else if (p.elapsedMs - lastLine >= 5000) {
      lastLine = p.elapsedMs;
      process.stderr.write(`${formatProgress(p)}\n`);
    }
  };
  // Ctrl-C ends the run early but still settles, verifies and stops the workers cleanly.
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.once('SIGINT', onSigint);
  process.stderr.write(`load: seed ${config.seed} (replay with --seed ${config.seed})\n`);
  try {
    const summary = await runLoad(config, { onProgress, signal: interrupt.signal });
    if (tty && config.progress !== 'off') process.stderr.write('\n');
    process.stdout.write(`${formatSummary(summary)}\n`);
    if (config.json !== undefined) await writeFile(config.json, `${JSON.stringify(summary, null, 2)}\n`);
    return summary.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`load: ${isSynapseError(error) ? `${error.code}: ${error.message}` : String((error as Error)?.stack ?? error)}\n`);
    process.exitCode = 1;
  },
);
