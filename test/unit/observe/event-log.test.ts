import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { synErr } from '../../../src/errors.ts';
import { emit } from '../../../src/observe/emit.ts';
import { EVENT_LEVELS, EVENT_NAMES, EventLog, briefError, eventRecord, levelOf } from '../../../src/observe/event-log.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import type { SynapseEventName, SynapseEvents } from '../../../src/observe/events.ts';
import { createLogger } from '../../../src/observe/log.ts';

function setup(level: 'debug' | 'info' = 'debug') {
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw += chunk.toString();
      cb();
    },
  });
  const log = createLogger({ destination: stream as never, level });
  const events = new SynapseEventEmitter();
  const eventLog = new EventLog(events, log);
  const lines = (): Record<string, unknown>[] => raw.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { events, eventLog, lines };
}

const PINO_LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** One sample payload per event (the type makes this table exhaustive). */
const SAMPLES: { [K in SynapseEventName]: SynapseEvents[K] } = {
  'actor.spawned': { actor: 'a1', name: 'n' },
  'actor.stopped': { actor: 'a1', reason: 'normal' },
  'actor.crashed': { actor: 'a1', reason: 'Error: x', error: new Error('boom') },
  'mailbox.dropped': { actor: 'a1', policy: 'drop-oldest', capacity: 10 },
  'supervisor.child_started': { supervisor: 's', child: 'c', actor: 'a1' },
  'supervisor.child_exited': { supervisor: 's', child: 'c', reason: 'normal', abnormal: false },
  'supervisor.restart_scheduled': { supervisor: 's', child: 'c', delayMs: 120, attempt: 3, startup: false },
  'supervisor.restarted': { supervisor: 's', child: 'c', actor: 'a2', attempt: 3 },
  'supervisor.intensity_exceeded': { supervisor: 's', restarts: 4, intensity: 3, periodMs: 5000 },
  'supervisor.escalated': { supervisor: 's', reason: 'shutdown' },
  'agent.spawned': { agent: 'bot', workers: 2 },
  'agent.stopped': { agent: 'bot', reason: 'shutdown' },
  'worker.spawned': { agent: 'bot', worker: 0, pid: 10, spare: false },
  'worker.ready': { agent: 'bot', worker: 0, pid: 10, startupMs: 80 },
  'worker.crashed': { agent: 'bot', worker: 0, pid: 10, code: 'SYN_ERR_AGENT_CRASHED', exitCode: null, signal: 'SIGKILL', stderrTail: 'Traceback…', inFlight: 1 },
  'worker.exited': { agent: 'bot', worker: 0, pid: 10, exitCode: 0, signal: null },
  'spare.ready': { agent: 'bot', pid: 11 },
  'agent.quarantined': { agent: 'bot', nextRetryAt: 99, crashes: 5 },
  'agent.recovered': { agent: 'bot' },
  'orphan.reaped': { pid: 77, pidFile: '/tmp/x.pid' },
  'message.routed': { agent: 'bot', requestId: 'r1', worker: 0, conversationId: 'c1', turnId: 't1' },
  'call.failed': { agent: 'bot', requestId: 'r1', code: 'SYN_ERR_TIMEOUT', latencyMs: 12 },
  'call.completed': { agent: 'bot', requestId: 'r1', latencyMs: 12 },
  'model.slot_waited': { agent: 'bot', runId: 'r1', waitMs: 250, outcome: 'granted' },
  'turn.committed': { conversationId: 'c1', turnId: 't1', agent: 'bot', messages: 2 },
  'turn.failed': { conversationId: 'c1', turnId: 't1', agent: 'bot', code: 'SYN_ERR_AGENT_FAILED' },
  'remote.completed': { agent: 'bot', requestId: 'r1', host: 'h1', front: 'f1', latencyMs: 30, conversationId: 'c1', turnId: 't1' },
  'remote.failed': { agent: 'bot', requestId: 'r1', host: 'none', front: 'f1', code: 'SYN_ERR_AGENT_UNAVAILABLE', reason: 'no_host', latencyMs: 3, turnId: 't1' },
  'remote.served': { agent: 'bot', runId: 'r1', host: 'h1', front: 'f1', latencyMs: 25, turnId: 't1' },
};

/** The docs' level cell of each event whose level depends on the event. */
const CONDITIONAL_CELLS: Partial<Record<SynapseEventName, string>> = {
  'supervisor.child_exited': 'info if `abnormal` (the crash itself is logged at warn by `actor.crashed`/`worker.crashed`), else debug',
  'remote.served': 'info if `code` (the failure itself is logged at warn by the served run\'s `call.failed`), else debug',
};

describe('EVENT_LEVELS', () => {
  it('follows the documented mapping', () => {
    const expected: Partial<Record<SynapseEventName, string>> = {
      'message.routed': 'debug',
      'actor.spawned': 'debug',
      'worker.ready': 'info',
      'supervisor.restarted': 'info',
      'turn.committed': 'info',
      'agent.spawned': 'info',
      'actor.crashed': 'warn',
      'worker.crashed': 'warn',
      'supervisor.restart_scheduled': 'warn',
      'call.failed': 'warn',
      'agent.quarantined': 'warn',
      'orphan.reaped': 'warn',
      'supervisor.intensity_exceeded': 'error',
      'supervisor.escalated': 'error',
    };
    for (const [name, level] of Object.entries(expected)) expect([name, levelOf(name as SynapseEventName, SAMPLES[name as SynapseEventName] as never)]).toEqual([name, level]);
    expect(levelOf('supervisor.child_exited', { ...SAMPLES['supervisor.child_exited'], abnormal: true })).toBe('info');
    expect(levelOf('supervisor.child_exited', SAMPLES['supervisor.child_exited'])).toBe('debug');
    expect(levelOf('remote.failed', SAMPLES['remote.failed'])).toBe('warn');
    expect(levelOf('remote.completed', SAMPLES['remote.completed'])).toBe('debug');
    expect(levelOf('remote.served', SAMPLES['remote.served'])).toBe('debug');
    expect(levelOf('remote.served', { ...SAMPLES['remote.served'], code: 'SYN_ERR_TIMEOUT' })).toBe('info');
  });

  it('covers every event type declared in src/observe/events.ts', () => {
    const source = readFileSync(new URL('../../../src/observe/events.ts', import.meta.url), 'utf8');
    const body = source.slice(source.indexOf('export interface SynapseEvents'), source.indexOf('export type SynapseEventName'));
    const declared = [...body.matchAll(/^\s*'([a-z_]+\.[a-z_]+)':/gm)].map((m) => m[1]);
    expect(declared.length).toBeGreaterThan(20);
    expect([...EVENT_NAMES].sort()).toEqual([...declared].sort());
  });

  it('is the table of docs/observability.md, row for row', () => {
    const doc = readFileSync(new URL('../../../docs/observability.md', import.meta.url), 'utf8');
    const rows = new Map([...doc.matchAll(/^\| `([a-z_]+\.[a-z_]+)` \| [^|]* \| ([^|]+) \|$/gm)].map((m) => [m[1] as string, (m[2] as string).trim()]));
    expect([...rows.keys()].sort()).toEqual([...EVENT_NAMES].sort());
    for (const name of EVENT_NAMES) {
      const rule = EVENT_LEVELS[name];
      const cell = rows.get(name)!;
      if (typeof rule === 'string') expect([name, cell.split(/[ ;(]/)[0]]).toEqual([name, rule]);
      else expect([name, cell]).toEqual([name, CONDITIONAL_CELLS[name]]);
    }
  });

  it('covers every event', () => {
    expect([...EVENT_NAMES].sort()).toEqual(Object.keys(SAMPLES).sort());
    expect(Object.keys(EVENT_LEVELS)).toHaveLength(Object.keys(SAMPLES).length);
  });
});

describe('EventLog', () => {
  it('logs every event once, at its level, with its fields', () => {
    const { events, eventLog, lines } = setup('debug');
    for (const name of EVENT_NAMES) emit(events, name, SAMPLES[name] as never);
    const out = lines();
    expect(out.map((l) => l.msg)).toEqual([...EVENT_NAMES]);
    for (const line of out) {
      const name = line.msg as SynapseEventName;
      expect(line.level).toBe(PINO_LEVEL[levelOf(name, SAMPLES[name] as never)]);
      expect(line.event).toBe(name);
      const { error, pid, ...fields } = SAMPLES[name] as Record<string, unknown>;
      expect(line).toMatchObject(fields);
      if (pid !== undefined) expect(line).toMatchObject({ pythonPid: pid, pid: process.pid });
      if (error !== undefined) {
        expect(line.error).toBe('Error: boom');
        expect(line.err).toMatchObject({ message: 'boom', type: 'Error' }); // at debug: the stack too
      }
    }
    eventLog.close();
  });

  it('filters by the logger level and stops after close (idempotent)', () => {
    const { events, eventLog, lines } = setup('info');
    emit(events, 'message.routed', SAMPLES['message.routed']);
    emit(events, 'worker.crashed', SAMPLES['worker.crashed']);
    eventLog.close();
    eventLog.close();
    emit(events, 'supervisor.escalated', SAMPLES['supervisor.escalated']);
    expect(lines().map((l) => l.msg)).toEqual(['worker.crashed']);
    expect(EVENT_NAMES.every((n) => events.listenerCount(n) === 0)).toBe(true);
  });

  it('skips excluded events and validates the option', () => {
    const { events, eventLog, lines } = setup('debug');
    eventLog.close();
    const partial = new EventLog(events, createLogger({ level: 'silent' }), { exclude: ['supervisor.restarted'] });
    expect(events.listenerCount('supervisor.restarted')).toBe(0);
    expect(events.listenerCount('supervisor.escalated')).toBe(1);
    partial.close();
    expect(lines()).toEqual([]);
    expect(() => new EventLog(events, createLogger({ level: 'silent' }), { exclude: ['nope' as never] })).toThrow(/eventLog.exclude/);
  });

  it('redacts secrets in event fields', () => {
    const { events, lines } = setup('debug');
    events.emit('actor.crashed', { actor: 'a', reason: 'x', error: { env: { OPENAI_API_KEY: 'sk-1' } } });
    expect(JSON.stringify(lines())).not.toContain('sk-1');
  });
});

describe('eventRecord', () => {
  it("logs a Python pid as pythonPid (pino's pid is the Node process's)", () => {
    expect(eventRecord('worker.ready', SAMPLES['worker.ready'])).toEqual({ event: 'worker.ready', agent: 'bot', worker: 0, pythonPid: 10, startupMs: 80 });
    const { events, lines } = setup('debug');
    emit(events, 'orphan.reaped', SAMPLES['orphan.reaped']);
    expect(lines()[0]).toMatchObject({ pid: process.pid, pythonPid: 77 });
  });

  it('gives an error on one line with its code and cause chain; its stack only at debug', () => {
    const root = Object.assign(new Error('spawn /x ENOENT\nsecond line'), { code: 'ENOENT' });
    const error = synErr('SYN_ERR_START_FAILED', 'Actor <1.3> failed to start', {}, synErr('SYN_ERR_PYTHON_NOT_FOUND', 'no interpreter', {}, root));
    expect(briefError(error)).toBe('SYN_ERR_START_FAILED: Actor <1.3> failed to start <- SYN_ERR_PYTHON_NOT_FOUND: no interpreter <- Error: spawn /x ENOENT second line');
    const info = setup('info');
    emit(info.events, 'actor.crashed', { actor: 'a', reason: 'x', error });
    const [line] = info.lines();
    expect(line).toMatchObject({ level: 40, code: 'SYN_ERR_START_FAILED', error: briefError(error) });
    expect(line).not.toHaveProperty('err');
    expect(JSON.stringify(line)).not.toContain('    at ');
    const debug = setup('debug');
    emit(debug.events, 'actor.crashed', { actor: 'a', reason: 'x', error });
    expect((debug.lines()[0]!.err as { stack: string }).stack).toContain('    at ');
  });
});

describe('EventLog: one failure, one line', () => {
  it('logs a crash wrapping an already logged crash (a start failure going up the tree) at debug', () => {
    const { events, lines } = setup('debug');
    const root = synErr('SYN_ERR_PYTHON_NOT_FOUND', 'no interpreter');
    const child = synErr('SYN_ERR_START_FAILED', 'Actor <1.3> failed to start', {}, root);
    emit(events, 'actor.crashed', { actor: '<1.3>', reason: 'x', error: root });
    emit(events, 'actor.crashed', { actor: '<1.2>', reason: 'y', error: synErr('SYN_ERR_START_FAILED', 'Supervisor s: child failed to start', {}, child) });
    emit(events, 'actor.crashed', { actor: '<1.9>', reason: 'z', error: synErr('SYN_ERR_AGENT_CRASHED', 'unrelated') });
    expect(lines().map((l) => [l.actor, l.level])).toEqual([
      ['<1.3>', 40],
      ['<1.2>', 20],
      ['<1.9>', 40],
    ]);
  });

  it('adds the context fields of the option, the event\'s own fields winning', () => {
    let raw = '';
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => ((raw += chunk.toString()), cb()) });
    const events = new SynapseEventEmitter();
    const eventLog = new EventLog(events, createLogger({ level: 'debug', destination: sink as never }), {
      context: (name) => (name.startsWith('supervisor.') ? { agent: 'bot', supervisor: 'ignored' } : undefined),
    });
    emit(events, 'supervisor.escalated', SAMPLES['supervisor.escalated']);
    emit(events, 'actor.spawned', SAMPLES['actor.spawned']);
    const [sup, actor] = raw.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(sup).toMatchObject({ event: 'supervisor.escalated', agent: 'bot', supervisor: 's', reason: 'shutdown' });
    expect(actor).not.toHaveProperty('agent');
    eventLog.close();
    expect(() => new EventLog(events, createLogger({ level: 'silent' }), { context: 'agent' as never })).toThrow(/eventLog.context/);
  });
});
