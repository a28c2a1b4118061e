// Fuzzing the public API and the frame decoder (≥ 10 000 cases in CI): random option objects,
// prompts and ids into spawnAgent / sendMessage / streamMessage / history, and random bytes into
// FrameDecoder. Nothing may throw uncoded, nothing may hang, nothing may be uncaught, and the
// long-lived system and its one real agent keep working afterwards (same worker, no restart).
//
// Validation happens before anything reaches Python, so a case costs microseconds; the few
// fully valid sends that do reach the agent are cheap (the counter fixture answers at once).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, SynapseError } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/codec.ts';
import { parseInbound } from '../../src/protocol/frames.ts';
import { Synapse, type ActorSystem } from '../../src/system.ts';
import { assertNoLeakedPids, replayParameters } from '../../src/testing/index.ts';
import { REPO_ROOT, fixtureRef } from '../helpers/python.ts';

const AGENT = 'fuzz';
/** Runs per property (CI); FC_NUM_RUNS scales them all. Sum ≥ 10 000. */
const RUNS = { decoder: 4_000, spawn: 2_000, send: 2_500, stream: 500, history: 1_000 };
const runs = (n: number) => ({ ...replayParameters(), ...(process.env.FC_NUM_RUNS === undefined ? { numRuns: n } : {}), interruptAfterTimeLimit: 240_000 });

let system: ActorSystem;
let stateDir: string;
let pid: number;
const uncaught: unknown[] = [];
const onUncaught = (e: unknown) => uncaught.push(e);

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  stateDir = mkdtempSync(join(tmpdir(), 'synapse-fuzz-'));
  system = await Synapse.start({ logLevel: 'silent', stateDir, maxPromptBytes: 4096 });
  const status = await system.spawnAgent({ id: AGENT, agent: fixtureRef('counter.py', 'agent'), python: { cwd: REPO_ROOT } });
  pid = status.pids[0]!;
});

afterAll(async () => {
  await system?.stop();
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  assertNoLeakedPids();
});

/** The call must reject with a registered code (or resolve, where `mayResolve`). */
async function codedOrValue(call: () => Promise<unknown>, mayResolve: boolean): Promise<string> {
  let settled: unknown;
  try {
    await call();
    if (!mayResolve) throw new Error('expected a coded rejection, got a value');
    return 'ok';
  } catch (error) {
    settled = error;
  }
  if (!(settled instanceof SynapseError)) throw new Error(`uncoded error: ${String(settled)}`, { cause: settled });
  expect(ERROR_CODES).toHaveProperty(settled.code);
  return settled.code;
}

// Random values of every shape, biased toward the option names the API knows.
const KEYS = ['id', 'agent', 'workers', 'concurrency', 'queue', 'timeoutMs', 'cancelGraceMs', 'whenUnavailable', 'restart', 'python', 'tools', 'conversationId', 'turnId', 'signal', 'prompt', '__proto__', 'constructor'];
const anyValue = fc.oneof(
  fc.anything({ maxDepth: 2, withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }),
  fc.constantFrom(NaN, Infinity, -1, 0, 1e21, 2 ** 31, '', ' ', 'x'.repeat(300), '\u0000', '\ud800', AbortSignal.abort(), () => 1, Symbol('s')),
);
const looseRecord = fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), anyValue, { maxKeys: 6 });
const idLike = fc.oneof(fc.constant(AGENT), fc.string({ maxLength: 120 }), fc.string({ unit: 'binary', maxLength: 10 }), anyValue);

describe('fuzz: public API', () => {
  it('spawnAgent: random options only ever reject with SYN_ERR_INVALID_OPTION / SYN_ERR_NAME_TAKEN', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyValue, looseRecord, looseRecord.map((r) => ({ ...r, id: AGENT, agent: 'x.py:agent' }))), async (options) => {
        const code = await codedOrValue(() => system.spawnAgent(options as never), false);
        expect(['SYN_ERR_INVALID_OPTION', 'SYN_ERR_NAME_TAKEN']).toContain(code);
      }),
      runs(RUNS.spawn),
    );
  });

  it('sendMessage: random agent ids, messages and options → a value or a coded error', async () => {
    const message = fc.oneof(anyValue, looseRecord, fc.record({ prompt: fc.oneof(fc.string({ maxLength: 50 }), fc.string({ unit: 'binary', maxLength: 20 }), anyValue) }));
    const options = fc.oneof(fc.constant(undefined), looseRecord, fc.record({ timeoutMs: fc.oneof(fc.integer({ min: -5, max: 5_000 }), anyValue), conversationId: idLike, turnId: idLike }, { requiredKeys: [] }));
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(idLike, message, options, async (agentId, input, opts) => {
        const code = await codedOrValue(() => system.sendMessage(agentId as string, input as never, opts as never), true);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }),
      runs(RUNS.send),
    );
    expect(codes.get('SYN_ERR_NO_AGENT')).toBeGreaterThan(0);
    expect(codes.get('SYN_ERR_INVALID_ARGUMENT')).toBeGreaterThan(0);
  });

  it('streamMessage: random input; the iterator ends in a result or throws a coded error', async () => {
    await fc.assert(
      fc.asyncProperty(idLike, fc.oneof(anyValue, fc.record({ prompt: fc.string({ maxLength: 30 }) })), fc.oneof(fc.constant(undefined), looseRecord), async (agentId, input, opts) => {
        await codedOrValue(async () => {
          let last: unknown;
          for await (const item of system.streamMessage(agentId as string, input as never, opts as never)) last = item;
          expect(last).toMatchObject({ kind: 'result' });
        }, true);
      }),
      runs(RUNS.stream),
    );
  });

  it('history: random conversation ids → an array or SYN_ERR_INVALID_ARGUMENT', async () => {
    await fc.assert(
      fc.asyncProperty(idLike, async (id) => {
        const code = await codedOrValue(() => system.history(id as string), true);
        expect(['ok', 'SYN_ERR_INVALID_ARGUMENT']).toContain(code);
      }),
      runs(RUNS.history),
    );
  });
});

describe('fuzz: frame decoder', () => {
  it('random bytes in random chunks → frames (objects) or SYN_ERR_PROTOCOL / SYN_ERR_FRAME_TOO_LARGE, then poisoned', () => {
    const line = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.json().map((j) => Buffer.from(`${j}\n`)),
      fc.constantFrom('{"t":"pong","seq":1,"rssBytes":1,"loopLagMs":0,"inFlight":0}\n', '{"t":"result"}\n', '\n', '{"a":\n', '\u00ff\n').map((s) => Buffer.from(s, 'latin1')),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.integer({ min: 16, max: 256 }), (chunks, maxFrameBytes) => {
        const decoder = new FrameDecoder({ maxFrameBytes });
        let failure: SynapseError | undefined;
        for (const chunk of chunks) {
          try {
            decoder.push(chunk, (raw) => {
              expect(typeof raw === 'object' && raw !== null && !Array.isArray(raw)).toBe(true);
              try {
                parseInbound(raw);
              } catch (error) {
                expect(error).toBeInstanceOf(SynapseError);
                expect((error as SynapseError).code).toBe('SYN_ERR_PROTOCOL');
              }
            });
          } catch (error) {
            expect(error).toBeInstanceOf(SynapseError);
            expect(['SYN_ERR_PROTOCOL', 'SYN_ERR_FRAME_TOO_LARGE']).toContain((error as SynapseError).code);
            failure ??= error as SynapseError;
          }
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(maxFrameBytes);
        }
        if (failure !== undefined) expect(() => decoder.push(Buffer.from('{}\n'), () => {})).toThrow(failure);
      }),
      runs(RUNS.decoder),
    );
  });
});

describe('after the fuzzing', () => {
  it('the system and its agent still work: same worker, no restart, nothing uncaught', async () => {
    const first = await system.sendMessage(AGENT, { prompt: 'still there?' });
    expect(first.output).toBe('turns=1');
    const second = await system.sendMessage(AGENT, { prompt: 'and again' }, { conversationId: first.conversationId });
    expect(second.output).toBe('turns=2');
    const status = system.agentStatus(AGENT);
    expect(status).toMatchObject({ state: 'ready', pids: [pid], restarts: 0, crashes: 0, inFlight: 0, queued: 0 });
    expect(system.agentIds()).toEqual([AGENT]);
    expect(uncaught).toEqual([]);
  });
});
