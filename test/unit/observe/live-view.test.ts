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
  readonly classList = { add: (c: string) => void (this.className = `${this.className} ${c}`.trim()) };
  constructor(readonly tag: string) {}
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

function harness(responses: { inspect: () => unknown; metrics: () => unknown }) {
  const script = /<script>([\s\S]*)<\/script>/.exec(liveViewHtml({ title: 't', refreshMs: 1000 }))![1]!;
  const ids = new Map<string, FakeElement>();
  const document = {
    body: Object.assign(new FakeElement('body'), { dataset: { refresh: '1000' } }),
    getElementById: (id: string) => {
      if (!ids.has(id)) ids.set(id, new FakeElement('div'));
      return ids.get(id);
    },
    createElement: (tag: string) => new FakeElement(tag),
  };
  const fetch = async (url: string) => {
    const body = url === 'inspect' ? responses.inspect() : url === 'metrics.json' ? responses.metrics() : undefined;
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

  it('keeps at most 200 events and never interprets event text as HTML', async () => {
    const h = harness({ inspect: () => tree(0), metrics: () => snapshot });
    await h.settle();
    for (let i = 0; i < 250; i++) h.sources[0]!.onmessage?.({ data: JSON.stringify({ type: 'call.failed', at: i, agent: '<img src=x onerror=alert(1)>' }) });
    expect(h.el('events').children).toHaveLength(200);
    expect(h.el('events').children[0]!.className).toBe('ev-warn');
    expect(h.el('events').children[0]!.textContent).toContain('<img src=x'); // kept as text
  });
});
