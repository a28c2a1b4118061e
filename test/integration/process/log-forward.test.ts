// The worker learns which `log` frames Node keeps (env SYNAPSE_LOG_FORWARD, from the agent's
// logger level) whether spawned or forked from a zygote, so the bridge never sends a frame Node
// would drop — e.g. httpx's INFO line of every provider request under `logLevel: 'silent'`
// (python-bridge tests/test_units.py checks the handler leaves exactly those unsent).
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { fixture, useSystem } from '../../helpers/system.ts';

const PROBE = fixture('zygote_probe.py');

async function forwardSeen(system: ActorSystem, agent: string): Promise<string | null> {
  const { output } = await system.sendMessage(agent, { prompt: 'SYNAPSE_LOG_FORWARD' });
  return (JSON.parse(output as string) as { value: string | null }).value;
}

describe.each([
  ['warn', 'warning'],
  ['silent', 'off'],
  ['debug', 'debug'],
] as const)('logLevel %s', (logLevel, wire) => {
  let system: ActorSystem;
  useSystem(
    async (s) => {
      system = s;
      await s.spawnAgent({ id: 'spawned', agent: PROBE });
      await s.spawnAgent({ id: 'forked', agent: PROBE, python: { zygote: true } });
    },
    { system: { logger: captureLogs(logLevel).log, logLevel }, startTimeoutMs: 120_000 },
  );

  it(`workers are told to forward from "${wire}" on, spawned or forked`, async () => {
    expect(await forwardSeen(system, 'spawned')).toBe(wire);
    expect(await forwardSeen(system, 'forked')).toBe(wire);
  });
});
