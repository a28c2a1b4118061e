// `spawnAgent({ rateLimit })` where there is no pydantic-ai model to limit (real Python): a plain
// handler (`handler(prompt[, history])`, no model requests) is refused at spawn with
// SYN_ERR_INVALID_OPTION naming rateLimit — like retry, model, modelSettings and usageLimits —
// instead of a limit that silently never applies; a TypeScript function as `agent` is refused by
// the edge validation (agents are Python refs). The same handler without rateLimit serves.
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { example, rejection, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
useSystem(async (s) => {
  system = s;
  await system.spawnAgent({ id: 'chat', agent: example('chat_handler.py', 'handler') });
});
const python = { startTimeoutMs: 90_000 };

describe('rateLimit without a model to limit', () => {
  it('on a plain Python handler: spawnAgent rejects SYN_ERR_INVALID_OPTION { option: rateLimit }; nothing is left spawned', async () => {
    for (const rateLimit of [{ maxConcurrentModelRequests: 2 }, { requestsPerMinute: 60 }, { tokensPerMinute: 1_000 }]) {
      const error = await rejection(system.spawnAgent({ id: 'chat-limited', agent: example('chat_handler.py', 'handler'), rateLimit, python }));
      expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'rateLimit' } });
      expect(error.message).toContain('plain handler');
      expect(system.agentIds()).not.toContain('chat-limited');
    }
    // The same handler without it serves (the refusal is about the option, not the handler).
    expect((await system.sendMessage('chat', { prompt: 'hi' })).output).toBe('[chat] hi (earlier: none)');
  });

  it('on a TypeScript function as agent: SYN_ERR_INVALID_OPTION { option: agent } before any process starts', async () => {
    const error = await rejection(system.spawnAgent({ id: 'ts-fn', agent: (async (prompt: string) => prompt) as never, rateLimit: { maxConcurrentModelRequests: 1 } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'agent' } });
    expect(system.agentIds()).not.toContain('ts-fn');
  });
});
