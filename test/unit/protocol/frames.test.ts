import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { FrameDecoder } from '../../../src/protocol/codec.ts';
import { parseInbound, parseOutbound } from '../../../src/protocol/frames.ts';

interface Vectors {
  version: number;
  frames: Record<string, { direction: 'node_to_python' | 'python_to_node'; valid: unknown[]; invalid: { why: string; frame: unknown }[] }>;
  notFrames: { why: string; frame: unknown }[];
  lines: { valid: string[]; invalid: string[] };
}

const vectors = JSON.parse(readFileSync(new URL('../../../python-bridge/tests/vectors/frames.json', import.meta.url), 'utf8')) as Vectors;

const parsers = { node_to_python: parseOutbound, python_to_node: parseInbound } as const;
const other = { node_to_python: parseInbound, python_to_node: parseOutbound } as const;

function protocolError(fn: () => unknown): { code: string; details: Record<string, unknown> } | undefined {
  try {
    fn();
  } catch (error) {
    if (!isSynapseError(error)) throw error;
    return { code: error.code, details: { ...error.details } };
  }
  return undefined;
}

describe('shared schema vectors (python-bridge/tests/vectors/frames.json)', () => {
  it('is protocol version 1 and covers every frame type of both directions', () => {
    expect(vectors.version).toBe(1);
    expect(Object.keys(vectors.frames).sort()).toEqual(
      ['bye', 'cancel', 'error', 'event', 'gc', 'hello', 'history_chunk', 'init', 'log', 'ping', 'pong', 'ready', 'result', 'run', 'shutdown', 'tool_call', 'tool_result', 'model_slot', 'model_slot_grant', 'model_slot_release'].sort(),
    );
  });

  for (const [type, group] of Object.entries(vectors.frames)) {
    describe(`${type} (${group.direction})`, () => {
      it.each(group.valid.map((frame, i) => [i, frame] as const))('valid #%i parses, keeps t, and is rejected by the other direction', (_i, frame) => {
        const parsed = parsers[group.direction](frame);
        expect(parsed.t).toBe(type);
        expect(protocolError(() => other[group.direction](frame))?.code).toBe('SYN_ERR_PROTOCOL');
      });
      if (group.invalid.length > 0) {
        it.each(group.invalid.map((v) => [v.why, v.frame] as const))('invalid: %s → SYN_ERR_PROTOCOL naming the field', (_why, frame) => {
          const error = protocolError(() => parsers[group.direction](frame));
          expect(error?.code).toBe('SYN_ERR_PROTOCOL');
          expect(typeof error?.details.field).toBe('string');
        });
      }
    });
  }

  it.each(vectors.notFrames.map((v) => [v.why, v.frame] as const))('not a frame (%s) fails in both directions', (_why, frame) => {
    expect(protocolError(() => parseInbound(frame))?.code).toBe('SYN_ERR_PROTOCOL');
    expect(protocolError(() => parseOutbound(frame))?.code).toBe('SYN_ERR_PROTOCOL');
  });

  it.each(vectors.lines.valid.map((l) => [l] as const))('line %j decodes to a JSON object', (line) => {
    const out: unknown[] = [];
    new FrameDecoder().push(Buffer.from(`${line}\n`, 'utf8'), (f) => out.push(f));
    expect(out).toHaveLength(1);
    expect(typeof out[0]).toBe('object');
  });

  it.each(vectors.lines.invalid.map((l) => [l] as const))('line %j is a protocol violation', (line) => {
    expect(protocolError(() => new FrameDecoder().push(Buffer.from(`${line}\n`, 'utf8'), () => {}))?.code).toBe('SYN_ERR_PROTOCOL');
  });
});

describe('parseInbound', () => {
  it('drops unknown fields (forward compatibility) and returns typed frames', () => {
    const frame = parseInbound({ t: 'pong', seq: 3, loopLagMs: 1.5, rssBytes: 1000, inFlight: 0, future: true });
    expect(frame).toEqual({ t: 'pong', seq: 3, loopLagMs: 1.5, rssBytes: 1000, inFlight: 0 });
  });

  it('names nested fields in the error', () => {
    const error = protocolError(() => parseInbound({ t: 'result', id: 'r', output: 'x', messages: [], usage: { requests: 1, inputTokens: -1, outputTokens: 0, totalTokens: 0, toolCalls: 0 } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_PROTOCOL', details: { frameType: 'result', field: 'usage.inputTokens' } });
  });

  it('rejects a hello with another protocol version, naming v', () => {
    const error = protocolError(() => parseInbound({ t: 'hello', v: 2, pid: 1, python: '3.11', pydanticAi: '2.68.0' }));
    expect(error).toMatchObject({ code: 'SYN_ERR_PROTOCOL', details: { field: 'v' } });
  });

  it('keeps hello.bridge (the bridge version) when present; a non-string one is a violation', () => {
    const hello = { t: 'hello', v: 1, pid: 1, python: '3.11', pydanticAi: '2.68.0' };
    expect(parseInbound({ ...hello, bridge: '0.1.0' })).toMatchObject({ bridge: '0.1.0' });
    expect(parseInbound(hello)).not.toHaveProperty('bridge');
    expect(protocolError(() => parseInbound({ ...hello, bridge: 1 }))).toMatchObject({ details: { frameType: 'hello', field: 'bridge' } });
  });

  it('keeps an optional log id only when present', () => {
    expect(parseInbound({ t: 'log', level: 'info', logger: 'a', msg: 'm' })).toEqual({ t: 'log', level: 'info', logger: 'a', msg: 'm' });
    expect(parseInbound({ t: 'log', level: 'warning', logger: 'a', msg: 'm', id: 'r1' })).toMatchObject({ id: 'r1' });
  });

  it('accepts output null (present) but not a missing output', () => {
    const base = { t: 'result', id: 'r', messages: [], usage: { requests: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, toolCalls: 0 } };
    expect(parseInbound({ ...base, output: null })).toMatchObject({ output: null });
    expect(protocolError(() => parseInbound(base))?.details.field).toBe('output');
  });
});

describe('parseOutbound init agents', () => {
  const init = (agent: Record<string, unknown>) => ({ t: 'init', v: 1, agents: [{ name: 'a', ref: 'pkg.mod:agent', ...agent }], tools: [], concurrency: 4, maxFrameBytes: 1 << 20, maxHistoryBytes: 1 << 28 });

  it('round-trips every field Node sends for an agent, retry included', () => {
    const full = init({
      model: 'test',
      modelSettings: { temperature: 0 },
      usageLimits: { request_limit: 3 },
      retry: { attempts: 4, minDelayMs: 500, maxDelayMs: 10_000 },
      deps: 'pkg.mod:deps',
      lifespan: 'pkg.mod:lifespan',
      modelSlots: true,
    });
    expect(parseOutbound(full)).toEqual(full);
    expect(parseOutbound(init({ retry: { attempts: 1 } }))).toEqual(init({ retry: { attempts: 1 } }));
  });

  it('names a bad retry field', () => {
    for (const [retry, field] of [
      [3, 'agents[0].retry'],
      [{}, 'agents[0].retry.attempts'],
      [{ attempts: 0 }, 'agents[0].retry.attempts'],
      [{ attempts: 1.5 }, 'agents[0].retry.attempts'],
      [{ attempts: 2, minDelayMs: -1 }, 'agents[0].retry.minDelayMs'],
      [{ attempts: 2, maxDelayMs: '9' }, 'agents[0].retry.maxDelayMs'],
    ] as const) {
      expect(protocolError(() => parseOutbound(init({ retry })))).toMatchObject({ code: 'SYN_ERR_PROTOCOL', details: { frameType: 'init', field } });
    }
  });
});
