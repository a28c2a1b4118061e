// Status adverts and opt-in re-dispatch of synapse/nats over a real nats-server: a host system
// serving real Python agents advertises them on syn.<ns>.status.<hostId>; a front's agentStatus /
// inspect show the hosts; a real crash loop quarantines an agent on the host, which stops taking
// its runs (no_host on the front, with the host's nextRetryAt) until it recovers; a host silent
// for 3 advert periods is dropped (simulated clock on the front); re-dispatch only with
// `redispatch`, and only for runs that never started.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHopFrame, encodeHopFrame, natsFront, natsHost } from '../../../src/nats/index.ts';
import { chaos, SimulatedClock } from '../../../src/testing/index.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs, type LogCapture } from '../../helpers/log-capture.ts';
import { startNats, type NatsServer } from '../../helpers/nats.ts';
import { fixture, nextEvent, rejection, startSystem, tempDir } from '../../helpers/system.ts';
import { FAST, localFixture } from '../faults/helpers.ts';

const NS = 'adv';
let nats: NatsServer;
let host: Awaited<ReturnType<typeof startSystem>>;
let front: Awaited<ReturnType<typeof startSystem>>;
let h: ActorSystem;
let f: ActorSystem;
let logs: LogCapture;
const tmp = tempDir('syn-nats-adv-');
const marker = join(tmp.dir, 'marker');

const stateOf = (agent: string, hostId: string, state: string) => (r: Record<string, unknown>) =>
  r.msg === 'host advert: agent state changed' && r.agent === agent && r.host === hostId && r.state === state;

beforeAll(async () => {
  nats = await startNats();
  host = await startSystem();
  h = host.system;
  await h.spawnAgent({ id: 'faults', agent: fixture('faults.py'), workers: 2, concurrency: 3 });
  await h.spawnAgent({
    ...FAST,
    id: 'q',
    agent: localFixture('flaky_import.py'),
    restart: { intensity: 1, periodMs: 20_000, backoff: { minMs: 20, maxMs: 50 }, quarantine: { minMs: 1_500, maxMs: 1_500 } },
    python: { ...FAST.python, env: { SYNAPSE_FAULT_MARKER: marker } },
  });
  await h.serve(natsHost({ servers: nats.url, namespace: NS, hostId: 'host-a', advertMs: 100, keepaliveMs: 60_000 }));
  logs = captureLogs('info');
  front = await startSystem({ logger: logs.log, logLevel: 'info' });
  f = front.system;
  await f.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: nats.url, namespace: NS, frontId: 'front-adv', hostLostMs: 120_000 }) });
  await f.attachRemoteAgent({ id: 'q', transport: natsFront({ servers: nats.url, namespace: NS, hostLostMs: 120_000 }) });
}, 60_000);

afterAll(async () => {
  await front?.stopAndCheck(true);
  await host?.stopAndCheck(true);
  await nats?.close();
  tmp.remove();
}, 30_000);

describe('status adverts', () => {
  it('agentStatus and inspect of a remote agent show the hosts advertising it (state, inFlight, capacity, advert age)', async () => {
    await logs.waitFor(stateOf('faults', 'host-a', 'ready'));
    const status = f.agentStatus('faults');
    expect(status.state).toBe('ready');
    expect(status.hosts).toEqual([{ id: 'host-a', state: 'ready', inFlight: 0, capacity: 6, advertAgeMs: expect.any(Number) }]);
    expect(status.hosts![0]!.advertAgeMs).toBeLessThan(3 * 100 + 1);
    const node = f.inspect().children[0]!.children.find((n) => n.id === 'faults')!;
    expect(node.children).toEqual([{ kind: 'host', id: 'faults@host-a', name: 'host-a', state: 'ready', inFlight: 0, meta: { capacity: 6, advertAgeMs: expect.any(Number) }, children: [] }]);
  });

  it('a real crash loop quarantines the agent on the host: it stops taking runs (no_host with the host\'s nextRetryAt) and takes them again once recovered', async () => {
    expect((await f.sendMessage('q', { prompt: 'before' })).output).toBe('turns=1');
    writeFileSync(marker, 'raise'); // every restart now fails during init
    const quarantined = nextEvent(h, 'agent.quarantined', (e) => e.agent === 'q');
    chaos(h).kill('q');
    await quarantined;
    await logs.waitFor(stateOf('q', 'host-a', 'quarantined'));
    // The host unsubscribed q's queue group before publishing that advert (same connection, in order).
    const err = await rejection(f.sendMessage('q', { prompt: 'while quarantined' }));
    expect(err).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { agent: 'q', reason: 'no_host', nextRetryAt: expect.any(Number) } });
    const retryIn = (err.details.nextRetryAt as number) - f.clock.now();
    expect(retryIn).toBeGreaterThan(-200); // re-based on the front's clock: ~1.5 s after the quarantine
    expect(retryIn).toBeLessThan(1_600);
    expect(f.agentStatus('q')).toMatchObject({ state: 'quarantined', nextRetryAt: err.details.nextRetryAt, hosts: [{ id: 'host-a', state: 'quarantined' }] });
    expect(h.agentStatus('faults').state).toBe('ready'); // the other agent of the host is still served
    expect((await f.sendMessage('faults', { prompt: 'still here' })).output).toBe('[faults] ok (re: still here)');
    rmSync(marker);
    await nextEvent(h, 'agent.recovered', (e) => e.agent === 'q');
    await logs.waitFor(stateOf('q', 'host-a', 'ready'));
    expect((await f.sendMessage('q', { prompt: 'after' })).output).toBe('turns=1');
  }, 30_000);

  it('a host silent for 3 advert periods is dropped (front on a simulated clock)', async () => {
    const clock = new SimulatedClock(1_000);
    const capture = captureLogs('info');
    const sim = await startSystem({ clock, logger: capture.log, logLevel: 'info' });
    const nc = await connect({ servers: nats.url });
    try {
      await sim.system.attachRemoteAgent({ id: 'ghosted', transport: natsFront({ servers: nats.url, namespace: NS }) });
      const advert = (agents: unknown[]) => nc.publish(`syn.${NS}.status.ghost`, encodeHopFrame({ t: 'status', id: 'ghost', host: 'ghost', advertMs: 100, versions: { hop: 1, worker: 1 }, agents } as never));
      advert([{ id: 'ghosted', state: 'ready', inFlight: 1, capacity: 4 }]);
      await capture.waitFor(stateOf('ghosted', 'ghost', 'ready'));
      await clock.advance(300);
      expect(sim.system.agentStatus('ghosted').hosts).toEqual([{ id: 'ghost', state: 'ready', inFlight: 1, capacity: 4, advertAgeMs: 300 }]);
      await clock.advance(1);
      expect(sim.system.agentStatus('ghosted').hosts).toEqual([]);
      // An advert without the agent (a host that stopped it, or its last advert on stop) drops it at once.
      advert([{ id: 'ghosted', state: 'ready', inFlight: 0, capacity: 4 }]);
      await capture.waitFor((r) => stateOf('ghosted', 'ghost', 'ready')(r) && r.was === 'unknown' && r !== capture.records.find(stateOf('ghosted', 'ghost', 'ready')));
      advert([]);
      await capture.waitFor(stateOf('ghosted', 'ghost', 'gone'));
      expect(sim.system.agentStatus('ghosted').hosts).toEqual([]);
    } finally {
      await nc.close();
      await sim.stopAndCheck(true);
    }
  });
});

/**
 * A scripted host on raw NATS for agent `agent`: refuses the first `refusals` runs, then accepts and
 * answers (`'result-first'`: publishes the result to the run's inbox before it replies `accepted`,
 * the order a front can read them in under load). Counts the cancels it receives (`cancels`).
 */
async function scriptedHost(agent: string, refusals: number, answer: 'result' | 'error' | 'result-first' = 'result'): Promise<{ nc: NatsConnection; runs: () => number; cancels: () => number }> {
  const nc = await connect({ servers: nats.url });
  let runs = 0;
  let cancels = 0;
  nc.subscribe(`syn.${NS}.ctl.scripted`, { callback: (_err, msg) => void (decodeHopFrame(msg.data).t === 'cancel' && cancels++) });
  const subject = `syn.${NS}.run.${agent}`;
  nc.subscribe(subject, {
    queue: subject,
    callback: (_err, msg) => {
      const frame = decodeHopFrame(msg.data);
      if (frame.t !== 'run') return;
      runs++;
      if (runs <= refusals) {
        msg.respond(encodeHopFrame({ t: 'error', id: frame.id, code: 'SYN_ERR_AGENT_UNAVAILABLE', message: 'stopping', details: { agent, state: 'stopped', host: 'scripted' } }));
        return;
      }
      const accepted = encodeHopFrame({ t: 'accepted', id: frame.id, host: 'scripted', ctl: `syn.${NS}.ctl.scripted` });
      const outcome = encodeHopFrame(answer === 'error' ? { t: 'error', id: frame.id, code: 'SYN_ERR_AGENT_FAILED', message: 'boom', details: { type: 'ValueError' } } : { t: 'result', id: frame.id, output: `run ${runs}`, messages: [{ kind: 'request', parts: [] }], usage: {} });
      if (answer === 'result-first') {
        nc.publish(frame.inbox, outcome);
        msg.respond(accepted);
      } else {
        msg.respond(accepted);
        nc.publish(frame.inbox, outcome);
      }
    },
  });
  await nc.flush();
  return { nc, runs: () => runs, cancels: () => cancels };
}

describe('inbox frames read before the accept reply', () => {
  it('a result that overtakes its `accepted` settles the call with its host known, and nothing is cancelled', async () => {
    const s = await scriptedHost('early', 0, 'result-first');
    try {
      await f.attachRemoteAgent({ id: 'early', transport: natsFront({ servers: nats.url, namespace: NS, frontId: 'front-early' }) });
      expect((await f.sendMessage('early', { prompt: 'x' }, { turnId: 'early-1' })).output).toBe('run 1');
      // A second run goes out on the same connection after any cancel the first one sent.
      expect((await f.sendMessage('early', { prompt: 'y' }, { turnId: 'early-2' })).output).toBe('run 2');
      expect(s.cancels()).toBe(0);
    } finally {
      await s.nc.close();
    }
  });
});

describe('opt-in re-dispatch', () => {
  it('default: at most once — a host refusing before accept fails the call, nothing is re-sent', async () => {
    const s = await scriptedHost('rd0', 1);
    try {
      await f.attachRemoteAgent({ id: 'rd0', transport: natsFront({ servers: nats.url, namespace: NS }) });
      const err = await rejection(f.sendMessage('rd0', { prompt: 'x' }));
      expect(err).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { refused: true, host: 'scripted' } });
      expect(s.runs()).toBe(1);
    } finally {
      await s.nc.close();
    }
  });

  it('redispatch { attempts: 2 }: refused twice, then accepted — one call, three sends, one result', async () => {
    const s = await scriptedHost('rd2', 2);
    try {
      await f.attachRemoteAgent({ id: 'rd2', transport: natsFront({ servers: nats.url, namespace: NS }), redispatch: { attempts: 2 } });
      expect((await f.sendMessage('rd2', { prompt: 'x' })).output).toBe('run 3');
      expect(s.runs()).toBe(3);
      expect(logs.records.filter((r) => r.msg === 'remote run never started on a host: re-dispatching' && r.agent === 'rd2').map((r) => r.reason)).toEqual(['refused', 'refused']);
    } finally {
      await s.nc.close();
    }
  });

  it('redispatch gives up after its attempts (no_host each time), and never re-sends a run a host accepted', async () => {
    await f.attachRemoteAgent({ id: 'rd-none', transport: natsFront({ servers: nats.url, namespace: NS }), redispatch: { attempts: 2 } });
    const err = await rejection(f.sendMessage('rd-none', { prompt: 'x' }));
    expect(err.details).toMatchObject({ reason: 'no_host' });
    expect(logs.records.filter((r) => r.msg === 'remote run never started on a host: re-dispatching' && r.agent === 'rd-none')).toHaveLength(2);
    // Accepted, then failed on the host: not re-sent even with redispatch.
    const s = await scriptedHost('rd-acc', 0, 'error');
    try {
      await f.attachRemoteAgent({ id: 'rd-acc', transport: natsFront({ servers: nats.url, namespace: NS }), redispatch: { attempts: 3 } });
      const err2 = await rejection(f.sendMessage('rd-acc', { prompt: 'x' }));
      expect(err2).toMatchObject({ code: 'SYN_ERR_AGENT_FAILED', details: { type: 'ValueError' } });
      expect(s.runs()).toBe(1);
    } finally {
      await s.nc.close();
    }
  });
});
