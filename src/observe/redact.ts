/**
 * Secret redaction for log records, independent of pino's own `redact` option so it can wrap
 * an injected logger without replacing that logger's redaction (a pino child's `redact`
 * replaces its parent's). Three rules, applied copy-on-write (the caller's object is never
 * mutated, and an object with nothing to redact is returned as is):
 *
 * 1. **Paths** in pino syntax (`a.b`, `a["x-y"]`, `a[0]`, `*` = any key at that level).
 * 2. **Keys**: a key whose lower-cased name is in the set is censored at any depth.
 * 3. **Containers**: every value inside an object held by such a key (e.g. `env`) is censored
 *    at any depth, so environment variable names stay visible but their values never do.
 *
 * Only plain objects and arrays are walked (an `Error`, a `Buffer` or a class instance is left
 * to its serializer), to at most `maxDepth` levels.
 */
import { synErr } from '../errors.ts';

/** Replaces the value of a matched key. */
export const DEFAULT_CENSOR = '[Redacted]';

/** Key names (compared lower-cased) censored wherever they appear. */
export const DEFAULT_REDACT_KEYS: readonly string[] = Object.freeze([
  'apikey',
  'api_key',
  'api-key',
  'x-api-key',
  'authorization',
  'proxy-authorization',
  'password',
  'passwd',
  'token',
  'access_token',
  'refresh_token',
  'secret',
  'client_secret',
  'cookie',
  'set-cookie',
]);

/** Keys (compared lower-cased) whose object value has every entry censored: environment maps. */
export const DEFAULT_REDACT_CONTAINERS: readonly string[] = Object.freeze(['env']);

/** How a {@link compileRedactor} redactor is configured. */
export interface RedactorConfig {
  /** pino-syntax paths, e.g. `'*.apiKey'`, `'headers.authorization'`, `'env.*'`. */
  readonly paths?: readonly string[];
  /** Key names censored at any depth (case-insensitive). */
  readonly keys?: readonly string[];
  /** Key names whose object value is censored entry by entry (case-insensitive). */
  readonly containers?: readonly string[];
  /** Replacement value. Default {@link DEFAULT_CENSOR}. */
  readonly censor?: string;
  /** Deepest level walked. Default 8. */
  readonly maxDepth?: number;
}

/** A compiled redactor: returns `value` itself when nothing matched, else a redacted copy. */
export type Redactor = <T>(value: T) => T;

const SEGMENT = /[^.[\]]+|\[([^[\]]*?)\]/g;

/**
 * Splits a pino-syntax path into segments.
 * @throws SYN_ERR_INVALID_OPTION when the path is empty or malformed.
 */
export function parseRedactPath(path: string, option = 'redact.paths'): string[] {
  const bad = (): never => {
    throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${option}": malformed redaction path ${JSON.stringify(path)}`, {
      option,
      path,
    });
  };
  if (path.length === 0 || path.startsWith('.') || path.endsWith('.') || path.includes('..')) bad();
  const segments: string[] = [];
  let consumed = 0;
  for (const match of path.matchAll(SEGMENT)) {
    const between = path.slice(consumed, match.index);
    if (between !== '' && between !== '.') bad();
    const raw = match[1] !== undefined ? match[1].replace(/^(["'`])(.*)\1$/, '$2') : match[0];
    if (raw === '') bad();
    segments.push(raw);
    consumed = match.index + match[0].length;
  }
  if (consumed !== path.length || segments.length === 0) bad();
  return segments;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isWalkable(value: unknown): value is Record<string, unknown> | unknown[] {
  return Array.isArray(value) || isPlainObject(value);
}

/**
 * Compiles a redactor.
 * @throws SYN_ERR_INVALID_OPTION for a malformed path.
 * @example
 * ```ts
 * const redact = compileRedactor({ paths: ['headers.authorization'], keys: DEFAULT_REDACT_KEYS });
 * redact({ headers: { authorization: 'Bearer x' } }); // { headers: { authorization: '[Redacted]' } }
 * ```
 */
export function compileRedactor(config: RedactorConfig): Redactor {
  const paths = (config.paths ?? []).map((p) => parseRedactPath(p));
  const keys = new Set((config.keys ?? []).map((k) => k.toLowerCase()));
  const containers = new Set((config.containers ?? []).map((k) => k.toLowerCase()));
  const censor = config.censor ?? DEFAULT_CENSOR;
  const maxDepth = config.maxDepth ?? 8;

  const censorAll = (value: unknown, depth: number): unknown => {
    if (!isWalkable(value) || depth > maxDepth) return censor;
    const out: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...value };
    for (const k of Object.keys(out)) {
      const v = (out as Record<string, unknown>)[k];
      if (v !== undefined) (out as Record<string, unknown>)[k] = censorAll(v, depth + 1);
    }
    return out;
  };

  const walk = (value: unknown, depth: number, pending: readonly string[][]): unknown => {
    if (depth > maxDepth || !isWalkable(value)) return value;
    const isArray = Array.isArray(value);
    const source = value as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(source)) {
      const child = source[key];
      if (child === undefined) continue;
      let hit = !isArray && keys.has(key.toLowerCase());
      const next: string[][] = [];
      for (const p of pending) {
        if (p[0] !== '*' && p[0] !== key) continue;
        if (p.length === 1) hit = true;
        else next.push(p.slice(1));
      }
      let replacement: unknown;
      if (hit) replacement = censor;
      else if (!isArray && containers.has(key.toLowerCase())) replacement = censorAll(child, depth + 1);
      else replacement = walk(child, depth + 1, next);
      if (replacement !== child) {
        out ??= (isArray ? [...(value as unknown[])] : { ...source }) as Record<string, unknown>;
        out[key] = replacement;
      }
    }
    return out ?? value;
  };

  return <T>(value: T): T => walk(value, 0, paths) as T;
}
