/**
 * `npx synapse doctor [agent refs...]`: which interpreter Synapse would use and why, the
 * versions on the Python side, and whether each agent ref imports — found the way a worker
 * finds them (the same lookup, a real `python -m synapse_bridge` and its handshake).
 */
import { isSynapseError } from '../errors.ts';
import { PYTHON_SETUP_COMMAND, PYTHON_STEP_LABELS, resolvePython } from '../process/interpreter.ts';
import type { PythonResolution } from '../process/interpreter.ts';
import { PythonWorker } from '../process/worker.ts';
import { VERSION } from '../version.ts';
import type { CliIo } from './io.ts';

const WORKER = { pidFile: null, startTimeoutMs: 30_000, shutdownTimeoutMs: 5_000 } as const;

/**
 * Prints the diagnosis and resolves with the exit code: 0 when the interpreter, the bridge
 * version and every ref are fine, 1 otherwise.
 *
 * @example
 * ```sh
 * npx synapse doctor agent.py:agent
 * ```
 */
export async function doctor(refs: readonly string[], io: CliIo): Promise<number> {
  io.out(`synapse      ${VERSION} (node ${process.version})`);
  let found: PythonResolution;
  try {
    found = resolvePython({ env: io.env, cwd: io.cwd });
  } catch (error) {
    if (!isSynapseError(error, 'SYN_ERR_PYTHON_NOT_FOUND')) throw error;
    io.out('interpreter  NOT FOUND');
    io.err(`synapse: ${error.message}`);
    return 1;
  }
  io.out(`interpreter  ${found.executable}`);
  io.out(`found by     ${PYTHON_STEP_LABELS[found.step]}`);
  for (const miss of found.tried) io.out(`  (skipped   ${PYTHON_STEP_LABELS[miss.step]}: ${miss.path === undefined ? miss.reason : `${miss.path} ${miss.reason}`})`);

  let failed = false;
  try {
    const proc = await PythonWorker.start({ ...WORKER, executable: found.executable, cwd: io.cwd, agents: [] });
    const hello = proc.hello;
    await proc.close();
    io.out(`python       ${hello?.python ?? '?'}`);
    io.out(`bridge       synapse-bridge ${hello?.bridge ?? '?'} (matches synapse ${VERSION})`);
    io.out(`pydantic-ai  ${hello?.pydanticAi ?? '?'}`);
  } catch (error) {
    if (!isSynapseError(error)) throw error;
    io.out(`bridge       FAILED (${error.code})`);
    io.err(`synapse: ${error.message}`);
    const tail = typeof error.details.stderrTail === 'string' ? error.details.stderrTail.trim() : '';
    if (tail !== '') io.err(tail.split('\n').slice(-5).join('\n'));
    if (error.code !== 'SYN_ERR_BRIDGE_VERSION' && !error.message.includes(PYTHON_SETUP_COMMAND)) {
      io.err(`synapse: to (re)install the bridge into this interpreter's venv, run \`${PYTHON_SETUP_COMMAND}\``);
    }
    return 1;
  }

  for (const ref of refs) {
    try {
      const proc = await PythonWorker.start({ ...WORKER, executable: found.executable, cwd: io.cwd, agents: [{ name: 'doctor', ref }] });
      await proc.close();
      io.out(`agent        ${ref}: ok`);
    } catch (error) {
      if (!isSynapseError(error)) throw error;
      failed = true;
      io.out(`agent        ${ref}: FAILED (${error.code})`);
      const message = typeof error.details.message === 'string' ? error.details.message : error.message;
      io.err(`synapse: ${ref}: ${message}`);
    }
  }
  return failed ? 1 : 0;
}
