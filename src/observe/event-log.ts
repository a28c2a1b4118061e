/**
 * The single place lifecycle events become log lines. Layers emit (./emit.ts) and do not log
 * the event themselves, so nothing is logged twice and the level of each event is decided
 * here, once (docs/observability.md lists them; docs/decisions.md says why).
 */
import type { Level, Logger } from 'pino';
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
  'turn.committed': 'info',
  'turn.failed': 'warn',
});

/** The level {@link EventLog} uses for one event. */
export function levelOf<K extends SynapseEventName>(name: K, event: SynapseEvents[K]): Level {
  const rule = EVENT_LEVELS[name] as LevelRule<K>;
  return typeof rule === 'function' ? rule(event) : rule;
}

/** Every event name, in declaration order. */
export const EVENT_NAMES = Object.freeze(Object.keys(EVENT_LEVELS) as SynapseEventName[]);

/** The log record of one event: `{ event, ...fields }`, an `error` field moved to `err` for pino's serializer. */
export function eventRecord(name: SynapseEventName, event: object): Record<string, unknown> {
  const record: Record<string, unknown> = { event: name, ...event };
  if ('error' in record) {
    if (record.error !== undefined) record.err = record.error;
    delete record.error;
  }
  return record;
}

/** Options of {@link EventLog}. */
export interface EventLogOptions {
  /** Events not to log (e.g. while a layer still logs them itself, to avoid double logging). */
  exclude?: readonly SynapseEventName[];
}

const SCHEMA = {
  exclude: v.optional<SynapseEventName[]>((value, path) =>
    Array.isArray(value) && value.every((n) => typeof n === 'string' && Object.hasOwn(EVENT_LEVELS, n))
      ? (value as SynapseEventName[])
      : invalid(path, 'an array of event names', value),
  ),
};

/**
 * Subscribes to every event of a {@link SynapseEventEmitter} and logs it at its level
 * ({@link EVENT_LEVELS}) with its fields; the message is the event name.
 * @example
 * ```ts
 * const eventLog = new EventLog(system.events, system.log);
 * // … later
 * eventLog.close();
 * ```
 */
export class EventLog {
  readonly #unsubscribe: (() => void)[] = [];

  /** @throws SYN_ERR_INVALID_OPTION for an unknown option or event name. */
  constructor(events: SynapseEventEmitter, log: Logger, options: EventLogOptions = {}) {
    const exclude = new Set(resolveOptions('eventLog', options, SCHEMA).exclude ?? []);
    for (const name of EVENT_NAMES) {
      if (exclude.has(name)) continue;
      const listener = (event: SynapseEvents[typeof name]): void => {
        const level = levelOf(name, event);
        if (log.isLevelEnabled(level)) log[level](eventRecord(name, event), name);
      };
      const emitter = events as unknown as { on(n: string, l: typeof listener): void; off(n: string, l: typeof listener): void };
      emitter.on(name, listener);
      this.#unsubscribe.push(() => emitter.off(name, listener));
    }
  }

  /** Unsubscribes. Idempotent. */
  close(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
