// A host process (test/fixtures/nats-host-child.ts) killed -9 mid-stream: the front's run fails
// SYN_ERR_AGENT_CRASHED { reason: 'host_lost' } within hostLostMs (+ scheduling slack), nothing
// is committed, and the host's Python workers die with it (no leaked process).
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createInbox } from '@nats-io/transport-node';
import { decodeHopFrame, encodeHopFrame, natsFront } from '../../../src/nats/index.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { startNats, type NatsServer } from '../../helpers/nats.ts';
import { REPO_ROOT, expectPidsGone, rejection, startSystem, tempDir, waitForFile } from '../../helpers/system.ts';

const CHILD = fileURLToPath(new URL('../../fixtures/nats-host-child.ts', import.meta.url));
const HOST_LOST_MS = 1_000;
let nats: NatsServer;
let front: Awaited<ReturnType<typeof startSystem>>;
let f: ActorSystem;
const state = tempDir('syn-nats-host-');
const children: ChildProcess[] = [];

async function startHost(hostId: string): Promise<{ child: ChildProcess; pids: number[] }> {
  const child = fork(CHILD, [nats.url, 'lost', hostId, join(state.dir, hostId)], { cwd: REPO_ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(child);
  const [msg] = (await once(child, 'message')) as [{ ev: string; pids: number[] }];
  expect(msg.ev).toBe('ready');
  return { child, pids: msg.pids };
}

beforeAll(async () => {
  nats = await startNats();
  front = await startSystem();
  f = front.system;
  await f.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: nats.url, namespace: 'lost', hostLostMs: HOST_LOST_MS }) });
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) {
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  }
  await front?.stopAndCheck(true);
  await nats?.close();
  state.remove();
}, 30_000);

describe('a front that vanished', () => {
  it('its inbox gone (no cancel sent): the host\'s next keepalive gets no responders and cancels the Python task', async () => {
    const { child, pids } = await startHost('survivor');
    const marker = join(state.dir, 'front-gone');
    const nc = await connect({ servers: nats.url });
    try {
      const inbox = createInbox();
      const sub = nc.subscribe(inbox);
      const run = encodeHopFrame({ t: 'run', id: 'gone-1', agent: 'faults', front: 'ghost', inbox, prompt: `hang ${marker}`, history: [], timeoutMs: 30_000, tools: [], stream: true });
      const reply = decodeHopFrame((await nc.request('syn.lost.run.faults', run, { timeout: 5_000 })).data);
      expect(reply).toMatchObject({ t: 'accepted', host: 'survivor' });
      for await (const m of sub) if (decodeHopFrame(m.data).t === 'event') break; // the run is under way on the host
      sub.unsubscribe(); // the front "dies": nobody listens on its inbox, no cancel is sent
      expect(await waitForFile(marker, 10_000)).toMatch(/^cancelled /); // keepalive every 200 ms; the run's own deadline is 30 s
    } finally {
      await nc.close();
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      await expectPidsGone(pids);
    }
  }, 40_000);
});

describe('a host lost mid-stream', () => {
  it('kill -9 of the host → SYN_ERR_AGENT_CRASHED host_lost within hostLostMs, nothing committed, its workers gone, the next run fails fast', async () => {
    const { child, pids } = await startHost('victim');
    expect(pids.length).toBe(1);
    const seen: string[] = [];
    let killedAt = 0;
    const err = await rejection(async () => {
      for await (const item of f.streamMessage('faults', { prompt: `hang ${join(state.dir, 'never')}` }, { conversationId: 'lost-1', timeoutMs: 30_000 })) {
        seen.push(item.kind);
        if (item.kind === 'tool_call' && killedAt === 0) {
          killedAt = performance.now();
          child.kill('SIGKILL');
        }
      }
    });
    const after = performance.now() - killedAt;
    expect(seen).toContain('tool_call');
    expect(err.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(err.details).toMatchObject({ agent: 'faults', reason: 'host_lost', host: 'victim', hostLostMs: HOST_LOST_MS });
    expect(after).toBeGreaterThanOrEqual(HOST_LOST_MS - 250); // the last keepalive may be up to 200 ms old at the kill
    expect(after).toBeLessThan(HOST_LOST_MS * 3);
    expect(await f.history('lost-1')).toEqual([]);
    expect(f.agentStatus('faults').crashes).toBe(1);
    await expectPidsGone(pids); // the host's Python worker died with its host (EOF / pdeathsig)
    // No other host: at most once, nothing re-sent; the next run fails fast.
    expect((await rejection(f.sendMessage('faults', { prompt: 'hi' }))).details).toMatchObject({ reason: 'no_host' });
  }, 40_000);
});
