// Deps factory and lifespan (issue #12) through the public API with real Python: a DB-like pool
// opened by the lifespan once per worker, per-call deps built by the factory (concurrent runs on one
// worker see only their own), a factory that raises (kind deps, no restart), a lifespan that raises
// (start-up failure), a crash with the pool open (the replacement re-enters the lifespan), the
// graceful stop exiting it, delegation to a sub-agent with shared usage, and the feature gate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { example, expectPidsGone, nextEvent, REPO_ROOT, rejection, tempDir, useSystem } from '../../helpers/system.ts';

const SECRET = 's3cret-lifespan-token';
const EX = 'bank_lifespan.py';
const hooks = { agent: example(EX), deps: example(EX, 'deps'), lifespan: example(EX, 'lifespan') };
const tmp = tempDir('synapse-lifespan-');
afterAll(() => tmp.remove());
const logs = captureLogs('trace');
// Interpreter starts on a loaded 2-core machine can take seconds: start-up deadlines are hang guards.
const python = (log: string, env: Record<string, string> = {}) => ({ startTimeoutMs: 90_000, env: { BANK_LIFESPAN_LOG: log, API_TOKEN: SECRET, ...env } });
const bankLog = join(tmp.dir, 'bank.log');
const lines = (file: string): string[] => readFileSync(file, 'utf8').trim().split('\n');

let system: ActorSystem;
useSystem(
  async (s) => {
    system = s;
    await system.spawnAgent({ id: 'bank', ...hooks, concurrency: 32, restart: { backoff: { minMs: 10, maxMs: 50 } }, python: python(bankLog) });
  },
  { system: { logger: logs.log, logLevel: 'trace' }, startTimeoutMs: 120_000 },
);

describe('deps factory + lifespan (real Python)', () => {
  it('the lifespan is entered once, before the worker is ready', () => {
    const [pid] = system.agentStatus('bank').pids;
    expect(lines(bankLog)).toEqual([`open ${pid} 1`]);
  });

  it('concurrent turns with different per-call deps on one worker: each run sees only its own deps', async () => {
    const [pid] = system.agentStatus('bank').pids;
    const names: Record<number, string> = { 123: 'John', 456: 'Ada', 789: 'Grace' };
    const ids = Array.from({ length: 24 }, (_, i) => [123, 456, 789][i % 3]!);
    const results = await Promise.all(ids.map((customer_id, i) => system.sendMessage('bank', { prompt: `balance ${i}?` }, { deps: { customer_id, token: SECRET }, metadata: { tenant: `t${i}` } })));
    results.forEach((r, i) => {
      expect(r.output).toBe(`[bank] customer ${ids[i]} (${names[ids[i]!]}) balance $${{ 123: '100.00', 456: '2500.50', 789: '0.00' }[ids[i]!]} agent=bank tenant=t${i}`);
    });
    // Every run's deps session was exited: only the stats run's own is open now; the pool is the lifespan's.
    const stats = await system.sendMessage('bank', { prompt: 'stats' }, { deps: { customer_id: 1 } });
    expect(stats.output).toBe(`[bank] pool open=True opens=1 sessions=1 pid=${pid}`);
    expect(system.agentStatus('bank')).toMatchObject({ pids: [pid], restarts: 0, inFlight: 0 });
  });

  it('a factory that raises: SYN_ERR_AGENT_FAILED kind deps, nothing committed, no restart, next call works', async () => {
    const before = system.agentStatus('bank');
    const error = await rejection(system.sendMessage('bank', { prompt: 'hi' }, { conversationId: 'deps-fails-1', deps: { fail: true, token: SECRET } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_AGENT_FAILED', details: { kind: 'deps', type: 'LookupError' } });
    expect(error.message).toContain('deps factory');
    expect(error.message).not.toContain(SECRET);
    expect(await system.history('deps-fails-1')).toEqual([]);
    expect(system.agentStatus('bank')).toMatchObject({ pids: before.pids, restarts: before.restarts });
    expect((await system.sendMessage('bank', { prompt: 'again' }, { deps: { customer_id: 456 } })).output).toContain('customer 456 (Ada)');
  });

  it("a run that fails after its deps were built still exits them (the factory's context manager)", async () => {
    const error = await rejection(system.sendMessage('bank', { prompt: 'boom' }, { deps: { customer_id: 123 } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_AGENT_FAILED', details: { kind: 'tool' } });
    expect((await system.sendMessage('bank', { prompt: 'stats' }, { deps: { customer_id: 1 } })).output).toContain('sessions=1 ');
  });

  it('delegation to a sub-agent inside a tool shares usage: the result counts both agents', async () => {
    const r = await system.sendMessage('bank', { prompt: 'delegate: what is APR?' }, { deps: { customer_id: 123 } });
    expect(r.output).toBe('[specialist] what is APR?');
    expect(r.usage).toMatchObject({ requests: 3 }); // the bank agent's two model requests + the specialist's one
  });

  it('crash mid-run with the pool open: typed error, restart, the replacement re-enters the lifespan', async () => {
    const [pid] = system.agentStatus('bank').pids;
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'bank');
    const error = await rejection(system.sendMessage('bank', { prompt: 'crash' }, { deps: { customer_id: 123 } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED', details: { exitCode: 17, pid } });
    const next = await ready;
    expect(next.pid).not.toBe(pid);
    await expectPidsGone([pid!]);
    // The dead worker never exited its lifespan; the new one opened its own pool.
    expect(lines(bankLog)).toEqual([`open ${pid} 1`, `open ${next.pid} 1`]);
    expect((await system.sendMessage('bank', { prompt: 'stats' }, { deps: { customer_id: 1 } })).output).toBe(`[bank] pool open=True opens=1 sessions=1 pid=${next.pid}`);
    expect((await system.sendMessage('bank', { prompt: 'hi' }, { deps: { customer_id: 789 } })).output).toContain('customer 789 (Grace)');
  });

  it('SIGKILL while a tool awaits with the pool open: typed error, restart, lifespan re-entered', async () => {
    const [pid] = system.agentStatus('bank').pids;
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'bank');
    const error = await rejection(async () => {
      for await (const item of system.streamMessage('bank', { prompt: 'hang' }, { deps: { customer_id: 123 } })) {
        if (item.kind === 'tool_call') process.kill(pid!, 'SIGKILL');
      }
    });
    expect(error).toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED', details: { signal: 'SIGKILL', pid } });
    const next = await ready;
    await expectPidsGone([pid!]);
    expect(lines(bankLog).at(-1)).toBe(`open ${next.pid} 1`);
    expect((await system.sendMessage('bank', { prompt: 'hi' }, { deps: { customer_id: 123 } })).output).toContain('customer 123 (John)');
  });

  it('graceful stop exits the lifespan (stopAgent)', async () => {
    const log = join(tmp.dir, 'stop.log');
    await system.spawnAgent({ id: 'bank-stop', ...hooks, python: python(log) });
    const [pid] = system.agentStatus('bank-stop').pids;
    expect((await system.sendMessage('bank-stop', { prompt: 'hi' }, { deps: { customer_id: 123 } })).output).toContain('customer 123');
    await system.stopAgent('bank-stop');
    await expectPidsGone([pid!]);
    expect(lines(log)).toEqual([`open ${pid} 1`, `close ${pid} 1`]);
  });

  it('a lifespan that raises on enter: spawnAgent rejects with SYN_ERR_STARTUP_FAILED (the message, no secrets)', async () => {
    const log = join(tmp.dir, 'fail.log');
    const error = await rejection(system.spawnAgent({ id: 'bank-fail', ...hooks, python: python(log, { BANK_LIFESPAN_FAIL: '1' }) }));
    expect(error.code).toBe('SYN_ERR_STARTUP_FAILED');
    expect(error.message).toContain('database unreachable');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(SECRET);
    expect(system.agentIds()).not.toContain('bank-fail');
  });

  it('a factory or lifespan ref that does not resolve: SYN_ERR_INVALID_OPTION naming it', async () => {
    for (const [option, ref] of [['deps', example(EX, 'no_such_factory')], ['lifespan', 'examples/agents/missing.py:lifespan']] as const) {
      const error = await rejection(system.spawnAgent({ id: `bank-bad-${option}`, ...hooks, [option]: ref, python: python(join(tmp.dir, 'bad.log')) }));
      expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option } });
      expect(error.message).toContain(ref);
      expect(system.agentIds()).not.toContain(`bank-bad-${option}`);
    }
    // Not a ref at all: rejected by the option resolver before any process starts.
    expect(await rejection(system.spawnAgent({ id: 'bank-bad', agent: example(EX), deps: 'not a ref' }))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'deps' } });
  });

  it('a bridge that does not announce deps_factory gets no hooks: SYN_ERR_INVALID_OPTION', async () => {
    const env = { PYTHONPATH: `${REPO_ROOT}test/fixtures/no-deps-factory` };
    const error = await rejection(system.spawnAgent({ id: 'bank-old', ...hooks, python: { ...python(join(tmp.dir, 'old.log')), env } }));
    expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'deps' } });
    expect(error.message).toContain('deps_factory');
  });

  it('deps, metadata and env secrets never appear in the logs', () => {
    expect(logs.records.length).toBeGreaterThan(0);
    expect(JSON.stringify(logs.records)).not.toContain(SECRET);
  });
});
