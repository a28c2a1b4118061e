/**
 * Pure parts of the load tool (scripts/load): argument validation, the history verifier,
 * replay of the driver's turn sequence and of the chaos schedule from a seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChaos, parseDuration, parseLoadArgs, type LoadConfig } from '../../../scripts/load/args.ts';
import { Chaos } from '../../../scripts/load/chaos.ts';
import { Driver, type TurnSender } from '../../../scripts/load/driver.ts';
import { rng } from '../../../scripts/load/prng.ts';
import { Reservoir } from '../../../scripts/load/samples.ts';
import { verifyConversations } from '../../../scripts/load/verify.ts';
import { isSynapseError, synErr } from '../../../src/errors.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

function optionError(fn: () => unknown): { option: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    if (isSynapseError(error, 'SYN_ERR_INVALID_OPTION')) return { option: error.details.option, message: error.message };
    throw error;
  }
  throw new Error('expected SYN_ERR_INVALID_OPTION');
}

describe('parseLoadArgs', () => {
  it('parses every flag', () => {
    const c = parseLoadArgs(['--agents', '3', '--conversations', '20', '--concurrency', '5', '--duration', '90s', '--chaos', 'kill=0.1/s,stop=3/m', '--json', 'o.json', '--seed', '7', '--workers', '2', '--timeout', '500ms', '--retries', '0', '--turns', '4', '--no-progress']) as LoadConfig;
    expect(c).toEqual({ agents: 3, conversations: 20, concurrency: 5, durationMs: 90_000, chaos: { kill: 0.1, stop: 0.05 }, json: 'o.json', seed: 7, workers: 2, timeoutMs: 500, retries: 0, turnsPerConversation: 4, progress: 'off' });
  });

  it('has defaults sized for about a minute, and --help', () => {
    const c = parseLoadArgs([]) as LoadConfig;
    expect(c).toMatchObject({ agents: 2, workers: 1, conversations: 64, concurrency: 16, durationMs: 50_000, chaos: {}, progress: 'auto' });
    expect(Number.isInteger(c.seed)).toBe(true);
    expect(parseLoadArgs(['-h'])).toBe('help');
  });

  it.each([
    [['--agents', '0'], 'agents'],
    [['--agents', 'two'], 'agents'],
    [['--workers', '1.5'], 'workers'],
    [['--duration', 'soon'], 'duration'],
    [['--duration', '10ms'], 'duration'],
    [['--chaos', 'explode=1/s'], 'chaos'],
    [['--chaos', 'kill=1/s,kill=2/s'], 'chaos'],
    [['--chaos', 'kill=500/s'], 'chaos'],
    [['--chaos', 'kill'], 'chaos'],
    [['--conversations', '4', '--concurrency', '5'], 'concurrency'],
    [['--seed', '1e3'], 'seed'],
    [['--bogus'], 'argv'],
    [['--agents'], 'argv'],
    [['extra'], 'argv'],
  ])('rejects %j naming --%s', (argv, option) => {
    const e = optionError(() => parseLoadArgs(argv));
    expect(e.option).toBe(option);
  });

  it('parses durations and chaos rates', () => {
    expect(parseDuration('d', '1.5m')).toBe(90_000);
    expect(parseDuration('d', '250ms')).toBe(250);
    expect(parseDuration('d', '2')).toBe(2000);
    expect(parseChaos(' garbage=6/m , kill=0.5 ')).toEqual({ garbage: 0.1, kill: 0.5 });
    expect(parseChaos('')).toEqual({});
  });
});

describe('verifyConversations', () => {
  const prompt = (content: string) => ({ kind: 'request', parts: [{ part_kind: 'user-prompt', content }] });
  const call = (id: string) => ({ kind: 'response', parts: [{ part_kind: 'tool-call', tool_call_id: id }] });
  const ret = (id: string) => ({ kind: 'request', parts: [{ part_kind: 'tool-return', tool_call_id: id }] });

  it('passes a clean history and counts each violation kind', async () => {
    const histories: Record<string, unknown[]> = {
      clean: [prompt('a'), call('1'), ret('1'), prompt('b')],
      lost: [prompt('a')],
      dup: [prompt('a'), prompt('b'), prompt('b')],
      order: [prompt('b'), prompt('a')],
      foreign: [prompt('a'), prompt('zzz')],
      dangling: [prompt('a'), call('9')],
      phantom: [prompt('a'), prompt('f')],
    };
    const load = async (id: string) => histories[id] ?? [];
    const v = await verifyConversations(
      Object.keys(histories).map((id) => ({ conversationId: id, acked: id === 'foreign' || id === 'dangling' || id === 'phantom' ? ['a'] : ['a', 'b'], failed: id === 'phantom' ? ['f'] : [] })),
      load,
    );
    expect(v).toMatchObject({ conversations: 7, lost: 1, duplicated: 1, outOfOrder: 1, foreign: 1, danglingToolCalls: 1, phantom: 1 });
    expect(v.examples.length).toBeGreaterThan(0);
    const clean = await verifyConversations([{ conversationId: 'clean', acked: ['a', 'b'], failed: [] }], load);
    expect(clean).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, foreign: 0, danglingToolCalls: 0, phantom: 0, examples: [] });
  });
});

describe('Driver', () => {
  /** A fake system: echoes like the support agent and records every turn sent. */
  function fakeSystem(failEvery = 0): { system: TurnSender; sent: string[] } {
    const sent: string[] = [];
    const counts = new Map<string, number>();
    let n = 0;
    const system: TurnSender = {
      sendMessage: async (_agent, input, options = {}) => {
        sent.push(`${options.conversationId}|${options.turnId}|${input.prompt}`);
        await new Promise<void>((resolve) => setImmediate(resolve)); // like real I/O: the turn ends on a later macrotask
        n++;
        if (failEvery > 0 && n % failEvery === 0) throw synErr('SYN_ERR_AGENT_CRASHED', 'chaos');
        const id = options.conversationId!;
        const history = counts.get(id) ?? 0;
        counts.set(id, history + 1);
        return { output: `[support] x (re: ${input.prompt}) history=${history}`, messages: [], usage: {}, conversationId: id, turnId: options.turnId!, replayed: false };
      },
    };
    return { system, sent };
  }

  async function drive(seed: number, turns: number, failEvery = 0) {
    const fake = fakeSystem(failEvery);
    const driver = new Driver({ system: fake.system, agents: ['a', 'b'], conversations: 6, concurrency: 3, timeoutMs: 1000, retries: 1, maxTurns: 4, seed, now: () => 0, delay: () => new Promise<void>((resolve) => setImmediate(resolve)) });
    const done = driver.start();
    while (driver.counters.started < turns) await new Promise<void>((resolve) => setImmediate(resolve)); // yield, no timer
    driver.stop();
    await done;
    return { driver, sent: fake.sent };
  }

  it('replays the same turn sequence per loop from the same seed, and another from another seed', async () => {
    // Loop d owns the conversations whose index ≡ d (mod 3): its own sequence is seed-determined.
    const perLoop = (sent: string[]) => [0, 1, 2].map((d) => sent.filter((s) => Number(/-c(\d+)\./.exec(s)![1]) % 3 === d).slice(0, 20));
    const a = await drive(42, 90);
    const b = await drive(42, 90);
    const c = await drive(43, 90);
    expect(perLoop(a.sent)).toEqual(perLoop(b.sent));
    expect(perLoop(a.sent)).not.toEqual(perLoop(c.sent.map((s) => s.replaceAll('load-43-', 'load-42-'))));
    expect(a.driver.counters).toMatchObject({ crossTalk: 0, historyMismatch: 0, failed: 0 });
    // Conversations rotate after maxTurns and every one is in the records.
    const records = a.driver.records();
    expect(records.reduce((n, r) => n + r.acked.length, 0)).toBe(a.driver.counters.acked);
    expect(records.every((r) => r.acked.length <= 4)).toBe(true);
    expect(records.length).toBeGreaterThan(6);
  });

  it('retries a failed turn with the same turn id and counts outcomes per attempt', async () => {
    const { driver, sent } = await drive(1, 30, 5);
    const k = driver.counters;
    expect(k.retries).toBeGreaterThan(0);
    expect(k.outcomes.SYN_ERR_AGENT_CRASHED).toBe(k.retries + k.failed);
    expect(k.outcomes.ok).toBe(k.acked);
    // A retry repeats the turn id and the prompt of the failed attempt.
    const ids = sent.map((s) => s.split('|')[1]);
    expect(new Set(ids).size).toBeLessThan(ids.length);
  });
});

describe('Chaos', () => {
  function schedule(seed: number) {
    const clock = new SimulatedClock();
    const hits: string[] = [];
    const slots = [
      { agent: 'a', worker: 0, pid: 100, state: 'ready' },
      { agent: 'b', worker: 0, pid: 200, state: 'ready' },
      { agent: 'b', worker: 1, pid: undefined, state: 'spawning' },
    ];
    const chaos = new Chaos({ rates: { kill: 1, stop: 0.05, garbage: 2 }, seed, clock, slots: () => slots, signal: (pid, sig) => hits.push(`${clock.now().toFixed(3)} ${pid} ${sig}`) });
    return { clock, hits, chaos };
  }

  it('fires a seeded Poisson schedule at ready workers only, and resumes stopped workers on close', async () => {
    const a = schedule(5);
    const b = schedule(5);
    await a.clock.advance(20_000);
    await b.clock.advance(20_000);
    expect(a.hits).toEqual(b.hits);
    const fired = a.chaos.fired;
    // ~ (1 + 2) × 20 s × 2/3 ready slots ≈ 40 expected; a loose band still catches a broken rate.
    expect(fired).toBeGreaterThan(15);
    expect(fired).toBeLessThan(120);
    expect(a.chaos.counts.kill.skipped + a.chaos.counts.stop.skipped + a.chaos.counts.garbage.skipped).toBeGreaterThan(0);
    expect(a.hits.every((h) => !h.includes('undefined'))).toBe(true);
    const stops = a.hits.filter((h) => h.endsWith('SIGSTOP')).length;
    a.chaos.close();
    a.chaos.close();
    expect(stops).toBeLessThanOrEqual(2); // a stopped pid is not hit again
    expect(a.hits.filter((h) => h.endsWith('SIGCONT')).length).toBe(stops);
    expect(a.clock.pending).toBe(0);
    await a.clock.advance(10_000);
    expect(a.chaos.fired).toBe(fired);
    b.chaos.close();
    const c = schedule(6);
    await c.clock.advance(20_000);
    c.chaos.close();
    expect(c.hits).not.toEqual(b.hits.slice(0, c.hits.length));
  });
});

describe('prng and reservoir', () => {
  it('rng is deterministic per (seed, stream) and uniform-ish in [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.string(), (seed, stream) => {
        const a = rng(seed, stream);
        const b = rng(seed, stream);
        for (let i = 0; i < 20; i++) {
          const x = a.next();
          expect(x).toBe(b.next());
          expect(x >= 0 && x < 1).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reservoir percentiles are exact below capacity and memory stays bounded above it', () => {
    const r = new Reservoir(1000, 1);
    for (let i = 1; i <= 100; i++) r.add(i);
    expect(r.summary()).toMatchObject({ count: 100, p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 });
    const big = new Reservoir(100, 1);
    for (let i = 0; i < 10_000; i++) big.add(i % 10);
    expect(big.count).toBe(10_000);
    expect(big.summary().max).toBe(9);
  });
});
