// The `output` run option (issue #12) at the public edge: a JSON Schema object, bounded, no
// unknown keys, coded errors naming the option; and its wire gate (feature structured_output).
import { describe, expect, it } from 'vitest';
import { codedError } from '../../helpers/errors.ts';
import { resolveOptions } from '../../../src/options.ts';
import { CALL_RUN_OPTION_FIELDS, RUN_OPTION_LIMITS, runOptionsFrame } from '../../../src/agent/run-options.ts';
import { admitRun } from '../../helpers/admit.ts';
import { parseInbound, parseOutbound } from '../../../src/protocol/frames.ts';

const resolve = (options: unknown) => resolveOptions('options', options, CALL_RUN_OPTION_FIELDS);
const CITY = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

describe('output option', () => {
  it('accepts a schema with an optional name and description, and puts it on the wire', () => {
    const o = resolve({ output: { schema: CITY, name: 'City', description: 'A city.' } });
    expect(o.output).toEqual({ schema: CITY, name: 'City', description: 'A city.' });
    expect(runOptionsFrame(o)).toEqual({ output: { schema: CITY, name: 'City', description: 'A city.' } });
    expect(runOptionsFrame(resolve({ output: { schema: CITY } }))).toEqual({ output: { schema: CITY } });
  });

  it.each([
    ['not an object', 'schema', 'options.output'],
    ['no schema', { name: 'City' }, 'options.output.schema'],
    ['an array schema', { schema: [CITY] }, 'options.output.schema'],
    ['a non-object schema', { schema: { type: 'string' } }, 'options.output.schema'],
    ['a schema that is not JSON', { schema: { ...CITY, default: () => 1 } }, 'options.output.schema'],
    ['an unknown key', { schema: CITY, strict: true }, 'options.output.strict'],
    ['a bad name', { schema: CITY, name: 'a city!' }, 'options.output.name'],
    ['a long description', { schema: CITY, description: 'x'.repeat(4097) }, 'options.output.description'],
  ])('rejects %s with SYN_ERR_INVALID_OPTION naming the option', (_what, output, option) => {
    const e = codedError(() => resolve({ output }));
    expect(e.code).toBe('SYN_ERR_INVALID_OPTION');
    expect(e.details.option).toBe(option);
  });

  it('bounds the schema size', () => {
    const big = { type: 'object', description: 'x'.repeat(RUN_OPTION_LIMITS.maxOutputSchemaBytes) };
    expect(codedError(() => resolve({ output: { schema: big } }))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'options.output.schema', limit: RUN_OPTION_LIMITS.maxOutputSchemaBytes } });
  });

  it('is sent only to a bridge that announced structured_output', () => {
    const admission = (extra = {}) => ({ runOptions: true, ...extra });
    const request = { id: 'r1', agent: 'a', prompt: 'hi', options: { output: { schema: CITY } } };
    expect(codedError(() => admitRun(request, {}, admission()))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'options.output' } });
    expect(admitRun(request, {}, admission({ structuredOutput: true }))).toContain('"options":{"output":{"schema":');
    // Other run options do not need the feature.
    expect(admitRun({ id: 'r2', agent: 'a', prompt: 'hi', options: { model: 'test' } }, {}, admission())).toContain('"options":{"model":"test"}');
  });

  it('validates the wire fields in both directions', () => {
    const run = { t: 'run', id: 'r1', agent: 'a', prompt: 'hi', history: [], timeoutMs: null, stream: true };
    expect(parseOutbound({ ...run, options: { output: { schema: CITY, name: 'City' } } })).toMatchObject({ options: { output: { schema: CITY, name: 'City' } } });
    expect(codedError(() => parseOutbound({ ...run, options: { output: { name: 'City' } } }))).toMatchObject({ code: 'SYN_ERR_PROTOCOL', details: { field: 'options.output' } });
    expect(parseInbound({ t: 'event', id: 'r1', event: { kind: 'output', output: [1] } })).toEqual({ t: 'event', id: 'r1', event: { kind: 'output', output: [1] } });
    expect(codedError(() => parseInbound({ t: 'event', id: 'r1', event: { kind: 'output' } }))).toMatchObject({ code: 'SYN_ERR_PROTOCOL' });
  });
});
