// Turn functions for tests of the turn serializer and its stores/leases (no agent involved).
import type { TurnContext, TurnOutput } from '../../src/conversation/turns.ts';
import { turnMessages } from '../fixtures/pydantic-messages.ts';

/** A promise with its `resolve` handed out. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A turn function answering at once: one request/response pair tagged `tag`, output `tag`. */
export const answer = (tag: string) => async (): Promise<TurnOutput> => ({ messages: turnMessages(`p-${tag}`, `a-${tag}`), output: tag });

/** A turn function that signals when it runs (`started`) and finishes when `open()` is called. */
export function gated(tag: string): { fn: (ctx: TurnContext) => Promise<TurnOutput>; started: Promise<TurnContext>; open: () => void } {
  const started = deferred<TurnContext>();
  const gate = deferred();
  return {
    started: started.promise,
    open: () => gate.resolve(),
    fn: async (ctx) => {
      started.resolve(ctx);
      await gate.promise;
      return { messages: turnMessages(`p-${tag}`, `a-${tag}`), output: tag };
    },
  };
}
