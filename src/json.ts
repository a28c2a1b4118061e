/**
 * Plain-JSON checks of user values that cross the bridge (per-call deps, metadata, prompt parts,
 * deferred tool results): shared by the edge validators of every layer, so it sits at the root.
 */
import { synErr } from './errors.ts';
import type { ErrorCode } from './errors.ts';

/** Deepest nesting accepted in a user JSON value (deeper → the coded "not JSON" error). */
export const JSON_MAX_DEPTH = 64;

/** Throws the coded "not JSON" error for `path` (`what` says where and why; never the value). */
export function notJson(code: ErrorCode, path: string, what: string): never {
  const key = code === 'SYN_ERR_INVALID_OPTION' ? 'option' : 'argument';
  throw synErr(code, `Invalid ${key} "${path}": ${what} is not JSON`, { [key]: path });
}

/**
 * Checks that `value` is plain JSON and returns the UTF-8 size of its encoding.
 * @throws `code` naming `path` (and the offending location inside it), never the value itself.
 */
export function jsonSize(value: unknown, path: string, code: ErrorCode): number {
  const ancestors = new Set<object>();
  const walk = (x: unknown, at: string, depth: number): void => {
    switch (typeof x) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(x)) notJson(code, path, `${at} (a non-finite number)`);
        return;
      case 'object': {
        if (x === null) return;
        if (depth > JSON_MAX_DEPTH) notJson(code, path, `${at} (nested deeper than ${JSON_MAX_DEPTH})`);
        if (ancestors.has(x)) notJson(code, path, `${at} (a cycle)`);
        const proto: unknown = Object.getPrototypeOf(x);
        const isArray = Array.isArray(x);
        if (!isArray && proto !== Object.prototype && proto !== null) notJson(code, path, `${at} (a ${(x as object).constructor?.name ?? 'class'} instance)`);
        ancestors.add(x);
        if (isArray) (x as unknown[]).forEach((item, i) => walk(item, `${at}[${i}]`, depth + 1));
        else for (const [k, item] of Object.entries(x as Record<string, unknown>)) walk(item, `${at}.${k}`, depth + 1);
        ancestors.delete(x);
        return;
      }
      default: // function, bigint, symbol, undefined
        notJson(code, path, `${at} (a ${typeof x})`);
    }
  };
  walk(value, path, 0);
  return Buffer.byteLength(JSON.stringify(value));
}
