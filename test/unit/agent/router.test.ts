// Unit tests of the request router's pure logic, with fake workers (real Python is covered in test/integration).
import { describe, expect, it } from 'vitest';
import { AgentRouter, type AgentEvent, type RunResult, type WorkerSlot } from '../../../src/agent/router.ts';
import { SynapseError, synErr } from '../../../src/errors.ts';
import type { RunHandlers, RunRequest } from '../../../src/process/runs.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

interface Call {
  request: RunRequest;
  handlers: RunHandlers;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
}

/**
 * The per-worker concurrency of the fake workers made after the last `makeRouter` (the worker,
 * not the router, counts its slots: `free()` is what it takes now).
 */
let workerConcurrency = 2;

function fakeWorker(index: number) {
  const calls: Call[] = [];
  let active = 0;
  const slot: WorkerSlot = {
    index,
    pid: 1000 + index,
    free: () => workerConcurrency - active,
    run(request, handlers) {
      active++;
      return new Promise((resolve, reject) =>
        calls.push({
          request: { ...request },
          handlers,
          resolve: (r) => {
            active--;
            resolve(r);
          },
          reject: (e) => {
            active--;
            reject(e);
          },
        }),
      );
    },
  };
  return { slot, calls };
}

const usage = { requests: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, toolCalls: 0 };
const result = (output: string): RunResult => ({ output, messages: [], usage });

/** A fake event-loop hold: counts holds taken and releases (a double release counts twice: the router must never do it). */
function fakeKeepAlive() {
  const hold = { taken: 0, released: 0, get held() { return this.taken - this.released; } };
  const keepAlive = () => {
    hold.taken++;
    return () => void hold.released++;
  };
  return { hold, keepAlive };
}

function makeRouter({ concurrency = 2, ...overrides }: Partial<ConstructorParameters<typeof AgentRouter>[0]> & { concurrency?: number } = {}) {
  workerConcurrency = concurrency;
  const clock = new SimulatedClock();
  const events = new SynapseEventEmitter();
  const { hold, keepAlive } = fakeKeepAlive();
  const router = new AgentRouter({
    keepAlive,
    agent: 'a',
    workers: 1,
    queueCapacity: 3,
    timeoutMs: 1000,
    whenUnavailable: 'queue',
    clock,
    events,
    ...overrides,
  });
  return { router, clock, events, hold };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
const codeOf = async (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof SynapseError ? e.code : `not coded: ${String(e)}`));

describe('AgentRouter', () => {
  it('dispatches up to the concurrency cap, queues the rest, and drains the queue as runs finish', async () => {
    const { router } = makeRouter();
    const w = fakeWorker(0);
    router.attach(w.slot);
    const ps = [0, 1, 2].map((i) => router.request({ prompt: `p${i}`, history: [] }));
    expect(w.calls.map((c) => c.request.prompt)).toEqual(['p0', 'p1']);
    expect(router.queued).toBe(1);
    w.calls[0]!.resolve(result('r0'));
    await expect(ps[0]).resolves.toMatchObject({ output: 'r0' });
    expect(w.calls.map((c) => c.request.prompt)).toEqual(['p0', 'p1', 'p2']);
    w.calls[1]!.resolve(result('r1'));
    w.calls[2]!.resolve(result('r2'));
    await expect(Promise.all(ps)).resolves.toHaveLength(3);
    expect(router.inFlight).toBe(0);
  });

  it('rejects with SYN_ERR_OVERLOADED when the bounded queue is full, losing nothing already admitted', async () => {
    const { router } = makeRouter({ concurrency: 1, queueCapacity: 1 });
    const w = fakeWorker(0);
    router.attach(w.slot);
    const a = router.request({ prompt: 'a', history: [] });
    const b = router.request({ prompt: 'b', history: [] });
    expect(await codeOf(router.request({ prompt: 'c', history: [] }))).toBe('SYN_ERR_OVERLOADED');
    w.calls[0]!.resolve(result('a'));
    await a;
    w.calls[1]!.resolve(result('b'));
    await expect(b).resolves.toMatchObject({ output: 'b' });
  });

  it('routes to the least-loaded worker', () => {
    const { router } = makeRouter({ workers: 2, concurrency: 5 });
    const w0 = fakeWorker(0);
    const w1 = fakeWorker(1);
    router.attach(w0.slot);
    router.attach(w1.slot);
    for (let i = 0; i < 4; i++) void router.request({ prompt: `${i}`, history: [] }).catch(() => {});
    expect(w0.calls).toHaveLength(2);
    expect(w1.calls).toHaveLength(2);
    expect(router.state).toBe('ready');
  });

  it('hands a dispatched call its remaining deadline and the caller signal (the worker owns them from then on)', async () => {
    const { router, clock } = makeRouter({ concurrency: 1 });
    const w = fakeWorker(0);
    router.attach(w.slot);
    const ac = new AbortController();
    void router.request({ prompt: 'first', history: [], timeoutMs: 10_000 }).catch(() => {});
    const second = router.request({ prompt: 'second', history: [], timeoutMs: 500, signal: ac.signal });
    expect(w.calls[0]!.request.timeoutMs).toBe(10_000);
    await clock.advance(200);
    w.calls[0]!.resolve(result('done'));
    await flush();
    expect(w.calls[1]!.request.prompt).toBe('second');
    expect(w.calls[1]!.request.timeoutMs).toBe(300);
    expect(w.calls[1]!.handlers.signal).toBe(ac.signal);
    // The router armed no timer of its own for the dispatched call.
    await clock.advance(10_000);
    expect(clock.pending).toBe(0);
    w.calls[1]!.resolve(result('ok'));
    await expect(second).resolves.toMatchObject({ output: 'ok' });
  });

  it('passes a timeout rejection from the worker through as the caller outcome', async () => {
    const { router } = makeRouter();
    const w = fakeWorker(0);
    router.attach(w.slot);
    const p = codeOf(router.request({ prompt: 'slow', history: [], timeoutMs: 100 }));
    w.calls[0]!.reject(synErr('SYN_ERR_TIMEOUT', 'too slow'));
    expect(await p).toBe('SYN_ERR_TIMEOUT');
    expect(router.inFlight).toBe(0);
  });

  it('times out a queued call and removes it from the queue', async () => {
    const { router, clock } = makeRouter({ concurrency: 1 });
    const w = fakeWorker(0);
    router.attach(w.slot);
    void router.request({ prompt: 'busy', history: [], timeoutMs: 10_000 }).catch(() => {});
    const q = codeOf(router.request({ prompt: 'queued', history: [], timeoutMs: 50 }));
    expect(router.queued).toBe(1);
    await clock.advance(50);
    expect(await q).toBe('SYN_ERR_TIMEOUT');
    expect(router.queued).toBe(0);
    expect(w.calls).toHaveLength(1);
  });

  it('turns an AbortSignal into SYN_ERR_ABORTED for a queued call; an already-aborted signal never dispatches', async () => {
    const { router } = makeRouter({ concurrency: 1 });
    const w = fakeWorker(0);
    router.attach(w.slot);
    void router.request({ prompt: 'busy', history: [] }).catch(() => {});
    const ac = new AbortController();
    const p = codeOf(router.request({ prompt: 'x', history: [], signal: ac.signal }));
    expect(router.queued).toBe(1);
    ac.abort(new Error('user left'));
    expect(await p).toBe('SYN_ERR_ABORTED');
    expect(router.queued).toBe(0);
    expect(await codeOf(router.request({ prompt: 'y', history: [], signal: ac.signal }))).toBe('SYN_ERR_ABORTED');
    expect(w.calls).toHaveLength(1);
  });

  it('settles each call exactly once and emits one outcome event', async () => {
    const { router, events } = makeRouter();
    const w = fakeWorker(0);
    router.attach(w.slot);
    const outcomes: string[] = [];
    events.on('call.completed', () => outcomes.push('completed'));
    events.on('call.failed', (e) => outcomes.push(e.code));
    const a = router.request({ prompt: 'a', history: [] });
    const b = codeOf(router.request({ prompt: 'b', history: [] }));
    w.calls[0]!.resolve(result('a'));
    w.calls[1]!.reject(synErr('SYN_ERR_AGENT_CRASHED', 'died'));
    await a;
    expect(await b).toBe('SYN_ERR_AGENT_CRASHED');
    expect(outcomes).toEqual(['completed', 'SYN_ERR_AGENT_CRASHED']);
  });

  it('queues while no worker is up (restart) and dispatches when one attaches', async () => {
    const { router } = makeRouter();
    const p = router.request({ prompt: 'wait', history: [] });
    expect(router.state).toBe('starting');
    expect(router.queued).toBe(1);
    const w = fakeWorker(0);
    router.attach(w.slot);
    w.calls[0]!.resolve(result('ok'));
    await expect(p).resolves.toMatchObject({ output: 'ok' });
    router.detach(0);
    expect(router.state).toBe('restarting');
  });

  it("with whenUnavailable 'reject', fails fast while no worker is up", async () => {
    const { router } = makeRouter({ whenUnavailable: 'reject' });
    expect(await codeOf(router.request({ prompt: 'x', history: [] }))).toBe('SYN_ERR_AGENT_UNAVAILABLE');
  });

  it('quarantine rejects queued and new calls fast with the next retry time, until unquarantined', async () => {
    const { router, clock } = makeRouter();
    const queued = router.request({ prompt: 'q', history: [] });
    router.quarantine(clock.now() + 5000);
    const err = await queued.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SynapseError);
    expect((err as SynapseError).code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    expect((err as SynapseError).details.nextRetryAt).toBe(5000);
    expect(await codeOf(router.request({ prompt: 'x', history: [] }))).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    router.unquarantine();
    const w = fakeWorker(0);
    router.attach(w.slot);
    expect(router.state).toBe('ready');
    const p = router.request({ prompt: 'back', history: [] });
    w.calls[0]!.resolve(result('ok'));
    await expect(p).resolves.toMatchObject({ output: 'ok' });
  });

  describe('start-up failure breaker', () => {
    const startupError = synErr('SYN_ERR_STARTUP_FAILED', 'Python worker failed during start-up: boom', { exitCode: 2, signal: null, stderrTail: 'RuntimeError: boom', traceback: 'Traceback…', type: 'RuntimeError' });
    const summary = { code: 'SYN_ERR_STARTUP_FAILED', message: startupError.message, exitCode: 2, signal: null, stderrTail: 'RuntimeError: boom', traceback: 'Traceback…', type: 'RuntimeError', at: 0 };

    it('a failed start rejects queued and new calls at once with nextRetryAt and the failure (also as cause); the first ready worker closes it', async () => {
      const { router, clock } = makeRouter();
      const w0 = fakeWorker(0);
      router.attach(w0.slot);
      router.detach(0, w0.slot); // crashed after ready: calls queue for the restart
      const queued = router.request({ prompt: 'queued', history: [] });
      expect(router.queued).toBe(1);
      router.startupFailed(summary, startupError, clock.now() + 250);
      const err = (await queued.catch((e: unknown) => e)) as SynapseError;
      expect(err.code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
      expect(err.details).toMatchObject({ agent: 'a', state: 'restarting', nextRetryAt: 250, startupFailure: summary });
      expect(err.cause).toBe(startupError);
      expect(err.message).toContain('boom');
      expect(router.queued).toBe(0);
      expect(router.startupFailure).toEqual(summary);
      // New calls never wait: rejected at admission, nothing queued, no timer left behind.
      expect(await codeOf(router.request({ prompt: 'new', history: [] }))).toBe('SYN_ERR_AGENT_UNAVAILABLE');
      expect(router.queued).toBe(0);
      expect(clock.pending).toBe(0);
      // A start succeeds: closed, calls dispatch again; the rejected ones were not retried.
      const w1 = fakeWorker(0);
      router.attach(w1.slot);
      expect(router.startupFailure).toBeUndefined();
      const p = router.request({ prompt: 'back', history: [] });
      expect(w1.calls.map((c) => c.request.prompt)).toEqual(['back']);
      w1.calls[0]!.resolve(result('ok'));
      await expect(p).resolves.toMatchObject({ output: 'ok' });
      // A later crash after ready queues again (no stale breaker).
      router.detach(0, w1.slot);
      void router.request({ prompt: 'after crash', history: [] }).catch(() => {});
      expect(router.queued).toBe(1);
    });

    it('while another worker is up, calls still go to it (the breaker only rejects when nothing can serve)', async () => {
      const { router, clock } = makeRouter({ workers: 2 });
      const w1 = fakeWorker(1);
      router.attach(w1.slot);
      router.startupFailed(summary, startupError, clock.now() + 100);
      const p = router.request({ prompt: 'served', history: [] });
      expect(w1.calls).toHaveLength(1);
      w1.calls[0]!.resolve(result('ok'));
      await expect(p).resolves.toMatchObject({ output: 'ok' });
      router.detach(1, w1.slot);
      const err = (await router.request({ prompt: 'x', history: [] }).catch((e: unknown) => e)) as SynapseError;
      expect(err.details.startupFailure).toEqual(summary);
    });

    it('quarantine keeps the start-up failure that led to it (or takes a newer one); reopen() clears it', async () => {
      const { router, clock } = makeRouter();
      router.startupFailed(summary, startupError, clock.now() + 100);
      router.quarantine(clock.now() + 2000);
      let err = (await router.request({ prompt: 'x', history: [] }).catch((e: unknown) => e)) as SynapseError;
      expect(err.details).toMatchObject({ state: 'quarantined', nextRetryAt: 2000, startupFailure: summary });
      const newer = { ...summary, exitCode: 21, at: 2000 };
      router.quarantine(clock.now() + 4000, { summary: newer, error: startupError });
      err = (await router.request({ prompt: 'x', history: [] }).catch((e: unknown) => e)) as SynapseError;
      expect(err.details).toMatchObject({ nextRetryAt: 4000, startupFailure: newer });
      router.reopen();
      expect(router.startupFailure).toBeUndefined();
      void router.request({ prompt: 'queued again', history: [] }).catch(() => {});
      expect(router.queued).toBe(1);
    });
  });

  it('close() rejects queued calls with SYN_ERR_SHUTDOWN and refuses new ones', async () => {
    const { router } = makeRouter();
    const p = codeOf(router.request({ prompt: 'x', history: [] }));
    router.close();
    expect(await p).toBe('SYN_ERR_SHUTDOWN');
    expect(await codeOf(router.request({ prompt: 'y', history: [] }))).toBe('SYN_ERR_SHUTDOWN');
  });

  it('passes stream and tool callbacks to the worker', () => {
    const { router } = makeRouter();
    const w = fakeWorker(0);
    router.attach(w.slot);
    const onEvent = (_e: AgentEvent) => {};
    const onToolCall = () => 1;
    void router.request({ prompt: 'x', history: [], onEvent, onToolCall }).catch(() => {});
    expect(w.calls[0]!.request.stream).toBe(true);
    expect(w.calls[0]!.handlers.onEvent).toBe(onEvent);
    expect(w.calls[0]!.handlers.onToolCall).toBe(onToolCall);
  });
});

describe('AgentRouter and the worker as the only counter of its slots', () => {
  it('dispatches by free(), queues while it is 0, and re-checks on pump() (the worker\'s capacity event)', async () => {
    const { router } = makeRouter({ concurrency: 2 });
    const w = fakeWorker(0);
    let held = 0; // cancelled runs Python has not acknowledged yet: the worker still counts them
    const slot: WorkerSlot = { ...w.slot, free: () => w.slot.free() - held };
    router.attach(slot);
    held = 2;
    const p = router.request({ prompt: 'waits', history: [] });
    expect(w.calls).toHaveLength(0);
    expect(router.queued).toBe(1);
    held = 0;
    router.pump();
    expect(w.calls).toHaveLength(1);
    w.calls[0]!.resolve(result('ok'));
    await expect(p).resolves.toMatchObject({ output: 'ok' });
  });

  it('picks the worker with the most free slots', () => {
    const { router } = makeRouter({ workers: 2, concurrency: 3 });
    const w0 = fakeWorker(0);
    const w1 = fakeWorker(1);
    let busy1 = 0;
    router.attach(w0.slot);
    router.attach({ ...w1.slot, free: () => w1.slot.free() + busy1 });
    busy1 = 1; // w1 reports one more free slot than w0 from the start
    void router.request({ prompt: 'a', history: [] }).catch(() => {});
    expect(w1.calls).toHaveLength(1);
    void router.request({ prompt: 'b', history: [] }).catch(() => {});
    void router.request({ prompt: 'c', history: [] }).catch(() => {});
    expect(w0.calls.length + w1.calls.length).toBe(3);
    expect(w0.calls.length).toBeGreaterThanOrEqual(1);
  });
});

describe('AgentRouter detach', () => {
  it('detach(index, slot) removes only that slot: a late report about an old incarnation keeps its replacement', async () => {
    const { router } = makeRouter();
    const old = fakeWorker(0);
    const replacement = fakeWorker(0);
    router.attach(old.slot);
    router.detach(0, old.slot);
    expect(router.state).toBe('restarting');
    const queued = router.request({ prompt: 'q', history: [] });
    expect(old.calls).toHaveLength(0); // a detached worker gets nothing
    router.attach(replacement.slot);
    router.detach(0, old.slot); // stale: ignored
    expect(router.pids()).toEqual([replacement.slot.pid]);
    expect(router.state).toBe('ready');
    replacement.calls[0]!.resolve(result('ok'));
    await expect(queued).resolves.toMatchObject({ output: 'ok' });
  });

  it('re-attaching the attached slot keeps its in-flight count (no over-dispatch)', () => {
    const { router } = makeRouter({ concurrency: 1 });
    const w = fakeWorker(0);
    router.attach(w.slot);
    void router.request({ prompt: 'a', history: [] }).catch(() => {});
    router.attach(w.slot);
    void router.request({ prompt: 'b', history: [] }).catch(() => {});
    expect(w.calls).toHaveLength(1);
    expect(router.queued).toBe(1);
  });
});

describe('AgentRouter event-loop hold', () => {
  it('holds exactly once while requests are queued or in flight and releases when idle', async () => {
    const { router, hold } = makeRouter({ concurrency: 1 });
    expect(hold.taken).toBe(0); // an idle router holds nothing
    const a = router.request({ prompt: 'a', history: [] }); // queued: no worker yet
    expect(hold.held).toBe(1);
    const w = fakeWorker(0);
    router.attach(w.slot);
    const b = router.request({ prompt: 'b', history: [] });
    expect(hold).toMatchObject({ taken: 1, released: 0 });
    w.calls[0]!.resolve(result('a'));
    await a;
    expect(hold.held).toBe(1); // b is in flight now
    w.calls[1]!.resolve(result('b'));
    await b;
    expect(hold).toMatchObject({ taken: 1, released: 1 });
    const c = router.request({ prompt: 'c', history: [] });
    expect(hold).toMatchObject({ taken: 2, released: 1 });
    w.calls[2]!.reject(synErr('SYN_ERR_AGENT_CRASHED', 'died'));
    await c.catch(() => {});
    expect(hold).toMatchObject({ taken: 2, released: 2 });
  });

  it('releases when queued requests leave by timeout, abort, quarantine or close', async () => {
    for (const leave of ['timeout', 'abort', 'quarantine', 'close'] as const) {
      const { router, clock, hold } = makeRouter();
      const ac = new AbortController();
      const p = codeOf(router.request({ prompt: 'q', history: [], signal: ac.signal }));
      expect(hold.held).toBe(1);
      if (leave === 'timeout') await clock.advance(1000);
      else if (leave === 'abort') ac.abort();
      else if (leave === 'quarantine') router.quarantine(clock.now() + 1000);
      else router.close();
      await p;
      expect({ leave, ...hold }).toMatchObject({ leave, taken: 1, released: 1 });
    }
  });

  it('rejections at admission never take the hold', async () => {
    const { router, hold } = makeRouter({ whenUnavailable: 'reject', queueCapacity: 0 });
    expect(await codeOf(router.request({ prompt: 'x', history: [] }))).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    const w = fakeWorker(0);
    router.attach(w.slot);
    const ps = [router.request({ prompt: 'a', history: [] }), router.request({ prompt: 'b', history: [] })];
    expect(await codeOf(router.request({ prompt: 'c', history: [] }))).toBe('SYN_ERR_OVERLOADED');
    expect(hold).toMatchObject({ taken: 1, released: 0 });
    for (const c of w.calls) c.resolve(result('ok'));
    await Promise.all(ps);
    expect(hold).toMatchObject({ taken: 1, released: 1 });
  });
});
