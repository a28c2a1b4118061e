// A turn that does not finish — crash, timeout, cancel, kill -9 — commits nothing, and the
// history never holds a tool call without its result. The next turn sees every acked turn.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isWellFormed } from '../../../src/conversation/history.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { exchanges, expectPidsGone, fixture, nextEvent, rejection, tempDir, useSystem, waitForFile } from '../../helpers/system.ts';

let system: ActorSystem;
const tmp = tempDir('synapse-interrupted-');
afterAll(() => tmp.remove());

useSystem(async (s) => {
  system = s;
  const restart = { backoff: { minMs: 10, maxMs: 50 } };
  await Promise.all([
    system.spawnAgent({ id: 'counter', agent: fixture('counter.py'), restart }),
    system.spawnAgent({ id: 'faults', agent: fixture('faults.py'), restart }),
  ]);
});

/** Asserts the conversation holds exactly `prompts` (each answered) and is well-formed. */
async function expectHistory(conversationId: string, prompts: string[]): Promise<void> {
  const history = await system.history(conversationId);
  expect(isWellFormed(history)).toBe(true);
  const ex = exchanges(history);
  expect(ex.map((x) => x.prompt)).toEqual(prompts);
  for (const x of ex) expect(x.answer).toBeTypeOf('string');
}

function workerPid(agent: string): number {
  const pid = system.agentStatus(agent).pids[0];
  if (pid === undefined) throw new Error(`agent ${agent} has no ready worker`);
  return pid;
}

describe('interrupted turns commit nothing', () => {
  it('crash in a tool mid-turn (a tool call is open when the process dies)', async () => {
    const c = 'crash-mid-turn';
    await system.sendMessage('faults', { prompt: 'hello' }, { conversationId: c });
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'faults');
    const error = await rejection(system.sendMessage('faults', { prompt: 'crash_in_tool' }, { conversationId: c }));
    expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
    await expectHistory(c, ['hello']);
    await ready;
    await system.sendMessage('faults', { prompt: 'again' }, { conversationId: c });
    await expectHistory(c, ['hello', 'again']);
  });

  it('timeout while a tool hangs', async () => {
    const c = 'timeout-mid-turn';
    await system.sendMessage('faults', { prompt: 'hello' }, { conversationId: c });
    const marker = join(tmp.dir, 'timeout.marker');
    const error = await rejection(system.sendMessage('faults', { prompt: `hang ${marker}` }, { conversationId: c, timeoutMs: 600 }));
    expect(error.code).toBe('SYN_ERR_TIMEOUT');
    await waitForFile(marker, 10_000);
    await expectHistory(c, ['hello']);
    await system.sendMessage('faults', { prompt: 'again' }, { conversationId: c });
    await expectHistory(c, ['hello', 'again']);
  });

  it('cancel via AbortSignal while a tool hangs; a turn queued behind it on the same conversation then runs', async () => {
    const c = 'cancel-mid-turn';
    await system.sendMessage('faults', { prompt: 'hello' }, { conversationId: c });
    const marker = join(tmp.dir, 'cancel.marker');
    const ac = new AbortController();
    const routed = nextEvent(system, 'message.routed', (e) => e.conversationId === c);
    const hanging = rejection(system.sendMessage('faults', { prompt: `hang ${marker}` }, { conversationId: c, signal: ac.signal }));
    const queued = system.sendMessage('counter', { prompt: 'queued behind' }, { conversationId: c });
    await routed;
    ac.abort();
    expect((await hanging).code).toBe('SYN_ERR_ABORTED');
    expect((await queued).output).toBe('turns=2'); // 'hello' + itself: the cancelled turn is not there
    await expectHistory(c, ['hello', 'queued behind']);
  });
});

describe('kill -9 of the worker', () => {
  it('between turns: the next turn (on the restarted worker) sees the full acked history', async () => {
    const c = 'kill-between';
    for (let i = 1; i <= 3; i++) expect((await system.sendMessage('counter', { prompt: `t${i}` }, { conversationId: c })).output).toBe(`turns=${i}`);
    const pid = workerPid('counter');
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'counter');
    process.kill(pid, 'SIGKILL');
    const next = await ready;
    expect(next.pid).not.toBe(pid);
    await expectPidsGone([pid]);
    expect((await system.sendMessage('counter', { prompt: 't4' }, { conversationId: c })).output).toBe('turns=4');
    await expectHistory(c, ['t1', 't2', 't3', 't4']);
  });

  it('between turns, without waiting for the restart: the next turn waits for the new worker', async () => {
    const c = 'kill-no-wait';
    await system.sendMessage('counter', { prompt: 'a' }, { conversationId: c });
    const pid = workerPid('counter');
    const exited = nextEvent(system, 'worker.crashed', (e) => e.agent === 'counter' && e.pid === pid);
    process.kill(pid, 'SIGKILL');
    await exited;
    expect((await system.sendMessage('counter', { prompt: 'b' }, { conversationId: c })).output).toBe('turns=2');
    expect(workerPid('counter')).not.toBe(pid);
  });

  it('during a turn: the caller gets SYN_ERR_AGENT_CRASHED, nothing is committed, the next turn sees only acked turns', async () => {
    const c = 'kill-during';
    // The conversation moves between agents: its history lives in Node, not in a worker.
    expect((await system.sendMessage('counter', { prompt: 'one' }, { conversationId: c })).output).toBe('turns=1');
    expect((await system.sendMessage('counter', { prompt: 'two' }, { conversationId: c })).output).toBe('turns=2');
    const pid = workerPid('faults');
    const routed = nextEvent(system, 'message.routed', (e) => e.conversationId === c && e.agent === 'faults');
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'faults');
    const during = rejection(system.sendMessage('faults', { prompt: 'slow 30' }, { conversationId: c }));
    await routed;
    process.kill(pid, 'SIGKILL');
    const error = await during;
    expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(error.details).toMatchObject({ pid, signal: 'SIGKILL' });
    await expectHistory(c, ['one', 'two']);
    expect((await system.sendMessage('counter', { prompt: 'three' }, { conversationId: c })).output).toBe('turns=3');
    await ready;
    await expectHistory(c, ['one', 'two', 'three']);
  });

  it('during a turn, then a retry with the same turn id runs once', async () => {
    const c = 'kill-retry';
    await system.sendMessage('counter', { prompt: 'one' }, { conversationId: c });
    const pid = workerPid('faults');
    const routed = nextEvent(system, 'message.routed', (e) => e.conversationId === c);
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'faults');
    const first = rejection(system.sendMessage('faults', { prompt: 'slow 0.2' }, { conversationId: c, turnId: 'retry' }));
    await routed;
    process.kill(pid, 'SIGKILL');
    expect((await first).code).toBe('SYN_ERR_AGENT_CRASHED');
    await ready;
    const retry = await system.sendMessage('faults', { prompt: 'slow 0.2' }, { conversationId: c, turnId: 'retry' });
    expect(retry).toMatchObject({ replayed: false, output: '[faults] slow done after 0.2s (re: slow 0.2)' });
    expect((await system.sendMessage('faults', { prompt: 'slow 0.2' }, { conversationId: c, turnId: 'retry' })).replayed).toBe(true);
    await expectHistory(c, ['one', 'slow 0.2']);
  });
});
