// Shared option helpers (src/options.ts).
import { describe, expect, it } from 'vitest';
import { stripUndefined } from '../../src/options.ts';

describe('stripUndefined', () => {
  it('drops undefined fields only (null, 0, false and empty strings stay) and leaves its input alone', () => {
    const input = { a: undefined, b: null, c: 0, d: false, e: '', f: 'x' };
    expect(stripUndefined(input)).toStrictEqual({ b: null, c: 0, d: false, e: '', f: 'x' });
    expect('a' in stripUndefined(input)).toBe(false);
    expect(input).toStrictEqual({ a: undefined, b: null, c: 0, d: false, e: '', f: 'x' });
  });

  it('lets defaults show through when spread over them', () => {
    const defaults = { minMs: 100, maxMs: 30_000 };
    expect({ ...defaults, ...stripUndefined({ minMs: 10, maxMs: undefined }) }).toEqual({ minMs: 10, maxMs: 30_000 });
  });
});
