// Runs against one shared real Python worker: handshake, concurrency, streaming, TS tools,
// agent failures, cancellation and deadlines. The worker stays healthy throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PythonWorker } from '../../../src/process/worker.ts';
import type { ProcessStats } from '../../../src/process/worker.ts';
import type { StreamEvent } from '../../../src/protocol/frames.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { assertNoLeakedPids } from '../../helpers/pids.ts';
import { exampleRef, fixtureRef, workerOptions } from '../../helpers/python.ts';
import { rejection } from '../../helpers/system.ts';

const logs = captureLogs('debug');
let proc: PythonWorker;

beforeAll(async () => {
  proc = await PythonWorker.start(
    workerOptions(
      [
        { name: 'noop', ref: exampleRef('noop.py', 'handler') },
        { name: 'support', ref: exampleRef('support.py', 'agent') },
        { name: 'ts_tools', ref: exampleRef('ts_tools.py', 'agent') },
        { name: 'faults', ref: fixtureRef('faults.py', 'agent') },
      ],
      {
        concurrency: 12,
        maxFrameBytes: 256 * 1024,
        heartbeatIntervalMs: 100,
        log: logs.log,
        label: { agent: 'runs-test', worker: 0 },
        tools: [{ name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
      },
    ),
  );
});

afterAll(async () => {
  const exit = await proc.close();
  expect(exit).toEqual({ exitCode: 0, signal: null });
  assertNoLeakedPids();
});

describe('PythonWorker with a real worker', () => {
  it('completes the handshake: hello versions, loaded agents, ready state', () => {
    expect(proc.state).toBe('ready');
    expect(proc.pid).toBeGreaterThan(0);
    expect(proc.hello).toMatchObject({ t: 'hello', v: 1, pid: proc.pid });
    expect(proc.hello?.pydanticAi).toMatch(/^\d+\.\d+/);
    expect([...proc.agents].sort()).toEqual(['faults', 'noop', 'support', 'ts_tools']);
  });

  it('echoes through a plain handler', async () => {
    const result = await proc.run({ id: 'noop-1', agent: 'noop', prompt: 'héllo ✓' });
    expect(result.output).toBe('héllo ✓');
    // A committable turn in pydantic-ai's shape: the user prompt and the handler's text (#12).
    expect(result.messages).toEqual([
      expect.objectContaining({ kind: 'request', parts: [expect.objectContaining({ part_kind: 'user-prompt', content: 'héllo ✓' })] }),
      expect.objectContaining({ kind: 'response', parts: [expect.objectContaining({ part_kind: 'text', content: 'héllo ✓' })] }),
    ]);
  });

  it('runs 10 concurrent requests on one process with no cross-talk', async () => {
    const prompts = Array.from({ length: 10 }, (_, i) => `where is order ${100 + i}?`);
    const results = await Promise.all(prompts.map((prompt, i) => proc.run({ id: `c-${i}`, agent: 'support', prompt })));
    results.forEach((r, i) => {
      expect(r.output).toContain(`(re: ${prompts[i]})`);
      expect(r.output).toContain(`order ${100 + i}`);
      expect(r.messages.length).toBeGreaterThan(0);
      expect(r.usage.requests).toBeGreaterThanOrEqual(1);
    });
    expect(proc.stats().inFlight).toBe(0);
  });

  it('streams text deltas that add up to the output, plus tool events', async () => {
    const events: StreamEvent[] = [];
    const result = await proc.run({ id: 'stream-1', agent: 'support', prompt: 'where is order 7?', stream: true }, { onEvent: (e) => events.push(e) });
    const text = events.flatMap((e) => (e.kind === 'text_delta' ? [e.delta] : [])).join('');
    expect(text).toBe(result.output);
    expect(events.some((e) => e.kind === 'tool_call')).toBe(true);
    expect(events.some((e) => e.kind === 'tool_result')).toBe(true);
  });

  it('answers tool_call frames with the TS handler result', async () => {
    const calls: unknown[] = [];
    const result = await proc.run(
      { id: 'tool-ok', agent: 'ts_tools', prompt: 'weather in Paris?' },
      {
        onToolCall: (call) => {
          calls.push({ tool: call.tool, args: call.args, runId: call.runId });
          return { city: 'Paris', tempC: 21 };
        },
      },
    );
    expect(calls).toEqual([{ tool: 'get_weather', args: { city: 'Paris' }, runId: 'tool-ok' }]);
    expect(result.output).toBe('[weather] {"city": "Paris", "tempC": 21} (re: weather in Paris?)');
  });

  it('sends a throwing TS tool back as ok:false so the model sees the error', async () => {
    const result = await proc.run(
      { id: 'tool-throw', agent: 'ts_tools', prompt: 'weather in Oslo?' },
      {
        onToolCall: async () => {
          throw new Error('weather service down');
        },
      },
    );
    expect(result.output).toContain('unavailable');
    expect(result.output).toContain('weather service down');
  });

  it('maps an agent exception to SYN_ERR_AGENT_FAILED with kind, type and traceback; the worker stays ready', async () => {
    const error = await rejection(proc.run({ id: 'raise-1', agent: 'faults', prompt: 'raise_error boom' }));
    expect(error.code).toBe('SYN_ERR_AGENT_FAILED');
    expect(error.kind).toBe('failure');
    expect(error.details).toMatchObject({ kind: 'agent', type: 'ValueError', runId: 'raise-1', pid: proc.pid, agent: 'runs-test', worker: 0 });
    expect(String(error.details.traceback)).toContain('ValueError');
    expect(typeof error.details.retryable).toBe('boolean');
    expect(proc.state).toBe('ready');
    expect((await proc.run({ id: 'after-raise', agent: 'noop', prompt: 'still here' })).output).toBe('still here');
  });

  it('survives user print() noise, including JSON-looking lines', async () => {
    const result = await proc.run({ id: 'noise-1', agent: 'faults', prompt: 'print_noise now' });
    expect(result.output).toBe('[faults] printed noise (re: print_noise now)');
    expect(proc.state).toBe('ready');
    expect((await proc.run({ id: 'after-noise', agent: 'noop', prompt: 'x' })).output).toBe('x');
  });

  it('an aborted signal cancels the run in Python too', async () => {
    const controller = new AbortController();
    const running = proc.run(
      { id: 'hang-signal', agent: 'faults', prompt: 'hang' },
      { signal: controller.signal, onEvent: (e) => e.kind === 'tool_call' && controller.abort(new Error('user left')) },
    );
    const error = await rejection(running);
    expect(error.code).toBe('SYN_ERR_ABORTED');
    expect((error.cause as Error).message).toBe('user left');
    await logs.waitFor((r) => r.msg === 'cancelled hang-signal');
  });

  it('enforces timeoutMs with SYN_ERR_TIMEOUT', async () => {
    const error = await rejection(proc.run({ id: 'slow-timeout', agent: 'faults', prompt: 'slow 30', timeoutMs: 300 }));
    expect(error.code).toBe('SYN_ERR_TIMEOUT');
    expect(error.details.runId).toBe('slow-timeout');
    expect(proc.state).toBe('ready');
  });

  it('reports health from pongs', async () => {
    const stats = await new Promise<ProcessStats>((resolve) => proc.once('health', resolve));
    expect(stats.pid).toBe(proc.pid);
    expect(stats.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(stats.lastPongAt).toBeTypeOf('number');
    expect(proc.stats().lastPongAt).toBeTypeOf('number');
  });

  it('forwards Python log records to pino with the run id', async () => {
    await logs.waitFor((r) => r.pyLogger === 'faults' && typeof r.runId === 'string');
    expect(logs.records.some((r) => r.pythonPid === proc.pid)).toBe(true);
  });

  describe('argument errors (the worker is unaffected)', () => {
    it('unknown agent → SYN_ERR_NO_AGENT', async () => {
      expect((await rejection(proc.run({ id: 'x1', agent: 'nope', prompt: 'p' }))).code).toBe('SYN_ERR_NO_AGENT');
    });

    it('duplicate in-flight id → SYN_ERR_INVALID_ARGUMENT', async () => {
      const first = proc.run({ id: 'dup', agent: 'faults', prompt: 'slow 0.2' });
      expect((await rejection(proc.run({ id: 'dup', agent: 'noop', prompt: 'p' }))).code).toBe('SYN_ERR_INVALID_ARGUMENT');
      await first;
    });

    it('a request above maxFrameBytes → SYN_ERR_FRAME_TOO_LARGE for that run only', async () => {
      const error = await rejection(proc.run({ id: 'big', agent: 'noop', prompt: 'x'.repeat(300 * 1024) }));
      expect(error.code).toBe('SYN_ERR_FRAME_TOO_LARGE');
      expect(proc.state).toBe('ready');
    });

    it('an already-aborted signal rejects without sending', async () => {
      const error = await rejection(proc.run({ id: 'pre-aborted', agent: 'noop', prompt: 'p' }, { signal: AbortSignal.abort() }));
      expect(error.code).toBe('SYN_ERR_ABORTED');
      expect(proc.stats().inFlight).toBe(0);
    });
  });
});
