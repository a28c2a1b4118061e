import { describe, expect, it } from 'vitest';
import { checkToolResults, checkToolResultsShape, pendingToolCalls } from '../../../src/conversation/deferred.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { textResponse, toolCallResponse, toolReturnRequest, userRequest } from '../../fixtures/pydantic-messages.ts';

const calls = [{ id: 'n1', tool: 'status' }, { id: 'r1', tool: 'refund' }, { id: 'e1', tool: 'quote' }];
const mixed = [userRequest('p'), toolCallResponse(calls), toolReturnRequest([calls[0]!])];
const deferred = { approvals: [{ toolCallId: 'r1', tool: 'refund', args: {} }], calls: [{ toolCallId: 'e1', tool: 'quote', args: {} }] };

function thrown(fn: () => unknown): { code: string; message: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string; details: Record<string, unknown> };
  }
  return expect.fail('did not throw');
}

describe('pending deferred tool calls', () => {
  it('are the unanswered calls of the last response; kinds come from a matching stored deferred', () => {
    expect(pendingToolCalls([])).toEqual([]);
    expect(pendingToolCalls([userRequest('p'), textResponse('x')])).toEqual([]);
    expect(pendingToolCalls([...mixed, toolReturnRequest([calls[1]!, calls[2]!]), textResponse('x')])).toEqual([]);
    expect(pendingToolCalls(mixed)).toEqual([
      { toolCallId: 'r1', tool: 'refund', kind: undefined },
      { toolCallId: 'e1', tool: 'quote', kind: undefined },
    ]);
    expect(pendingToolCalls(mixed, { deferred }).map((p) => p.kind)).toEqual(['approval', 'call']);
    // A stored deferred that does not name exactly the pending ids says nothing.
    expect(pendingToolCalls(mixed, { deferred: { approvals: deferred.approvals, calls: [] } }).map((p) => p.kind)).toEqual([undefined, undefined]);
  });

  it('a turn must answer exactly the pending calls, each in its list', () => {
    const pending = pendingToolCalls(mixed, { deferred });
    expect(() => checkToolResults(pending, { approvals: { r1: true }, calls: { e1: 1 } }, 'c')).not.toThrow();
    expect(() => checkToolResults([], undefined, 'c')).not.toThrow();
    expect(thrown(() => checkToolResults(pending, undefined, 'c'))).toMatchObject({ code: 'SYN_ERR_DEFERRED_PENDING', details: { pending: ['r1', 'e1'], missing: ['r1', 'e1'] } });
    expect(thrown(() => checkToolResults(pending, { approvals: { r1: true, x: true }, calls: { e1: 1 } }, 'c')).details).toMatchObject({ unknown: ['x'], missing: [] });
    expect(thrown(() => checkToolResults(pending, { calls: { r1: 1, e1: 1 } }, 'c')).details).toMatchObject({ misplaced: ['r1'] });
    // Kinds unknown (no stored deferred): either list is accepted for any pending id.
    expect(() => checkToolResults(pendingToolCalls(mixed), { calls: { r1: 1, e1: 1 } }, 'c')).not.toThrow();
    const nothing = thrown(() => checkToolResults([], { calls: { x: 1 } }, 'c'));
    expect(isSynapseError(nothing, 'SYN_ERR_INVALID_ARGUMENT')).toBe(true);
  });

  it.each([
    [null, 'message.toolResults'],
    [{ other: {} }, 'message.toolResults.other'],
    [{ approvals: [] }, 'message.toolResults.approvals'],
    [{ calls: 'x' }, 'message.toolResults.calls'],
    [{}, 'message.toolResults'],
    [{ approvals: { a: 'yes' } }, 'message.toolResults.approvals.a'],
    [{ approvals: { a: { denied: 1 } } }, 'message.toolResults.approvals.a'],
    [{ approvals: { a: { approved: true, overrideArgs: [] } } }, 'message.toolResults.approvals.a'],
    [{ approvals: { a: { approved: true, extra: 1 } } }, 'message.toolResults.approvals.a'],
    [{ approvals: { a: true }, calls: { a: 1 } }, 'message.toolResults'],
  ])('a malformed toolResults %j is SYN_ERR_INVALID_ARGUMENT naming %s', (value, argument) => {
    expect(thrown(() => checkToolResultsShape(value))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { argument } });
  });

  it.each([
    ['a function', { calls: { e1: () => 1 } }, 'calls.e1 (a function)'],
    ['a BigInt', { calls: { e1: { n: 10n } } }, 'calls.e1.n (a bigint)'],
    ['a Date', { calls: { e1: new Date(0) } }, 'calls.e1 (a Date instance)'],
    ['a cycle', { calls: { e1: (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })() } }, 'calls.e1.self (a cycle)'],
    ['a function in overrideArgs', { approvals: { r1: { approved: true, overrideArgs: { f: () => 1 } } } }, 'approvals.r1.overrideArgs.f (a function)'],
  ])('a toolResults value that is not plain JSON (%s) is SYN_ERR_INVALID_ARGUMENT before anything is sent', (_what, value, where) => {
    const error = thrown(() => checkToolResultsShape(value));
    expect(error).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { argument: 'message.toolResults' } });
    expect(error.message).toContain(where);
  });

  it('well-formed answers pass through', () => {
    const value = { approvals: { a: true, b: false, c: { denied: 'no' }, d: { approved: true as const, overrideArgs: { x: 1 } } }, calls: { e: null } };
    expect(checkToolResultsShape(value)).toEqual(value);
  });
});
