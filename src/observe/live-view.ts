/**
 * The live view served at `GET /`: one self-contained HTML page (no external assets, inline
 * style and script pinned by a CSP hash) rendering the supervision tree from `/inspect`, key
 * metrics from `/metrics.json`, per-agent sparklines (inline SVG) from `/series.json`, and the
 * event backlog from `/events.json` followed by live events from `/events` (SSE, continuing
 * after the backlog's last id). Every piece of data is inserted with `textContent` (or as a
 * number in an SVG attribute), never as HTML.
 */
import { createHash } from 'node:crypto';
import { EVENT_LEVELS, EVENT_NAMES } from './event-log.ts';

/** Events coloured as warnings / errors: those the event log logs at that level (its table, not a copy). */
const atLevel = (level: 'warn' | 'error'): string => JSON.stringify(EVENT_NAMES.filter((name) => EVENT_LEVELS[name] === level));

// Layout: no fixed-width content anywhere — grid items may shrink (min-width:0), tables sit in
// horizontally scrollable wrappers, long event/tree text wraps anywhere — so the document never
// scrolls sideways at 1280 px (test/integration/observe/live-view.browser.test.ts checks it).
const STYLE = `
:root{color-scheme:light dark;--ok:#2e7d32;--warn:#ef6c00;--bad:#c62828;--mute:#888;--bg2:rgba(127,127,127,.08);--line:#1565c0}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:16px;overflow-wrap:anywhere}
header{display:flex;gap:8px 16px;align-items:baseline;flex-wrap:wrap}
h1{font-size:18px;margin:0}h2{font-size:15px;margin:16px 0 6px}
.pill{padding:1px 8px;border-radius:10px;background:var(--bg2)}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px}.grid>*{min-width:0}
@media (max-width:900px){.grid{grid-template-columns:minmax(0,1fr)}}
.wide{overflow-x:auto;max-width:100%}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:18px}ul.tree{padding-left:0}
li.node>div{padding:2px 4px;border-radius:4px;display:flex;gap:8px;flex-wrap:wrap}
.kind{font-size:11px;text-transform:uppercase;color:var(--mute);min-width:70px}
.st-ready,.st-running{color:var(--ok)}.st-idle{color:var(--mute)}.st-crashed,.st-quarantined,.st-stopped{color:var(--bad)}
.st-restarting,.st-backoff,.st-starting,.st-draining,.st-stopping{color:var(--warn)}
.flash{animation:flash 2s ease-out}@keyframes flash{from{background:rgba(239,108,0,.45)}to{background:transparent}}
table{border-collapse:collapse;width:100%}td,th{padding:2px 6px;text-align:right;border-bottom:1px solid var(--bg2);white-space:nowrap}
td:first-child,th:first-child{text-align:left;white-space:normal}
ol#events{margin:0;padding-left:0;list-style:none;max-height:480px;overflow:auto;font:12px ui-monospace,monospace}
ol#events li{padding:1px 4px}ol#events li.from-backlog{opacity:.8}.ev-warn{color:var(--warn)}.ev-error{color:var(--bad)}
.mute{color:var(--mute)}
.trend{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:flex-end;padding:6px 0;border-bottom:1px solid var(--bg2)}
.trend>.who{flex:0 0 120px;font-weight:600}
figure.chart{margin:0;display:flex;flex-direction:column;gap:1px}
figure.chart figcaption{font-size:11px;color:var(--mute);display:flex;justify-content:space-between;gap:6px}
figure.chart figcaption b{color:CanvasText;font-weight:600}
svg.spark{display:block;background:var(--bg2);border-radius:3px}
svg.spark .base{stroke:var(--mute);stroke-width:.5}
svg.spark .line{fill:none;stroke:var(--line);stroke-width:1.5}svg.spark .dot{fill:var(--line)}
svg.spark .bar{fill:var(--bad)}svg.spark .bar.restart{fill:var(--warn)}
.codes{font-size:11px;color:var(--bad);flex-basis:100%;padding-left:134px}
`;

const SCRIPT = `
(() => {
  const $ = (id) => document.getElementById(id);
  const refreshMs = Number(document.body.dataset.refresh) || 2000;
  const maxEvents = Number(document.body.dataset.maxEvents) || 500;
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; };
  const lastRestarts = new Map();
  let restartEvents = 0;
  const WARN = new Set(${atLevel('warn')});
  const ERROR = new Set(${atLevel('error')});
  const REFRESH_ON = /^(supervisor|worker|agent|actor)\\./;

  function renderNode(n) {
    const li = el('li', 'node');
    const row = el('div');
    row.append(el('span', 'kind', n.kind), el('strong', '', n.name || n.id), el('span', 'st-' + String(n.state).replace(/[^a-z_-]/gi, ''), n.state));
    if (n.name && n.name !== n.id) row.append(el('span', 'mute', n.id));
    if (n.pid !== undefined) row.append(el('span', 'pill', 'pid ' + n.pid));
    if (n.restarts !== undefined) row.append(el('span', 'pill', 'restarts ' + n.restarts));
    const host = n.kind === 'host' && n.meta ? n.meta : undefined;
    if (host) row.dataset.host = n.name || n.id;
    if (n.inFlight !== undefined) row.append(el('span', 'pill', 'in-flight ' + n.inFlight + (host && host.capacity !== undefined ? '/' + host.capacity : '')));
    if (host && host.advertAgeMs !== undefined) row.append(el('span', 'pill', 'advert ' + (Number(host.advertAgeMs) / 1000).toFixed(1) + ' s ago'));
    if (n.queued !== undefined) row.append(el('span', 'pill', 'queued ' + n.queued));
    const prev = lastRestarts.get(n.id);
    if (n.restarts !== undefined && prev !== undefined && n.restarts > prev) row.classList.add('flash');
    if (n.restarts !== undefined) lastRestarts.set(n.id, n.restarts);
    li.append(row);
    if (Array.isArray(n.children) && n.children.length) { const ul = el('ul'); for (const c of n.children) ul.append(renderNode(c)); li.append(ul); }
    return li;
  }

  async function refreshTree() {
    try {
      const r = await fetch('inspect', { cache: 'no-store' });
      if (!r.ok) { $('tree').replaceChildren(el('li', 'mute', 'no inspect data (' + r.status + ')')); return; }
      const root = await r.json();
      const ul = el('ul', 'tree'); ul.append(renderNode(root));
      $('tree').replaceChildren(...ul.childNodes);
      $('state').textContent = root.state;
    } catch (e) { $('state').textContent = 'unreachable'; }
  }

  const fmt = (x, d = 3) => (x === null || x === undefined ? '–' : Number(x).toFixed(d));
  async function refreshMetrics() {
    try {
      const r = await fetch('metrics.json', { cache: 'no-store' });
      if (!r.ok) return;
      const m = await r.json();
      const rows = [];
      for (const [id, a] of Object.entries(m.agents)) {
        const tr = el('tr');
        for (const v of [id, a.calls.total, a.calls.byOutcome.ok, a.calls.total - a.calls.byOutcome.ok, fmt(a.latencySeconds.p50), fmt(a.latencySeconds.p95), a.inFlight, a.queued, a.workerCrashes, a.quarantined ? 'yes' : 'no']) tr.append(el('td', '', v));
        rows.push(tr);
      }
      $('agents').replaceChildren(...rows);
      const procs = m.python.map((p) => { const tr = el('tr'); for (const v of [p.agent + '/' + p.worker, p.pid, fmt(p.rssBytes / 1048576, 1), fmt(p.cpuSeconds, 2)]) tr.append(el('td', '', v)); return tr; });
      $('procs').replaceChildren(...procs);
      let restarts = 0;
      for (const s of Object.values(m.supervisors)) for (const n of Object.values(s.restarts)) restarts += n;
      $('restarts').textContent = String(restarts);
      $('node').textContent = 'node rss ' + fmt(m.node.rssBytes / 1048576, 1) + ' MB · event-loop p99 ' + fmt((m.node.eventLoopDelaySeconds.p99 || 0) * 1000, 1) + ' ms';
    } catch (e) { /* next refresh retries */ }
  }

  // ── sparklines: inline SVG, x = age of the bucket over the window (newest at the right) ──
  const NS = 'http://www.w3.org/2000/svg';
  const W = 150, H = 34, PAD = 2;
  const svgEl = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v)); return e; };
  function spark(ages, values, spanMs, bars, cls, unit) {
    const svg = svgEl('svg', { class: 'spark', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    const pts = [];
    let max = 0;
    values.forEach((v, i) => { if (typeof v === 'number' && isFinite(v)) { pts.push([ages[i], v]); if (v > max) max = v; } });
    const x = (age) => (W - PAD - (Math.min(Math.max(age, 0), spanMs) / spanMs) * (W - 2 * PAD)).toFixed(1);
    const y = (v) => (H - PAD - (max > 0 ? v / max : 0) * (H - 2 * PAD)).toFixed(1);
    svg.append(svgEl('line', { class: 'base', x1: PAD, x2: W - PAD, y1: H - PAD, y2: H - PAD }));
    if (bars) { for (const [a, v] of pts) if (v > 0) svg.append(svgEl('rect', { class: 'bar ' + cls, x: Number(x(a)) - 1.5, y: y(v), width: 3, height: (H - PAD - Number(y(v))).toFixed(1) })); }
    else if (pts.length) {
      svg.append(svgEl('polyline', { class: 'line', points: pts.map(([a, v]) => x(a) + ',' + y(v)).join(' ') }));
      const [a, v] = pts[pts.length - 1];
      svg.append(svgEl('circle', { class: 'dot', cx: x(a), cy: y(v), r: 2 }));
    }
    const title = svgEl('title', {});
    title.textContent = 'max ' + fmt(max, max < 10 ? 2 : 0) + ' ' + unit + ' · ' + pts.length + ' points';
    svg.append(title);
    svg.setAttribute('data-points', String(pts.length));
    svg.setAttribute('data-max', String(max));
    return svg;
  }
  function chart(name, label, value, svg) {
    const f = el('figure', 'chart'); f.dataset.chart = name;
    const cap = el('figcaption'); cap.append(el('span', '', label), el('b', '', value));
    f.append(cap, svg);
    return f;
  }
  const sum = (xs) => xs.reduce((s, v) => s + (v || 0), 0);
  const lastOf = (xs) => { for (let i = xs.length - 1; i >= 0; i--) if (typeof xs[i] === 'number') return xs[i]; return null; };

  async function refreshSeries() {
    try {
      const r = await fetch('series.json', { cache: 'no-store' });
      if (!r.ok) { $('trends').replaceChildren(el('div', 'mute', 'no series (' + r.status + ')')); return; }
      const s = await r.json();
      // While the process is younger than the window, the x axis spans the data (≥ 1 min), so a
      // fresh incident is not squeezed into the last pixels; all charts share it, so they align.
      let oldest = 0;
      for (const a of Object.values(s.agents)) for (const age of a.ageMs) if (age > oldest) oldest = age;
      const span = Math.min(s.windowMs, Math.max(60000, oldest + s.intervalMs));
      const human = (ms) => (ms < 120000 ? Math.round(ms / 1000) + ' s' : Math.round(ms / 60000) + ' min');
      $('window').textContent = 'last ' + human(span) + (span < s.windowMs ? ' of ' + human(s.windowMs) : '') + ', ' + s.intervalMs / 1000 + ' s buckets';
      const rows = [];
      for (const id of Object.keys(s.agents).sort()) {
        const a = s.agents[id];
        const row = el('div', 'trend'); row.dataset.agent = id;
        row.append(el('span', 'who', id),
          chart('turns', 'turns/s', fmt(lastOf(a.turnsPerSec), 2), spark(a.ageMs, a.turnsPerSec, span, false, '', 'turns/s')),
          chart('p95', 'p95 ms', fmt(lastOf(a.p95LatencyMs), 0), spark(a.ageMs, a.p95LatencyMs, span, false, '', 'ms')),
          chart('errors', 'errors', String(sum(a.errors)), spark(a.ageMs, a.errors, span, true, '', 'errors per bucket')),
          chart('restarts', 'restarts', String(sum(a.restarts)), spark(a.ageMs, a.restarts, span, true, 'restart', 'restarts per bucket')),
          chart('queue', 'queued', String(lastOf(a.queueDepth) ?? 0), spark(a.ageMs, a.queueDepth, span, false, '', 'queued')));
        const codes = Object.entries(a.errorsByCode).map(([c, xs]) => c + ' ×' + sum(xs));
        if (codes.length) row.append(el('div', 'codes', codes.join('  ')));
        rows.push(row);
      }
      $('trends').replaceChildren(...(rows.length ? rows : [el('div', 'mute', 'no samples yet')]));
    } catch (e) { /* next refresh retries */ }
  }

  function refreshAll() { refreshTree(); refreshMetrics(); refreshSeries(); }
  let pending = false;
  function soon() { if (pending) return; pending = true; setTimeout(() => { pending = false; refreshAll(); }, 150); }

  function onEvent(ev, source) {
    const list = $('events');
    const li = el('li', (ERROR.has(ev.type) ? 'ev-error' : WARN.has(ev.type) ? 'ev-warn' : '') + (source === 'backlog' ? ' from-backlog' : ''));
    const t = new Date(ev.at).toISOString().slice(11, 23);
    const fields = Object.entries(ev).filter(([k]) => k !== 'type' && k !== 'at').map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(' ');
    li.textContent = t + ' ' + ev.type + ' ' + fields;
    li.dataset.type = ev.type;
    li.dataset.source = source;
    list.prepend(li);
    while (list.childElementCount > maxEvents) list.lastElementChild.remove();
    if (ev.type === 'supervisor.restarted') { restartEvents++; $('live-restarts').textContent = String(restartEvents); }
    if (source === 'live' && REFRESH_ON.test(ev.type)) soon();
  }

  function connect(after) {
    // After the backlog, the stream continues from its last id (the server replays any gap); on a
    // reconnect the browser's Last-Event-ID takes over.
    const es = new EventSource(after === undefined ? 'events' : 'events?after=' + after);
    es.onopen = () => { $('conn').textContent = 'live'; };
    es.onerror = () => { $('conn').textContent = 'reconnecting'; };
    es.onmessage = (m) => { try { onEvent(JSON.parse(m.data), 'live'); } catch (e) { /* ignore a malformed event */ } };
  }

  async function loadBacklog() {
    let after;
    try {
      const r = await fetch('events.json', { cache: 'no-store' });
      if (r.ok) {
        const b = await r.json();
        for (const e of b.events) onEvent(e.event, 'backlog');
        after = b.lastId;
        $('backlog').textContent = b.events.length + (b.dropped ? ' (older dropped)' : '');
      }
    } catch (e) { /* stream without a backlog */ }
    connect(after);
  }

  refreshAll(); loadBacklog();
  setInterval(refreshAll, refreshMs);
})();
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Content-Security-Policy of the page: only its own inline style/script, fetches to its own origin. */
export const LIVE_VIEW_CSP = [
  "default-src 'none'",
  `style-src ${hash(STYLE)}`,
  `script-src ${hash(SCRIPT)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page. `title` is escaped; `refreshMs` is how often it re-reads `/inspect`, `/metrics.json`
 * and `/series.json`; `maxEvents` (default 500) caps the event list (backlog and live together).
 */
export function liveViewHtml(options: { title: string; refreshMs: number; maxEvents?: number }): string {
  const title = escapeHtml(options.title);
  const maxEvents = Math.max(1, Math.floor(options.maxEvents ?? 500));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head>
<body data-refresh="${Math.max(250, Math.floor(options.refreshMs))}" data-max-events="${maxEvents}">
<header><h1>${title}</h1><span class="pill">system <b id="state">…</b></span><span class="pill">events <b id="conn">connecting</b></span>
<span class="pill">restarts <b id="restarts">0</b> (in events <b id="live-restarts">0</b>)</span><span class="pill">backlog <b id="backlog">–</b></span><span class="mute" id="node"></span></header>
<section><h2>Agents</h2><div class="wide"><table><thead><tr><th>agent</th><th>calls</th><th>ok</th><th>errors</th><th>p50 s</th><th>p95 s</th><th>in-flight</th><th>queued</th><th>crashes</th><th>quarantined</th></tr></thead><tbody id="agents"></tbody></table></div></section>
<section><h2>Trends <span class="mute">(<span id="window">last 15 min, 5 s buckets</span>)</span></h2><div id="trends"><div class="mute">loading…</div></div></section>
<div class="grid"><section><h2>Supervision tree</h2><ul class="tree" id="tree"><li class="mute">loading…</li></ul>
<h2>Python processes</h2><div class="wide"><table><thead><tr><th>worker</th><th>pid</th><th>RSS MB</th><th>CPU s</th></tr></thead><tbody id="procs"></tbody></table></div></section>
<section><h2>Recent events <span class="mute">(newest first)</span></h2><ol id="events"></ol></section></div>
<script>${SCRIPT}</script>
</body></html>
`;
}
