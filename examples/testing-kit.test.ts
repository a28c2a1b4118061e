// A complete fault suite written only against the public API (`synapse`) and the kit
// (`synapse/testing`) — the example of docs/testing.md, run in CI through
// test/integration/testing-kit.test.ts. In your project import from 'synapse' and
// 'synapse/testing' instead of the '#synapse' self-references.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Synapse, type ActorSystem } from '#synapse';
import {
  EventRecorder,
  assertNoLeakedPids,
  chaos,
  checkHistory,
  checkRestartsWithinPolicy,
  describeSchedule,
  faultSchedule,
  replayParameters,
  runFaultSchedule,
} from '#synapse/testing';

const restart = { intensity: 20, periodMs: 10_000, backoff: { minMs: 20, maxMs: 300 } };
let system: ActorSystem;
let events: EventRecorder;

beforeAll(async () => {
  system = await Synapse.start({ logLevel: 'silent' });
  events = new EventRecorder(system);
  await system.spawnAgent({
    id: 'bot',
    agent: 'test/fixtures/agents/faults.py:agent', // answers "[faults] ok (re: …)"; `slow <s>` waits
    workers: 2,
    restart,
    python: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
  });
});

afterAll(async () => {
  events.close();
  await system.stop();
  assertNoLeakedPids(); // every Python worker this process started is gone
});

it('example: a kill -9 mid-turn fails only that turn, coded; the conversation goes on', async () => {
  const first = await system.sendMessage('bot', { prompt: 'hello' });
  const mark = events.mark();
  const inFlight = system.sendMessage('bot', { prompt: 'slow 5' }, { conversationId: first.conversationId });
  await events.waitFor('message.routed', (e) => e.agent === 'bot', { after: mark });
  const c = chaos(system);
  const killed = c.workers('bot').map((w) => c.kill('bot', w.index));
  await expect(inFlight).rejects.toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED' });
  // SIGKILL is asynchronous: wait until both deaths are noticed (the next turn then waits for a restart).
  for (const pid of killed) await events.waitFor('worker.crashed', (e) => e.pid === pid);
  const next = await system.sendMessage('bot', { prompt: 'still there?' }, { conversationId: first.conversationId });
  await checkHistory(system, [first, next]);
  c.close();
});

it('example: random fault schedules keep every invariant', async () => {
  await fc.assert(
    fc.asyncProperty(faultSchedule({ agents: ['bot'], conversations: 2, maxSteps: 6, workers: 2 }), async (steps) => {
      const run = await runFaultSchedule(system, steps, { timeoutMs: 10_000 });
      try {
        run.ledger.check(); // every call settled once: a value or a coded SynapseError
        await checkHistory(system, run.acked, { unackedPrompts: run.unacked });
      } catch (error) {
        console.error(describeSchedule(steps));
        throw error;
      }
    }),
    { ...replayParameters(), numRuns: 3, timeout: 120_000, interruptAfterTimeLimit: 600_000 },
  );
  checkRestartsWithinPolicy(events, { bot: restart });
}, 600_000);
