// Shared helpers for the actor-core unit tests.
import pino, { type Logger } from 'pino';
import { afterEach } from 'vitest';
import { ActorRuntime, type ActorRuntimeOptions } from '../../../src/actor/runtime.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { isSynapseError, type ErrorCode } from '../../../src/errors.ts';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const runtimes: ActorRuntime[] = [];

/** A runtime on a simulated clock, shut down (with kill fallback) after each test. */
export function makeRuntime(options: ActorRuntimeOptions = {}): { runtime: ActorRuntime; clock: SimulatedClock } {
  const clock = (options.clock as SimulatedClock | undefined) ?? new SimulatedClock();
  const runtime = new ActorRuntime({ ...options, clock });
  runtimes.push(runtime);
  return { runtime, clock };
}

afterEach(async () => {
  for (const runtime of runtimes.splice(0)) {
    // Timeout 0: a hung test actor is killed at the next clock step instead of blocking.
    const done = runtime.shutdown({ timeout: 0 });
    await (runtime.clock as SimulatedClock).runAll?.(100);
    await done;
  }
});

/** Resolves after pending microtasks and one macrotask turn. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Awaits `promise` expecting a SynapseError with `code`; returns the error. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<Error & { code: string; cause?: unknown; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    if (!isSynapseError(err, code)) throw new Error(`expected ${code}, got ${String((err as { code?: string }).code ?? err)}`, { cause: err });
    return err as never;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}

/** Calls `fn` expecting a synchronous SynapseError with `code`. */
export function throwsWith(fn: () => unknown, code: ErrorCode): Error & { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    if (!isSynapseError(err, code)) throw new Error(`expected ${code}, got ${String((err as { code?: string }).code ?? err)}`, { cause: err });
    return err as never;
  }
  throw new Error(`expected a throw with ${code}`);
}

/** A pino logger at `level` whose JSON lines are collected in `lines`. */
export function captureLogger(level = 'debug'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

/** Observes a promise without leaving its rejection unhandled: `outcome()` is undefined until settled. */
export function track<T>(promise: Promise<T>): { promise: Promise<T>; outcome(): { ok: true; value: T } | { ok: false; error: unknown } | undefined } {
  let result: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => (result = { ok: true, value }),
    (error: unknown) => (result = { ok: false, error }),
  );
  return { promise, outcome: () => result };
}
