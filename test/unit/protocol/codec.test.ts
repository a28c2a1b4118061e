import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from '../../../src/protocol/codec.ts';

const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 200);

function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const chunk of chunks) decoder.push(chunk, (f) => out.push(f));
  decoder.end();
  return out;
}

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (error) {
    return isSynapseError(error) ? error.code : `not a SynapseError: ${String(error)}`;
  }
  return undefined;
}

/** Splits `buf` at the given (unsorted, possibly duplicate) cut points. */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(buf.subarray(prev, p));
    prev = p;
  }
  parts.push(buf.subarray(prev));
  return parts;
}

describe('FrameDecoder', () => {
  it('decodes several frames from one chunk and a frame spread over chunks', () => {
    const d = new FrameDecoder();
    const frames = decodeAll(d, [Buffer.from('{"t":"a"}\n{"t":"b","x":[1,2]}\n{"t":'), Buffer.from('"c"'), Buffer.from('}\n')]);
    expect(frames).toEqual([{ t: 'a' }, { t: 'b', x: [1, 2] }, { t: 'c' }]);
    expect(d.bufferedBytes).toBe(0);
  });

  it('accepts plain Uint8Array chunks', () => {
    const d = new FrameDecoder();
    expect(decodeAll(d, [new TextEncoder().encode('{"t":"x"}\n')])).toEqual([{ t: 'x' }]);
  });

  it('reassembles multi-byte UTF-8 split byte by byte', () => {
    const text = '{"t":"log","msg":"€ 日本 🎉 é"}\n';
    const bytes = Buffer.from(text, 'utf8');
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    expect(decodeAll(new FrameDecoder(), chunks)).toEqual([{ t: 'log', msg: '€ 日本 🎉 é' }]);
  });

  it('rejects invalid UTF-8 with SYN_ERR_PROTOCOL', () => {
    const d = new FrameDecoder();
    const bad = Buffer.concat([Buffer.from('{"t":"x","s":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    expect(codeOf(() => d.push(bad, () => {}))).toBe('SYN_ERR_PROTOCOL');
  });

  it.each([
    ['garbage', 'hello world\n'],
    ['an array', '[1,2,3]\n'],
    ['a number', '42\n'],
    ['null', 'null\n'],
    ['a string', '"t"\n'],
    ['an empty line', '\n'],
    ['a truncated object', '{"t":"x"\n'],
  ])('rejects %s with SYN_ERR_PROTOCOL', (_name, line) => {
    expect(codeOf(() => new FrameDecoder().push(Buffer.from(line), () => {}))).toBe('SYN_ERR_PROTOCOL');
  });

  it('delivers the frames before a violation in the same chunk, then stays poisoned', () => {
    const d = new FrameDecoder();
    const seen: unknown[] = [];
    expect(codeOf(() => d.push(Buffer.from('{"t":"a"}\n{"t":"b"}\nnot json\n{"t":"c"}\n'), (f) => seen.push(f)))).toBe('SYN_ERR_PROTOCOL');
    expect(seen).toEqual([{ t: 'a' }, { t: 'b' }]);
    expect(codeOf(() => d.push(Buffer.from('{"t":"d"}\n'), (f) => seen.push(f)))).toBe('SYN_ERR_PROTOCOL');
    expect(seen).toHaveLength(2);
    expect(d.failure?.code).toBe('SYN_ERR_PROTOCOL');
  });

  it('reports a truncated final frame at end()', () => {
    const d = new FrameDecoder();
    d.push(Buffer.from('{"t":"a"}\n{"t":"res'), () => {});
    expect(codeOf(() => d.end())).toBe('SYN_ERR_PROTOCOL');
  });

  it('end() on a clean boundary is fine', () => {
    const d = new FrameDecoder();
    d.push(Buffer.from('{"t":"a"}\n'), () => {});
    expect(() => d.end()).not.toThrow();
  });

  it('accepts a line of exactly maxFrameBytes and rejects one byte more', () => {
    const max = 64;
    const exact = `{"t":"x","p":"${'a'.repeat(max - 16)}"}`;
    expect(Buffer.byteLength(exact)).toBe(max);
    expect(decodeAll(new FrameDecoder({ maxFrameBytes: max }), [Buffer.from(`${exact}\n`)])).toHaveLength(1);
    const over = `{"t":"x","p":"${'a'.repeat(max - 15)}"}`;
    expect(codeOf(() => new FrameDecoder({ maxFrameBytes: max }).push(Buffer.from(`${over}\n`), () => {}))).toBe('SYN_ERR_FRAME_TOO_LARGE');
  });

  it('fails on the chunk that passes the limit, before buffering it', () => {
    const d = new FrameDecoder({ maxFrameBytes: 100 });
    d.push(Buffer.alloc(60, 0x61), () => {});
    expect(d.bufferedBytes).toBe(60);
    expect(codeOf(() => d.push(Buffer.alloc(60, 0x61), () => {}))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    expect(d.bufferedBytes).toBe(0);
    expect(d.failure?.details).toMatchObject({ maxFrameBytes: 100, receivedBytes: 120 });
  });

  it('a 2 GiB line never makes it buffer more than the limit', () => {
    const max = 1024 * 1024;
    const d = new FrameDecoder({ maxFrameBytes: max });
    const chunk = Buffer.alloc(64 * 1024, 0x61); // 32 768 × 64 KiB = 2 GiB, the same buffer reused
    let failures = 0;
    let maxBuffered = 0;
    for (let i = 0; i < 32_768; i++) {
      try {
        d.push(chunk, () => {});
      } catch (error) {
        expect(isSynapseError(error, 'SYN_ERR_FRAME_TOO_LARGE')).toBe(true);
        failures++;
      }
      maxBuffered = Math.max(maxBuffered, d.bufferedBytes);
    }
    expect(maxBuffered).toBeLessThanOrEqual(max);
    expect(failures).toBe(32_768 - 16); // the first 16 chunks fit exactly; every later push fails
  });

  it('property: any frames, encoded and split at arbitrary boundaries, decode to the same frames', () => {
    const frame = fc
      .record({ t: fc.constantFrom('event', 'result', 'log', 'pong'), body: fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) })
      .map(({ t, body }) => ({ ...body, t }));
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const wire = Buffer.from(frames.map((f) => encodeFrame(f)).join(''), 'utf8');
        const decoded = decodeAll(new FrameDecoder(), splitAt(wire, cuts));
        expect(decoded).toEqual(frames.map((f) => JSON.parse(JSON.stringify(f))));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('property: an oversized line is detected under any chunking, never buffering past the limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 9, max: 300 }), fc.integer({ min: 1, max: 400 }), fc.array(fc.nat(), { maxLength: 30 }), (max, extra, cuts) => {
        const line = Buffer.concat([Buffer.from('{"t":"x"}\n'), Buffer.alloc(max + extra, 0x61), Buffer.from('\n')]);
        const d = new FrameDecoder({ maxFrameBytes: max });
        let code: string | undefined;
        for (const part of splitAt(line, cuts)) {
          code = codeOf(() => d.push(part, () => {}));
          expect(d.bufferedBytes).toBeLessThanOrEqual(d.maxFrameBytes);
          if (code !== undefined) break;
        }
        expect(code).toBe('SYN_ERR_FRAME_TOO_LARGE');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('rejects a bad maxFrameBytes with SYN_ERR_INVALID_OPTION', () => {
    expect(codeOf(() => new FrameDecoder({ maxFrameBytes: 0 }))).toBe('SYN_ERR_INVALID_OPTION');
    expect(new FrameDecoder().maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES);
  });
});

describe('encodeFrame', () => {
  it('encodes one line, escaping newlines inside strings', () => {
    const line = encodeFrame({ t: 'run', prompt: 'a\nb\r\nc' });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/\n/);
    expect(JSON.parse(line)).toEqual({ t: 'run', prompt: 'a\nb\r\nc' });
  });

  it('rejects a frame above maxFrameBytes, counting UTF-8 bytes', () => {
    expect(codeOf(() => encodeFrame({ t: 'run', prompt: '€'.repeat(40) }, 100))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    expect(codeOf(() => encodeFrame({ t: 'run', prompt: 'a'.repeat(40) }, 100))).toBeUndefined();
  });

  it('rejects what JSON cannot encode with SYN_ERR_INVALID_ARGUMENT', () => {
    const cyclic: Record<string, unknown> = { t: 'run' };
    cyclic.self = cyclic;
    expect(codeOf(() => encodeFrame(cyclic))).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(codeOf(() => encodeFrame({ t: 'run', n: 1n }))).toBe('SYN_ERR_INVALID_ARGUMENT');
  });
});
