import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { SynapseError } from '../../../src/errors.ts';
import { CONTROL_MAX_FRAME_BYTES, ControlChannel } from '../../../src/process/control.ts';
import type { GcFrame, PongFrame } from '../../../src/protocol/frames.ts';

function setup(condemned = false) {
  const pongs: PongFrame[] = [];
  const gcs: GcFrame[] = [];
  const violations: SynapseError[] = [];
  const channel = new ControlChannel({ onPong: (f) => pongs.push(f), onGc: (f) => gcs.push(f), onViolation: (e) => violations.push(e), ignoreInbound: () => condemned });
  const out = new PassThrough();
  const input = new PassThrough();
  channel.attach(out, input);
  return { channel, out, input, pongs, gcs, violations };
}

const pong = (seq: number): string => `${JSON.stringify({ t: 'pong', seq, loopLagMs: 1.5, rssBytes: 1024, inFlight: 0 })}\n`;

describe('ControlChannel', () => {
  it('writes each ping at once as one NDJSON line', () => {
    const { channel, out } = setup();
    channel.ping(1);
    channel.ping(2);
    expect(String(out.read())).toBe('{"t":"ping","seq":1}\n{"t":"ping","seq":2}\n');
  });

  it('delivers pongs split across chunks, in order', () => {
    const { channel, pongs, violations } = setup();
    const bytes = Buffer.from(pong(1) + pong(2));
    channel.push(bytes.subarray(0, 10));
    channel.push(bytes.subarray(10));
    expect(pongs.map((p) => p.seq)).toEqual([1, 2]);
    expect(violations).toEqual([]);
  });

  it('delivers gc notices in order with the pongs around them', () => {
    const { channel, pongs, gcs, violations } = setup();
    channel.push(Buffer.from(`${pong(1)}{"t":"gc","phase":"start"}\n{"t":"gc","phase":"stop","pauseMs":2600.5}\n${pong(2)}`));
    expect(pongs.map((p) => p.seq)).toEqual([1, 2]);
    expect(gcs).toEqual([{ t: 'gc', phase: 'start' }, { t: 'gc', phase: 'stop', pauseMs: 2600.5 }]);
    expect(violations).toEqual([]);
  });

  it('reads pongs from the attached stream', async () => {
    const { input, pongs } = setup();
    const seen = new Promise<void>((resolve) => input.once('data', () => resolve()));
    input.write(pong(7));
    await seen;
    expect(pongs.map((p) => p.seq)).toEqual([7]);
  });

  it.each([
    ['a frame other than pong', `${JSON.stringify({ t: 'bye' })}\n`, 'SYN_ERR_PROTOCOL'],
    ['a pong failing its schema', `${JSON.stringify({ t: 'pong', seq: 'x' })}\n`, 'SYN_ERR_PROTOCOL'],
    ['a gc notice with an unknown phase', `${JSON.stringify({ t: 'gc', phase: 'middle' })}\n`, 'SYN_ERR_PROTOCOL'],
    ['garbage', 'not json\n', 'SYN_ERR_PROTOCOL'],
    ['an oversized line', 'x'.repeat(CONTROL_MAX_FRAME_BYTES + 1), 'SYN_ERR_FRAME_TOO_LARGE'],
  ])('reports %s as a violation', (_name, bytes, code) => {
    const { channel, pongs, violations } = setup();
    channel.push(Buffer.from(bytes));
    expect(pongs).toEqual([]);
    expect(violations.map((e) => e.code)).toEqual([code]);
  });

  it('ignores inbound bytes once the worker is condemned', () => {
    const { channel, pongs, violations } = setup(true);
    channel.push(Buffer.from(pong(1) + 'garbage\n'));
    expect(pongs).toEqual([]);
    expect(violations).toEqual([]);
  });

  it('drops pings once the pipe is no longer writable', () => {
    const { channel, out } = setup();
    out.destroy();
    expect(() => channel.ping(1)).not.toThrow();
  });

  it('drops pings before it is attached', () => {
    const channel = new ControlChannel({ onPong: () => {}, onGc: () => {}, onViolation: () => {}, ignoreInbound: () => false });
    expect(() => channel.ping(1)).not.toThrow();
  });
});
