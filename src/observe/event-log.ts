/**
 * The single place lifecycle events become log lines. Layers emit (./emit.ts) and do not log
 * the event themselves, so nothing is logged twice and the level of each event is decided
 * here, once (docs/observability.md lists them; docs/decisions.md says why).
 */
import type { Level, Logger } from 'pino';
import { isSynapseError } from '../errors.ts';
import { invalid, resolveOptions, v } from '../options.ts';
import type { SynapseEventEmitter, SynapseEventName, SynapseEvents } from './events.ts';

type LevelRule<K extends SynapseEventName> = Level | ((event: SynapseEvents[K]) => Level);

/**
 * Log level of every event. Exhaustive by type: a new event in `SynapseEvents` fails the
 * type check until it is given a level here.
 */
export const EVENT_LEVELS: { readonly [K in SynapseEventName]: LevelRule<K> } = Object.freeze({
  'actor.spawned': 'debug',
  'actor.stopped': 'debug',
  'actor.crashed': 'warn',
  'mailbox.dropped': 'warn',
  'supervisor.child_started': 'debug',
  // The crash itself is already logged at warn (actor.crashed / worker.crashed).
  'supervisor.child_exited': (e: SynapseEvents['supervisor.child_exited']) => (e.abnormal ? 'info' : 'debug'),
  'supervisor.restart_scheduled': 'warn',
  'supervisor.restarted': 'info',
  'supervisor.intensity_exceeded': 'error',
  'supervisor.escalated': 'error',
  'agent.spawned': 'info',
  'agent.stopped': 'info',
  'worker.spawned': 'debug',
  'worker.ready': 'info',
  'worker.crashed': 'warn',
  'worker.exited': 'debug',
  'spare.ready': 'debug',
  'agent.quarantined': 'warn',
  'agent.recovered': 'info',
  'orphan.reaped': 'warn',
  'message.routed': 'debug',
  'call.failed': 'warn',
  'call.completed': 'debug',
  // One per model request of a rateLimit'ed agent (a refused wait also ends its call: call.failed warns).
  'model.slot_waited': 'debug',
  'turn.committed': 'info',
  'turn.failed': 'warn',
  // Per request, like call.completed; a failure is the front's one warn line for the run.
  'remote.completed': 'debug',
  'remote.failed': 'warn',
  // The failure itself is already logged at warn on this host (call.failed of the served run).
  'remote.served': (e: SynapseEvents['remote.served']) => (e.code === undefined ? 'debug' : 'info'),
});

/** The level {@link EventLog} uses for one event. */
export function levelOf<K extends SynapseEventName>(name: K, event: SynapseEvents[K]): Level {
  const rule = EVENT_LEVELS[name] as LevelRule<K>;
  return typeof rule === 'function' ? rule(event) : rule;
}

/** Every event name, in declaration order. */
export const EVENT_NAMES = Object.freeze(Object.keys(EVENT_LEVELS) as SynapseEventName[]);

const MAX_CAUSES = 8;

/** `CODE: message` (or `Name: message`) of one error, on one line. */
function errorLabel(error: unknown): string {
  if (!(error instanceof Error)) return String(error).replace(/\s+/g, ' ');
  return `${isSynapseError(error) ? error.code : error.name}: ${error.message.replace(/\s+/g, ' ')}`;
}

/** The error and its `cause`s, outermost first (bounded: a cyclic chain ends). */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = error; e !== undefined && e !== null && chain.length <= MAX_CAUSES && !chain.includes(e); e = e instanceof Error ? e.cause : undefined) chain.push(e);
  return chain;
}

/**
 * An error on one line, without its stack: `CODE: message <- Name: cause message <- …`
 * (the code for a SynapseError, else the error's name; then its `cause` chain).
 */
export function briefError(error: unknown): string {
  return causeChain(error).map(errorLabel).join(' <- ');
}

/**
 * The log record of one event: `{ event, ...fields }`. The Python process's `pid` becomes
 * `pythonPid` (pino's own `pid` field is the Node process's). An `error` field becomes the
 * one-line string {@link briefError} (and its code, as `code`, when the event has none); with
 * `stacks`, the error itself is added as `err` for pino's serializer (stack and causes).
 */
export function eventRecord(name: SynapseEventName, event: object, options: { stacks?: boolean; extra?: Record<string, unknown> | undefined } = {}): Record<string, unknown> {
  const record: Record<string, unknown> = { event: name, ...options.extra, ...event };
  if ('pid' in record) {
    record.pythonPid = record.pid;
    delete record.pid;
  }
  if ('error' in record) {
    const error = record.error;
    delete record.error;
    if (error !== undefined) {
      record.error = briefError(error);
      if (record.code === undefined && isSynapseError(error)) record.code = error.code;
      if (options.stacks === true) record.err = error;
    }
  }
  return record;
}

/** Options of {@link EventLog}. */
export interface EventLogOptions {
  /** Events not to log (e.g. while a layer still logs them itself, to avoid double logging). */
  exclude?: readonly SynapseEventName[];
  /**
   * Extra fields for an event's line (the event's own fields win), e.g. the `agent` a
   * supervisor belongs to. Return undefined for none.
   */
  context?: (name: SynapseEventName, event: object) => Record<string, unknown> | undefined;
}

const SCHEMA = {
  exclude: v.optional<SynapseEventName[]>((value, path) =>
    Array.isArray(value) && value.every((n) => typeof n === 'string' && Object.hasOwn(EVENT_LEVELS, n))
      ? (value as SynapseEventName[])
      : invalid(path, 'an array of event names', value),
  ),
  context: v.optional(v.func<NonNullable<EventLogOptions['context']>>()),
};

/**
 * Subscribes to every event of a {@link SynapseEventEmitter} and logs it at its level
 * ({@link EVENT_LEVELS}) with its fields ({@link eventRecord}); the message is the event name.
 * Stacks are logged only when the logger is at `debug` or below.
 *
 * One exception to the table: an `actor.crashed` whose error wraps (through `cause`) the error
 * of a crash already logged is its consequence — a start failure propagating up the tree —
 * and is logged at debug, so one failure is one line at warn.
 * @example
 * ```ts
 * const eventLog = new EventLog(system.events, system.log);
 * // … later
 * eventLog.close();
 * ```
 */
export class EventLog {
  readonly #unsubscribe: (() => void)[] = [];
  /** Errors of the crashes logged so far (weak: forgotten with the error). */
  readonly #crashes = new WeakSet<object>();

  /** @throws SYN_ERR_INVALID_OPTION for an unknown option or event name. */
  constructor(events: SynapseEventEmitter, log: Logger, options: EventLogOptions = {}) {
    const resolved = resolveOptions('eventLog', options, SCHEMA);
    const exclude = new Set(resolved.exclude ?? []);
    const context = resolved.context;
    for (const name of EVENT_NAMES) {
      if (exclude.has(name)) continue;
      const listener = (event: SynapseEvents[typeof name]): void => {
        let level = levelOf(name, event);
        if (name === 'actor.crashed') level = this.#crashLevel((event as SynapseEvents['actor.crashed']).error, level);
        if (!log.isLevelEnabled(level)) return;
        log[level](eventRecord(name, event, { stacks: log.isLevelEnabled('debug'), extra: context?.(name, event) }), name);
      };
      const emitter = events as unknown as { on(n: string, l: typeof listener): void; off(n: string, l: typeof listener): void };
      emitter.on(name, listener);
      this.#unsubscribe.push(() => emitter.off(name, listener));
    }
  }

  /** Debug for a crash caused by one already logged; remembers this crash's error. */
  #crashLevel(error: unknown, level: Level): Level {
    if (typeof error !== 'object' || error === null) return level;
    const consequence = causeChain(error).some((e) => typeof e === 'object' && e !== null && this.#crashes.has(e));
    this.#crashes.add(error);
    return consequence ? 'debug' : level;
  }

  /** Unsubscribes. Idempotent. */
  close(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
