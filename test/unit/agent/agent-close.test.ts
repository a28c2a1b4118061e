// PythonAgent.close() (stopAgent, a failed spawn, system stop) closes the agent's model request
// limiter (`rateLimit`): a run waiting for a slot is rejected SYN_ERR_SHUTDOWN at once and the
// limiter's budget timer is cleared, not left pending until the waiter's own deadline. No Python
// is started: the limiter is driven directly, on a simulated clock.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { PythonAgent } from '../../../src/agent/agent.ts';
import { resolveAgentOptions } from '../../../src/agent/options.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

function agentWithLimits(clock: SimulatedClock): PythonAgent {
  const options = resolveAgentOptions({ id: 'bot', agent: 'bot.py:agent', rateLimit: { requestsPerMinute: 1 } });
  return new PythonAgent(options, { clock, log: pino({ level: 'silent' }), events: new SynapseEventEmitter(), pidFile: null });
}

describe('PythonAgent.close() and its rateLimit limiter', () => {
  it('rejects the waiting model requests SYN_ERR_SHUTDOWN, clears the budget timer, refuses new ones; reopen admits again', async () => {
    const clock = new SimulatedClock();
    const agent = agentWithLimits(clock);
    const limiter = agent.modelSlots!;
    const call = (runId: string) => ({ runId, callId: 'm1', signal: new AbortController().signal, deadlineAt: undefined });
    const first = await limiter.acquire(call('r1')); // the one request per minute
    const settled: unknown[] = [];
    void limiter.acquire(call('r2')).then(
      () => settled.push('granted'),
      (error: unknown) => settled.push(error),
    );
    await clock.advance(0);
    expect(limiter.waiting).toBe(1);
    expect(clock.pending).toBe(1); // the refill timer (~60 s) the waiter needs
    expect(agent.load().modelSlotsWaiting).toBe(1);

    agent.close();
    await clock.advance(0); // settles the rejection; no time passes
    expect(settled).toHaveLength(1);
    expect(isSynapseError(settled[0], 'SYN_ERR_SHUTDOWN')).toBe(true);
    expect((settled[0] as { details: Record<string, unknown> }).details).toMatchObject({ agent: 'bot' });
    expect(limiter.waiting).toBe(0);
    expect(clock.pending).toBe(0); // no timer left behind
    await expect(limiter.acquire(call('r3'))).rejects.toMatchObject({ code: 'SYN_ERR_SHUTDOWN' });
    first.release(); // a slot granted before the close may still be given back

    agent.reopen(); // a manual restart admits model requests again
    await clock.advance(60_000);
    expect(await limiter.acquire(call('r4'))).toBeDefined();
  });
});
