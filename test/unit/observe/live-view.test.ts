/**
 * Runs the live view's inline script against a minimal fake DOM (no browser needed), so the
 * rendering logic is tested on every machine. test/integration/observe/live-view.browser.test.ts
 * does the same in real Chromium where it is installed.
 */
import { describe, expect, it } from 'vitest';
import { liveViewHtml } from '../../../src/observe/live-view.ts';

class FakeElement {
  className = '';
  dataset: Record<string, string> = {};
  children: FakeElement[] = [];
  parent: FakeElement | undefined;
  #text = '';
  readonly attributes: Record<string, string> = {};
  readonly classList = { add: (c: string) => void (this.className = `${this.className} ${c}`.trim()) };
  constructor(readonly tag: string) {}
  setAttribute(name: string, value: string): void {
    this.attributes[name] = value;
  }
  get textContent(): string {
    return this.#text + this.children.map((c) => c.textContent).join(' ');
  }
  set textContent(value: string) {
    this.#text = value;
    this.children = [];
  }
  get childNodes(): FakeElement[] {
    return [...this.children];
  }
  get childElementCount(): number {
    return this.children.length;
  }
  get lastElementChild(): FakeElement | undefined {
    return this.children.at(-1);
  }
  append(...nodes: FakeElement[]): void {
    for (const n of nodes) {
      n.remove();
      n.parent = this;
      this.children.push(n);
    }
  }
  prepend(node: FakeElement): void {
    node.remove();
    node.parent = this;
    this.children.unshift(node);
  }
  replaceChildren(...nodes: FakeElement[]): void {
    this.#text = '';
    this.children = [];
    this.append(...nodes);
  }
  remove(): void {
    if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this);
    this.parent = undefined;
  }
  find(pred: (e: FakeElement) => boolean): FakeElement[] {
    return this.children.flatMap((c) => [...(pred(c) ? [c] : []), ...c.find(pred)]);
  }
}

function harness(responses: { inspect: () => unknown; metrics: () => unknown; backlog?: () => unknown; series?: () => unknown }) {
  const script = /<script>([\s\S]*)<\/script>/.exec(liveViewHtml({ title: 't', refreshMs: 1000 }))![1]!;
  const ids = new Map<string, FakeElement>();
  const document = {
    body: Object.assign(new FakeElement('body'), { dataset: { refresh: '1000', maxEvents: '200' } }),
    getElementById: (id: string) => {
      if (!ids.has(id)) ids.set(id, new FakeElement('div'));
      return ids.get(id);
    },
    createElement: (tag: string) => new FakeElement(tag),
    createElementNS: (_ns: string, tag: string) => new FakeElement(tag),
  };
  const routes: Record<string, (() => unknown) | undefined> = { inspect: responses.inspect, 'metrics.json': responses.metrics, 'events.json': responses.backlog, 'series.json': responses.series };
  const fetch = async (url: string) => {
    const body = routes[url]?.();
    return { ok: body !== undefined, status: body === undefined ? 404 : 200, json: async () => body };
  };
  const sources: { onmessage?: (m: { data: string }) => void; onopen?: () => void; url: string }[] = [];
  class EventSource {
    onmessage?: (m: { data: string }) => void;
    onopen?: () => void;
    constructor(readonly url: string) {
      sources.push(this);
    }
  }
  const intervals: (() => void)[] = [];
  const timeouts: (() => void)[] = [];
  new Function('document', 'fetch', 'EventSource', 'setInterval', 'setTimeout', script)(
    document,
    fetch,
    EventSource,
    (fn: () => void) => intervals.push(fn),
    (fn: () => void) => timeouts.push(fn),
  );
  const el = (id: string): FakeElement => document.getElementById(id)!;
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  return { el, sources, intervals, timeouts, settle };
}

const tree = (restarts: number) => ({
  kind: 'system',
  id: 'synapse',
  state: 'running',
  children: [
    { kind: 'supervisor', id: 'agents', state: 'running', restarts, children: [{ kind: 'worker', id: 'support/0', state: 'crashed', pid: 4242, restarts, children: [] }] },
  ],
});
const snapshot = {
  agents: { support: { calls: { total: 3, byOutcome: { ok: 2 } }, latencySeconds: { p50: 0.1, p95: 0.2 }, inFlight: 1, queued: 0, workerCrashes: 1, quarantined: false } },
  python: [{ agent: 'support', worker: 0, pid: 4242, rssBytes: 50 * 1048576, cpuSeconds: 1.5 }],
  supervisors: { agents: { restarts: { support: 2 }, intensityExceeded: 0 } },
  node: { rssBytes: 80 * 1048576, eventLoopDelaySeconds: { p99: 0.002 } },
};

describe('live view script', () => {
  it('renders the tree, metrics and streamed events; flashes nodes whose restarts grew', async () => {
    let restarts = 1;
    const h = harness({ inspect: () => tree(restarts), metrics: () => snapshot });
    await h.settle();
    expect(h.el('state').textContent).toBe('running');
    const treeText = h.el('tree').textContent;
    expect(treeText).toContain('support/0');
    expect(treeText).toContain('pid 4242');
    expect(treeText).toContain('restarts 1');
    expect(h.el('tree').find((e) => e.className === 'st-crashed')).toHaveLength(1);
    expect(h.el('agents').textContent.split(' ')).toEqual(['support', '3', '2', '1', '0.100', '0.200', '1', '0', '1', 'no']);
    expect(h.el('procs').textContent).toContain('50.0');
    expect(h.el('restarts').textContent).toBe('2');
    expect(h.el('node').textContent).toContain('2.0 ms');

    expect(h.sources.map((s) => s.url)).toEqual(['events']);
    h.sources[0]!.onopen?.();
    expect(h.el('conn').textContent).toBe('live');
    h.sources[0]!.onmessage?.({ data: JSON.stringify({ type: 'supervisor.restarted', at: 0, supervisor: 'agents', child: 'support', attempt: 2 }) });
    h.sources[0]!.onmessage?.({ data: '<not json>' });
    const items = h.el('events').children;
    expect(items).toHaveLength(1);
    expect(items[0]!.textContent).toContain('supervisor.restarted');
    expect(items[0]!.textContent).toContain('child=support');
    expect(h.el('live-restarts').textContent).toBe('1');

    // The restart event schedules a refresh; the grown restart count flashes the node.
    restarts = 2;
    expect(h.timeouts).toHaveLength(1);
    h.timeouts[0]!();
    await h.settle();
    expect(h.el('tree').find((e) => e.className.includes('flash')).length).toBeGreaterThan(0);
    expect(h.intervals).toHaveLength(1);
  });

  it('keeps at most data-max-events events and never interprets event text as HTML', async () => {
    expect(liveViewHtml({ title: 't', refreshMs: 1000, maxEvents: 200 })).toContain('data-max-events="200"');
    const h = harness({ inspect: () => tree(0), metrics: () => snapshot });
    await h.settle();
    for (let i = 0; i < 250; i++) h.sources[0]!.onmessage?.({ data: JSON.stringify({ type: 'call.failed', at: i, agent: '<img src=x onerror=alert(1)>' }) });
    expect(h.el('events').children).toHaveLength(200);
    expect(h.el('events').children[0]!.className).toBe('ev-warn');
    expect(h.el('events').children[0]!.textContent).toContain('<img src=x'); // kept as text
  });
});

describe('live view: backlog and sparklines', () => {
  const backlog = {
    capacity: 500,
    dropped: 0,
    lastId: 41,
    events: [
      { id: 7, event: { type: 'worker.crashed', at: 1000, agent: 'support', pid: 4242, signal: 'SIGKILL' } },
      { id: 9, event: { type: 'supervisor.restarted', at: 1100, supervisor: 'agent:support', child: 'worker:0', attempt: 1 } },
    ],
  };
  const series = {
    intervalMs: 5000,
    points: 180,
    windowMs: 900_000,
    partial: true,
    agents: {
      support: {
        ageMs: [10_000, 5000, 0],
        turnsPerSec: [1, 3, 2],
        p95LatencyMs: [null, 120, 80],
        errors: [0, 2, 0],
        errorsByCode: { SYN_ERR_PROVIDER: [0, 2, 0] },
        restarts: [0, 1, 0],
        queueDepth: [0, 5, 1],
      },
    },
  };

  it('shows the backlog (newest first, marked as backlog) and streams on from its last id', async () => {
    const h = harness({ inspect: () => tree(0), metrics: () => snapshot, backlog: () => backlog, series: () => series });
    await h.settle();
    const items = h.el('events').children;
    expect(items.map((li) => li.dataset.type)).toEqual(['supervisor.restarted', 'worker.crashed']);
    expect(items.map((li) => li.dataset.source)).toEqual(['backlog', 'backlog']);
    expect(items[1]!.className).toContain('ev-warn');
    expect(h.el('backlog').textContent).toBe('2');
    expect(h.el('live-restarts').textContent).toBe('1');
    expect(h.sources.map((src) => src.url)).toEqual(['events?after=41']);
    expect(h.timeouts).toHaveLength(0); // backlog events do not trigger refreshes
    h.sources[0]!.onmessage?.({ data: JSON.stringify({ type: 'worker.ready', at: 2000, agent: 'support', pid: 4343 }) });
    expect(h.el('events').children[0]!.dataset.source).toBe('live');
  });

  it('draws one sparkline per series per agent, as SVG with numeric attributes only', async () => {
    const h = harness({ inspect: () => tree(0), metrics: () => snapshot, backlog: () => backlog, series: () => series });
    await h.settle();
    const rows = h.el('trends').children;
    expect(rows.map((r) => r.dataset.agent)).toEqual(['support']);
    const charts = new Map(rows[0]!.find((e) => e.tag === 'figure').map((f) => [f.dataset.chart, f]));
    expect([...charts.keys()]).toEqual(['turns', 'p95', 'errors', 'restarts', 'queue']);
    const svg = (name: string) => charts.get(name)!.find((e) => e.tag === 'svg')[0]!;
    expect(svg('turns').attributes['data-points']).toBe('3');
    expect(svg('p95').attributes['data-points']).toBe('2'); // null (no calls) is a gap, not a zero
    const line = svg('turns').find((e) => e.tag === 'polyline')[0]!.attributes.points!;
    expect(line.split(' ')).toHaveLength(3);
    expect(line).toMatch(/^[\d.,\s]+$/);
    expect(svg('restarts').find((e) => e.tag === 'rect')).toHaveLength(1);
    expect(svg('errors').find((e) => e.tag === 'rect')).toHaveLength(1);
    expect(charts.get('restarts')!.textContent).toContain('1');
    expect(rows[0]!.textContent).toContain('SYN_ERR_PROVIDER ×2');
    expect(h.el('window').textContent).toBe('last 60 s of 15 min, 5 s buckets'); // a young process: the axis spans its data (≥ 1 min)
    expect(svg('turns').find((e) => e.tag === 'title')[0]!.textContent).toBe('max 3.00 turns/s · 3 points');
  });
});
