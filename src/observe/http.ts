/**
 * Optional observability HTTP server (node:http, loopback by default):
 *
 * | route           | answer                                                                 |
 * |-----------------|------------------------------------------------------------------------|
 * | `GET /metrics`  | Prometheus text                                                        |
 * | `GET /metrics.json` | `metrics.snapshot()` JSON                                          |
 * | `GET /healthz`  | health JSON; 200 for `ok`/`degraded`, 503 for `unhealthy` or an error  |
 * | `GET /inspect`  | the supervision tree ({@link InspectNode})                             |
 * | `GET /events`   | Server-Sent Events: the `inspect` event stream (`?after=<id>` / `Last-Event-ID` replays the backlog after that id) |
 * | `GET /events.json` | the event backlog (./backlog.ts)                                   |
 * | `GET /series.json` | per-agent time series of the last 15 min (./series.ts)             |
 * | `GET /`         | the live view (./live-view.ts)                                         |
 *
 * SSE clients are bounded in number and in buffered bytes: a client that does not keep up is
 * disconnected (it reconnects and re-reads `/inspect`), so memory never grows without bound.
 * The backlog and the series are bounded rings; the series' sampling timer is cleared by `close()`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.ts';
import { realClock } from '../clock.ts';
import { synErr } from '../errors.ts';
import { invalid, resolveOptions, v } from '../options.ts';
import type { Field } from '../options.ts';
import { EVENT_BACKLOG_DEFAULTS, EventBacklog } from './backlog.ts';
import { EVENT_NAMES } from './event-log.ts';
import type { InspectEvent, SynapseEventEmitter, SynapseEventName } from './events.ts';
import type { HealthFn, InspectFn } from './inspect.ts';
import { LIVE_VIEW_CSP, liveViewHtml } from './live-view.ts';
import { DEFAULT_REDACT_CONTAINERS, DEFAULT_REDACT_KEYS, compileRedactor } from './redact.ts';
import { MetricsSeries, SERIES_DEFAULTS } from './series.ts';
import type { SeriesReading } from './series.ts';

/** What the server needs from metrics (a {@link SynapseMetrics} fits). */
export interface MetricsEndpoint {
  readonly contentType: string;
  text(): Promise<string>;
  snapshot?(): Promise<unknown>;
  /** Cumulative per-agent values for `GET /series.json` (sampled every `seriesIntervalMs`). */
  seriesReading?(): Promise<SeriesReading>;
}

/** Options of {@link startObserveServer}. Defaults: {@link OBSERVE_SERVER_DEFAULTS}. */
export interface ObserveServerOptions {
  /** Interface to bind. Default `'127.0.0.1'`: expose wider only behind your own access control. */
  host?: string;
  /** TCP port; 0 picks a free one (read it from `server.port`). Default 0. */
  port?: number;
  metrics?: MetricsEndpoint;
  health?: HealthFn;
  inspect?: InspectFn;
  /** Source of `GET /events` (its `inspect` stream). */
  events?: SynapseEventEmitter;
  /** Host names accepted in the `Host` header (DNS-rebinding guard). Default: the loopback names when bound to loopback, else any. */
  allowedHosts?: readonly string[];
  /** Most concurrent SSE clients; more get 503. Default 16. */
  maxSseClients?: number;
  /** Bytes buffered for one SSE client before it is dropped. Default 256 KiB. */
  sseBufferBytes?: number;
  /** Interval of SSE keep-alive comments. Default 15 000. */
  sseHeartbeatMs?: number;
  /** Events kept in the backlog (`GET /events.json`, replayed to reconnecting SSE clients). Default 500. */
  backlogSize?: number;
  /** Event types left out of the backlog (they still stream live). Default: the per-request events ({@link EVENT_BACKLOG_DEFAULTS}); `[]` keeps all. */
  backlogExclude?: readonly SynapseEventName[];
  /** Bucket width of the time series, in ms. Default 5000. */
  seriesIntervalMs?: number;
  /** Buckets kept per agent (window = `seriesIntervalMs × seriesPoints`). Default 180 (15 min). */
  seriesPoints?: number;
  /** Live view refresh of `/inspect`, `/metrics.json` and `/series.json`. Default 2000. */
  refreshMs?: number;
  /** Live view title. Default `'Synapse'`. */
  title?: string;
  clock?: Clock;
  /** Where provider errors and dropped SSE clients are logged (debug/warn). */
  log?: Logger;
}

/** Defaults of {@link startObserveServer}. */
export const OBSERVE_SERVER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 0,
  maxSseClients: 16,
  sseBufferBytes: 256 * 1024,
  sseHeartbeatMs: 15_000,
  refreshMs: 2000,
  title: 'Synapse',
  backlogSize: EVENT_BACKLOG_DEFAULTS.size,
  backlogExclude: EVENT_BACKLOG_DEFAULTS.exclude,
  seriesIntervalMs: SERIES_DEFAULTS.intervalMs,
  seriesPoints: SERIES_DEFAULTS.points,
});

/** A running server. */
export interface ObserveServer {
  /** `http://host:port/`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Connected SSE clients. */
  readonly sseClients: number;
  /** SSE clients disconnected for being too slow, since start. */
  readonly sseDropped: number;
  /** Ends SSE streams, closes every connection, resolves when the socket is closed. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const objectWith = <T>(method: string, expected: string): Field<T> => (value, path) =>
  typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[method] === 'function' ? (value as T) : invalid(path, expected, value);

const SCHEMA = {
  host: v.optional(v.string({ min: 1, max: 255 })),
  port: v.optional(v.number({ min: 0, max: 65_535, integer: true })),
  metrics: v.optional(objectWith<MetricsEndpoint>('text', 'an object with text() (SynapseMetrics)')),
  health: v.optional(v.func<HealthFn>()),
  inspect: v.optional(v.func<InspectFn>()),
  events: v.optional(objectWith<SynapseEventEmitter>('on', 'a SynapseEventEmitter')),
  allowedHosts: v.optional<string[]>((value, path) =>
    Array.isArray(value) && value.every((h) => typeof h === 'string') ? (value as string[]) : invalid(path, 'an array of host names', value),
  ),
  maxSseClients: v.optional(v.number({ min: 0, max: 10_000, integer: true })),
  sseBufferBytes: v.optional(v.number({ min: 1024, integer: true })),
  sseHeartbeatMs: v.optional(v.number({ min: 1, integer: true })),
  refreshMs: v.optional(v.number({ min: 250, integer: true })),
  backlogSize: v.optional(v.number({ min: 1, max: 100_000, integer: true })),
  backlogExclude: v.optional<SynapseEventName[]>((value, path) =>
    Array.isArray(value) && value.every((n) => typeof n === 'string' && (EVENT_NAMES as readonly string[]).includes(n))
      ? (value as SynapseEventName[])
      : invalid(path, 'an array of event names', value),
  ),
  seriesIntervalMs: v.optional(v.number({ min: 100, integer: true })),
  seriesPoints: v.optional(v.number({ min: 1, max: 10_000, integer: true })),
  title: v.optional(v.string({ min: 1, max: 200 })),
  clock: v.optional(objectWith<Clock>('setTimeout', 'a Clock')),
  log: v.optional(objectWith<Logger>('warn', 'a pino logger')),
};

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]', '::1'];
const isLoopback = (host: string): boolean => LOOPBACK.includes(host) || host.startsWith('127.');
const redactEvent = compileRedactor({ keys: DEFAULT_REDACT_KEYS, containers: DEFAULT_REDACT_CONTAINERS });

/** JSON for the wire: errors as `{name, message, code}`, bigints as strings. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Error) return { name: v.name, message: v.message, ...('code' in v ? { code: (v as { code: unknown }).code } : {}) };
    return typeof v === 'bigint' ? v.toString() : v;
  });
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
  res.end(body);
}
const sendJson = (res: ServerResponse, status: number, body: unknown): void => send(res, status, 'application/json; charset=utf-8', toJson(body));

/**
 * Starts the server.
 * @throws SYN_ERR_INVALID_OPTION for a bad option; SYN_ERR_START_FAILED when it cannot listen (port in use…).
 * @example
 * ```ts
 * const server = await startObserveServer({ port: 9464, metrics, events: system.events, inspect: () => system.inspect() });
 * console.log(server.url); // http://127.0.0.1:9464/
 * await server.close();
 * ```
 */
export async function startObserveServer(options: ObserveServerOptions = {}): Promise<ObserveServer> {
  const o = resolveOptions('observe', options, SCHEMA);
  const d = OBSERVE_SERVER_DEFAULTS;
  const host = o.host ?? d.host;
  const clock = o.clock ?? realClock;
  const allowed = o.allowedHosts ?? (isLoopback(host) ? LOOPBACK : undefined);
  const maxClients = o.maxSseClients ?? d.maxSseClients;
  const bufferBytes = o.sseBufferBytes ?? d.sseBufferBytes;
  const heartbeatMs = o.sseHeartbeatMs ?? d.sseHeartbeatMs;
  const backlog = new EventBacklog({ size: o.backlogSize ?? d.backlogSize, exclude: o.backlogExclude ?? d.backlogExclude });
  const html = liveViewHtml({ title: o.title ?? d.title, refreshMs: o.refreshMs ?? d.refreshMs, maxEvents: Math.min(Math.max(200, backlog.capacity), 2000) });
  const clients = new Set<ServerResponse>();
  let dropped = 0;
  let seq = 0;
  let series: MetricsSeries | undefined;

  const write = (res: ServerResponse, chunk: string): void => {
    if (res.destroyed) return void clients.delete(res);
    res.write(chunk);
    if (res.writableLength > bufferBytes) {
      dropped += 1;
      clients.delete(res);
      o.log?.warn({ bufferedBytes: res.writableLength }, 'observe: dropping slow SSE client');
      res.destroy();
    }
  };
  const onInspect = (event: InspectEvent): void => {
    const id = ++seq;
    const keep = backlog.accepts(event.type);
    if (!keep && clients.size === 0) return;
    const json = toJson(redactEvent(event));
    if (keep) backlog.push({ id, type: event.type, json });
    if (clients.size === 0) return;
    const chunk = `id: ${id}\ndata: ${json}\n\n`;
    for (const res of [...clients]) write(res, chunk);
  };
  /** Sends a new SSE client the backlog after the id it names (`Last-Event-ID` on reconnect, else `?after=`). */
  const replay = (res: ServerResponse, req: IncomingMessage, url: URL): void => {
    const raw = req.headers['last-event-id'] ?? url.searchParams.get('after');
    const after = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
    if (after === undefined) return;
    // An id above ours comes from an earlier server (a restarted process): all of ours are new to it.
    for (const e of backlog.since(after > seq ? 0 : after, bufferBytes / 2)) write(res, `id: ${e.id}\ndata: ${e.json}\n\n`);
  };
  let heartbeat: TimerHandle | undefined;
  const beat = (): void => {
    for (const res of [...clients]) write(res, ': keep-alive\n\n');
    heartbeat = clock.setTimeout(beat, heartbeatMs);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (allowed !== undefined) {
      const hostname = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      if (!allowed.includes(hostname)) return sendJson(res, 421, { error: 'host not allowed' });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed', { allow: 'GET, HEAD' });
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    switch (path) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', html, { 'content-security-policy': LIVE_VIEW_CSP, 'referrer-policy': 'no-referrer' });
      case '/metrics':
        if (o.metrics === undefined) break;
        return send(res, 200, o.metrics.contentType, await o.metrics.text());
      case '/metrics.json':
        if (o.metrics?.snapshot === undefined) break;
        return sendJson(res, 200, await o.metrics.snapshot());
      case '/healthz': {
        if (o.health === undefined) return sendJson(res, 200, { status: 'ok', agents: {} });
        try {
          const report = await o.health();
          return sendJson(res, report.status === 'unhealthy' ? 503 : 200, report);
        } catch (err) {
          o.log?.warn({ err }, 'observe: health function failed');
          return sendJson(res, 503, { status: 'unhealthy', agents: {}, error: (err as Error)?.message ?? String(err) });
        }
      }
      case '/inspect':
        if (o.inspect === undefined) break;
        return sendJson(res, 200, await o.inspect());
      case '/events':
        if (o.events === undefined) break;
        if (req.method === 'HEAD') return send(res, 200, 'text/event-stream; charset=utf-8', '');
        if (clients.size >= maxClients) return sendJson(res, 503, { error: 'too many event-stream clients' });
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        res.flushHeaders();
        clients.add(res);
        res.on('close', () => clients.delete(res));
        write(res, 'retry: 2000\n\n');
        replay(res, req, url);
        return;
      case '/events.json':
        if (o.events === undefined) break;
        return send(res, 200, 'application/json; charset=utf-8', backlog.toJson(seq));
      case '/series.json':
        if (series === undefined) break;
        return sendJson(res, 200, await series.view());
    }
    return sendJson(res, 404, { error: 'not found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log?.warn({ err, url: req.url }, 'observe: request failed');
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error)?.message ?? String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? d.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw synErr('SYN_ERR_START_FAILED', `Observability server could not listen on ${host}:${o.port ?? d.port}: ${(err as Error).message}`, { host, port: o.port ?? d.port }, err);
  });
  o.events?.on('inspect', onInspect);
  heartbeat = clock.setTimeout(beat, heartbeatMs);
  const read = o.metrics?.seriesReading?.bind(o.metrics);
  if (read !== undefined) {
    series = new MetricsSeries({
      read,
      clock,
      intervalMs: o.seriesIntervalMs ?? d.seriesIntervalMs,
      points: o.seriesPoints ?? d.seriesPoints,
      onError: (err) => o.log?.warn({ err }, 'observe: series sample failed'),
    });
  }

  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      o.events?.off('inspect', onInspect);
      if (heartbeat !== undefined) clock.clearTimeout(heartbeat);
      series?.close();
      for (const res of clients) res.end();
      clients.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    host,
    port,
    get sseClients() {
      return clients.size;
    },
    get sseDropped() {
      return dropped;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
