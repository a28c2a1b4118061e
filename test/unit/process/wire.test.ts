// The process layer's frame handling (WireChannel: outbound coalescing, inbound decoding and
// violations), run dispatch (admission, routing) and the EOF check — without a Python process.
import { PassThrough } from 'node:stream';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { SynapseError } from '../../../src/errors.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { admitRun, testTable } from '../../helpers/admit.ts';
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

describe('run admission (RunTable.admit)', () => {
  it('writes the encoded run line, checked in the documented order', () => {
    const { admit, table } = testTable();
    expect(admit({ id: 'r1', agent: 'a', prompt: 'hi' })).toBe('{"t":"run","id":"r1","agent":"a","prompt":"hi","history":[],"timeoutMs":null,"stream":false}\n');
    expect(table.size).toBe(1);
    expect(codeOf(tryCall(() => admit({ id: 'r1', agent: 'nope', prompt: 'hi' })))).toBe('SYN_ERR_NO_AGENT');
    const down = tryCall(() => admitRun({ id: 'r1', agent: 'a', prompt: 'hi' }, {}, { unavailable: new Error('down') as SynapseError }));
    expect((down as Error).message).toBe('down');
    expect(codeOf(tryCall(() => admit({ id: 'r1', agent: 'a', prompt: 'hi' })))).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(codeOf(tryCall(() => admit({ id: 'r2', agent: 'a', prompt: 'hi' }, { signal: AbortSignal.abort() })))).toBe('SYN_ERR_ABORTED');
    expect(codeOf(tryCall(() => admit({ id: 'r2', agent: 'a', prompt: 'hi' })))).toBe('SYN_ERR_OVERLOADED');
    expect(codeOf(tryCall(() => admitRun({ id: 'r2', agent: 'a', prompt: 'x'.repeat(200) }, {}, { maxFrameBytes: 100 })))).toBe('SYN_ERR_FRAME_TOO_LARGE');
    table.failAll(new Error('done') as SynapseError);
    expect(table.size).toBe(0);
  });

  it('sends run options only to a bridge that announced run_options (else SYN_ERR_INVALID_OPTION)', () => {
    const request = { id: 'r1', agent: 'a', prompt: 'hi', options: { model: 'test', deps: { id: 1 } } };
    expect(codeOf(tryCall(() => admitRun(request, {})))).toBe('SYN_ERR_INVALID_OPTION');
    expect(admitRun(request, {}, { runOptions: true })).toBe(
      '{"t":"run","id":"r1","agent":"a","prompt":"hi","history":[],"timeoutMs":null,"stream":false,"options":{"model":"test","deps":{"id":1}}}\n',
    );
  });

  it('sends toolResults only to a bridge that announced deferred_tools', () => {
    const request = { id: 'r1', agent: 'a', prompt: null, toolResults: { approvals: { c1: true } } };
    const refused = tryCall(() => admitRun(request, {}));
    expect(refused).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'toolResults' } });
    expect(admitRun(request, {}, { deferredTools: true })).toBe(
      '{"t":"run","id":"r1","agent":"a","prompt":null,"history":[],"timeoutMs":null,"stream":false,"toolResults":{"approvals":{"c1":true}}}\n',
    );
  });

  it('reports a freed slot once per settled run (result, error, acknowledged cancel), never for a failAll', async () => {
    const freed: number[] = [];
    const table = new RunTable({
      clock: new SimulatedClock(),
      cancelGraceMs: 1_000,
      concurrency: 4,
      maxFrameBytes: 1 << 20,
      maxHistoryBytes: 1 << 20,
      send: () => {},
      sendLine: () => {},
      onUnresponsive: () => {},
      onFreed: () => freed.push(table.size),
      context: () => ({ pid: 7 }),
    });
    const usage = { requests: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, toolCalls: 0 };
    const done = table.admit({ id: 'r1', agent: 'a', prompt: 'hi' }, {}, ['a'], undefined);
    const failed = table.admit({ id: 'r2', agent: 'a', prompt: 'hi' }, {}, ['a'], undefined).catch((e: unknown) => e);
    const ac = new AbortController();
    const cancelled = table.admit({ id: 'r3', agent: 'a', prompt: 'hi' }, { signal: ac.signal }, ['a'], undefined).catch((e: unknown) => e);
    const lost = table.admit({ id: 'r4', agent: 'a', prompt: 'hi' }, {}, ['a'], undefined).catch((e: unknown) => e);
    expect(table.result({ t: 'result', id: 'r1', output: 'ok', messages: [], usage })).toBe(true);
    expect((await done).output).toBe('ok');
    table.error({ t: 'error', id: 'r2', kind: 'agent', type: 'ValueError', message: 'x', traceback: '', retryable: false });
    ac.abort();
    expect(freed).toEqual([3, 2]); // the cancelled run still holds its slot
    table.error({ t: 'error', id: 'r3', kind: 'cancelled', type: 'CancelledError', message: '', traceback: '', retryable: false });
    expect(freed).toEqual([3, 2, 1]);
    table.failAll(new Error('gone') as SynapseError);
    expect(freed).toEqual([3, 2, 1]);
    expect(table.size).toBe(0);
    await Promise.all([failed, cancelled, lost]);
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
