import { describe, expect, it } from 'vitest';
import { ModelRateLimiter, type ModelSlot, type ModelSlotOutcome, type RateLimitOption } from '../../../src/agent/rate-limit.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

function setup(limits: RateLimitOption, maxWaiting = 100) {
  const clock = new SimulatedClock();
  const waited: { runId: string; waitMs: number; outcome: ModelSlotOutcome }[] = [];
  const limiter = new ModelRateLimiter({ agent: 'bot', clock, limits, maxWaiting, onWaited: (e) => waited.push({ ...e }) });
  let n = 0;
  const acquire = (o: { deadlineAt?: number; estTokens?: number; signal?: AbortSignal } = {}) => {
    n++;
    const granted: { slot?: ModelSlot; error?: unknown; at?: number } = {};
    const promise = limiter.acquire({ runId: `r${n}`, callId: 'c1', signal: o.signal ?? new AbortController().signal, deadlineAt: o.deadlineAt, estTokens: o.estTokens }).then(
      (slot) => {
        granted.slot = slot;
        granted.at = clock.now();
        return slot;
      },
      (error: unknown) => {
        granted.error = error;
        return undefined;
      },
    );
    return { granted, promise };
  };
  /** Lets settled promises run their callbacks (no time passes). */
  const flush = () => clock.advance(0);
  return { clock, limiter, waited, acquire, flush };
}

describe('ModelRateLimiter', () => {
  it('maxConcurrentModelRequests: at most N slots held; a release grants the next waiter in order', async () => {
    const { limiter, acquire, flush } = setup({ maxConcurrentModelRequests: 2 });
    const calls = Array.from({ length: 5 }, () => acquire());
    await flush();
    expect(calls.map((c) => c.granted.slot !== undefined)).toEqual([true, true, false, false, false]);
    expect(limiter.active).toBe(2);
    expect(limiter.waiting).toBe(3);
    calls[1]!.granted.slot!.release();
    calls[1]!.granted.slot!.release(); // idempotent: frees one slot, not two
    await flush();
    expect(calls.map((c) => c.granted.slot !== undefined)).toEqual([true, true, true, false, false]);
    expect(limiter.active).toBe(2);
  });

  it('requestsPerMinute: one second of budget at once, then spread evenly on the clock', async () => {
    const { clock, acquire, flush, waited } = setup({ requestsPerMinute: 120 }); // 2/s: burst 2, then one per 500 ms
    const calls = Array.from({ length: 6 }, () => acquire());
    await flush();
    expect(calls.filter((c) => c.granted.slot !== undefined)).toHaveLength(2);
    await clock.advance(499);
    expect(calls.filter((c) => c.granted.slot !== undefined)).toHaveLength(2);
    await clock.advance(1);
    expect(calls.filter((c) => c.granted.slot !== undefined)).toHaveLength(3);
    await clock.advance(1500);
    expect(calls.map((c) => c.granted.at)).toEqual([0, 0, 500, 1000, 1500, 2000]);
    expect(waited.map((w) => w.waitMs)).toEqual([0, 0, 500, 1000, 1500, 2000]);
    expect(clock.pending).toBe(0); // no timer left once the queue is empty
  });

  it('tokensPerMinute: the estimate is debited, the release corrects it to the tokens used', async () => {
    const { clock, acquire, flush } = setup({ tokensPerMinute: 60_000 }); // 1000/s, bucket 1000
    const a = acquire({ estTokens: 100 });
    await flush();
    a.granted.slot!.release(3000); // used far more: the bucket is now 1000 - 3000 = -2000 in debt
    const b = acquire({ estTokens: 100 });
    await flush();
    expect(b.granted.slot).toBeUndefined();
    await clock.advance(1999);
    expect(b.granted.slot).toBeUndefined();
    await clock.advance(1);
    expect(b.granted.at).toBe(2000);
  });

  it('a wait the rpm budget says would pass the deadline fails at once with SYN_ERR_PROVIDER rate_limit + retryAfterMs', async () => {
    const { acquire, flush, waited } = setup({ requestsPerMinute: 60 }); // 1/s
    acquire();
    const late = acquire({ deadlineAt: 500 });
    await flush();
    expect(isSynapseError(late.granted.error, 'SYN_ERR_PROVIDER')).toBe(true);
    const err = late.granted.error as { details: Record<string, unknown> };
    expect(err.details).toMatchObject({ category: 'rate_limit', retryAfterMs: 1000, retryable: true, agent: 'bot', runId: 'r2' });
    expect(waited.at(-1)?.outcome).toBe('rejected');
    const ok = acquire({ deadlineAt: 1500 });
    await flush();
    expect(ok.granted.error).toBeUndefined();
  });

  it('an aborted waiter is released (SYN_ERR_ABORTED) and no longer holds its place', async () => {
    const { limiter, acquire, flush, waited } = setup({ maxConcurrentModelRequests: 1 });
    const first = acquire();
    const ac = new AbortController();
    const second = acquire({ signal: ac.signal });
    const third = acquire();
    await flush();
    ac.abort(new Error('cancelled'));
    await flush();
    expect(isSynapseError(second.granted.error, 'SYN_ERR_ABORTED')).toBe(true);
    expect(limiter.waiting).toBe(1);
    first.granted.slot!.release();
    await flush();
    expect(third.granted.slot).toBeDefined();
    expect(waited.map((w) => w.outcome)).toEqual(['granted', 'aborted', 'granted']);
  });

  it('the wait queue is bounded (SYN_ERR_OVERLOADED) and close() rejects waiters with SYN_ERR_SHUTDOWN', async () => {
    const { clock, limiter, acquire, flush } = setup({ maxConcurrentModelRequests: 1, requestsPerMinute: 6 }, 2);
    acquire();
    const w1 = acquire();
    acquire();
    const over = acquire();
    await flush();
    expect(isSynapseError(over.granted.error, 'SYN_ERR_OVERLOADED')).toBe(true);
    limiter.close();
    await flush();
    expect(isSynapseError(w1.granted.error, 'SYN_ERR_SHUTDOWN')).toBe(true);
    expect(limiter.waiting).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
