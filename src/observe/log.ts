/**
 * pino wiring: one logger per system (created or injected), secrets redacted by path and by
 * key name, child loggers carrying actor/agent/process/conversation context.
 *
 * Lifecycle events are not logged by the layers that emit them: {@link EventLog} (./event-log.ts)
 * is the one subscriber that turns every event into a log line (see docs/decisions.md).
 */
import { pino } from 'pino';
import type { DestinationStream, LevelWithSilent, Logger } from 'pino';
import { synErr } from '../errors.ts';
import { invalid, resolveOptions, v } from '../options.ts';
import type { Field } from '../options.ts';
import {
  DEFAULT_CENSOR,
  DEFAULT_REDACT_CONTAINERS,
  DEFAULT_REDACT_KEYS,
  compileRedactor,
  parseRedactPath,
} from './redact.ts';

/** Paths always redacted (pino syntax), in addition to the key-name rules of ./redact.ts. */
export const DEFAULT_REDACT_PATHS: readonly string[] = Object.freeze([
  '*.apiKey',
  '*.api_key',
  '*.authorization',
  '*.password',
  '*.token',
  '*.secret',
  'env.*',
  'python.env.*',
  'headers.authorization',
]);

/** Log levels accepted by {@link createLogger}. */
export const LOG_LEVELS = Object.freeze(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const);

/** Extra redaction: more paths (pino syntax), more key names, another censor string. */
export interface RedactOptions {
  paths?: readonly string[];
  keys?: readonly string[];
  censor?: string;
}

/** Options of {@link createLogger}. Defaults: {@link LOGGER_DEFAULTS}. */
export interface LoggerOptions {
  /** An existing pino logger: used as-is (its own redaction, level and destination kept), wrapped with Synapse's redaction. */
  logger?: Logger;
  /** Minimum level. Default `'info'`. With `logger`, applied to the wrapper only when given (else the logger's own level stays). */
  level?: LevelWithSilent;
  /** Where a created logger writes: a stream, a file descriptor or a file path (written synchronously). Default 1 (stdout). */
  destination?: DestinationStream | number | string;
  /** `name` field of a created logger. Default `'synapse'`. */
  name?: string;
  /** Extra paths (array form) or paths/keys/censor (object form) on top of the defaults. */
  redact?: readonly string[] | RedactOptions;
}

/** Defaults of {@link createLogger}. */
export const LOGGER_DEFAULTS = Object.freeze({ level: 'info' as LevelWithSilent, destination: 1, name: 'synapse' });

const stringList: Field<string[]> = (value, path) => {
  if (!Array.isArray(value)) invalid(path, 'an array of strings', value);
  return (value as unknown[]).map((item, i) => (typeof item === 'string' ? item : invalid(`${path}[${i}]`, 'a string', item)));
};

const loggerField: Field<Logger> = (value, path) => {
  const candidate = value as Partial<Logger> | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.child !== 'function' || typeof candidate.info !== 'function') {
    invalid(path, 'a pino logger', value);
  }
  return value as Logger;
};

const destinationField: Field<DestinationStream | number | string> = (value, path) => {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'object' && value !== null && typeof (value as DestinationStream).write === 'function') return value as DestinationStream;
  return invalid(path, 'a writable stream, a file descriptor or a file path', value);
};

const redactField: Field<RedactOptions> = (value, path) => {
  if (Array.isArray(value)) return { paths: stringList(value, path) };
  return resolveOptions(path, value, {
    paths: v.optional(stringList),
    keys: v.optional(stringList),
    censor: v.optional(v.string()),
  }) as RedactOptions;
};

const SCHEMA = {
  logger: v.optional(loggerField),
  level: v.optional(v.oneOf(LOG_LEVELS)),
  destination: v.optional(destinationField),
  name: v.optional(v.string({ min: 1, max: 200 })),
  redact: v.optional(redactField),
};

type LogFormatter = (object: object) => object;
const FORMATTERS = Symbol.for('pino.formatters'); // pino.symbols.formattersSym, shared across installs
const wrapped = new WeakSet<Logger>();

/**
 * Creates the system logger, or wraps an injected one with Synapse's redaction.
 *
 * Redaction: {@link DEFAULT_REDACT_PATHS} plus the key-name rules of ./redact.ts (`apiKey`,
 * `password`, `token`, `secret`, `authorization`, … at any depth; every value under any
 * `env`), plus `options.redact`. An injected logger keeps its own redaction too.
 *
 * @throws SYN_ERR_INVALID_OPTION naming the bad option (unknown key, bad level, malformed path).
 * @example
 * ```ts
 * const log = createLogger({ level: 'debug', redact: ['request.body.card'] });
 * log.info({ python: { env: { OPENAI_API_KEY: 'sk-…' } } }, 'spawn'); // env values → "[Redacted]"
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const resolved = resolveOptions('logger', options, SCHEMA);
  const extra = resolved.redact ?? {};
  const paths = [...DEFAULT_REDACT_PATHS, ...(extra.paths ?? [])];
  paths.forEach((p) => parseRedactPath(p, 'logger.redact.paths'));
  const censor = extra.censor ?? DEFAULT_CENSOR;
  const redactor = compileRedactor({
    paths,
    keys: [...DEFAULT_REDACT_KEYS, ...(extra.keys ?? [])],
    containers: DEFAULT_REDACT_CONTAINERS,
    censor,
  });

  if (resolved.logger !== undefined) {
    const parent = resolved.logger;
    if (wrapped.has(parent) && resolved.redact === undefined && resolved.level === undefined) return parent;
    const parentLog = (parent as unknown as Record<symbol, { log?: LogFormatter } | undefined>)[FORMATTERS]?.log;
    const log: LogFormatter = parentLog === undefined ? (o) => redactor(o) : (o) => parentLog(redactor(o));
    const child = parent.child({}, { formatters: { log }, ...(resolved.level === undefined ? {} : { level: resolved.level }) });
    wrapped.add(child);
    return child;
  }

  const destination = resolved.destination ?? LOGGER_DEFAULTS.destination;
  const stream = typeof destination === 'object' ? destination : pino.destination({ dest: destination, sync: true, mkdir: true });
  let logger: Logger;
  try {
    logger = pino(
      {
        name: resolved.name ?? LOGGER_DEFAULTS.name,
        level: resolved.level ?? LOGGER_DEFAULTS.level,
        // Native path redaction also covers child bindings; the formatter covers keys at any depth.
        redact: { paths, censor },
        formatters: { log: (o: Record<string, unknown>) => redactor(o) },
      },
      stream,
    );
  } catch (err) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "logger": ${(err as Error).message}`, { option: 'logger' }, err);
  }
  wrapped.add(logger);
  return logger;
}

/**
 * Context bound into a child logger. Undefined fields are left out. A Python process's pid is
 * `pythonPid`: pino's own `pid` field is the Node process's.
 */
export interface LogContext {
  actor?: string | undefined;
  agent?: string | undefined;
  worker?: number | undefined;
  pythonPid?: number | undefined;
  conversationId?: string | undefined;
  turnId?: string | undefined;
  supervisor?: string | undefined;
  [key: string]: unknown;
}

const contextRedactor = compileRedactor({
  paths: DEFAULT_REDACT_PATHS,
  keys: DEFAULT_REDACT_KEYS,
  containers: DEFAULT_REDACT_CONTAINERS,
});

/**
 * A child logger carrying `ctx` on every line (`{ actor, agent, worker, pythonPid, conversationId, turnId }`
 * and any extra fields). The context is redacted once here, so it is safe even on an injected
 * logger whose own redaction does not cover bindings.
 * @example
 * ```ts
 * const log = childLogger(system.log, { agent: 'support', worker: 0, pythonPid: 4242 });
 * ```
 */
export function childLogger(log: Logger, ctx: LogContext): Logger {
  const bindings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(ctx)) if (value !== undefined) bindings[key] = value;
  return log.child(contextRedactor(bindings));
}

let silent: Logger | undefined;

/** The shared no-op logger of every component given no logger (one instance per process). */
export function silentLogger(): Logger {
  silent ??= pino({ level: 'silent' });
  return silent;
}
