// Crashes while processing and while streaming: the caller gets SYN_ERR_AGENT_CRASHED, the
// worker is replaced after its backoff, nothing of the failed turn is committed, the
// conversation goes on, and another agent never notices.
import { describe, expect, it } from 'vitest';
import type { StreamItem } from '../../../src/system.ts';
import { checkHistory, checkRestartsWithinPolicy } from '../../../src/testing/index.ts';
import { FAST, fixtureRef, rejection, useFaultHarness } from './helpers.ts';

const harness = useFaultHarness();
const faults = fixtureRef('faults.py', 'agent');
const counter = fixtureRef('counter.py', 'agent');

describe('crash while processing', () => {
  it('crash_in_tool: caller gets SYN_ERR_AGENT_CRASHED (exit 17), worker replaced, history intact, bystander agent unaffected', async () => {
    const { system, events, spawn } = await harness();
    await spawn('f', faults);
    const bystander = await spawn('other', counter);
    const first = await system.sendMessage('f', { prompt: 'hello' });
    const otherTurn = await system.sendMessage('other', { prompt: 'one' });
    const mark = events.mark();

    const error = await rejection(system.sendMessage('f', { prompt: 'crash_in_tool' }, { conversationId: first.conversationId }));
    expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(error.details).toMatchObject({ exitCode: 17, agent: 'f' });
    await events.waitFor('worker.ready', (e) => e.agent === 'f', { after: mark });

    const next = await system.sendMessage('f', { prompt: 'after' }, { conversationId: first.conversationId });
    expect(next.output).toBe('[faults] ok (re: after)');
    await checkHistory(system, [first, next]);
    expect(await system.history(first.conversationId)).toEqual([...first.messages, ...next.messages]);
    expect(system.agentStatus('f')).toMatchObject({ state: 'ready', crashes: 1, restarts: 1 });

    expect(system.agentStatus('other')).toMatchObject({ state: 'ready', pids: bystander.pids, restarts: 0, crashes: 0 });
    expect((await system.sendMessage('other', { prompt: 'two' }, { conversationId: otherTurn.conversationId })).output).toBe('turns=2');
    expect(events.of('worker.crashed').map((e) => e.agent)).toEqual(['f']);
    checkRestartsWithinPolicy(events, { f: FAST.restart, other: FAST.restart });
  });

  it('every run in flight on the crashing worker fails, coded; queued and later requests succeed on the replacement', async () => {
    const { system, events, spawn } = await harness();
    await spawn('f', faults);
    const mark = events.mark();
    const slow = [1, 2, 3].map((i) => rejection(system.sendMessage('f', { prompt: `slow 5 ${i}` })));
    await events.waitFor('message.routed', undefined, { after: mark });
    const crash = rejection(system.sendMessage('f', { prompt: 'crash_in_tool' }));
    const codes = (await Promise.all([crash, ...slow])).map((e) => e.code);
    expect(codes).toEqual(Array(4).fill('SYN_ERR_AGENT_CRASHED'));
    // Sent while the worker is down: queued (whenUnavailable 'queue') and answered after the restart.
    const queued = system.sendMessage('f', { prompt: 'queued' });
    expect((await queued).output).toBe('[faults] ok (re: queued)');
  });
});

describe('crash while streaming', () => {
  it('crash_mid_stream: the deltas already sent arrive, then the iterator throws SYN_ERR_AGENT_CRASHED (exit 18); nothing committed', async () => {
    const { system, events, spawn } = await harness();
    await spawn('s', faults);
    const first = await system.sendMessage('s', { prompt: 'hello' });
    const mark = events.mark();
    const items: StreamItem[] = [];
    const error = await rejection(
      (async () => {
        for await (const item of system.streamMessage('s', { prompt: 'crash_mid_stream' }, { conversationId: first.conversationId })) items.push(item);
      })(),
    );
    expect(error.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(error.details).toMatchObject({ exitCode: 18 });
    const text = items.filter((i) => i.kind === 'text_delta').map((i) => (i as { delta: string }).delta).join('');
    expect(text).toBe('partial answer then ');
    expect(items.some((i) => i.kind === 'result')).toBe(false);
    expect(await system.history(first.conversationId)).toEqual(first.messages);
    await events.waitFor('worker.ready', (e) => e.agent === 's', { after: mark });

    // The stream path works again on the replacement.
    const after: StreamItem[] = [];
    for await (const item of system.streamMessage('s', { prompt: 'again' }, { conversationId: first.conversationId })) after.push(item);
    expect(after.at(-1)).toMatchObject({ kind: 'result', output: '[faults] ok (re: again)' });
  });
});
