/**
 * The live view served at `GET /`: one self-contained HTML page (no external assets, inline
 * style and script pinned by a CSP hash) rendering the supervision tree from `/inspect`, key
 * metrics from `/metrics.json` and a live list of recent events from `/events` (SSE).
 * Every piece of data is inserted with `textContent`, never as HTML.
 */
import { createHash } from 'node:crypto';
import { EVENT_LEVELS, EVENT_NAMES } from './event-log.ts';

/** Events coloured as warnings / errors: those the event log logs at that level (its table, not a copy). */
const atLevel = (level: 'warn' | 'error'): string => JSON.stringify(EVENT_NAMES.filter((name) => EVENT_LEVELS[name] === level));

const STYLE = `
:root{color-scheme:light dark;--ok:#2e7d32;--warn:#ef6c00;--bad:#c62828;--mute:#888;--bg2:rgba(127,127,127,.08)}
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:16px}
header{display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
h1{font-size:18px;margin:0}h2{font-size:15px;margin:16px 0 6px}
.pill{padding:1px 8px;border-radius:10px;background:var(--bg2)}
.grid{display:grid;grid-template-columns:minmax(320px,1.2fr) minmax(280px,1fr);gap:16px}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:18px}ul.tree{padding-left:0}
li.node>div{padding:2px 4px;border-radius:4px;display:flex;gap:8px;flex-wrap:wrap}
.kind{font-size:11px;text-transform:uppercase;color:var(--mute);min-width:70px}
.st-ready,.st-running{color:var(--ok)}.st-idle{color:var(--mute)}.st-crashed,.st-quarantined,.st-stopped{color:var(--bad)}
.st-restarting,.st-backoff,.st-starting,.st-draining,.st-stopping{color:var(--warn)}
.flash{animation:flash 2s ease-out}@keyframes flash{from{background:rgba(239,108,0,.45)}to{background:transparent}}
table{border-collapse:collapse;width:100%}td,th{padding:2px 6px;text-align:right;border-bottom:1px solid var(--bg2)}
td:first-child,th:first-child{text-align:left}
ol#events{margin:0;padding-left:0;list-style:none;max-height:420px;overflow:auto;font:12px ui-monospace,monospace}
ol#events li{padding:1px 4px}.ev-warn{color:var(--warn)}.ev-error{color:var(--bad)}
.mute{color:var(--mute)}
`;

const SCRIPT = `
(() => {
  const $ = (id) => document.getElementById(id);
  const refreshMs = Number(document.body.dataset.refresh) || 2000;
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
    if (n.inFlight !== undefined) row.append(el('span', 'pill', 'in-flight ' + n.inFlight));
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

  let pending = false;
  function soon() { if (pending) return; pending = true; setTimeout(() => { pending = false; refreshTree(); refreshMetrics(); }, 150); }

  function onEvent(ev) {
    const list = $('events');
    const li = el('li', ERROR.has(ev.type) ? 'ev-error' : WARN.has(ev.type) ? 'ev-warn' : '');
    const t = new Date(ev.at).toISOString().slice(11, 23);
    const fields = Object.entries(ev).filter(([k]) => k !== 'type' && k !== 'at').map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(' ');
    li.textContent = t + ' ' + ev.type + ' ' + fields;
    li.dataset.type = ev.type;
    list.prepend(li);
    while (list.childElementCount > 200) list.lastElementChild.remove();
    if (ev.type === 'supervisor.restarted') { restartEvents++; $('live-restarts').textContent = String(restartEvents); }
    if (REFRESH_ON.test(ev.type)) soon();
  }

  function connect() {
    const es = new EventSource('events');
    es.onopen = () => { $('conn').textContent = 'live'; };
    es.onerror = () => { $('conn').textContent = 'reconnecting'; };
    es.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { /* ignore a malformed event */ } };
  }

  refreshTree(); refreshMetrics(); connect();
  setInterval(() => { refreshTree(); refreshMetrics(); }, refreshMs);
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

/** The page. `title` is escaped; `refreshMs` is how often it re-reads `/inspect` and `/metrics.json`. */
export function liveViewHtml(options: { title: string; refreshMs: number }): string {
  const title = escapeHtml(options.title);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head>
<body data-refresh="${Math.max(250, Math.floor(options.refreshMs))}">
<header><h1>${title}</h1><span class="pill">system <b id="state">…</b></span><span class="pill">events <b id="conn">connecting</b></span>
<span class="pill">restarts <b id="restarts">0</b> (live <b id="live-restarts">0</b>)</span><span class="mute" id="node"></span></header>
<div class="grid"><section><h2>Supervision tree</h2><ul class="tree" id="tree"><li class="mute">loading…</li></ul></section>
<section><h2>Agents</h2><table><thead><tr><th>agent</th><th>calls</th><th>ok</th><th>errors</th><th>p50 s</th><th>p95 s</th><th>in-flight</th><th>queued</th><th>crashes</th><th>quarantined</th></tr></thead><tbody id="agents"></tbody></table>
<h2>Python processes</h2><table><thead><tr><th>worker</th><th>pid</th><th>RSS MB</th><th>CPU s</th></tr></thead><tbody id="procs"></tbody></table>
<h2>Recent events</h2><ol id="events"></ol></section></div>
<script>${SCRIPT}</script>
</body></html>
`;
}
