// Table-driven check: the error registry and docs/errors.md agree, codes are unique and well-formed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SynapseError, isSynapseError, synErr, type ErrorCode } from '../../src/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `(SYN_ERR_[A-Z_]+)` \| (\w+) \|/gm)].map((m) => [m[1]!, m[2]!] as const),
);
const codes = Object.keys(ERROR_CODES) as ErrorCode[];

describe('error registry', () => {
  it.each(codes)('%s is documented in docs/errors.md with its kind', (code) => {
    expect(rows.get(code)).toBe(ERROR_CODES[code].kind);
  });

  it('documents no code that the registry lacks, and lists each once', () => {
    const documented = [...doc.matchAll(/^\| `(SYN_ERR_[A-Z_]+)`/gm)].map((m) => m[1]);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...rows.keys()].sort()).toEqual([...codes].sort());
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
