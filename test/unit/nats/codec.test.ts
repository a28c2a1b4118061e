// The host-hop codec of synapse/nats: schema vectors (test/fixtures/nats/hop-vectors.json),
// round trips, size ceiling, bad bytes and version skew, each a coded error.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { DEFAULT_HOP_MAX_FRAME_BYTES, HOP_FRAME_TYPES, HOP_VERSION, decodeHopFrame, encodeHopFrame, parseHopFrame, type HopFrame } from '../../../src/nats/codec.ts';

interface Vectors {
  version: number;
  frames: Record<string, { valid: Record<string, unknown>[]; invalid: { why: string; field: string; frame: unknown }[] }>;
  notFrames: { why: string; frame: unknown }[];
  skew: { why: string; actual: number; frame: unknown }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../fixtures/nats/hop-vectors.json', import.meta.url), 'utf8')) as Vectors;

function codedError(fn: () => unknown): { code: string; details: Record<string, unknown> } | undefined {
  try {
    fn();
  } catch (error) {
    if (!isSynapseError(error)) throw error;
    return { code: error.code, details: { ...error.details } };
  }
  return undefined;
}
const bytes = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), 'utf8');

describe('host-hop schema vectors', () => {
  it('are version 1 and cover every frame type, each with valid and invalid vectors', () => {
    expect(vectors.version).toBe(HOP_VERSION);
    expect(Object.keys(vectors.frames).sort()).toEqual([...HOP_FRAME_TYPES].sort());
    for (const group of Object.values(vectors.frames)) {
      expect(group.valid.length).toBeGreaterThan(0);
      expect(group.invalid.length).toBeGreaterThan(0);
    }
  });

  for (const [type, group] of Object.entries(vectors.frames)) {
    describe(type, () => {
      it.each(group.valid.map((f, i) => [i, f] as const))('valid #%i decodes with its type and round-trips through encode', (_i, frame) => {
        const decoded = decodeHopFrame(bytes(frame));
        expect(decoded.t).toBe(type);
        expect(decoded).not.toHaveProperty('syn');
        expect(decoded).not.toHaveProperty('future');
        expect(decodeHopFrame(encodeHopFrame(decoded))).toEqual(decoded);
      });
      it.each(group.invalid.map((v) => [v.why, v.field, v.frame] as const))('invalid (%s) → SYN_ERR_PROTOCOL naming %s', (_why, field, frame) => {
        expect(codedError(() => decodeHopFrame(bytes(frame)))).toMatchObject({ code: 'SYN_ERR_PROTOCOL', details: { frameType: type, field } });
      });
    });
  }

  it.each(vectors.notFrames.map((v) => [v.why, v.frame] as const))('not a frame (%s) → SYN_ERR_PROTOCOL', (_why, frame) => {
    expect(codedError(() => decodeHopFrame(bytes(frame)))?.code).toBe('SYN_ERR_PROTOCOL');
  });

  it.each(vectors.skew.map((v) => [v.why, v.actual, v.frame] as const))('version skew (%s) → SYN_ERR_HOP_VERSION, before the schema', (_why, actual, frame) => {
    expect(codedError(() => decodeHopFrame(bytes(frame)))).toEqual({ code: 'SYN_ERR_HOP_VERSION', details: { expected: HOP_VERSION, actual } });
  });
});

describe('decodeHopFrame on bad bytes', () => {
  it.each([
    ['garbage', Buffer.from([0xde, 0xad, 0xbe, 0xef])],
    ['truncated JSON', Buffer.from('{"syn":1,"t":"cancel"', 'utf8')],
    ['invalid UTF-8 inside a string', Buffer.concat([Buffer.from('{"syn":1,"t":"cancel","id":"', 'utf8'), Buffer.from([0xc3, 0x28]), Buffer.from('","reason":"x"}', 'utf8')])],
    ['empty payload', Buffer.alloc(0)],
  ])('%s → SYN_ERR_PROTOCOL', (_name, data) => {
    expect(codedError(() => decodeHopFrame(data))?.code).toBe('SYN_ERR_PROTOCOL');
  });

  it('refuses a payload over maxFrameBytes before parsing it (SYN_ERR_FRAME_TOO_LARGE)', () => {
    const big = new Uint8Array(DEFAULT_HOP_MAX_FRAME_BYTES + 1).fill(0x20); // whitespace: would parse as nothing useful, never parsed
    expect(codedError(() => decodeHopFrame(big))).toMatchObject({ code: 'SYN_ERR_FRAME_TOO_LARGE', details: { bytes: DEFAULT_HOP_MAX_FRAME_BYTES + 1, maxFrameBytes: DEFAULT_HOP_MAX_FRAME_BYTES } });
    expect(codedError(() => decodeHopFrame(bytes({ syn: 1, t: 'cancel', id: 'r', reason: 'x' }), 10))?.code).toBe('SYN_ERR_FRAME_TOO_LARGE');
  });
});

describe('encodeHopFrame', () => {
  it('adds the syn header and produces UTF-8 JSON', () => {
    const data = encodeHopFrame({ t: 'keepalive', id: 'r1', from: 'host' });
    expect(JSON.parse(Buffer.from(data).toString('utf8'))).toEqual({ syn: HOP_VERSION, t: 'keepalive', id: 'r1', from: 'host' });
  });

  it('counts bytes, not characters, against maxFrameBytes (multi-byte output at the boundary)', () => {
    const frame = (output: string): HopFrame => ({ t: 'result', id: 'r', output, messages: [], usage: {} });
    const overhead = encodeHopFrame(frame('')).byteLength;
    const max = overhead + 30;
    expect(encodeHopFrame(frame('é'.repeat(15)), max).byteLength).toBe(max); // 2 bytes each: exactly at the limit
    expect(codedError(() => encodeHopFrame(frame('é'.repeat(16)), max))).toMatchObject({ code: 'SYN_ERR_FRAME_TOO_LARGE', details: { bytes: max + 2, maxFrameBytes: max, frameType: 'result' } });
  });

  it('refuses an invalid frame (SYN_ERR_PROTOCOL) and a non-JSON one (SYN_ERR_INVALID_ARGUMENT)', () => {
    expect(codedError(() => encodeHopFrame({ t: 'cancel', id: '', reason: 'x' }))?.code).toBe('SYN_ERR_PROTOCOL');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codedError(() => encodeHopFrame({ t: 'tool_call', id: 'r', callId: 'c', tool: 't', args: cyclic }))?.code).toBe('SYN_ERR_INVALID_ARGUMENT');
  });

  it('refuses a bad maxFrameBytes (SYN_ERR_INVALID_OPTION)', () => {
    expect(codedError(() => encodeHopFrame({ t: 'cancel', id: 'r', reason: 'x' }, 0))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'maxFrameBytes' } });
    expect(codedError(() => decodeHopFrame(new Uint8Array(1), Number.NaN))?.code).toBe('SYN_ERR_INVALID_OPTION');
  });

  it('parseHopFrame keeps error details verbatim', () => {
    const details = { agent: 'a', state: 'quarantined', nextRetryAt: 123, startupFailure: { code: 'SYN_ERR_STARTUP_FAILED' } };
    expect(parseHopFrame({ syn: 1, t: 'error', id: 'r', code: 'SYN_ERR_AGENT_UNAVAILABLE', message: 'm', details })).toEqual({ t: 'error', id: 'r', code: 'SYN_ERR_AGENT_UNAVAILABLE', message: 'm', details });
  });
});
