// A conversation whose history outgrows maxFrameBytes stays usable: the history travels to Python
// as history_chunk frames ahead of the run (docs/protocol.md, feature history_chunks) and the agent
// sees all of it. Real Python, a 64 KiB frame limit to keep it fast.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PythonWorker } from '../../../src/process/worker.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { fixtureRef, workerOptions } from '../../helpers/python.ts';
import { exchanges, fixture, rejection, useSystem } from '../../helpers/system.ts';

const FRAME = 64 * 1024;
const sha = (prompts: readonly string[]): string => createHash('sha256').update(prompts.join('\n'), 'utf8').digest('hex');
/** The fixture's answer for a model that saw `messages` messages holding `prompts`. */
const answer = (messages: number, prompts: readonly string[]): string => `messages=${messages} prompts=${prompts.length} sha256=${sha(prompts)}`;
/** ~20 KB of UTF-8 with 2- and 4-byte characters, so chunk boundaries fall inside characters. */
const bigPrompt = (i: number): string => `turn ${i} ${'é🙂ab'.repeat(2_500)}`;

let system: ActorSystem;
useSystem(async (s) => {
  system = s;
  await system.spawnAgent({ id: 'sizer', agent: fixture('history_size.py'), python: { maxFrameBytes: FRAME } });
});

describe('long conversations (history larger than maxFrameBytes)', () => {
  it('every turn succeeds after the history passes maxFrameBytes, and the agent sees the whole history', async () => {
    const conversationId = 'long-history';
    const prompts: string[] = [];
    for (let i = 0; i < 10; i++) {
      prompts.push(bigPrompt(i));
      const r = await system.sendMessage('sizer', { prompt: prompts[i]! }, { conversationId });
      expect(r.output).toBe(answer(2 * i + 1, prompts));
    }
    const history = await system.history(conversationId);
    expect(exchanges(history).map((x) => x.prompt)).toEqual(prompts);
    // The last turns carried a history of several frames' worth.
    expect(Buffer.byteLength(JSON.stringify(history))).toBeGreaterThan(3 * FRAME);
  }, 60_000);
});

describe('chunked history on one worker (PythonWorker)', () => {
  let proc: PythonWorker;
  beforeAll(async () => {
    proc = await PythonWorker.start(workerOptions([{ name: 'sizer', ref: fixtureRef('history_size.py', 'agent') }], { maxFrameBytes: FRAME, maxHistoryBytes: 1024 * 1024 }));
  }, 30_000);
  afterAll(async () => {
    // The leak check of every worker (this one included) is the system's stopAndCheck, after this.
    expect(await proc.close()).toEqual({ exitCode: 0, signal: null });
  });

  const exchange = (prompt: string, answerText: string): unknown[] => [
    { kind: 'request', parts: [{ part_kind: 'user-prompt', content: prompt, timestamp: '2026-01-01T00:00:00Z' }] },
    { kind: 'response', parts: [{ part_kind: 'text', content: answerText }], model_name: 'function:x', timestamp: '2026-01-01T00:00:01Z' },
  ];

  it('a single message larger than maxFrameBytes reaches Python intact', async () => {
    const huge = `start ${'ü€𝄞z'.repeat(20_000)} end`; // ~200 KB in one user prompt
    const { output } = await proc.run({ id: 'one-huge', agent: 'sizer', prompt: 'next', history: exchange(huge, 'ok') });
    expect(output).toBe(answer(3, [huge, 'next']));
  }, 30_000);

  it('concurrent chunked runs do not mix their histories', async () => {
    const histories = [0, 1, 2].map((k) => [...exchange(`${k} ${'a'.repeat(90_000)}`, 'x'), ...exchange(`${k} ${'β'.repeat(40_000)}`, 'y')]);
    const outputs = await Promise.all(histories.map((history, k) => proc.run({ id: `mix-${k}`, agent: 'sizer', prompt: `p${k}`, history })));
    outputs.forEach((r, k) => expect(r.output).toBe(answer(5, [`${k} ${'a'.repeat(90_000)}`, `${k} ${'β'.repeat(40_000)}`, `p${k}`])));
  }, 30_000);

  it('a history above maxHistoryBytes rejects with SYN_ERR_HISTORY_TOO_LARGE before anything is sent; the worker serves on', async () => {
    const error = await rejection(proc.run({ id: 'too-big', agent: 'sizer', prompt: 'p', history: exchange('x'.repeat(1024 * 1024), 'ok'), conversationId: 'c1' }));
    expect(error.code).toBe('SYN_ERR_HISTORY_TOO_LARGE');
    expect(error.details).toMatchObject({ runId: 'too-big', maxHistoryBytes: 1024 * 1024, conversationId: 'c1' });
    expect(error.details.historyBytes).toBeGreaterThan(1024 * 1024);
    expect(proc.stats().inFlight).toBe(0);
    expect((await proc.run({ id: 'after', agent: 'sizer', prompt: 'still here' })).output).toBe(answer(1, ['still here']));
  }, 30_000);
});
