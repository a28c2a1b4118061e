// A worker found defective (protocol violation, heartbeat loss) leaves the router at once —
// when its process leaves `ready` — not only once the worker actor's exit is processed: a
// request sent in that window waits for the replacement instead of failing with the old error.
import { describe, expect, it } from 'vitest';
import type { ActorSystem, SendResult } from '../../../src/system.ts';
import { expectPidsGone, fixture, nextEvent, processesOf, rejection, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
useSystem((s) => (system = s), { startTimeoutMs: 30_000 });

async function spawn(id: string, heartbeat: { heartbeatIntervalMs: number; heartbeatTimeoutMs: number } | undefined = undefined): Promise<void> {
  await system.spawnAgent({
    id,
    agent: fixture('faults.py'),
    restart: { backoff: { minMs: 10, maxMs: 50 } },
    ...(heartbeat === undefined ? {} : { python: heartbeat }),
  });
}

describe('a defective worker is detached from the router as soon as its process leaves ready', () => {
  it('protocol violation: the next request (sent before the actor exit is processed) waits for the replacement', async () => {
    await spawn('detach-garbage');
    const pid = system.agentStatus('detach-garbage').pids[0]!;
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'detach-garbage');
    const error = await rejection(system.sendMessage('detach-garbage', { prompt: 'garbage' }));
    expect(error.code).toBe('SYN_ERR_PROTOCOL');
    // Same tick as the rejection: the dying worker's OS exit has not been seen yet.
    expect(system.agentStatus('detach-garbage').pids).toEqual([]);
    const next = await system.sendMessage('detach-garbage', { prompt: 'after' });
    expect(next.output).toBe('[faults] ok (re: after)');
    expect((await ready).pid).not.toBe(pid);
    await expectPidsGone([pid]);
    await system.stopAgent('detach-garbage');
  });

  it('heartbeat timeout: a request sent the moment the worker is declared dead is served by the replacement', async () => {
    await spawn('detach-heartbeat', { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 600 });
    const proc = processesOf(system, 'detach-heartbeat').get(0)!;
    const pid = proc.pid;
    const sent = new Promise<Promise<SendResult>>((resolve) => {
      proc.on('state', (state) => {
        // Registered after the worker's own listener: by now the router must have let it go.
        if (state === 'crashed') resolve(system.sendMessage('detach-heartbeat', { prompt: 'after' }));
      });
    });
    process.kill(pid, 'SIGSTOP'); // alive but silent: only the heartbeat can find out
    const next = await (await sent);
    expect(next.output).toBe('[faults] ok (re: after)');
    const status = system.agentStatus('detach-heartbeat');
    expect(status.pids).toHaveLength(1);
    expect(status.pids[0]).not.toBe(pid);
    expect(status.crashes).toBe(1);
    await expectPidsGone([pid]);
    await system.stopAgent('detach-heartbeat');
  });
});

describe('a cancelled run frees its slot the moment Python acknowledges the cancel', () => {
  it('concurrency 1, heartbeats once a minute: a request queued behind an aborted run is served on the acknowledgement, not at the next heartbeat', async () => {
    await system.spawnAgent({ id: 'release', agent: fixture('faults.py'), concurrency: 1, python: { heartbeatIntervalMs: 60_000, heartbeatTimeoutMs: 120_000 } });
    const controller = new AbortController();
    const routed = nextEvent(system, 'message.routed', (e) => e.agent === 'release');
    const slow = rejection(system.sendMessage('release', { prompt: 'slow 30' }, { signal: controller.signal }));
    await routed;
    controller.abort(new Error('caller gave up'));
    expect((await slow).code).toBe('SYN_ERR_ABORTED');
    // The slot stays taken until Python acknowledges the cancel, so this one queues first. Before
    // 'released' it waited for the next heartbeat (60 s here: past this test's 20 s timeout).
    const next = await system.sendMessage('release', { prompt: 'after the abort' });
    expect(next.output).toBe('[faults] ok (re: after the abort)');
    expect(system.agentStatus('release').restarts).toBe(0);
  }, 20_000);
});
