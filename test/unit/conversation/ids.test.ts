import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { MAX_ID_LENGTH, idProblem, newConversationId, newTurnId, validateConversationId, validateTurnId } from '../../../src/conversation/ids.ts';

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return isSynapseError(err) ? { code: err.code, ...err.details } : err;
  }
  return 'no error';
}

describe('conversation ids', () => {
  it.each([
    ['empty', '', 'must not be empty'],
    ['too long', 'x'.repeat(MAX_ID_LENGTH + 1), `must be at most ${MAX_ID_LENGTH} characters, got ${MAX_ID_LENGTH + 1}`],
    ['NUL', 'a\u0000b', 'must not contain control characters'],
    ['newline', 'a\nb', 'must not contain control characters'],
    ['DEL', 'a\u007fb', 'must not contain control characters'],
    ['C1', 'a\u0085b', 'must not contain control characters'],
    ['line separator', 'a\u2028b', 'must not contain control characters'],
    ['lone high surrogate', 'a\ud800b', 'must be well-formed Unicode (lone surrogate)'],
    ['lone low surrogate', '\udc00', 'must be well-formed Unicode (lone surrogate)'],
    ['leading space', ' a', 'must not start or end with whitespace'],
    ['trailing tab-free space', 'a ', 'must not start or end with whitespace'],
  ])('rejects %s with SYN_ERR_INVALID_ARGUMENT naming the argument and reason', (_name, id, reason) => {
    expect(codeOf(() => validateConversationId(id))).toEqual({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'conversationId', reason });
    expect(codeOf(() => validateTurnId(id))).toEqual({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'turnId', reason });
  });

  it.each([[42], [null], [undefined], [{}]])('rejects non-string %j', (id) => {
    expect(codeOf(() => validateTurnId(id))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', argument: 'turnId' });
  });

  it.each([['a'], ['x'.repeat(MAX_ID_LENGTH)], ['../../etc/passwd'], ['user/42\\x'], ['émoji 😀 ok'], ['.'], ['..']])('accepts %j', (id) => {
    expect(validateConversationId(id)).toBe(id);
    expect(idProblem(id)).toBeUndefined();
  });

  it('generates distinct valid ids', () => {
    const ids = new Set(Array.from({ length: 200 }, (_, i) => (i % 2 ? newTurnId() : newConversationId())));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(idProblem(id)).toBeUndefined();
  });
});
