// The process layer's frame handling (WireChannel: outbound coalescing, inbound decoding and
// violations), run dispatch (admission, routing) and the EOF check — without a Python process.
import { PassThrough } from 'node:stream';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { SynapseError } from '../../../src/errors.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { admitRun, routeFrame } from '../../../src/process/dispatch.ts';
import type { FrameTarget } from '../../../src/process/dispatch.ts';
import { EOF_EXIT_GRACE_MS, watchEof } from '../../../src/process/eof.ts';
import { RunTable } from '../../../src/process/runs.ts';
import { WireChannel } from '../../../src/process/wire.ts';
import type { WireHandlers } from '../../../src/process/wire.ts';
import type { InboundFrame, OutboundFrame } from '../../../src/protocol/frames.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

function channel(max = 1024, ignore = () => false) {
  const frames: InboundFrame[] = [];
  const violations: SynapseError[] = [];
  const ends: (SynapseError | undefined)[] = [];
  const handlers: WireHandlers = { onFrame: (f) => frames.push(f), onViolation: (e) => violations.push(e), onEnd: (t) => ends.push(t), ignoreInbound: ignore };
  const wire = new WireChannel(max, handlers);
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const writes: string[] = [];
  stdin.on('data', (chunk: Buffer) => writes.push(chunk.toString('utf8')));
  wire.attach(stdin, stdout);
  return { wire, stdin, stdout, writes, frames, violations, ends };
}

const codeOf = (e: unknown): string => (isSynapseError(e) ? e.code : `not a SynapseError: ${String(e)}`);

describe('WireChannel outbound', () => {
  it('frames sent in one synchronous turn leave in one write, in order', async () => {
    const { wire, writes } = channel();
    wire.send({ t: 'ping', seq: 1 });
    wire.send({ t: 'cancel', id: 'a' });
    wire.sendLine('{"t":"shutdown"}\n');
    expect(writes).toEqual([]); // queued until the tick ends
    await nextMacrotask();
    expect(writes).toEqual(['{"t":"ping","seq":1}\n{"t":"cancel","id":"a"}\n{"t":"shutdown"}\n']);
    wire.send({ t: 'ping', seq: 2 });
    await nextMacrotask();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe('{"t":"ping","seq":2}\n');
  });

  it('an oversized or unserialisable frame throws at send and nothing is queued', async () => {
    const { wire, writes } = channel(32);
    expect(codeOf(tryCall(() => wire.send({ t: 'cancel', id: 'x'.repeat(64) })))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    const cyclic: Record<string, unknown> = { t: 'tool_result', id: 'r', callId: 'c', ok: true };
    cyclic.value = cyclic;
    expect(codeOf(tryCall(() => wire.send(cyclic as unknown as OutboundFrame)))).toBe('SYN_ERR_INVALID_ARGUMENT');
    await nextMacrotask();
    expect(writes).toEqual([]);
  });

  it('drops queued lines once stdin is no longer writable (the worker is gone)', async () => {
    const { wire, stdin, writes } = channel();
    wire.send({ t: 'ping', seq: 1 });
    stdin.destroy();
    await nextMacrotask();
    expect(writes).toEqual([]);
  });
});

function tryCall(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('WireChannel inbound', () => {
  it('decodes and schema-checks frames split across chunks', () => {
    const { stdout, frames, violations } = channel();
    stdout.write('{"t":"pong","seq":1,"loopLagMs":0,"rssBytes":1,"inF');
    stdout.write('light":0}\n{"t":"bye"}\n');
    expect(frames.map((f) => f.t)).toEqual(['pong', 'bye']);
    expect(violations).toEqual([]);
  });

  it('a schema violation, bad JSON or an oversized line is reported as a violation', () => {
    const a = channel();
    a.wire.push(Buffer.from('{"t":"result","id":"r"}\n'));
    expect(a.violations.map((e) => e.code)).toEqual(['SYN_ERR_PROTOCOL']);
    const b = channel();
    b.wire.push(Buffer.from('not json\n'));
    expect(b.violations.map((e) => e.code)).toEqual(['SYN_ERR_PROTOCOL']);
    const c = channel(16);
    c.wire.push(Buffer.from('x'.repeat(17)));
    expect(c.violations.map((e) => e.code)).toEqual(['SYN_ERR_FRAME_TOO_LARGE']);
  });

  it('ignores inbound bytes once the owner condemned the worker', () => {
    let condemned = false;
    const { wire, frames, violations } = channel(1024, () => condemned);
    wire.push(Buffer.from('{"t":"bye"}\n'));
    condemned = true;
    wire.push(Buffer.from('{"t":"bye"}\ngarbage\n'));
    expect(frames).toHaveLength(1);
    expect(violations).toEqual([]);
  });

  it('reports the end of the stream: clean, or truncated inside a frame', async () => {
    const clean = channel();
    clean.stdout.end('{"t":"bye"}\n');
    await nextMacrotask();
    expect(clean.ends).toEqual([undefined]);
    const torn = channel();
    torn.stdout.end('{"t":"result","id":"');
    await nextMacrotask();
    expect(torn.ends).toHaveLength(1);
    expect(torn.ends[0]?.code).toBe('SYN_ERR_PROTOCOL');
  });
});

describe('run dispatch', () => {
  const clock = new SimulatedClock();
  const table = (sent: OutboundFrame[] = []) => new RunTable({ clock, cancelGraceMs: 1_000, send: (f) => sent.push(f), onUnresponsive: () => {}, context: () => ({ pid: 7 }) });
  const admission = (runs: RunTable, extra = {}) => ({ agents: ['a'], runs, concurrency: 1, maxFrameBytes: 1 << 20, historyChunks: false, maxHistoryBytes: 1 << 30, pid: 7, unavailable: undefined, context: { pid: 7 }, ...extra });

  it('admitRun returns the encoded run line, checked in the documented order', () => {
    const runs = table();
    expect(admitRun({ id: 'r1', agent: 'a', prompt: 'hi' }, {}, admission(runs))).toBe('{"t":"run","id":"r1","agent":"a","prompt":"hi","history":[],"timeoutMs":null,"stream":false}\n');
    expect(codeOf(tryCall(() => admitRun({ id: 'r1', agent: 'nope', prompt: 'hi' }, {}, admission(runs))))).toBe('SYN_ERR_NO_AGENT');
    const down = tryCall(() => admitRun({ id: 'r1', agent: 'a', prompt: 'hi' }, {}, admission(runs, { unavailable: new Error('down') })));
    expect((down as Error).message).toBe('down');
    void runs.add({ id: 'r1', agent: 'a', prompt: 'hi' }, {}).catch(() => {});
    expect(codeOf(tryCall(() => admitRun({ id: 'r1', agent: 'a', prompt: 'hi' }, {}, admission(runs))))).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(codeOf(tryCall(() => admitRun({ id: 'r2', agent: 'a', prompt: 'hi' }, { signal: AbortSignal.abort() }, admission(runs))))).toBe('SYN_ERR_ABORTED');
    expect(codeOf(tryCall(() => admitRun({ id: 'r2', agent: 'a', prompt: 'hi' }, {}, admission(runs))))).toBe('SYN_ERR_OVERLOADED');
    expect(codeOf(tryCall(() => admitRun({ id: 'r2', agent: 'a', prompt: 'x'.repeat(200) }, {}, admission(table(), { maxFrameBytes: 100 }))))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    runs.failAll(new Error('done') as SynapseError);
  });

  it('admitRun sends run options only to a bridge that announced run_options (else SYN_ERR_INVALID_OPTION)', () => {
    const request = { id: 'r1', agent: 'a', prompt: 'hi', options: { model: 'test', deps: { id: 1 } } };
    expect(codeOf(tryCall(() => admitRun(request, {}, admission(table()))))).toBe('SYN_ERR_INVALID_OPTION');
    expect(admitRun(request, {}, admission(table(), { runOptions: true }))).toBe(
      '{"t":"run","id":"r1","agent":"a","prompt":"hi","history":[],"timeoutMs":null,"stream":false,"options":{"model":"test","deps":{"id":1}}}\n',
    );
  });

  it('admitRun sends toolResults only to a bridge that announced deferred_tools; prompt null only with them', () => {
    const request = { id: 'r1', agent: 'a', prompt: null, toolResults: { approvals: { c1: true } } };
    const refused = tryCall(() => admitRun(request, {}, admission(table())));
    expect(refused).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'toolResults' } });
    expect(admitRun(request, {}, admission(table(), { deferredTools: true }))).toBe(
      '{"t":"run","id":"r1","agent":"a","prompt":null,"history":[],"timeoutMs":null,"stream":false,"toolResults":{"approvals":{"c1":true}}}\n',
    );
    expect(codeOf(tryCall(() => admitRun({ id: 'r1', agent: 'a', prompt: null }, {}, admission(table(), { deferredTools: true }))))).toBe('SYN_ERR_INVALID_ARGUMENT');
  });

  it('routeFrame settles runs and reports frames for unknown runs as violations', async () => {
    const runs = table();
    const calls: string[] = [];
    const to: FrameTarget = {
      runs,
      onPong: () => calls.push('pong'),
      onLog: () => calls.push('log'),
      onHello: () => calls.push('hello'),
      onReady: () => calls.push('ready'),
      onFatal: () => calls.push('fatal'),
      violation: (what) => calls.push(`violation: ${what}`),
    };
    const done = runs.add({ id: 'r1', agent: 'a', prompt: 'hi' }, {});
    routeFrame({ t: 'result', id: 'r1', output: 'ok', messages: [], usage: { requests: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, toolCalls: 0 } }, to);
    expect((await done).output).toBe('ok');
    routeFrame({ t: 'result', id: 'r1', output: 'again', messages: [], usage: { requests: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, toolCalls: 0 } }, to);
    routeFrame({ t: 'error', id: null, kind: 'protocol', type: 'ProtocolError', message: 'x', traceback: '', retryable: false }, to);
    routeFrame({ t: 'pong', seq: 1, loopLagMs: 0, rssBytes: 1, inFlight: 0 }, to);
    routeFrame({ t: 'bye' }, to);
    expect(calls).toEqual(['violation: "result" for unknown run "r1"', 'fatal', 'pong']);
  });
});

describe('watchEof', () => {
  it('reports a still-running process as SYN_ERR_PROTOCOL after the grace (and one I/O turn), not before', async () => {
    const clock = new SimulatedClock();
    const defects: SynapseError[] = [];
    watchEof({ clock, pid: process.pid, settled: () => false, onDefect: (e) => defects.push(e), context: () => ({ pid: process.pid }) });
    await clock.advance(EOF_EXIT_GRACE_MS - 1);
    await nextMacrotask();
    expect(defects).toEqual([]);
    await clock.advance(1);
    await nextMacrotask();
    expect(defects).toHaveLength(1);
    expect(defects[0]).toMatchObject({ code: 'SYN_ERR_PROTOCOL', details: { reason: 'protocol_eof', pid: process.pid } });
  });

  it('stays silent when the worker exited meanwhile (settled) or is already gone', async () => {
    const clock = new SimulatedClock();
    const defects: SynapseError[] = [];
    watchEof({ clock, pid: process.pid, settled: () => true, onDefect: (e) => defects.push(e), context: () => ({}) });
    watchEof({ clock, pid: 2 ** 22 + 12345, settled: () => false, onDefect: (e) => defects.push(e), context: () => ({}) });
    await clock.runAll();
    await nextMacrotask();
    expect(defects).toEqual([]);
  });
});
