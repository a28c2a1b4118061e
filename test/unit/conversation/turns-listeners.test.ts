// Many concurrent turns must not pile abort listeners onto one shared signal (Node warns past 10:
// MaxListenersExceededWarning), and close() must still abort every running turn.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryHistoryStore } from '../../../src/conversation/store.ts';
import { TurnSerializer, type TurnContext, type TurnOutput } from '../../../src/conversation/turns.ts';
import { turnMessages } from '../../fixtures/pydantic-messages.ts';

const TURNS = 50;
let warnings: Error[] = [];
const onWarning = (w: Error): void => void warnings.push(w);
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

/** Warnings are emitted on a later tick: let them arrive before looking. */
const warningsSoFar = async (): Promise<string[]> => {
  await new Promise<void>((resolve) => setImmediate(resolve));
  return warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message);
};

/** A turn fn that listens on its signal like a run does (router queue, run table) and waits for `release`. */
function listeningTurn(release: Promise<void>, aborted: string[]) {
  return async (ctx: TurnContext): Promise<TurnOutput> => {
    ctx.signal.addEventListener('abort', () => aborted.push(ctx.conversationId), { once: true });
    await new Promise<void>((resolve, reject) => {
      void release.then(resolve);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true });
    });
    return { messages: turnMessages(`p ${ctx.conversationId}`, 'a'), output: 'a' };
  };
}

describe(`${TURNS} concurrent turns`, () => {
  it('without caller signals: no MaxListenersExceededWarning, every turn commits', async () => {
    const store = new MemoryHistoryStore();
    const turns = new TurnSerializer({ store });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const aborted: string[] = [];
    const runs = Array.from({ length: TURNS }, (_, i) => turns.run({ conversationId: `c${i}`, agent: 'a' }, listeningTurn(gate, aborted)));
    await new Promise<void>((resolve) => setImmediate(resolve)); // every turn is running and listening
    expect(await warningsSoFar()).toEqual([]);
    release();
    const results = await Promise.all(runs);
    expect(results.filter((r) => !r.replayed)).toHaveLength(TURNS);
    expect(aborted).toEqual([]);
    await turns.close();
    await store.close();
    expect(await warningsSoFar()).toEqual([]);
  });

  it('with a caller signal each: no warning; close() still aborts every running turn', async () => {
    const store = new MemoryHistoryStore();
    const turns = new TurnSerializer({ store });
    const aborted: string[] = [];
    const never = new Promise<void>(() => {});
    const runs = Array.from({ length: TURNS }, (_, i) =>
      turns.run({ conversationId: `c${i}`, agent: 'a', signal: new AbortController().signal }, listeningTurn(never, aborted)).then(
        () => 'resolved',
        (e: unknown) => (e as { code?: string }).code,
      ),
    );
    await new Promise<void>((resolve) => setImmediate(resolve));
    await turns.close();
    expect(await Promise.all(runs)).toEqual(Array(TURNS).fill('SYN_ERR_SHUTDOWN'));
    expect(aborted).toHaveLength(TURNS);
    await store.close();
    expect(await warningsSoFar()).toEqual([]);
  });
});
