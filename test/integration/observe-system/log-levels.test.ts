// Logs keep their documented levels (docs/observability.md, EVENT_LEVELS): a real Python agent
// crashes for real (faults.py crash_in_tool: the tool os._exit(17)s), is restarted by its
// supervisor, crashes again past its intensity and is quarantined; every event emitted on the way
// is one log line, at its level, from the one event logger, and no layer logs its own copy.
// A misuse (no interpreter at spawnAgent) is one short line with its code, no stack.
import { afterEach, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { EVENT_NAMES, levelOf } from '../../../src/observe/event-log.ts';
import type { SynapseEventName } from '../../../src/observe/events.ts';
import { captureLogs, type LogRecord } from '../../helpers/log-capture.ts';
import { fixture, nextEvent, rejection, startSystem } from '../../helpers/system.ts';

type Emitted = { type: SynapseEventName; error?: unknown; pid?: number };
const PINO_LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
const EVENTS = new Set<string>(EVENT_NAMES);
/** Lines layers used to log beside the events (each a second copy of one). */
const COPIES = ['actor spawned', 'actor stopped', 'actor killed', 'actor crashed', 'mailbox full: message dropped', 'python worker ready', 'python worker died', 'python worker exited', 'spare ready'];

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The expected level of each event, in order: the table, and a crash wrapping an earlier crash's error at debug. */
function expectedLevels(emitted: readonly Emitted[]): number[] {
  const crashes = new Set<unknown>();
  return emitted.map((e) => {
    let level = levelOf(e.type, e as never);
    if (e.type === 'actor.crashed') {
      let consequence = false;
      for (let c: unknown = e.error; c instanceof Error; c = c.cause) if (crashes.has(c)) consequence = true;
      if (consequence) level = 'debug';
      crashes.add(e.error);
    }
    return PINO_LEVEL[level];
  });
}

describe('log levels of a real crash, restart and quarantine', () => {
  it('one event = one line at its documented level; supervisor lines name the agent; the Python pid is pythonPid', async () => {
    const logs = captureLogs('debug');
    const { system, stopAndCheck } = await startSystem({ logger: logs.log, logLevel: 'debug' });
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : stopAndCheck()));
    // Every named event (the kernel's actor.* events are not on the inspect stream).
    const emitted: Emitted[] = [];
    for (const name of EVENT_NAMES) system.events.on(name, (e: object) => emitted.push({ type: name, ...e }));
    const mark = logs.records.length; // lines from here on belong to events collected above (or none)

    await system.spawnAgent({
      id: 'crashy',
      agent: fixture('faults.py'),
      restart: { intensity: 1, periodMs: 60_000, backoff: { minMs: 0, maxMs: 0 }, quarantine: { minMs: 60_000, maxMs: 60_000 } },
    });
    expect((await system.sendMessage('crashy', { prompt: 'hello' })).output).toContain('[faults] ok');
    const restarted = nextEvent(system, 'worker.ready', (e) => e.agent === 'crashy');
    expect((await rejection(system.sendMessage('crashy', { prompt: 'crash_in_tool' }))).code).toBe('SYN_ERR_AGENT_CRASHED');
    await restarted;
    const quarantined = nextEvent(system, 'agent.quarantined', (e) => e.agent === 'crashy');
    expect((await rejection(system.sendMessage('crashy', { prompt: 'crash_in_tool' }))).code).toBe('SYN_ERR_AGENT_CRASHED');
    await quarantined;
    await stopAndCheck();
    stopped = true;
    await logs.waitFor((r) => r.msg === 'synapse stopped'); // the last line: every event line is in

    const types = new Set(emitted.map((e) => e.type));
    const scenario: SynapseEventName[] = [
      'agent.spawned', 'worker.spawned', 'worker.ready', 'actor.spawned', 'supervisor.child_started', 'message.routed', 'call.completed',
      'turn.committed', 'call.failed', 'turn.failed', 'worker.crashed', 'actor.crashed', 'supervisor.child_exited', 'supervisor.restart_scheduled',
      'supervisor.restarted', 'supervisor.intensity_exceeded', 'supervisor.escalated', 'agent.quarantined', 'actor.stopped', 'agent.stopped',
    ];
    for (const name of scenario) expect([name, types.has(name)]).toEqual([name, true]);

    const lines = logs.records.slice(mark);
    const eventLines = lines.filter((r) => typeof r.event === 'string' && EVENTS.has(r.event));
    // Each event emitted is exactly one line, in order, at the level of the table.
    expect(eventLines.map((r) => r.event)).toEqual(emitted.map((e) => e.type));
    expect(eventLines.map((r) => [r.event, r.level])).toEqual(emitted.map((e, i) => [e.type, expectedLevels(emitted)[i]]));
    // No layer logs its own copy of an event; every warning or error line is an event's.
    expect(lines.filter((r) => COPIES.includes(String(r.msg)))).toEqual([]);
    expect(lines.filter((r) => r.level >= 40 && !EVENTS.has(String(r.event))).map((r) => r.msg)).toEqual([]);

    const supervisorLines = eventLines.filter((r) => String(r.event).startsWith('supervisor.') && (r.supervisor === 'agent:crashy' || r.child === 'crashy'));
    expect(supervisorLines.length).toBeGreaterThan(6);
    for (const r of supervisorLines) expect([r.event, r.agent]).toEqual([r.event, 'crashy']);

    const withPid = emitted.filter((e) => e.pid !== undefined);
    expect(withPid.length).toBeGreaterThan(4);
    for (const [i, r] of eventLines.entries()) {
      const e = emitted[i] as Emitted;
      if (e.pid !== undefined) expect([r.event, r.pythonPid, r.pid]).toEqual([e.type, e.pid, process.pid]);
    }
  }, 120_000);
});

describe('a misuse error', () => {
  it('no interpreter at spawnAgent: one line at warn with its code and a one-line cause chain, no stack', async () => {
    const logs = captureLogs('info');
    const { system, stopAndCheck } = await startSystem({ logger: logs.log, logLevel: 'info' });
    cleanups.push(() => stopAndCheck());
    const mark = logs.records.length;
    const error = await rejection(system.spawnAgent({ id: 'nopy', agent: fixture('counter.py'), python: { executable: '/nonexistent/python3' } }));
    expect(error.code).toBe('SYN_ERR_PYTHON_NOT_FOUND');
    const lines: LogRecord[] = logs.records.slice(mark);
    const loud = lines.filter((r) => r.level >= 40);
    expect(loud).toHaveLength(1);
    const [line] = loud as [LogRecord];
    expect(line).toMatchObject({ event: 'actor.crashed', code: 'SYN_ERR_PYTHON_NOT_FOUND' });
    expect(line.error).toMatch(/^SYN_ERR_PYTHON_NOT_FOUND: /);
    expect(String(line.error)).not.toContain('\n');
    expect(line).not.toHaveProperty('err');
    const raw = JSON.stringify(line);
    expect(raw).not.toMatch(/\s+at .*:\d+:\d+/); // no stack frame
    expect(raw.length).toBeLessThan(2_000);
    expect(lines.every((r) => !JSON.stringify(r).includes('    at '))).toBe(true);
    expect(isSynapseError(error)).toBe(true);
  });
});
