import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { DEFAULT_REDACT_CONTAINERS, DEFAULT_REDACT_KEYS, compileRedactor, parseRedactPath } from '../../../src/observe/redact.ts';

const defaults = compileRedactor({ keys: DEFAULT_REDACT_KEYS, containers: DEFAULT_REDACT_CONTAINERS });

describe('parseRedactPath', () => {
  it.each([
    ['a', ['a']],
    ['a.b.c', ['a', 'b', 'c']],
    ['*.apiKey', ['*', 'apiKey']],
    ['headers["x-api-key"]', ['headers', 'x-api-key']],
    ["a['b c'].d", ['a', 'b c', 'd']],
    ['items[0].secret', ['items', '0', 'secret']],
  ])('%s', (path, segments) => {
    expect(parseRedactPath(path)).toEqual(segments);
  });

  it.each(['', '.a', 'a.', 'a..b', 'a[]', 'a[b'])('rejects %j with SYN_ERR_INVALID_OPTION', (path) => {
    let caught: unknown;
    try {
      parseRedactPath(path, 'logger.redact.paths');
    } catch (err) {
      caught = err;
    }
    expect(isSynapseError(caught, 'SYN_ERR_INVALID_OPTION')).toBe(true);
    expect((caught as Error).message).toContain('logger.redact.paths');
  });
});

describe('compileRedactor', () => {
  it('censors paths with wildcards, one level per *', () => {
    const r = compileRedactor({ paths: ['*.apiKey', 'headers.authorization', 'list.*.pw'] });
    expect(r({ cfg: { apiKey: 'k', other: 1 }, headers: { authorization: 'B', accept: 'x' }, list: [{ pw: 1 }, { pw: 2 }] })).toEqual({
      cfg: { apiKey: '[Redacted]', other: 1 },
      headers: { authorization: '[Redacted]', accept: 'x' },
      list: [{ pw: '[Redacted]' }, { pw: '[Redacted]' }],
    });
    // `*.apiKey` does not reach two levels down: that is what the key rule is for.
    expect(r({ a: { b: { apiKey: 'k' } } })).toEqual({ a: { b: { apiKey: 'k' } } });
  });

  it('censors sensitive key names at any depth, case-insensitively', () => {
    expect(defaults({ a: { b: { c: { API_KEY: 'k', Password: 'p', ok: 1 } } }, token: 't' })).toEqual({
      a: { b: { c: { API_KEY: '[Redacted]', Password: '[Redacted]', ok: 1 } } },
      token: '[Redacted]',
    });
  });

  it('censors every value under env, keeping the names', () => {
    expect(defaults({ python: { env: { OPENAI_API_KEY: 'sk', NESTED: { x: 'y' } } }, env: 'A=B' })).toEqual({
      python: { env: { OPENAI_API_KEY: '[Redacted]', NESTED: { x: '[Redacted]' } } },
      env: '[Redacted]',
    });
  });

  it('never mutates its input and returns it unchanged when nothing matches', () => {
    const input = { a: { password: 'p' }, b: [1, 2] };
    const frozen = JSON.stringify(input);
    const out = defaults(input);
    expect(JSON.stringify(input)).toBe(frozen);
    expect(out.b).toBe(input.b);
    const clean = { a: { b: 1 } };
    expect(defaults(clean)).toBe(clean);
  });

  it('leaves errors and class instances to their serializers', () => {
    const err = Object.assign(new Error('x'), { token: 't' });
    const out = defaults({ err });
    expect(out.err).toBe(err);
  });

  it('stops at maxDepth and handles cycles without looping', () => {
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    expect(() => defaults(cyclic)).not.toThrow();
  });

  it('property: a secret under a sensitive key or in env never survives serialization', () => {
    const key = fc.constantFrom('apiKey', 'api_key', 'PASSWORD', 'token', 'secret', 'authorization', 'Authorization');
    const filler = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !DEFAULT_REDACT_KEYS.includes(k.toLowerCase()) && k.toLowerCase() !== 'env'), fc.oneof(fc.integer(), fc.string()), { maxKeys: 3 });
    const placement = fc.tuple(fc.array(fc.string({ minLength: 1, maxLength: 5 }).filter((k) => k.toLowerCase() !== 'env'), { maxLength: 5 }), fc.boolean(), key, filler);
    fc.assert(
      fc.property(placement, ([path, inEnv, secretKey, extra]) => {
        const secret = 'S3CRET-VALUE-42';
        let leaf: Record<string, unknown> = inEnv ? { ...extra, env: { SOME_VAR: secret } } : { ...extra, [secretKey]: secret };
        for (const segment of [...path].reverse()) leaf = { [segment]: leaf };
        return !JSON.stringify(defaults(leaf)).includes(secret);
      }),
    ); // default numRuns (100); FC_NUM_RUNS raises it, FC_SEED replays

  });
});
