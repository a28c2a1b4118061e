// Chunked history encoding (feature history_chunks): every line fits maxFrameBytes, the slices
// reassemble to the history's exact UTF-8 JSON, and admitRun only chunks when it must.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import type { SynapseError } from '../../../src/errors.ts';
import { admitRun } from '../../helpers/admit.ts';
import { FrameDecoder } from '../../../src/protocol/codec.ts';
import { parseOutbound } from '../../../src/protocol/frames.ts';
import type { RunFrame } from '../../../src/protocol/frames.ts';
import { encodeRunChunked } from '../../../src/protocol/history-chunks.ts';

const runFrame = (history: unknown[], extra: Partial<RunFrame> = {}): RunFrame => ({ t: 'run', id: 'r1', agent: 'a', prompt: 'p', history, timeoutMs: null, stream: false, ...extra });

/** Decodes `lines` as Python would: every frame schema-checked and within `max`; returns the run and its history bytes. */
function reassemble(lines: string, max: number): { run: Record<string, unknown>; history: Buffer; chunks: number } {
  const frames: Record<string, unknown>[] = [];
  for (const line of lines.split('\n').slice(0, -1)) expect(Buffer.byteLength(line, 'utf8')).toBeLessThanOrEqual(max);
  new FrameDecoder({ maxFrameBytes: max }).push(Buffer.from(lines, 'utf8'), (f) => frames.push(f));
  for (const f of frames) parseOutbound(f);
  const run = frames.pop()!;
  expect(run.t).toBe('run');
  expect(frames.every((f) => f.t === 'history_chunk' && f.id === run.id)).toBe(true);
  return { run, history: Buffer.concat(frames.map((f) => Buffer.from(f.data as string, 'base64'))), chunks: frames.length };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (isSynapseError(error)) return error.code;
    throw error;
  }
  return undefined;
}

describe('encodeRunChunked', () => {
  it('one huge message with multi-byte characters: lines fit, slices reassemble to the exact JSON', () => {
    const history = [{ kind: 'request', parts: [{ part_kind: 'user-prompt', content: `é🙂${'ü€𝄞'.repeat(30_000)}` }] }];
    const { run, history: bytes, chunks } = reassemble(encodeRunChunked(runFrame(history, { conversationId: 'c' }), 64 * 1024, 1 << 30), 64 * 1024);
    expect(bytes.toString('utf8')).toBe(JSON.stringify(history));
    expect(run).toMatchObject({ history: [], historyChunks: chunks, conversationId: 'c', prompt: 'p' });
    expect(chunks).toBeGreaterThan(3);
  });

  it('property: any history and frame limit → every line within the limit and an exact reassembly', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 200, max: 2_000 }), fc.string({ minLength: 1, maxLength: 40 }), (history, max, id) => {
        const lines = encodeRunChunked(runFrame(history, { id, prompt: '' }), max, 1 << 30);
        const { run, history: bytes } = reassemble(lines, max);
        expect(run.id).toBe(id);
        expect(bytes.toString('utf8')).toBe(JSON.stringify(history));
      }),
    );
  });

  it('limits: history above maxHistoryBytes, a prompt too large on its own, a frame too small for a chunk', () => {
    const history = [{ kind: 'request', parts: [{ part_kind: 'user-prompt', content: 'x'.repeat(5_000) }] }];
    let error: SynapseError | undefined;
    try {
      encodeRunChunked(runFrame(history, { conversationId: 'c' }), 1_024, 4_000);
    } catch (e) {
      error = e as SynapseError;
    }
    expect(error).toMatchObject({ code: 'SYN_ERR_HISTORY_TOO_LARGE', details: { runId: 'r1', maxHistoryBytes: 4_000, conversationId: 'c' } });
    expect(error?.details.historyBytes).toBe(Buffer.byteLength(JSON.stringify(history)));
    expect(codeOf(() => encodeRunChunked(runFrame(history, { prompt: 'p'.repeat(2_000) }), 1_024, 1 << 30))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    expect(codeOf(() => encodeRunChunked(runFrame(history), 40, 1 << 30))).toBe('SYN_ERR_FRAME_TOO_LARGE');
  });
});

describe('admitRun and chunking', () => {
  const admission = (extra = {}) => ({ concurrency: 4, maxFrameBytes: 1_024, historyChunks: true, maxHistoryBytes: 1 << 20, ...extra });
  const big = [{ kind: 'request', parts: [{ part_kind: 'user-prompt', content: 'y'.repeat(3_000) }] }];

  it('a run that fits stays one run line (no per-turn cost); one that does not fit because of its history is chunked', () => {
    const small = [{ kind: 'request', parts: [{ part_kind: 'user-prompt', content: 'hi' }] }];
    expect(admitRun({ id: 'r1', agent: 'a', prompt: 'p', history: small }, {}, admission())).toBe(`${JSON.stringify(runFrame(small))}\n`);
    const { run, history } = reassemble(admitRun({ id: 'r1', agent: 'a', prompt: 'p', history: big }, {}, admission()), 1_024);
    expect(run.historyChunks).toBeGreaterThan(1);
    expect(JSON.parse(history.toString('utf8'))).toEqual(big);
  });

  it('without the history_chunks feature (an older Python) the oversized run is SYN_ERR_FRAME_TOO_LARGE, as before', () => {
    expect(codeOf(() => admitRun({ id: 'r1', agent: 'a', prompt: 'p', history: big }, {}, admission({ historyChunks: false })))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    expect(codeOf(() => admitRun({ id: 'r1', agent: 'a', prompt: 'p'.repeat(2_000) }, {}, admission()))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    expect(codeOf(() => admitRun({ id: 'r1', agent: 'a', prompt: 'p', history: big }, {}, admission({ maxHistoryBytes: 100 })))).toBe('SYN_ERR_HISTORY_TOO_LARGE');
  });
});
