/**
 * The ring buffer and the event backlog built on it: bounded by count, oldest dropped first,
 * replay after an id bounded by bytes (newest kept), JSON body with the last id.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_BACKLOG_DEFAULTS, EventBacklog } from '../../../src/observe/backlog.ts';
import { Ring } from '../../../src/observe/ring.ts';

describe('Ring', () => {
  it('keeps the last `capacity` entries, oldest first, and counts what it dropped', () => {
    const ring = new Ring<number>(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.last()).toBeUndefined();
    for (let i = 1; i <= 7; i++) ring.push(i);
    expect(ring.toArray()).toEqual([5, 6, 7]);
    expect(ring.size).toBe(3);
    expect(ring.dropped).toBe(4);
    expect(ring.last()).toBe(7);
  });
});

describe('EventBacklog', () => {
  const entry = (id: number, type = 'worker.crashed' as const) => ({ id, type, json: JSON.stringify({ type, at: id, n: 'x'.repeat(10) }) });

  it('leaves per-request events out by default and keeps the last `size` others', () => {
    const b = new EventBacklog({ size: 2, exclude: EVENT_BACKLOG_DEFAULTS.exclude });
    expect(EVENT_BACKLOG_DEFAULTS.size).toBe(500);
    for (const t of ['message.routed', 'call.completed', 'call.failed', 'turn.committed', 'turn.failed', 'model.slot_waited', 'remote.completed', 'remote.failed', 'remote.served']) expect(b.accepts(t)).toBe(false);
    expect(b.accepts('supervisor.restarted')).toBe(true);
    for (let i = 1; i <= 3; i++) b.push(entry(i));
    expect(b.entries().map((e) => e.id)).toEqual([2, 3]);
    const body = JSON.parse(b.toJson(9)) as { capacity: number; dropped: number; lastId: number; events: { id: number; event: { at: number } }[] };
    expect(body).toMatchObject({ capacity: 2, dropped: 1, lastId: 9 });
    expect(body.events.map((e) => [e.id, e.event.at])).toEqual([
      [2, 2],
      [3, 3],
    ]);
  });

  it('is also bounded by bytes: the oldest go first, one oversized event is kept alone', () => {
    const b = new EventBacklog({ size: 100, exclude: [], maxBytes: 100 });
    const sized = (id: number, n: number) => ({ id, type: 'worker.crashed' as const, json: 'x'.repeat(n) });
    b.push(sized(1, 40));
    b.push(sized(2, 40));
    b.push(sized(3, 40));
    expect(b.entries().map((e) => e.id)).toEqual([2, 3]);
    expect(b.bytes).toBe(80);
    b.push(sized(4, 500));
    expect(b.entries().map((e) => e.id)).toEqual([4]);
    expect(b.dropped).toBe(3);
    expect(EVENT_BACKLOG_DEFAULTS.maxBytes).toBe(1024 * 1024);
  });

  it('replays the entries after an id, the newest that fit in maxBytes', () => {
    const b = new EventBacklog({ size: 10, exclude: [] });
    for (let i = 1; i <= 5; i++) b.push(entry(i));
    const size = entry(1).json.length;
    expect(b.since(2, Infinity).map((e) => e.id)).toEqual([3, 4, 5]);
    expect(b.since(0, size * 2).map((e) => e.id)).toEqual([4, 5]);
    expect(b.since(0, size - 1)).toEqual([]);
    expect(b.since(5, Infinity)).toEqual([]);
  });
});
