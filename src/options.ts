/**
 * One resolver per constructor (fastify/undici style): each field validated, unknown keys
 * rejected, a coded error naming the option and the bad value. Defaults live next to the
 * code that uses them in an exported frozen object.
 */
import { isSynapseError, synErr } from './errors.ts';

/** A field validator: returns the value (possibly normalised) or throws SYN_ERR_INVALID_OPTION. */
export type Field<T> = (value: unknown, path: string) => T;
export type Schema = Record<string, Field<unknown>>;
/** The resolved shape of a schema: every field's output type; `undefined` allowed where the field allows it. */
export type Resolved<S extends Schema> = { [K in keyof S]: ReturnType<S[K]> };

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

export function invalid(path: string, expected: string, value: unknown): never {
  throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${path}": expected ${expected}, got ${show(value)}`, {
    option: path,
    expected,
  });
}

export const v = {
  number(opts: { min?: number; max?: number; integer?: boolean } = {}): Field<number> {
    const { min = -Infinity, max = Infinity, integer = false } = opts;
    const expected = `${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`;
    return (value, path) => {
      if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
        invalid(path, expected, value);
      }
      return value;
    };
  },
  string(opts: { min?: number; max?: number; pattern?: RegExp } = {}): Field<string> {
    const { min = 0, max = Infinity, pattern } = opts;
    return (value, path) => {
      if (typeof value !== 'string' || value.length < min || value.length > max || (pattern && !pattern.test(value))) {
        invalid(path, `a string${pattern ? ` matching ${pattern}` : ''} of length ${min}..${max}`, value);
      }
      return value;
    };
  },
  boolean(): Field<boolean> {
    return (value, path) => (typeof value === 'boolean' ? value : invalid(path, 'a boolean', value));
  },
  oneOf<const T extends readonly (string | number)[]>(choices: T): Field<T[number]> {
    return (value, path) =>
      choices.includes(value as T[number]) ? (value as T[number]) : invalid(path, `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, value);
  },
  func<F extends (...args: never[]) => unknown>(): Field<F> {
    return (value, path) => (typeof value === 'function' ? (value as F) : invalid(path, 'a function', value));
  },
  /** An instance of `ctor` (e.g. `v.instanceOf(AbortSignal, 'an AbortSignal')`). */
  instanceOf<T>(ctor: abstract new (...args: never[]) => T, expected: string): Field<T> {
    return (value, path) => (value instanceof ctor ? value : invalid(path, expected, value));
  },
  any<T = unknown>(): Field<T> {
    return (value) => value as T;
  },
  /** An object (a class instance included) with each of `methods` as a function: for injected collaborators (clock, logger, store). */
  duck<T>(methods: readonly string[], expected: string): Field<T> {
    return (value, path) => {
      if (typeof value !== 'object' || value === null || methods.some((m) => typeof (value as Record<string, unknown>)[m] !== 'function')) {
        invalid(path, `${expected} (an object with ${methods.join(', ')})`, value);
      }
      return value as T;
    };
  },
  array<T>(item: Field<T>, opts: { max?: number } = {}): Field<T[]> {
    const { max = Infinity } = opts;
    return (value, path) => {
      if (!Array.isArray(value) || value.length > max) invalid(path, `an array${max < Infinity ? ` of at most ${max} items` : ''}`, value);
      return (value as unknown[]).map((x, i) => item(x, `${path}[${i}]`));
    };
  },
  /**
   * Accepts either of two validators; the first that passes wins. When both fail, the error
   * names `path` with `expected` — unless `b` failed on a known field inside the value (e.g.
   * `metrics.port` out of range), whose more precise error is kept.
   */
  either<A, B>(a: Field<A>, b: Field<B>, expected: string): Field<A | B> {
    return (value, path) => {
      try {
        return a(value, path);
      } catch {
        try {
          return b(value, path);
        } catch (error) {
          // `invalid()` errors carry `expected`; an unknown key inside the value does not.
          if (isSynapseError(error) && String(error.details.option).startsWith(`${path}.`) && 'expected' in error.details) throw error;
          return invalid(path, expected, value);
        }
      }
    };
  },
  record<T>(item: Field<T>): Field<Record<string, T>> {
    return (value, path) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(path, 'an object', value);
      const out: Record<string, T> = {};
      for (const [k, x] of Object.entries(value as Record<string, unknown>)) out[k] = item(x, `${path}.${k}`);
      return out;
    };
  },
  object<S extends Schema>(schema: S): Field<Resolved<S>> {
    return (value, path) => resolveOptions(path, value, schema);
  },
  /** Makes a field optional: `undefined` passes through (defaults are applied by the caller). */
  optional<T>(field: Field<T>): Field<T | undefined> {
    return (value, path) => (value === undefined ? undefined : field(value, path));
  },
};

/**
 * Validates `input` against `schema`: rejects non-objects and unknown keys, runs each field.
 * @throws SYN_ERR_INVALID_OPTION naming the first bad option.
 */
export function resolveOptions<S extends Schema>(path: string, input: unknown, schema: S): Resolved<S> {
  if (input === undefined) input = {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) invalid(path, 'an options object', input);
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(schema, key)) {
      throw synErr('SYN_ERR_INVALID_OPTION', `Unknown option "${path ? `${path}.` : ''}${key}"`, { option: `${path ? `${path}.` : ''}${key}` });
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const value = field(record[key], path ? `${path}.${key}` : key);
    if (value !== undefined) out[key] = value;
  }
  return out as Resolved<S>;
}

/**
 * Drops the `undefined` fields of an object (exactOptionalPropertyTypes: an absent field, not an
 * undefined one), e.g. before spreading resolved options over their defaults.
 *
 * @example
 * ```ts
 * const backoff = { ...DEFAULTS.backoff, ...stripUndefined({ minMs: r.minMs, maxMs: r.maxMs }) };
 * ```
 */
export function stripUndefined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
