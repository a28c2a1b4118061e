// Testing your own pydantic-ai agent offline under Synapse — the example of docs/testing.md,
// run in CI through test/integration/offline-example.test.ts. The agent under test,
// examples/agents/weather.py, is production code: a real model of its own ('openai:gpt-4o-mini'),
// per-call deps, tools, and a sub-agent called inside a tool. Nothing in it changes for the test.
// In your project import from 'synapse' instead of the '#synapse' self-reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Synapse, isSynapseError, type ActorSystem } from '#synapse';
import { assertNoLeakedPids } from '#synapse/testing';

// 1. The offline guard: every worker runs with pydantic-ai's ALLOW_MODEL_REQUESTS = False, so a
//    model that would reach a provider fails the turn instead of calling it (set it before
//    Synapse.start; test/setup.ts sets it for this whole suite).
process.env.SYNAPSE_ALLOW_MODEL_REQUESTS = '0';

let system: ActorSystem;
// The module builds its OpenAI client at import, which wants a key: a placeholder is enough,
// the guard above stops every request before it would be used.
const python = { env: { OPENAI_API_KEY: 'sk-offline-placeholder' } };

beforeAll(async () => {
  system = await Synapse.start({ logLevel: 'silent' });
  // 2. The agent as production spawns it (its own model): used below to show the guard holds.
  await system.spawnAgent({ id: 'weather-live', agent: 'examples.agents.weather:agent', python });
  // 3. The same agent through a test setup module that overrides its sub-agent's model with
  //    pydantic-ai's own Agent.override (examples/offline/weather_setup.py), and the top-level
  //    model replaced by pydantic-ai's TestModel ('test': calls every tool, then answers).
  await system.spawnAgent({ id: 'weather', agent: 'examples.offline.weather_setup:agent', model: 'test', python });
  // 4. Or a scripted FunctionModel, for a conversation you choose turn by turn.
  await system.spawnAgent({ id: 'weather-scripted', agent: 'examples.offline.weather_setup:agent', model: 'examples/offline/models.py:scripted', python });
});

afterAll(async () => {
  await system.stop();
  assertNoLeakedPids(); // every Python worker this test started is gone
});

describe('the weather agent, offline', () => {
  it('with its own model, the offline guard fails the turn instead of calling OpenAI', async () => {
    const error = await system.sendMessage('weather-live', { prompt: 'Weather in London?' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSynapseError(error, 'SYN_ERR_AGENT_FAILED')).toBe(true);
    expect(String((error as Error).message)).toMatch(/ALLOW_MODEL_REQUESTS|model requests/i);
  });

  it("TestModel runs every tool, the sub-agent answers through its override, usage counts both", async () => {
    const result = await system.sendMessage('weather', { prompt: 'What is the weather like in London?' }, { deps: { units: 'imperial' } });
    const returns = result.messages.flatMap((m) => (m as { parts: { part_kind: string; tool_name?: string; content?: unknown }[] }).parts).filter((p) => p.part_kind === 'tool-return');
    expect(Object.fromEntries(returns.map((p) => [p.tool_name, p.content]))).toMatchObject({
      get_weather: { temperature: '70 °F' }, // the per-call deps reached the tool
      summarise: 'Sunny and mild all day.', // the sub-agent ran on its overridden model
    });
    // TestModel: 2 requests of the weather agent + 1 of the sub-agent (usage=ctx.usage).
    expect(result.usage).toMatchObject({ requests: 3 });
  });

  it('a scripted FunctionModel drives the conversation turn by turn', async () => {
    const first = await system.sendMessage('weather-scripted', { prompt: 'Paris' }, { deps: { units: 'metric' } });
    expect(first.output).toBe('Paris: 21 °C, Cloudy. Sunny and mild all day.');
    const next = await system.sendMessage('weather-scripted', { prompt: 'Wiltshire' }, { conversationId: first.conversationId, deps: { units: 'metric' } }); // deps are per call, as in pydantic-ai
    expect(next.output).toBe('Wiltshire: 21 °C, Sunny. Sunny and mild all day.');
  });
});
