// Structured output across the bridge (issue #12), through the public API with real Python: a
// per-call JSON Schema `output` run as pydantic-ai StructuredDict (result, outputType, history,
// replay), bad schemas as SYN_ERR_INVALID_OPTION with nothing committed and the worker unharmed,
// and partial structured output streamed as `{ kind: 'output' }` items (text agents keep deltas).
import { describe, expect, it } from 'vitest';
import type { ActorSystem, StreamItem } from '../../../src/system.ts';
import { example, fixture, rejection, useAgents } from '../../helpers/system.ts';

let system: ActorSystem;
useAgents(
  (s) => (system = s),
  [
    { id: 'modelless', agent: example('modelless.py'), model: 'test' },
    { id: 'whales', agent: example('whales.py') },
    { id: 'flights', agent: example('flights.py') },
    { id: 'support', agent: example('support.py') },
    { id: 'sloppy', agent: example('modelless.py'), model: fixture('schema_retry.py', 'model') },
    { id: 'approval', agent: example('approval.py') },
  ],
);

const CITY = { type: 'object', properties: { city: { type: 'string' }, population: { type: 'integer' } }, required: ['city', 'population'] };

async function collect(items: AsyncIterable<StreamItem>): Promise<StreamItem[]> {
  const out: StreamItem[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const partialsOf = (items: StreamItem[]): unknown[] => items.flatMap((i) => (i.kind === 'output' ? [i.output] : []));

describe('output: a JSON Schema output type per call (real Python)', () => {
  it('the result is the object, outputType the schema name; committed and replayed as such', async () => {
    const r = await system.sendMessage('modelless', { prompt: 'a city' }, { output: { schema: CITY, name: 'City', description: 'A city.' } });
    expect(r).toMatchObject({ output: { city: 'a', population: 0 }, outputType: 'City', replayed: false }); // TestModel fills the schema
    const history = JSON.stringify(await system.history(r.conversationId));
    expect(history).toContain('"tool_name":"final_result"');
    const again = await system.sendMessage('modelless', { prompt: 'a city' }, { conversationId: r.conversationId, turnId: r.turnId, output: { schema: CITY, name: 'City' } });
    expect(again).toMatchObject({ replayed: true, outputType: 'City', output: { city: 'a', population: 0 } });
    // Without a name: the schema's title, else 'dict'; without the option: the agent's own type.
    expect((await system.sendMessage('modelless', { prompt: 'x' }, { output: { schema: { ...CITY, title: 'Town' } } })).outputType).toBe('Town');
    expect((await system.sendMessage('modelless', { prompt: 'x' }, { output: { schema: CITY } })).outputType).toBe('dict');
    expect((await system.sendMessage('modelless', { prompt: 'x' })).outputType).toBe('str');
  });

  it('a schema Python rejects: SYN_ERR_INVALID_OPTION naming options.output, nothing committed, no restart', async () => {
    const before = system.agentStatus('modelless');
    for (const schema of [{ type: 'object', properties: { a: { type: 'bogus' } } }, { type: 'object', required: 'a' }]) {
      const error = await rejection(system.sendMessage('modelless', { prompt: 'hi' }, { conversationId: 'bad-schema-1', output: { schema } }));
      expect(error.code).toBe('SYN_ERR_INVALID_OPTION');
      expect(error.details.option).toBe('options.output');
    }
    expect(await system.history('bad-schema-1')).toEqual([]);
    expect(system.agentStatus('modelless')).toMatchObject({ pids: before.pids, restarts: 0, inFlight: 0 });
    expect((await system.sendMessage('modelless', { prompt: 'hi' }, { conversationId: 'bad-schema-1', output: { schema: CITY } })).output).toEqual({ city: 'a', population: 0 });
  });

  it('an output violating the schema is retried by pydantic-ai; the result is the validated object', async () => {
    for (const stream of [false, true]) {
      const r = stream
        ? (await collect(system.streamMessage('sloppy', { prompt: 'a city' }, { output: { schema: CITY, name: 'City' } }))).at(-1)
        : await system.sendMessage('sloppy', { prompt: 'a city' }, { output: { schema: CITY, name: 'City' } });
      expect(r).toMatchObject({ output: { city: 'Lima', population: 10_000_000 }, outputType: 'City' });
      if (r === undefined || !('conversationId' in r) || r.conversationId === undefined) throw new Error('a committed result');
      const history = JSON.stringify(await system.history(r.conversationId));
      expect(history).toContain("at $.population: 'ten million' is not of type 'integer'"); // the retry the model was sent
    }
  });

  it('an output that never matches the schema: SYN_ERR_AGENT_FAILED once the output retries are spent, nothing committed', async () => {
    const before = system.agentStatus('sloppy');
    const error = await rejection(system.sendMessage('sloppy', { prompt: 'never' }, { conversationId: 'never-valid', output: { schema: CITY } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_AGENT_FAILED', details: { kind: 'unexpected_model_behavior', type: 'UnexpectedModelBehavior' } });
    expect(error.message).toContain('output retries');
    expect(await system.history('never-valid')).toEqual([]);
    expect(system.agentStatus('sloppy')).toMatchObject({ pids: before.pids, restarts: 0, inFlight: 0 });
  });

  it("a per-call output keeps the agent's DeferredToolRequests: an approval tool still ends the turn deferred", async () => {
    const r = await system.sendMessage('approval', { prompt: 'refund 42 30' }, { output: { schema: CITY } });
    expect(r).toMatchObject({ output: null, outputType: 'DeferredToolRequests', deferred: { approvals: [{ tool: 'refund', args: { order_id: 42, amount: 30 } }], calls: [] } });
  });

  it('a schema Node can reject cheaply never reaches Python', async () => {
    const error = await rejection(system.sendMessage('modelless', { prompt: 'hi' }, { conversationId: 'bad-schema-2', output: { schema: { type: 'string' } } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'options.output.schema' } });
    const unknown = await rejection(system.sendMessage('modelless', { prompt: 'hi' }, { output: { schema: CITY, strict: true } as never }));
    expect(unknown).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'options.output.strict' } });
    expect(await system.history('bad-schema-2')).toEqual([]);
  });
});

describe('streaming partial output (real Python)', () => {
  it('a list output streams growing partial outputs whose last equals the result', async () => {
    const items = await collect(system.streamMessage('whales', { prompt: 'the largest whales' }));
    const result = items.at(-1);
    if (result?.kind !== 'result') throw new Error('the stream must end with its result');
    expect(result.outputType).toBe('list');
    const partials = partialsOf(items);
    expect(new Set(partials.map((p) => JSON.stringify(p))).size).toBeGreaterThanOrEqual(2);
    const lengths = partials.map((p) => (p as unknown[]).length);
    expect(lengths).toEqual([...lengths].sort((a, b) => a - b)); // the list only grows
    expect(partials.at(-1)).toEqual(result.output);
    expect((result.output as { name: string }[]).map((w) => w.name)).toEqual(['Blue whale', 'Fin whale', 'Sperm whale', 'Bowhead whale']);
    expect(items.filter((i) => i.kind === 'text_delta')).toEqual([]);
  });

  it('a union output and a per-call schema stream output items; a text agent keeps text deltas', async () => {
    const flight = await collect(system.streamMessage('flights', { prompt: 'SFO to ANC' }));
    expect(partialsOf(flight).at(-1)).toEqual({ flight_number: 'AK456', origin: 'SFO', destination: 'ANC' });
    expect(flight.at(-1)).toMatchObject({ kind: 'result', outputType: 'FlightDetails' });
    const city = await collect(system.streamMessage('modelless', { prompt: 'a city' }, { output: { schema: CITY, name: 'City' } }));
    expect(partialsOf(city).at(-1)).toEqual({ city: 'a', population: 0 });
    expect(city.filter((i) => i.kind === 'text_delta')).toEqual([]);
    const text = await collect(system.streamMessage('support', { prompt: 'where is order 42?' }));
    expect(text.some((i) => i.kind === 'text_delta')).toBe(true);
    expect(partialsOf(text)).toEqual([]);
  });

  it('sendMessage of a structured agent is not streamed: same result, no partial outputs computed', async () => {
    const r = await system.sendMessage('whales', { prompt: 'the largest whales' });
    expect(r).toMatchObject({ outputType: 'list', output: expect.arrayContaining([expect.objectContaining({ name: 'Blue whale' })]) });
  });
});
