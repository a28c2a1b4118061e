// Table-driven check: the error registry and docs/errors.md agree, codes are unique and well-formed.
import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { DOCUMENTED_DETAILS, ERROR_CODES, SynapseError, isSynapseError, synErr, type ErrorCode, type ErrorDetails } from '../../src/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `(SYN_ERR_[A-Z_]+)` \| (\w+) \|/gm)].map((m) => [m[1]!, m[2]!] as const),
);
const codes = Object.keys(ERROR_CODES) as ErrorCode[];
/** The whole table row of each code (what its `details` are documented as). */
const rowText = new Map([...doc.matchAll(/^\| `(SYN_ERR_[A-Z_]+)` \|.*$/gm)].map((m) => [m[1]!, m[0]] as const));

describe('error registry', () => {
  it.each(codes)('%s is documented in docs/errors.md with its kind', (code) => {
    expect(rows.get(code)).toBe(ERROR_CODES[code].kind);
  });

  it('documents no code that the registry lacks, and lists each once', () => {
    const documented = [...doc.matchAll(/^\| `(SYN_ERR_[A-Z_]+)`/gm)].map((m) => m[1]);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...rows.keys()].sort()).toEqual([...codes].sort());
  });

  it.each(Object.entries(DOCUMENTED_DETAILS))('%s: every typed detail field is named in its docs/errors.md row', (code, fields) => {
    const row = rowText.get(code);
    expect(row, code).toBeDefined();
    const missing = fields.filter((f) => !row!.includes(`\`${f}\``) && !row!.includes(`details.${f}`));
    expect(missing).toEqual([]);
  });

  it('isSynapseError(e, code) narrows details to that code\'s documented fields', () => {
    const e: unknown = synErr('SYN_ERR_AGENT_CRASHED', 'died', { exitCode: 17, signal: null, stderrTail: 'x', pid: 4 });
    if (!isSynapseError(e, 'SYN_ERR_AGENT_CRASHED')) throw new Error('expected a SynapseError');
    expectTypeOf(e.details.exitCode).toEqualTypeOf<number | null | undefined>();
    expectTypeOf(e.details.stderrTail).toEqualTypeOf<string | undefined>();
    expect(e.details.exitCode).toBe(17);
    const p: unknown = synErr('SYN_ERR_PROVIDER', 'quota', { category: 'quota', retryable: false, status: 429 });
    if (isSynapseError(p, 'SYN_ERR_PROVIDER')) {
      expectTypeOf(p.details.retryable).toEqualTypeOf<boolean>();
      expectTypeOf(p.details.retryAfterMs).toEqualTypeOf<number | undefined>();
      expect(p.details.category).toBe('quota');
    }
    // Without a code (or for a code with no documented fields): the open record.
    const any: unknown = synErr('SYN_ERR_NO_AGENT', 'none');
    if (isSynapseError(any)) expectTypeOf(any.details).toEqualTypeOf<ErrorDetails>();
    if (isSynapseError(any, 'SYN_ERR_NO_AGENT')) expectTypeOf(any.details).toEqualTypeOf<ErrorDetails>();
  });

  it.each(codes)('%s is SYN_ERR_ + upper snake case', (code) => {
    expect(code).toMatch(/^SYN_ERR_[A-Z]+(_[A-Z]+)*$/);
  });

  it('errors carry code, kind, details and cause, and survive a foreign brand check', () => {
    const cause = new Error('root');
    const err = synErr('SYN_ERR_AGENT_CRASHED', 'boom', { exitCode: 17 }, cause);
    expect(err).toBeInstanceOf(SynapseError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('SYN_ERR_AGENT_CRASHED');
    expect(err.kind).toBe('defect');
    expect(err.details.exitCode).toBe(17);
    expect(err.cause).toBe(cause);
    expect(isSynapseError(err, 'SYN_ERR_AGENT_CRASHED')).toBe(true);
    expect(isSynapseError(err, 'SYN_ERR_TIMEOUT')).toBe(false);
    expect(isSynapseError(new Error('x'))).toBe(false);
    // An error object from another copy of the package carries the same global brand.
    const foreign = Object.assign(new Error('x'), { [Symbol.for('synapse.error')]: true });
    expect(foreign instanceof SynapseError).toBe(true);
    expect(JSON.parse(JSON.stringify(err))).toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED', kind: 'defect', exitCode: 17 });
  });
});
