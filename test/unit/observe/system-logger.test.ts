// An injected logger is used as-is: Synapse.start keeps its level unless `logLevel` is given
// explicitly, and SYNAPSE_LOG_LEVEL (the default level of a logger Synapse creates) does not apply to it.
import { afterEach, describe, expect, it } from 'vitest';
import { Synapse, type SynapseOptions } from '../../../src/index.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { tempDir } from '../../helpers/system.ts';

const ENV = 'SYNAPSE_LOG_LEVEL';
const saved = process.env[ENV];
afterEach(() => {
  if (saved === undefined) delete process.env[ENV];
  else process.env[ENV] = saved;
});

/** The levels of the lines an injected logger received while a system started and stopped. */
async function levelsLogged(level: 'warn' | 'debug', options: SynapseOptions = {}): Promise<number[]> {
  const logs = captureLogs(level);
  const state = tempDir('synapse-state-');
  try {
    const system = await Synapse.start({ logger: logs.log, stateDir: state.dir, metrics: false, ...options });
    await system.stop();
  } finally {
    state.remove();
  }
  return logs.records.map((r) => r.level);
}

describe('Synapse.start({ logger })', () => {
  it('keeps the level of an injected logger at warn: no info lines', async () => {
    expect(await levelsLogged('warn')).toEqual([]);
  });

  it('keeps the level of an injected logger at debug: debug lines come through', async () => {
    const levels = await levelsLogged('debug');
    expect(levels).toContain(20); // actor.spawned of the agents supervisor
    expect(levels).toContain(30); // synapse started / stopped
  });

  it('ignores SYNAPSE_LOG_LEVEL for an injected logger', async () => {
    process.env[ENV] = 'debug';
    expect(await levelsLogged('warn')).toEqual([]);
    process.env[ENV] = 'error';
    expect(await levelsLogged('debug')).toContain(20);
  });

  it('applies an explicit logLevel to the injected logger', async () => {
    expect(await levelsLogged('debug', { logLevel: 'warn' })).toEqual([]);
    expect(new Set(await levelsLogged('warn', { logLevel: 'info' }))).toEqual(new Set([30]));
  });
});
