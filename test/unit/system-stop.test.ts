// system.stop(): graceful, idempotent, reverse start order, and `await using`.
import { describe, expect, it } from 'vitest';
import { MemoryHistoryStore, Synapse, isSynapseError, type HistoryStore } from '../../src/index.ts';

/** A store that records when it is closed, to check it closes after the actors that use it. */
function recordingStore(order: string[]): HistoryStore {
  const store = new MemoryHistoryStore();
  const close = store.close.bind(store);
  return Object.assign(store, { close: async () => (order.push('store closed'), close()) });
}

describe('system.stop()', () => {
  it('is idempotent, stops the HTTP endpoint first, user actors newest first, the store last; the system then refuses work', async () => {
    const order: string[] = [];
    const system = await Synapse.start({ logLevel: 'silent', metrics: { port: 0 }, history: recordingStore(order) });
    const url = system.observeUrl!;
    expect((await fetch(new URL('/healthz', url))).status).toBe(200);
    for (const name of ['first', 'second']) system.spawn({ handle: () => undefined, terminate: () => void order.push(`${name} terminated`) }, { name });
    const a = system.stop();
    const b = system.stop();
    expect(b).toBe(a);
    await a;
    await system.stop(); // again, after it completed
    expect(order).toEqual(['second terminated', 'first terminated', 'store closed']);
    await expect(fetch(new URL('/healthz', url))).rejects.toThrow();
    for (const act of [() => system.spawn({ handle: () => undefined }), () => system.history('c')]) {
      let code: string | undefined;
      try {
        await act();
      } catch (error) {
        code = isSynapseError(error) ? error.code : String(error);
      }
      expect(code).toBe('SYN_ERR_SYSTEM_STOPPED');
    }
  });

  it('await using stops the system at the end of the block', async () => {
    const order: string[] = [];
    {
      await using system = await Synapse.start({ logLevel: 'silent', metrics: false, history: recordingStore(order) });
      system.spawn({ handle: () => undefined, terminate: () => void order.push('actor terminated') });
      expect(order).toEqual([]);
    }
    expect(order).toEqual(['actor terminated', 'store closed']);
  });
});
