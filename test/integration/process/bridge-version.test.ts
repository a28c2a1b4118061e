// Node package / Python bridge version check at `hello`, on real processes: the real bridge made
// to report another version by a sitecustomize fixture (test/fixtures/bridge-version).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PythonWorker } from '../../../src/process/worker.ts';
import { VERSION } from '../../../src/version.ts';
import { useCleanup } from '../../helpers/cleanup.ts';
import { findWorkerPids } from '../../helpers/pids.ts';
import { exampleRef, REPO_ROOT, VENV_PYTHON, workerOptions } from '../../helpers/python.ts';
import { rejection } from '../../helpers/system.ts';

const cleanup = useCleanup();
const noop = { name: 'noop', ref: exampleRef('noop.py', 'handler') };
const FIXTURE = `${REPO_ROOT}test/fixtures/bridge-version`;

describe('bridge version at hello', () => {
  it('a matching bridge reports the package version in hello', async () => {
    const proc = cleanup.track(await PythonWorker.start(workerOptions([noop])));
    expect(proc.hello?.bridge).toBe(VERSION);
  });

  it('another bridge version: SYN_ERR_BRIDGE_VERSION naming both versions and the fix; no process left', async () => {
    const error = await rejection(PythonWorker.start(workerOptions([noop], { env: { PYTHONPATH: FIXTURE, SYNAPSE_FIXTURE_BRIDGE_VERSION: '9.9.9' } })));
    expect(error.code).toBe('SYN_ERR_BRIDGE_VERSION');
    expect(error.details).toMatchObject({ expected: VERSION, actual: '9.9.9', executable: VENV_PYTHON });
    expect(error.message).toContain('npx synapse python setup');
    expect(error.message).toContain('9.9.9');
    expect(findWorkerPids()).toEqual([]);
  });

  it('a warm spare is checked at hello too', async () => {
    const error = await rejection(PythonWorker.spawnSpare(workerOptions([noop], { env: { PYTHONPATH: FIXTURE } })));
    expect(error).toMatchObject({ code: 'SYN_ERR_BRIDGE_VERSION', details: { actual: '0.0.0-fixture' } });
    expect(findWorkerPids()).toEqual([]);
  });

  it('an interpreter without synapse-bridge: SYN_ERR_STARTUP_FAILED that names the setup step', async () => {
    const base = execFileSync(VENV_PYTHON, ['-c', 'import sys; print(sys._base_executable)'], { encoding: 'utf8' }).trim();
    const error = await rejection(PythonWorker.start(workerOptions([noop], { executable: base })));
    expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
    expect(error.message).toContain('no synapse-bridge installed');
    expect(error.message).toContain('npx synapse python setup');
  });
});
