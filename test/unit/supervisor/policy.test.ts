import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countInWindow, intensityExceeded, isAbnormal, nextDelay, pruneStamps, shouldRestart } from '../../../src/supervisor/policy.ts';

describe('nextDelay', () => {
  const bounds = { minMs: 100, maxMs: 10_000 };

  it('is minMs on the first attempt whatever rand says', () => {
    expect(nextDelay(0, bounds, () => 0)).toBe(100);
    expect(nextDelay(0, bounds, () => 0.999)).toBe(100);
  });

  it('uses full jitter over [minMs, min(maxMs, minMs·2^attempt)]', () => {
    expect(nextDelay(3, bounds, () => 0)).toBe(100);
    expect(nextDelay(3, bounds, () => 0.5)).toBe(450); // 100 + 0.5·(800 − 100)
    expect(nextDelay(3, bounds, () => 1)).toBe(800);
    expect(nextDelay(20, bounds, () => 1)).toBe(10_000);
    expect(nextDelay(1_000, bounds, () => 1)).toBe(10_000);
  });

  it('is 0 when minMs is 0 (backoff disabled), even for huge attempts', () => {
    expect(nextDelay(0, { minMs: 0, maxMs: 1000 }, () => 0.7)).toBe(0);
    expect(nextDelay(5000, { minMs: 0, maxMs: 1000 }, () => 0.7)).toBe(0);
  });

  it('clamps out-of-range rand values', () => {
    expect(nextDelay(2, bounds, () => -3)).toBe(100);
    expect(nextDelay(2, bounds, () => 7)).toBe(400);
  });

  it('property: minMs ≤ delay ≤ maxMs and monotone in rand', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, minMs, extra, r1, r2) => {
          const b = { minMs, maxMs: minMs + extra };
          const d1 = nextDelay(attempt, b, () => r1);
          const d2 = nextDelay(attempt, b, () => r2);
          expect(d1).toBeGreaterThanOrEqual(minMs);
          expect(d1).toBeLessThanOrEqual(b.maxMs);
          expect(Number.isInteger(d1)).toBe(true);
          if (r1 <= r2) expect(d1).toBeLessThanOrEqual(d2);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('intensityExceeded', () => {
  const limit = { intensity: 3, periodMs: 5000 };

  it('allows exactly `intensity` restarts in the window, not one more', () => {
    expect(intensityExceeded([0, 10, 20], 20, limit)).toBe(false);
    expect(intensityExceeded([0, 10, 20, 30], 30, limit)).toBe(true);
  });

  it('slides: stamps older than periodMs drop out (exactly periodMs old still counts, as OTP)', () => {
    expect(intensityExceeded([0, 10, 20, 5001], 5001, limit)).toBe(false);
    expect(intensityExceeded([0, 10, 20, 5000], 5000, limit)).toBe(true);
  });

  it('intensity 0 means the first restart already exceeds', () => {
    expect(intensityExceeded([7], 7, { intensity: 0, periodMs: 1000 })).toBe(true);
    expect(intensityExceeded([], 7, { intensity: 0, periodMs: 1000 })).toBe(false);
  });

  it('property: agrees with a naive count, and pruning never changes the answer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 1, max: 10_000 }),
        (raw, now, intensity, periodMs) => {
          const stamps = raw.filter((t) => t <= now);
          const naive = stamps.filter((t) => t >= now - periodMs).length;
          expect(countInWindow(stamps, now, periodMs)).toBe(naive);
          expect(intensityExceeded(stamps, now, { intensity, periodMs })).toBe(naive > intensity);
          expect(intensityExceeded(pruneStamps(stamps, now, periodMs), now, { intensity, periodMs })).toBe(naive > intensity);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('isAbnormal / shouldRestart', () => {
  const clean = ['normal', 'shutdown', { shutdown: 'reason' }] as const;
  const abnormal = ['kill', 'killed', new Error('boom'), 'noproc'] as const;

  it.each(clean)('%j is a clean exit', (reason) => {
    expect(isAbnormal(reason)).toBe(false);
    expect(shouldRestart('permanent', reason)).toBe(true);
    expect(shouldRestart('transient', reason)).toBe(false);
    expect(shouldRestart('temporary', reason)).toBe(false);
  });

  it.each(abnormal)('%j is abnormal', (reason) => {
    expect(isAbnormal(reason)).toBe(true);
    expect(shouldRestart('permanent', reason)).toBe(true);
    expect(shouldRestart('transient', reason)).toBe(true);
    expect(shouldRestart('temporary', reason)).toBe(false);
  });

  it('an Error carrying a `shutdown` property is still a crash', () => {
    const err = Object.assign(new Error('x'), { shutdown: true });
    expect(isAbnormal(err)).toBe(true);
  });
});
