import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertWellFormed, findHistoryProblem, isWellFormed } from '../../../src/conversation/history.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { textResponse, toolCallResponse, toolReturnRequest, turnMessages, userRequest } from '../../fixtures/pydantic-messages.ts';

const real = JSON.parse(readFileSync(new URL('../../fixtures/pydantic-history.json', import.meta.url), 'utf8')) as { turns: unknown[][] };

describe('history well-formedness', () => {
  it('accepts real pydantic-ai output, turn by turn and concatenated', () => {
    let all: unknown[] = [];
    expect(real.turns.length).toBe(3);
    for (const turn of real.turns) {
      all = [...all, ...turn];
      expect(findHistoryProblem(all)).toBeUndefined();
    }
  });

  it('accepts an empty history and built turns with tool rounds and retries', () => {
    expect(isWellFormed([])).toBe(true);
    const calls = [{ id: 'a', tool: 't' }, { id: 'b', tool: 't' }, { id: 'a', tool: 't' }];
    const h = [
      ...turnMessages('p1', 'a1', { tools: 2 }),
      userRequest('p2'),
      toolCallResponse(calls),
      toolReturnRequest([{ id: 'a', tool: 't' }, { id: 'b', tool: 't', retry: true }, { id: 'a', tool: 't' }]),
      textResponse('a2'),
    ];
    expect(findHistoryProblem(h)).toBeUndefined();
  });

  it('a retry-prompt without tool_name is feedback, not a tool result', () => {
    const feedback = { kind: 'request', parts: [{ part_kind: 'retry-prompt', tool_name: null, content: 'bad output', tool_call_id: 'zzz' }] };
    expect(isWellFormed([userRequest('p'), textResponse('x'), feedback, textResponse('y')])).toBe(true);
  });

  it.each([
    ['not an array of objects', [42], 0, 'message is not an object'],
    ['bad kind', [{ kind: 'other', parts: [] }], 0, 'message kind must be "request" or "response", got "other"'],
    ['parts not an array', [{ kind: 'request', parts: {} }], 0, 'message parts must be an array'],
    ['part without part_kind', [{ kind: 'request', parts: [{ content: 'x' }] }], 0, 'every part must be an object with a string part_kind'],
    ['starts with a response', [textResponse('x')], 0, 'history must start with a request'],
    ['two responses in a row', [userRequest('p'), textResponse('x'), textResponse('y')], 2, 'two responses in a row'],
    ['dangling call at end', [userRequest('p'), toolCallResponse([{ id: 'c1', tool: 't' }])], 1, 'tool call "c1" is not answered'],
    ['call followed by a response', [userRequest('p'), toolCallResponse([{ id: 'c1', tool: 't' }]), textResponse('x')], 2, 'tool call "c1" is not answered'],
    ['call answered only partly', [userRequest('p'), toolCallResponse([{ id: 'c1', tool: 't' }, { id: 'c2', tool: 't' }]), toolReturnRequest([{ id: 'c1', tool: 't' }])], 2, 'tool call "c2" is not answered'],
    ['call answered two requests later', [userRequest('p'), toolCallResponse([{ id: 'c1', tool: 't' }]), userRequest('q'), toolReturnRequest([{ id: 'c1', tool: 't' }])], 2, 'tool call "c1" is not answered'],
    ['orphan tool result', [userRequest('p'), textResponse('x'), toolReturnRequest([{ id: 'c9', tool: 't' }])], 2, 'tool result "c9" answers no open tool call of the previous response'],
    ['duplicate tool result', [userRequest('p'), toolCallResponse([{ id: 'c1', tool: 't' }]), toolReturnRequest([{ id: 'c1', tool: 't' }, { id: 'c1', tool: 't' }])], 2, 'tool result "c1" answers no open tool call of the previous response'],
    ['tool call without id', [userRequest('p'), { kind: 'response', parts: [{ part_kind: 'tool-call', tool_name: 't' }] }], 1, 'tool-call part needs string tool_name and tool_call_id'],
  ])('rejects %s', (_name, messages, index, reason) => {
    expect(findHistoryProblem(messages)).toEqual({ index, reason });
    expect(isWellFormed(messages)).toBe(false);
    try {
      assertWellFormed(messages);
      expect.fail('assertWellFormed did not throw');
    } catch (err) {
      expect(isSynapseError(err, 'SYN_ERR_PROTOCOL')).toBe(true);
      expect((err as { details: unknown }).details).toEqual({ index, reason });
    }
  });

  it('allowPendingToolCalls permits open calls only at the very end', () => {
    const pending = [userRequest('p'), toolCallResponse([{ id: 'c1', tool: 't' }])];
    expect(isWellFormed(pending, { allowPendingToolCalls: true })).toBe(true);
    // The next run answers them (deferred tool results) and the whole is well-formed.
    expect(isWellFormed([...pending, toolReturnRequest([{ id: 'c1', tool: 't' }]), textResponse('x')])).toBe(true);
    expect(isWellFormed([...pending, textResponse('x')], { allowPendingToolCalls: true })).toBe(false);
  });

  it('a deferred turn mixing ordinary and deferred calls: a partial answer, then one request answering the rest', () => {
    const calls = [{ id: 'n1', tool: 'status' }, { id: 'r1', tool: 'refund' }, { id: 'e1', tool: 'quote' }];
    const pending = [userRequest('p'), toolCallResponse(calls), toolReturnRequest([calls[0]!])];
    expect(isWellFormed(pending, { allowPendingToolCalls: true })).toBe(true);
    expect(findHistoryProblem(pending)).toEqual({ index: 2, reason: 'tool call "r1" is not answered' });
    const resumed = [...pending, toolReturnRequest([calls[1]!, calls[2]!]), textResponse('done')];
    expect(findHistoryProblem(resumed)).toBeUndefined();
    // The carry is once, and only to a request that answers the rest.
    expect(findHistoryProblem([...pending, toolReturnRequest([calls[1]!]), toolReturnRequest([calls[2]!]), textResponse('x')])?.reason).toBe('tool call "e1" is not answered');
    expect(findHistoryProblem([...pending, toolReturnRequest([calls[1]!]), textResponse('x')])?.reason).toBe('tool call "e1" is not answered');
    expect(findHistoryProblem([...pending, userRequest('q'), textResponse('x')])?.reason).toBe('tool call "r1" is not answered');
  });

  it('ignores native builtin tool parts', () => {
    const native = { kind: 'response', parts: [{ part_kind: 'builtin-tool-call', tool_name: 'web', tool_call_id: 'n1' }, { part_kind: 'builtin-tool-return', tool_name: 'web', tool_call_id: 'n1', content: 'r' }, { part_kind: 'text', content: 'x' }] };
    expect(isWellFormed([userRequest('p'), native])).toBe(true);
  });
});
