// The public-edge checks of run options (src/agent/run-options.ts): plain JSON only, bounded
// sizes, coded errors that name the option but never echo its value, and the wire form.
import { describe, expect, it } from 'vitest';
import { codedError } from '../../helpers/errors.ts';
import { resolveOptions } from '../../../src/options.ts';
import { CALL_RUN_OPTION_FIELDS, RUN_OPTION_LIMITS, runOptionsFrame } from '../../../src/agent/run-options.ts';
import { jsonSize } from '../../../src/json.ts';

const resolve = (options: unknown) => resolveOptions('options', options, CALL_RUN_OPTION_FIELDS);

describe('run options', () => {
  it('accepts plain JSON deps and metadata and measures them', () => {
    expect(jsonSize({ a: [1, 'é', null, true, { b: 2.5 }] }, 'deps', 'SYN_ERR_INVALID_ARGUMENT')).toBe(Buffer.byteLength(JSON.stringify({ a: [1, 'é', null, true, { b: 2.5 }] })));
    const shared = { x: 1 };
    expect(() => jsonSize({ a: shared, b: shared }, 'deps', 'SYN_ERR_INVALID_ARGUMENT')).not.toThrow(); // repeated, not cyclic
    expect(resolve({ deps: null, metadata: { k: 'v' } })).toEqual({ deps: null, metadata: { k: 'v' } });
  });

  const cyclic: Record<string, unknown> = { secret: 'hunter2' };
  cyclic.self = cyclic;
  it.each([
    ['a function', { f: () => 1 }],
    ['a BigInt', { n: 1n }],
    ['a symbol', { s: Symbol('x') }],
    ['undefined inside', [undefined]],
    ['a cycle', cyclic],
    ['a class instance', new Date()],
    ['a Map', { m: new Map() }],
    ['NaN', { n: Number.NaN }],
  ])('rejects %s in deps with SYN_ERR_INVALID_ARGUMENT naming options.deps, never the value', (_what, deps) => {
    const e = codedError(() => resolve({ deps }));
    expect(e.code).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(e.details.argument).toBe('options.deps');
    expect(e.message).not.toContain('hunter2');
  });

  it('rejects non-JSON or null metadata, and non-JSON modelSettings as an invalid option', () => {
    expect(codedError(() => resolve({ metadata: { f: () => 1 } })).code).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(codedError(() => resolve({ metadata: null })).code).toBe('SYN_ERR_INVALID_ARGUMENT');
    expect(codedError(() => resolve({ modelSettings: { t: 1n } })).code).toBe('SYN_ERR_INVALID_OPTION');
    expect(codedError(() => resolve({ model: '' })).code).toBe('SYN_ERR_INVALID_OPTION');
    expect(codedError(() => resolve({ usageLimits: { request_limit: -1 } })).code).toBe('SYN_ERR_INVALID_OPTION');
  });

  it('rejects oversized deps and metadata with their size and limit', () => {
    const e = codedError(() => resolve({ deps: 'x'.repeat(RUN_OPTION_LIMITS.maxDepsBytes) }));
    expect(e).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { argument: 'options.deps', limit: RUN_OPTION_LIMITS.maxDepsBytes, bytes: RUN_OPTION_LIMITS.maxDepsBytes + 2 } });
    expect(codedError(() => resolve({ metadata: { s: 'x'.repeat(RUN_OPTION_LIMITS.maxMetadataBytes) } })).code).toBe('SYN_ERR_INVALID_ARGUMENT');
    let deep: unknown = 1;
    for (let i = 0; i <= RUN_OPTION_LIMITS.maxDepth + 1; i++) deep = [deep];
    expect(codedError(() => resolve({ deps: deep })).code).toBe('SYN_ERR_INVALID_ARGUMENT');
  });

  it('usageLimits keys may be camelCase; the wire form is snake_case (pydantic-ai field names)', () => {
    expect(resolve({ usageLimits: { requestLimit: 3, total_tokens_limit: 100, countTokensBeforeRequest: true } }).usageLimits).toEqual({ request_limit: 3, total_tokens_limit: 100, count_tokens_before_request: true });
  });

  it('builds run.options only from the options a call uses (absent: no options at all)', () => {
    expect(runOptionsFrame({})).toBeUndefined();
    expect(runOptionsFrame({ model: undefined, deps: undefined })).toBeUndefined();
    expect(runOptionsFrame({ model: 'test', deps: null, instructions: 'hi' })).toEqual({ model: 'test', deps: null, instructions: 'hi' });
  });
});
