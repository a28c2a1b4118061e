import { afterEach, describe, expect, it, vi } from 'vitest';
import { emit, reportListenerError } from '../../../src/observe/emit.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import type { InspectEvent } from '../../../src/observe/events.ts';

const restarted = { supervisor: 'agents', child: 'bot', actor: 'a1', attempt: 2 };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('emit', () => {
  it('delivers the typed event, then the inspect entry with type and at', () => {
    const events = new SynapseEventEmitter();
    const seen: string[] = [];
    const inspected: InspectEvent[] = [];
    events.on('supervisor.restarted', (e) => seen.push(`${e.child}#${e.attempt}`));
    events.on('inspect', (e) => inspected.push(e));
    emit(events, 'supervisor.restarted', restarted, { now: () => 1234 });
    expect(seen).toEqual(['bot#2']);
    expect(inspected).toEqual([{ type: 'supervisor.restarted', at: 1234, ...restarted }]);
  });

  it('defaults at to wall-clock epoch ms', () => {
    const events = new SynapseEventEmitter();
    const inspected: InspectEvent[] = [];
    events.on('inspect', (e) => inspected.push(e));
    const before = Date.now();
    emit(events, 'agent.recovered', { agent: 'bot' });
    expect(inspected[0]!.at).toBeGreaterThanOrEqual(before);
    expect(inspected[0]!.at).toBeLessThanOrEqual(Date.now());
  });

  it('a throwing listener neither breaks the caller nor starves later listeners', () => {
    const events = new SynapseEventEmitter();
    const errors: unknown[] = [];
    const calls: string[] = [];
    const boom = new Error('listener bug');
    events.on('agent.recovered', () => {
      throw boom;
    });
    events.on('agent.recovered', () => calls.push('second'));
    events.on('inspect', () => {
      throw boom;
    });
    events.on('inspect', () => calls.push('inspect'));
    expect(() => emit(events, 'agent.recovered', { agent: 'bot' }, { onListenerError: (e) => errors.push(e) })).not.toThrow();
    expect(calls).toEqual(['second', 'inspect']);
    expect(errors).toEqual([boom, boom]);
  });

  it('by default re-throws a listener error on a fresh macrotask', () => {
    const scheduled: (() => void)[] = [];
    vi.spyOn(globalThis, 'setImmediate').mockImplementation(((fn: () => void) => {
      scheduled.push(fn);
      return 0 as unknown as NodeJS.Immediate;
    }) as typeof setImmediate);
    const events = new SynapseEventEmitter();
    const boom = new Error('late');
    events.on('agent.recovered', () => {
      throw boom;
    });
    emit(events, 'agent.recovered', { agent: 'bot' });
    vi.restoreAllMocks();
    expect(scheduled).toHaveLength(1);
    expect(() => scheduled[0]!()).toThrow(boom);
    expect(reportListenerError).toBeTypeOf('function');
  });

  it('honours once listeners and removal during emit', () => {
    const events = new SynapseEventEmitter();
    const calls: string[] = [];
    events.once('agent.recovered', () => calls.push('once'));
    const second = (): void => {
      calls.push('on');
    };
    events.on('agent.recovered', second);
    emit(events, 'agent.recovered', { agent: 'bot' });
    emit(events, 'agent.recovered', { agent: 'bot' });
    expect(calls).toEqual(['once', 'on', 'on']);
    expect(events.listenerCount('agent.recovered')).toBe(1);
    events.off('agent.recovered', second);
    expect(events.listenerCount('agent.recovered')).toBe(0);
  });

  it('skips building the inspect entry when nobody listens', () => {
    const events = new SynapseEventEmitter();
    const now = vi.fn(() => 1);
    emit(events, 'agent.recovered', { agent: 'bot' }, { now });
    expect(now).not.toHaveBeenCalled();
  });
});
