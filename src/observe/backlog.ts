/**
 * The server-side event backlog of the observability server (./http.ts): the last N `inspect`
 * events, already redacted and serialised, so a person opening the live view after an incident
 * sees what happened (`GET /events.json`), and an SSE client that reconnects (or connects with
 * `?after=<id>`) is sent what it missed. Bounded by count (a {@link Ring}) and by bytes of JSON
 * (the oldest go first; a single event larger than the limit is kept alone).
 *
 * Per-request events (`message.routed`, `call.*`, `turn.*`, `model.slot_waited`, `remote.*`) are left out by default: at a few
 * hundred turns per second they would push a restart out of a 500-entry backlog within a
 * second. They still stream live, and the time series (./series.ts) summarise them.
 */
import type { SynapseEventName } from './events.ts';
import { Ring } from './ring.ts';

/** Defaults of the backlog (`startObserveServer({ backlogSize, backlogExclude })`). */
export const EVENT_BACKLOG_DEFAULTS = Object.freeze({
  size: 500,
  maxBytes: 1024 * 1024,
  exclude: Object.freeze(['message.routed', 'call.completed', 'call.failed', 'turn.committed', 'turn.failed', 'model.slot_waited', 'remote.completed', 'remote.failed', 'remote.served'] as const satisfies readonly SynapseEventName[]),
});

/** One stored event: its SSE id, its type and its redacted JSON. */
export interface BacklogEntry {
  readonly id: number;
  readonly type: SynapseEventName;
  readonly json: string;
}

/** The last `size` events whose type is not excluded. */
export class EventBacklog {
  readonly #ring: Ring<BacklogEntry>;
  readonly #exclude: ReadonlySet<string>;
  readonly #maxBytes: number;
  #bytes = 0;
  #dropped = 0;

  /** Options are validated by the server that owns the backlog. `maxBytes` default {@link EVENT_BACKLOG_DEFAULTS}. */
  constructor(options: { size: number; exclude: readonly SynapseEventName[]; maxBytes?: number }) {
    this.#ring = new Ring(options.size);
    this.#exclude = new Set(options.exclude);
    this.#maxBytes = options.maxBytes ?? EVENT_BACKLOG_DEFAULTS.maxBytes;
  }

  /** JSON held now, in bytes (measured as string length: the JSON is ASCII but for non-ASCII text). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Most entries kept. */
  get capacity(): number {
    return this.#ring.capacity;
  }

  /** Entries overwritten since start (older history is gone). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether events of this type are kept. */
  accepts(type: string): boolean {
    return !this.#exclude.has(type);
  }

  /** Stores an entry (its type is assumed accepted). */
  push(entry: BacklogEntry): void {
    if (this.#ring.size === this.#ring.capacity) this.#drop();
    this.#ring.push(entry);
    this.#bytes += entry.json.length;
    while (this.#bytes > this.#maxBytes && this.#ring.size > 1) this.#drop();
  }

  #drop(): void {
    const oldest = this.#ring.shift();
    if (oldest === undefined) return;
    this.#bytes -= oldest.json.length;
    this.#dropped += 1;
  }

  /** Entries oldest first. */
  entries(): BacklogEntry[] {
    return this.#ring.toArray();
  }

  /**
   * Entries with an id above `afterId`, oldest first, at most `maxBytes` of JSON in total: when
   * they do not all fit, the newest that do (a replay must never exceed the client's buffer).
   */
  since(afterId: number, maxBytes: number): BacklogEntry[] {
    const newer = this.#ring.toArray().filter((e) => e.id > afterId);
    let bytes = 0;
    let first = newer.length;
    while (first > 0 && bytes + newer[first - 1]!.json.length <= maxBytes) bytes += newer[--first]!.json.length;
    return newer.slice(first);
  }

  /**
   * The body of `GET /events.json`: `{ capacity, dropped, lastId, events: [{ id, event }] }`,
   * oldest first. `lastId` is the id of the newest event the server has seen (kept or not):
   * open `/events?after=<lastId>` to continue without a gap or a duplicate.
   */
  toJson(lastId: number): string {
    const events = this.#ring.toArray().map((e) => `{"id":${e.id},"event":${e.json}}`);
    return `{"capacity":${this.capacity},"dropped":${this.dropped},"lastId":${lastId},"events":[${events.join(',')}]}`;
  }
}
