// TypeScript tools called by a Python agent: Python asks, Node runs the handler, the result
// (or the handler's error) reaches the model.
import { describe, expect, it } from 'vitest';
import type { AgentTool, ToolContext } from '../../../src/agent/options.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { example, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
const calls: { args: unknown; context: ToolContext }[] = [];
let failNext = false;

const getWeather: AgentTool = {
  description: 'Current weather of a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  async handler(args, context) {
    calls.push({ args, context });
    if (failNext) {
      failNext = false;
      throw new Error('weather service down');
    }
    const { city } = args as { city: string };
    return { city, tempC: city.length * 3 };
  },
};

useSystem(async (s) => {
  system = s;
  await system.spawnAgent({ id: 'weather', agent: example('ts_tools.py'), tools: { get_weather: getWeather } });
});

describe('TypeScript tools', () => {
  it('the handler gets the args and context; its result reaches the answer and the messages', async () => {
    calls.length = 0;
    const r = await system.sendMessage('weather', { prompt: 'weather in Lisbon?' }, { conversationId: 'tools-1' });
    expect(r.output).toBe('[weather] {"city": "Lisbon", "tempC": 18} (re: weather in Lisbon?)');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args).toEqual({ city: 'Lisbon' });
    expect(calls[0]!.context).toMatchObject({ agent: 'weather', conversationId: 'tools-1', turnId: r.turnId });
    expect(calls[0]!.context.signal).toBeInstanceOf(AbortSignal);
    const parts = r.messages.flatMap((m) => (m as { parts: { part_kind: string; tool_name?: string; content?: unknown }[] }).parts);
    expect(parts.find((p) => p.part_kind === 'tool-call')).toMatchObject({ tool_name: 'get_weather' });
    expect(parts.find((p) => p.part_kind === 'tool-return')).toMatchObject({ tool_name: 'get_weather', content: { city: 'Lisbon', tempC: 18 } });
  });

  it('concurrent tool calls each get their own result', async () => {
    const cities = ['Oslo', 'Rome', 'Berlin', 'Madrid', 'Vienna', 'Prague'];
    const results = await Promise.all(cities.map((c) => system.sendMessage('weather', { prompt: `weather in ${c}?` })));
    results.forEach((r, i) => {
      const c = cities[i]!;
      expect(r.output).toBe(`[weather] {"city": "${c}", "tempC": ${c.length * 3}} (re: weather in ${c}?)`);
    });
  });

  it('a handler that throws: the model sees the error, the caller still succeeds', async () => {
    failNext = true;
    const pid = system.agentStatus('weather').pids[0];
    const r = await system.sendMessage('weather', { prompt: 'weather in Paris?' });
    expect(r.output).toMatch(/^\[weather\] unavailable: .*weather service down.* \(re: weather in Paris\?\)$/);
    const parts = r.messages.flatMap((m) => (m as { parts: { part_kind: string; tool_name?: string; content?: unknown }[] }).parts);
    const answer = parts.find((p) => (p.part_kind === 'retry-prompt' || p.part_kind === 'tool-return') && p.tool_name === 'get_weather');
    expect(JSON.stringify(answer?.content)).toContain('weather service down');
    // A tool failure is a failure of that tool, not a defect of the worker.
    expect(system.agentStatus('weather')).toMatchObject({ pids: [pid], crashes: 0 });
    // The next call uses the tool normally again.
    expect((await system.sendMessage('weather', { prompt: 'weather in Paris?' })).output).toBe('[weather] {"city": "Paris", "tempC": 15} (re: weather in Paris?)');
  });
});
