// Observability of remote agents over a real nats-server (test/helpers/nats.ts): a host system
// serving a real Python agent and a front system attaching it, each with its own metrics
// endpoint and captured logs. The front's /metrics counts remote runs by agent, outcome, code
// and host (and their latency); the host's counts the runs it served by agent and front; both
// sides' log lines of one run carry the host id, the front id and the turn id; the front's
// /inspect and live view (headless Chromium, when installed) show the remote agent's host with
// its state, in-flight/capacity and advert age.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsFront, natsHost } from '../../../src/nats/index.ts';
import type { InspectNode } from '../../../src/observe/inspect.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs, type LogCapture, type LogRecord } from '../../helpers/log-capture.ts';
import { startNats, type NatsServer } from '../../helpers/nats.ts';
import { promSample } from '../../helpers/prom.ts';
import { fixture, rejection, startSystem } from '../../helpers/system.ts';
import { CHROMIUM, HeadlessChromium, chromiumAvailable } from '../observe/cdp.ts';

let nats: NatsServer;
let host: Awaited<ReturnType<typeof startSystem>>;
let front: Awaited<ReturnType<typeof startSystem>>;
let h: ActorSystem;
let f: ActorSystem;
let hostLogs: LogCapture;
let frontLogs: LogCapture;
const NS = 'obs';

beforeAll(async () => {
  nats = await startNats();
  hostLogs = captureLogs('debug');
  frontLogs = captureLogs('debug');
  host = await startSystem({ logger: hostLogs.log, logLevel: 'debug', metrics: { port: 0 } });
  h = host.system;
  await h.spawnAgent({ id: 'faults', agent: fixture('faults.py'), workers: 2, concurrency: 2 });
  await h.serve(natsHost({ servers: nats.url, namespace: NS, hostId: 'obs-host', advertMs: 200 }));
  front = await startSystem({ logger: frontLogs.log, logLevel: 'debug', metrics: { port: 0 } });
  f = front.system;
  await f.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: nats.url, namespace: NS, frontId: 'obs-front' }) });
  await f.attachRemoteAgent({ id: 'nobody', transport: natsFront({ servers: nats.url, namespace: NS, frontId: 'obs-front-2' }) });
}, 60_000);

afterAll(async () => {
  await front?.stopAndCheck(true);
  await host?.stopAndCheck();
  await nats?.close();
}, 30_000);

const scrape = async (system: ActorSystem): Promise<string> => {
  const res = await fetch(`${system.observeUrl!}metrics`);
  expect(res.status).toBe(200);
  return res.text();
};

describe('observability of remote agents', () => {
  it('counts remote runs on the front (agent, outcome, code, host; latency) and served runs on the host (agent, front)', async () => {
    const ok = await f.sendMessage('faults', { prompt: 'hello metrics' }, { turnId: 'obs-ok-1' });
    expect(ok.output).toBe('[faults] ok (re: hello metrics)');
    const failed = await rejection(f.sendMessage('faults', { prompt: 'raise_error' }, { turnId: 'obs-fail-1' }));
    expect(failed.code).toBe('SYN_ERR_AGENT_FAILED');
    const none = await rejection(f.sendMessage('nobody', { prompt: 'hi' }, { turnId: 'obs-none-1' }));
    expect(none).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { reason: 'no_host' } });

    const fm = await scrape(f);
    expect(promSample(fm, 'synapse_remote_runs_total', { agent: 'faults', outcome: 'ok', code: 'none', host: 'obs-host' })).toBe(1);
    expect(promSample(fm, 'synapse_remote_runs_total', { agent: 'faults', outcome: 'failure', code: 'SYN_ERR_AGENT_FAILED', host: 'obs-host' })).toBe(1);
    expect(promSample(fm, 'synapse_remote_runs_total', { agent: 'nobody', outcome: 'interruption', code: 'SYN_ERR_AGENT_UNAVAILABLE', host: 'none' })).toBe(1);
    expect(promSample(fm, 'synapse_remote_run_duration_seconds_count', { agent: 'faults', outcome: 'ok', host: 'obs-host' })).toBe(1);
    const sum = promSample(fm, 'synapse_remote_run_duration_seconds_sum', { agent: 'faults', outcome: 'ok', host: 'obs-host' })!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(30);
    expect(promSample(fm, 'synapse_remote_served_total', { agent: 'faults', front: 'obs-front', outcome: 'ok', code: 'none' })).toBeUndefined(); // a front serves nothing
    // The front's turns committed through its own (memory) store: commit latency by store kind.
    expect(promSample(fm, 'synapse_store_commit_duration_seconds_count', { store: 'memory', outcome: 'committed' })).toBe(1);

    const hm = await scrape(h);
    expect(promSample(hm, 'synapse_remote_served_total', { agent: 'faults', front: 'obs-front', outcome: 'ok', code: 'none' })).toBe(1);
    expect(promSample(hm, 'synapse_remote_served_total', { agent: 'faults', front: 'obs-front', outcome: 'failure', code: 'SYN_ERR_AGENT_FAILED' })).toBe(1);
    expect(hm).not.toMatch(/^synapse_remote_runs_total\{/m); // a host dispatches nothing
  });

  it('logs host id, front id and turn id on both sides of a remote run', async () => {
    await f.sendMessage('faults', { prompt: 'log me' }, { turnId: 'obs-log-1' });
    await rejection(f.sendMessage('faults', { prompt: 'raise_error' }, { turnId: 'obs-log-2' }));
    const byTurn = (logs: LogCapture, turnId: string): LogRecord[] => logs.records.filter((r) => r.turnId === turnId);

    // Front: the accept line (transport) and the settle line (event log), both with host, front and turn id.
    const frontOk = byTurn(frontLogs, 'obs-log-1');
    const accepted = frontOk.find((r) => r.msg === 'remote run accepted');
    expect(accepted).toMatchObject({ level: 20, host: 'obs-host', front: 'obs-front', agent: 'faults' });
    const completed = frontOk.filter((r) => r.event === 'remote.completed');
    expect(completed).toHaveLength(1); // one line per event
    expect(completed[0]).toMatchObject({ level: 20, host: 'obs-host', front: 'obs-front', agent: 'faults', requestId: accepted!.runId });
    const frontFail = byTurn(frontLogs, 'obs-log-2').filter((r) => r.event === 'remote.failed');
    expect(frontFail).toHaveLength(1);
    expect(frontFail[0]).toMatchObject({ level: 40, host: 'obs-host', front: 'obs-front', code: 'SYN_ERR_AGENT_FAILED' });

    // Host: the served line with host, front, turn id and the front's run id; the router's lines carry the turn id.
    const served = byTurn(hostLogs, 'obs-log-1').filter((r) => r.event === 'remote.served');
    expect(served).toHaveLength(1);
    expect(served[0]).toMatchObject({ level: 20, host: 'obs-host', front: 'obs-front', agent: 'faults', runId: accepted!.runId });
    expect(byTurn(hostLogs, 'obs-log-1').some((r) => r.event === 'message.routed')).toBe(true);
    const servedFail = byTurn(hostLogs, 'obs-log-2').filter((r) => r.event === 'remote.served');
    expect(servedFail).toHaveLength(1);
    expect(servedFail[0]).toMatchObject({ level: 30, host: 'obs-host', front: 'obs-front', code: 'SYN_ERR_AGENT_FAILED' });
    // The failure's one warn line on the host is the router's call.failed (with the same turn id).
    expect(byTurn(hostLogs, 'obs-log-2').filter((r) => r.level >= 40).map((r) => r.event)).toEqual(['call.failed']);
  });

  it('the front\'s /inspect shows the remote agent\'s host: state, in-flight, capacity, advert age', async () => {
    await frontLogs.waitFor((r) => r.msg === 'host advert: agent state changed' && r.host === 'obs-host' && r.agent === 'faults' && r.state === 'ready');
    const res = await fetch(`${f.observeUrl!}inspect`);
    const tree = (await res.json()) as InspectNode;
    const agent = tree.children.flatMap((c) => c.children).find((n) => n.id === 'faults')!;
    expect(agent).toMatchObject({ kind: 'agent', meta: { remote: 'nats' } });
    const hostNode = agent.children.find((n) => n.kind === 'host')!;
    // inFlight is the host's count at its last advert (a run of the tests above may still have been in flight then).
    expect(hostNode).toMatchObject({ id: 'faults@obs-host', name: 'obs-host', state: 'ready', inFlight: expect.any(Number), meta: { capacity: 4 } });
    expect(hostNode.meta!.advertAgeMs).toBeGreaterThanOrEqual(0);
    expect(hostNode.meta!.advertAgeMs).toBeLessThan(600); // adverts every 200 ms; dropped after 3 periods
  });
});

const available = chromiumAvailable();
if (!available) console.warn(`[nats/observability.test] live-view test skipped: ${CHROMIUM} not found`);

describe.skipIf(!available)('the front\'s live view in headless Chromium', () => {
  it('lists the remote agent\'s host with its state, in-flight/capacity and advert age', async () => {
    await frontLogs.waitFor((r) => r.msg === 'host advert: agent state changed' && r.host === 'obs-host' && r.state === 'ready');
    const browser = HeadlessChromium.launch();
    try {
      const session = await browser.open(f.observeUrl!);
      const row = await browser.evaluate<string>(
        session,
        `new Promise((resolve, reject) => {
          const find = () => { const r = document.querySelector('#tree [data-host="obs-host"]'); return r ? r.textContent : undefined; };
          const obs = new MutationObserver(() => { const t = find(); if (t) { obs.disconnect(); clearTimeout(timer); resolve(t); } });
          const timer = setTimeout(() => { obs.disconnect(); reject(new Error('no host row; page text:\\n' + document.body.innerText.slice(0, 3000))); }, 10000);
          obs.observe(document, { subtree: true, childList: true, characterData: true });
          const t = find(); if (t) { obs.disconnect(); clearTimeout(timer); resolve(t); }
        })`,
      );
      expect(row).toMatch(/^host\s*obs-host\s*ready/);
      expect(row).toContain('faults@obs-host');
      expect(row).toMatch(/in-flight \d\/4/);
      expect(row).toMatch(/advert \d+\.\d s ago/);
    } finally {
      await browser.close();
    }
    expect(browser.livePids()).toEqual([]);
  }, 30_000);
});
