// SendResult.outputType (issue #12) through the public API with real Python: the type name of
// what pydantic-ai produced — the member of a union output, 'str' for text, a plain handler's
// value type — on sendMessage and streamMessage, kept with the turn so an idempotent replay
// (also from a durable journal, after a restart) returns it too.
import { describe, expect, it } from 'vitest';
import type { ActorSystem, SendResult, StreamItem } from '../../../src/system.ts';
import { example, startSystem, tempDir } from '../../helpers/system.ts';

async function withSystem<T>(historyDir: string, fn: (system: ActorSystem) => Promise<T>): Promise<T> {
  const started = await startSystem({ history: { dir: historyDir } });
  try {
    await Promise.all([
      started.system.spawnAgent({ id: 'flights', agent: example('flights.py') }),
      started.system.spawnAgent({ id: 'support', agent: example('support.py') }),
      started.system.spawnAgent({ id: 'chat', agent: example('chat_handler.py', 'handler') }),
    ]);
    return await fn(started.system);
  } finally {
    await started.stopAndCheck();
  }
}

describe('outputType (real Python)', () => {
  it('names the union member produced, str for text and for a plain handler; replays keep it, across a restart', async () => {
    const history = tempDir('synapse-output-type-');
    try {
      const first = await withSystem(history.dir, async (system) => {
        const found = await system.sendMessage('flights', { prompt: 'SFO to ANC' });
        const none = await system.sendMessage('flights', { prompt: 'Paris to Nowhere' });
        const text = await system.sendMessage('support', { prompt: 'where is order 42?' });
        const handler = await system.sendMessage('chat', { prompt: 'hi' });
        expect([found, none, text, handler].map((r) => [r.outputType, r.output])).toEqual([
          ['FlightDetails', { flight_number: 'AK456', origin: 'SFO', destination: 'ANC' }],
          ['NoFlightFound', { reason: 'no flight from PARIS to NOWHERE' }],
          ['str', expect.any(String)],
          ['str', expect.any(String)],
        ]);
        const items: StreamItem[] = [];
        for await (const item of system.streamMessage('flights', { prompt: 'LHR to CDG' })) items.push(item);
        expect(items.at(-1)).toMatchObject({ kind: 'result', outputType: 'FlightDetails', output: { flight_number: 'BA304' } });
        const again = await system.sendMessage('flights', { prompt: 'SFO to ANC' }, { conversationId: none.conversationId, turnId: none.turnId });
        expect(again).toMatchObject({ replayed: true, outputType: 'NoFlightFound' });
        return none;
      });
      // A new system on the same journal: the stored turn still says what it produced.
      const replayed: SendResult = await withSystem(history.dir, (system) =>
        system.sendMessage('flights', { prompt: 'ignored on replay' }, { conversationId: first.conversationId, turnId: first.turnId }),
      );
      expect(replayed).toMatchObject({ replayed: true, outputType: 'NoFlightFound', output: { reason: 'no flight from PARIS to NOWHERE' } });
    } finally {
      history.remove();
    }
  });
});
