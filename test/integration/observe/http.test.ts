import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { emit } from '../../../src/observe/emit.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import type { InspectEvent } from '../../../src/observe/events.ts';
import { startObserveServer } from '../../../src/observe/http.ts';
import type { ObserveServer, ObserveServerOptions } from '../../../src/observe/http.ts';
import { healthFromTree } from '../../../src/observe/inspect.ts';
import type { InspectNode } from '../../../src/observe/inspect.ts';
import { SynapseMetrics } from '../../../src/observe/metrics.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';
import { parsePrometheusText, sampleValue } from '../../unit/observe/prom-text.ts';

const PYTHON = join(process.cwd(), '.venv/bin/python');
const cleanup: (() => Promise<void> | void)[] = [];
const pids: number[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  for (const pid of pids.splice(0)) expect(isAlive(pid), `leaked pid ${pid}`).toBe(false);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startPython(): Promise<ChildProcess> {
  const child = spawn(PYTHON, ['-c', 'import time; print("up", flush=True); time.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  pids.push(child.pid!);
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  });
  await once(child.stdout!, 'data');
  return child;
}

async function serve(options: ObserveServerOptions): Promise<ObserveServer> {
  const server = await startObserveServer(options);
  cleanup.push(() => server.close());
  return server;
}

/** Reads an SSE body until `count` data events arrived. */
async function readEvents(body: ReadableStream<Uint8Array>, count: number, onFirstChunk?: () => void): Promise<InspectEvent[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: InspectEvent[] = [];
  let first = true;
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (data !== undefined) events.push(JSON.parse(data.slice(6)) as InspectEvent);
    }
    if (first) {
      first = false;
      onFirstChunk?.();
    }
  }
  await reader.cancel();
  return events;
}

function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const TREE: InspectNode = {
  kind: 'system',
  id: 'synapse',
  state: 'running',
  children: [
    {
      kind: 'supervisor',
      id: 'agents',
      state: 'running',
      restarts: 1,
      children: [{ kind: 'agent', id: 'support', state: 'ready', inFlight: 1, queued: 0, children: [{ kind: 'worker', id: 'support/0', state: 'ready', pid: 4242, restarts: 1, children: [] }] }],
    },
  ],
};

describe('observability HTTP server', () => {
  it('serves /metrics (parsable, correct content type) with Python RSS from /proc', async () => {
    const events = new SynapseEventEmitter();
    const metrics = new SynapseMetrics();
    cleanup.push(() => metrics.close());
    metrics.bindEvents(events);
    const py = await startPython();
    emit(events, 'worker.ready', { agent: 'support', worker: 0, pid: py.pid!, startupMs: 70 });
    emit(events, 'call.completed', { agent: 'support', requestId: 'r1', latencyMs: 30 });
    emit(events, 'supervisor.restarted', { supervisor: 'agents', child: 'support', actor: 'a2', attempt: 1 });
    const server = await serve({ metrics, events });
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);

    const res = await fetch(`${server.url}metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const exp = parsePrometheusText(await res.text());
    expect(sampleValue(exp, 'synapse_agent_calls_total', { agent: 'support', outcome: 'ok' })).toBe(1);
    expect(sampleValue(exp, 'synapse_restarts_total', { supervisor: 'agents', child: 'support' })).toBe(1);
    expect(sampleValue(exp, 'synapse_python_rss_bytes', { agent: 'support', worker: '0', pid: String(py.pid) })).toBeGreaterThan(1024 * 1024);

    const json = await fetch(`${server.url}metrics.json`);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const snap = (await json.json()) as { agents: Record<string, { calls: { total: number } }>; python: { pid: number }[] };
    expect(snap.agents.support!.calls.total).toBe(1);
    expect(snap.python.map((p) => p.pid)).toEqual([py.pid]);
  });

  it('serves /healthz: 200 for ok/degraded, 503 for unhealthy or a failing health function', async () => {
    let tree: InspectNode = TREE;
    let fail = false;
    const server = await serve({
      health: () => {
        if (fail) throw new Error('health bug');
        return healthFromTree(tree);
      },
    });
    let res = await fetch(`${server.url}healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', agents: { support: { state: 'ready', healthy: true, workers: 1, readyWorkers: 1, inFlight: 1, queued: 0 } } });
    tree = { ...TREE, state: 'stopping' };
    res = await fetch(`${server.url}healthz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { status: string }).status).toBe('unhealthy');
    fail = true;
    res = await fetch(`${server.url}healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unhealthy', agents: {}, error: 'health bug' });
  });

  it('serves /inspect, 404 for what was not provided, 405 for other methods, 500 when inspect throws', async () => {
    let broken = false;
    const server = await serve({
      inspect: () => {
        if (broken) throw new Error('inspect bug');
        return TREE;
      },
    });
    const res = await fetch(`${server.url}inspect?x=1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(TREE);
    expect((await fetch(`${server.url}metrics`)).status).toBe(404);
    expect((await fetch(`${server.url}events`)).status).toBe(404);
    expect((await fetch(`${server.url}nope`)).status).toBe(404);
    const post = await fetch(`${server.url}inspect`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    broken = true;
    const err = await fetch(`${server.url}inspect`);
    expect(err.status).toBe(500);
    expect(await err.json()).toEqual({ error: 'inspect bug' });
  });

  it('streams inspect events over SSE (redacted), and close() ends the stream', async () => {
    const events = new SynapseEventEmitter();
    const server = await serve({ events });
    const res = await fetch(`${server.url}events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const received = readEvents(res.body!, 2, () => {
      // The stream is open (its first chunk arrived): push two events through the emitter.
      emit(events, 'supervisor.restarted', { supervisor: 'agents', child: 'support', actor: 'a9', attempt: 3 }, { now: () => 77 });
      emit(events, 'actor.crashed', { actor: 'a9', reason: 'boom', error: { env: { OPENAI_API_KEY: 'sk-secret' } } }, { now: () => 78 });
    });
    const got = await received;
    expect(got[0]).toEqual({ type: 'supervisor.restarted', at: 77, supervisor: 'agents', child: 'support', actor: 'a9', attempt: 3 });
    expect(got[1]).toMatchObject({ type: 'actor.crashed', error: { env: { OPENAI_API_KEY: '[Redacted]' } } });

    const res2 = await fetch(`${server.url}events`);
    const reader = res2.body!.getReader();
    await reader.read(); // subscribed
    expect(server.sseClients).toBe(1);
    await server.close();
    await server.close();
    let done = false;
    while (!done) done = (await reader.read()).done;
    expect(server.sseClients).toBe(0);
    expect(events.listenerCount('inspect')).toBe(0);
  });

  it('limits SSE clients and drops a client that does not read, keeping memory bounded', async () => {
    const events = new SynapseEventEmitter();
    const server = await serve({ events, maxSseClients: 1, sseBufferBytes: 1024 });
    const socket = connect(server.port, '127.0.0.1');
    cleanup.push(() => void socket.destroy());
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
    await once(socket, 'data'); // headers + retry: the client is registered
    socket.pause(); // … and never reads again
    expect(server.sseClients).toBe(1);
    expect((await fetch(`${server.url}events`)).status).toBe(503);

    const big = 'x'.repeat(64 * 1024);
    let emitted = 0;
    while (server.sseDropped === 0 && emitted < 2000) {
      emit(events, 'worker.crashed', { agent: 'a', worker: 0, pid: 1, code: 'SYN_ERR_AGENT_CRASHED', exitCode: 1, signal: null, stderrTail: big, inFlight: 0 });
      emitted += 1;
    }
    expect(server.sseDropped).toBe(1);
    expect(server.sseClients).toBe(0);
    // Dropped after the kernel socket buffers filled; the process buffered at most one event beyond the limit.
    expect(emitted).toBeLessThan(2000);
  });

  it('serves the live view: self-contained HTML under a strict CSP', async () => {
    const server = await serve({ title: 'My <system>' });
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    const html = await res.text();
    expect(html).toContain('<title>My &#60;system&#62;</title>');
    expect(html).toContain('new EventSource(');
    expect(html).toContain('id="tree"');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/); // no external assets
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const { createHash } = await import('node:crypto');
    expect(csp).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    expect(() => new Function(script)).not.toThrow(); // the inline script at least parses
  });

  it('rejects foreign Host headers when bound to loopback (DNS rebinding)', async () => {
    const server = await serve({ inspect: () => TREE });
    expect((await rawGet(`${server.url}inspect`, { host: 'evil.example' })).status).toBe(421);
    expect((await rawGet(`${server.url}inspect`, { host: `localhost:${server.port}` })).status).toBe(200);
  });

  it('sends SSE keep-alives on the injected clock and stops them on close', async () => {
    const clock = new SimulatedClock();
    const events = new SynapseEventEmitter();
    const server = await serve({ events, clock, sseHeartbeatMs: 1000 });
    const socket = connect(server.port, '127.0.0.1');
    cleanup.push(() => void socket.destroy());
    socket.setEncoding('utf8');
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
    await once(socket, 'data');
    const next = once(socket, 'data');
    await clock.advance(1000);
    expect(String((await next)[0])).toContain(': keep-alive');
    expect(clock.pending).toBe(1);
    await server.close();
    expect(clock.pending).toBe(0);
  });

  it('fails with SYN_ERR_START_FAILED when the port is taken, and validates options', async () => {
    const first = await serve({});
    await expect(startObserveServer({ port: first.port })).rejects.toSatisfy((e: unknown) => isSynapseError(e, 'SYN_ERR_START_FAILED'));
    await expect(startObserveServer({ port: 70_000 })).rejects.toSatisfy((e: unknown) => isSynapseError(e, 'SYN_ERR_INVALID_OPTION'));
    await expect(startObserveServer({ bogus: 1 } as never)).rejects.toSatisfy((e: unknown) => isSynapseError(e, 'SYN_ERR_INVALID_OPTION'));
  });
});

describe('observability HTTP server: backlog and series', () => {
  /** Reads the SSE stream until `count` data events arrived; returns `[id, type]` pairs. */
  async function readIds(res: Response, count: number): Promise<[number, string][]> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const out: [number, string][] = [];
    while (out.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const id = block.find((l) => l.startsWith('id: '));
        const data = block.find((l) => l.startsWith('data: '));
        if (id !== undefined && data !== undefined) out.push([Number(id.slice(4)), (JSON.parse(data.slice(6)) as InspectEvent).type]);
      }
    }
    await reader.cancel();
    return out;
  }
  const restart = (events: SynapseEventEmitter, attempt: number): void =>
    emit(events, 'supervisor.restarted', { supervisor: 'agent:support', child: 'worker:0', actor: `a${attempt}`, attempt });

  it('keeps a bounded, redacted backlog with no client connected, without per-request events, in /events.json', async () => {
    const events = new SynapseEventEmitter();
    const server = await serve({ events, backlogSize: 3 });
    emit(events, 'actor.crashed', { actor: 'a0', reason: 'boom', error: { env: { OPENAI_API_KEY: 'sk-secret' } } });
    for (let i = 1; i <= 3; i++) restart(events, i);
    emit(events, 'call.completed', { agent: 'support', requestId: 'r1', latencyMs: 3 }); // streams live, not kept
    const res = await fetch(`${server.url}events.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = (await res.json()) as { capacity: number; dropped: number; lastId: number; events: { id: number; event: InspectEvent }[] };
    expect(body).toMatchObject({ capacity: 3, dropped: 1, lastId: 5 });
    expect(body.events.map((e) => [e.id, e.event.type, (e.event as { attempt?: number }).attempt])).toEqual([
      [2, 'supervisor.restarted', 1],
      [3, 'supervisor.restarted', 2],
      [4, 'supervisor.restarted', 3],
    ]);

    const all = await serve({ events, backlogExclude: [] });
    emit(events, 'actor.crashed', { actor: 'a0', reason: 'boom', error: { env: { OPENAI_API_KEY: 'sk-secret' } } });
    emit(events, 'call.completed', { agent: 'support', requestId: 'r2', latencyMs: 3 });
    const kept = (await (await fetch(`${all.url}events.json`)).json()) as { events: { event: InspectEvent }[] };
    expect(kept.events.map((e) => e.event.type)).toEqual(['actor.crashed', 'call.completed']);
    expect(JSON.stringify(kept)).not.toContain('sk-secret');

    await expect(startObserveServer({ backlogSize: 0 })).rejects.toSatisfy((e: unknown) => isSynapseError(e, 'SYN_ERR_INVALID_OPTION'));
    await expect(startObserveServer({ backlogExclude: ['no.such.event'] as never })).rejects.toSatisfy((e: unknown) => isSynapseError(e, 'SYN_ERR_INVALID_OPTION'));
  });

  it('replays the backlog after ?after=<id> or Last-Event-ID to a new SSE client, then streams live', async () => {
    const events = new SynapseEventEmitter();
    const server = await serve({ events });
    for (let i = 1; i <= 3; i++) restart(events, i);
    // From the page's fetch of /events.json (lastId 1): ids 2 and 3 are replayed, then live ones follow.
    const res = await fetch(`${server.url}events?after=1`);
    expect(server.sseClients).toBe(1); // registered before its headers were sent
    const got = readIds(res, 3);
    restart(events, 4);
    expect(await got).toEqual([
      [2, 'supervisor.restarted'],
      [3, 'supervisor.restarted'],
      [4, 'supervisor.restarted'],
    ]);
    // A reconnecting browser sends Last-Event-ID, which wins over the query.
    const again = await fetch(`${server.url}events?after=0`, { headers: { 'last-event-id': '3' } });
    expect(await readIds(again, 1)).toEqual([[4, 'supervisor.restarted']]);
    // An id from an earlier server (above ours) gets everything; no id means live only (as before).
    const stale = await fetch(`${server.url}events`, { headers: { 'last-event-id': '999' } });
    expect((await readIds(stale, 4)).map(([id]) => id)).toEqual([1, 2, 3, 4]);
  });

  it('serves /series.json sampled on the injected clock, and close() clears the sampling timer', async () => {
    const clock = new SimulatedClock();
    const events = new SynapseEventEmitter();
    const metrics = new SynapseMetrics();
    cleanup.push(() => metrics.close());
    metrics.bindEvents(events);
    metrics.setSources({ agents: () => [{ agent: 'support', queued: 2, inFlight: 1 }] });
    const server = await serve({ events, metrics, clock, sseHeartbeatMs: 60_000, seriesIntervalMs: 1000, seriesPoints: 10 });
    expect(clock.pending).toBe(2); // heartbeat + series
    await clock.advance(0);
    metrics.recordCall('support', 50);
    restart(events, 1);
    await clock.advance(1000);
    const view = (await (await fetch(`${server.url}series.json`)).json()) as { intervalMs: number; windowMs: number; agents: Record<string, { restarts: number[]; queueDepth: number[]; turnsPerSec: number[] }> };
    expect(view).toMatchObject({ intervalMs: 1000, windowMs: 10_000 });
    expect(view.agents.support).toMatchObject({ restarts: [1], queueDepth: [2], turnsPerSec: [1] });
    expect((await fetch(`${(await serve({})).url}series.json`)).status).toBe(404); // no metrics: no series
    await server.close();
    expect(clock.pending).toBe(0);
  });
});
