/**
 * The live view in a real headless Chromium, driven over the DevTools protocol (./cdp.ts),
 * against a real system: a real agent's worker is SIGKILLed and the page must show the
 * restart — the crash and restart in its event list (from the SSE stream), the live and the
 * metrics restart counters, and the new worker pid in the supervision tree. A page opened only
 * after a restart must show it from the server's backlog and in the restarts sparkline, and the
 * page must not scroll sideways at 1280 × 800; that test saves a screenshot (into
 * `SYNAPSE_SCREENSHOT_DIR` when set, to look at; else a temp dir it removes).
 *
 * Runs whenever `/usr/bin/chromium` exists (`.ci/run` installs it); otherwise skips with a
 * message.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { example, nextEvent, startSystem } from '../../helpers/system.ts';
import { CHROMIUM, HeadlessChromium, chromiumAvailable } from './cdp.ts';

const available = chromiumAvailable();
if (!available) console.warn(`[live-view.browser.test] skipped: ${CHROMIUM} not found (apt-get install chromium; .ci/run does it)`);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Resolves with the value of `predicate` (a JS function source) once it is truthy in the page,
 * re-checked on every DOM mutation; rejects after `timeoutMs` (a bound, not a wait) with the
 * page's text for diagnosis.
 */
function waitInPage<T>(browser: HeadlessChromium, session: string, predicate: string, timeoutMs: number): Promise<T> {
  return browser.evaluate<T>(
    session,
    `new Promise((resolve, reject) => {
      const pred = ${predicate};
      const obs = new MutationObserver(() => check());
      const timer = setTimeout(() => { obs.disconnect(); reject(new Error('page condition not met within ${timeoutMs} ms; page text:\\n' + document.body.innerText.slice(0, 3000))); }, ${timeoutMs});
      function check() { let v; try { v = pred(); } catch { v = undefined; /* still loading */ } if (v) { obs.disconnect(); clearTimeout(timer); resolve(v); } }
      obs.observe(document, { subtree: true, childList: true, characterData: true });
      check();
    })`,
  );
}

interface PageState {
  liveRestarts: number;
  metricRestarts: number;
  crashed: string;
  restarted: string;
  tree: string;
}

describe.skipIf(!available)('live view in headless Chromium', () => {
  it('shows a real worker restart (SIGKILL) in the event list, the counters and the tree', async () => {
    const { system, stopAndCheck } = await startSystem({ metrics: { port: 0 } });
    cleanups.push(() => stopAndCheck());
    await system.spawnAgent({ id: 'support', agent: example('support.py'), restart: { backoff: { minMs: 10, maxMs: 50 } } });
    const pid = system.agentStatus('support').pids[0]!;

    const browser = HeadlessChromium.launch();
    cleanups.push(() => browser.close());
    const session = await browser.open(observeUrl(system));

    // The page is live (SSE open) and its tree shows the first worker.
    await waitInPage(browser, session, `() => document.getElementById('conn').textContent === 'live' && document.getElementById('tree').textContent.includes('pid ${pid}')`, 10_000);

    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'support' && e.pid !== pid);
    process.kill(pid, 'SIGKILL');
    const newPid = (await ready).pid;

    const page = await waitInPage<PageState>(
      browser,
      session,
      `() => {
        const $ = (id) => document.getElementById(id);
        const crashed = document.querySelector('#events li[data-type="worker.crashed"]');
        const restarted = document.querySelector('#events li[data-type="supervisor.restarted"]');
        const tree = $('tree').textContent;
        const liveRestarts = Number($('live-restarts').textContent);
        const metricRestarts = Number($('restarts').textContent);
        if (!crashed || !restarted || liveRestarts < 1 || metricRestarts < 1 || !tree.includes('pid ${newPid}')) return undefined;
        return { liveRestarts, metricRestarts, crashed: crashed.textContent, restarted: restarted.textContent, tree };
      }`,
      15_000,
    );
    expect(page.liveRestarts).toBe(1);
    expect(page.metricRestarts).toBe(1);
    expect(page.crashed).toContain(`pid=${pid}`);
    expect(page.crashed).toContain('signal=SIGKILL');
    expect(page.restarted).toContain('supervisor=agent:support');
    expect(page.restarted).toContain('child=worker:0');
    expect(page.tree).toContain(`pid ${newPid}`);
    expect(page.tree).not.toContain(`pid ${pid}`);
    expect(page.tree).toMatch(/support\s*ready.*restarts 1/s);

    await browser.close();
    expect(browser.livePids()).toEqual([]);
  });
});

interface AfterIncident {
  backlog: { type: string; source: string; text: string }[];
  restartsChart: { points: number; max: number };
  turnsChart: { points: number; max: number };
  scrollWidth: number;
  clientWidth: number;
}

describe.skipIf(!available)('live view opened after an incident', () => {
  it('shows the restart from the backlog and in a chart, and does not overflow at 1280 px', async () => {
    const { system, stopAndCheck } = await startSystem({ metrics: { port: 0 } });
    cleanups.push(() => stopAndCheck());
    await system.spawnAgent({ id: 'support', agent: example('support.py'), restart: { backoff: { minMs: 10, maxMs: 50 } } });
    for (let i = 0; i < 3; i++) await system.sendMessage('support', { prompt: `where is order ${i}?` });
    const pid = system.agentStatus('support').pids[0]!;
    const restarted = nextEvent(system, 'supervisor.restarted', (e) => e.supervisor === 'agent:support');
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'support' && e.pid !== pid);
    process.kill(pid, 'SIGKILL');
    await restarted;
    await ready;

    // Only now does anyone look.
    const browser = HeadlessChromium.launch();
    cleanups.push(() => browser.close());
    const session = await browser.openAt(observeUrl(system), 1280, 800);
    const page = await waitInPage<AfterIncident>(
      browser,
      session,
      `() => {
        const items = [...document.querySelectorAll('#events li')].map((li) => ({ type: li.dataset.type, source: li.dataset.source, text: li.textContent }));
        const svg = (name) => document.querySelector('#trends .trend[data-agent="support"] figure[data-chart="' + name + '"] svg');
        const stats = (e) => e && { points: Number(e.getAttribute('data-points')), max: Number(e.getAttribute('data-max')) };
        const restartsChart = stats(svg('restarts'));
        const turnsChart = stats(svg('turns'));
        if (document.getElementById('conn').textContent !== 'live' || !items.some((i) => i.type === 'supervisor.restarted') || !restartsChart || restartsChart.max < 1 || !document.getElementById('agents').textContent.includes('support')) return undefined;
        return { backlog: items, restartsChart, turnsChart, scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth };
      }`,
      15_000,
    );
    const restart = page.backlog.find((i) => i.type === 'supervisor.restarted')!;
    expect(restart.source).toBe('backlog');
    expect(restart.text).toContain('supervisor=agent:support');
    expect(page.backlog.find((i) => i.type === 'worker.crashed')).toMatchObject({ source: 'backlog', text: expect.stringContaining(`pid=${pid}`) });
    expect(page.restartsChart.points).toBeGreaterThanOrEqual(1);
    expect(page.restartsChart.max).toBe(1);
    expect(page.turnsChart.max).toBeGreaterThan(0);
    expect(page.scrollWidth).toBeLessThanOrEqual(page.clientWidth);

    const keep = process.env.SYNAPSE_SCREENSHOT_DIR;
    const dir = keep ?? mkdtempSync(join(tmpdir(), 'synapse-live-view-'));
    mkdirSync(dir, { recursive: true });
    const png = await browser.screenshot(session);
    writeFileSync(join(dir, 'live-view-after-restart.png'), png);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    if (keep === undefined) rmSync(dir, { recursive: true, force: true });
    else console.log(`[live-view.browser.test] screenshot: ${join(dir, 'live-view-after-restart.png')}`);

    await browser.close();
    expect(browser.livePids()).toEqual([]);
  });
});

function observeUrl(system: ActorSystem): string {
  const url = system.observeUrl;
  if (url === undefined) throw new Error('the system serves no HTTP endpoint');
  return url;
}
