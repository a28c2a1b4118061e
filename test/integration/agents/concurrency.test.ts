// Concurrent requests against real Python workers: every call gets the answer to its own
// prompt (no cross-talk between runs sharing a process), and a multi-worker agent spreads load.
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { collectEvents, example, useSystem } from '../../helpers/system.ts';

let system: ActorSystem;
useSystem(async (s) => {
  system = s;
  await Promise.all([
    system.spawnAgent({ id: 'support', agent: example('support.py') }),
    system.spawnAgent({ id: 'research', agent: example('research.py') }),
    system.spawnAgent({ id: 'support2', agent: example('support.py'), workers: 2 }),
  ]);
});

describe('concurrency (real Python)', () => {
  it('10 concurrent requests to each of two agents: each answer matches its own prompt and agent', async () => {
    const calls = Array.from({ length: 10 }, (_, i) => [
      system.sendMessage('support', { prompt: `where is order ${100 + i}?` }).then((r) => ({ agent: 'support', i, r })),
      system.sendMessage('research', { prompt: `tell me about topic${i} actors` }).then((r) => ({ agent: 'research', i, r })),
    ]).flat();
    const results = await Promise.all(calls);
    expect(results).toHaveLength(20);
    for (const { agent, i, r } of results) {
      expect(typeof r.output).toBe('string');
      if (agent === 'support') expect(r.output).toBe(`[support] order ${100 + i} is not found (re: where is order ${100 + i}?) history=0`);
      else expect(r.output).toBe(`[research] 3 notes on "actors" (re: tell me about topic${i} actors) history=0`);
      expect(r.replayed).toBe(false);
    }
    // Every call got its own conversation and turn.
    expect(new Set(results.map((x) => x.r.conversationId)).size).toBe(20);
    expect(new Set(results.map((x) => x.r.turnId)).size).toBe(20);
  });

  it('10 concurrent requests to one agent: no cross-talk', async () => {
    const orders = ['42', '7', '13', '1', '2', '3', '4', '5', '6', '8'];
    const status: Record<string, string> = { '42': 'shipped', '7': 'processing', '13': 'delivered' };
    const results = await Promise.all(orders.map((o) => system.sendMessage('support', { prompt: `status of order ${o} please` })));
    results.forEach((r, i) => {
      const o = orders[i]!;
      expect(r.output).toBe(`[support] order ${o} is ${status[o] ?? 'not found'} (re: status of order ${o} please) history=0`);
    });
    expect(system.agentStatus('support')).toMatchObject({ state: 'ready', inFlight: 0, queued: 0, restarts: 0 });
  });

  it('2 workers, 20 concurrent requests: spread over both pids, all correct', async () => {
    const status = system.agentStatus('support2');
    expect(status.pids).toHaveLength(2);
    expect(new Set(status.pids).size).toBe(2);
    const routed = collectEvents(system, 'message.routed');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => system.sendMessage('support2', { prompt: `order ${1000 + i}` })));
    const workers = routed.stop().filter((e) => e.agent === 'support2').map((e) => e.worker);
    results.forEach((r, i) => expect(r.output).toBe(`[support] order ${1000 + i} is not found (re: order ${1000 + i}) history=0`));
    expect(workers).toHaveLength(20);
    // Least-loaded routing: both workers took a fair share.
    const counts = [0, 1].map((w) => workers.filter((x) => x === w).length);
    expect(counts[0]).toBeGreaterThanOrEqual(5);
    expect(counts[1]).toBeGreaterThanOrEqual(5);
    expect(system.agentStatus('support2').pids.sort()).toEqual([...status.pids].sort());
  });
});
