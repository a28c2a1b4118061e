// The offline guard reaches real workers: test/setup.ts sets SYNAPSE_ALLOW_MODEL_REQUESTS=0 in
// this process, Node passes it to every worker, and a model that would call a provider fails
// with pydantic-ai's own refusal instead of reaching the network.
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { fixtureRef } from '../../helpers/python.ts';
import { rejection, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
useSystem(async (s) => {
  system = s;
  await system.spawnAgent({ id: 'remote', agent: fixtureRef('remote_model.py', 'agent') });
});

describe('offline guard (SYNAPSE_ALLOW_MODEL_REQUESTS=0)', () => {
  it('a provider-backed model is refused inside the worker; the worker stays up', async () => {
    expect(process.env.SYNAPSE_ALLOW_MODEL_REQUESTS).toBe('0');
    const err = await rejection(system.sendMessage('remote', { prompt: 'hello?' }));
    expect(err.code).toBe('SYN_ERR_AGENT_FAILED');
    expect(err.message).toContain('Model requests are not allowed');
    expect(system.agentStatus('remote').state).toBe('ready');
  });
});
