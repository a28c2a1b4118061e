// checkPrompt (src/prompt.ts): string prompts as before, multimodal prompts (arrays of pydantic-ai
// content parts) checked structurally with coded errors naming the part; and the run admission
// that sends an array prompt only to a bridge announcing `multimodal_prompt`.
import { describe, expect, it } from 'vitest';
import type { SynapseError } from '../../src/errors.ts';
import { admitRun } from '../helpers/admit.ts';
import { checkPrompt, PROMPT_PART_KINDS, type Prompt } from '../../src/prompt.ts';

function error(fn: () => unknown): SynapseError {
  try {
    fn();
  } catch (e) {
    return e as SynapseError;
  }
  throw new Error('expected a throw');
}

const IMAGE = { kind: 'image-url', url: 'https://example.com/cat.png' } as const;

describe('checkPrompt', () => {
  it('accepts a string and every pydantic-ai part kind, returning a copy of the array', () => {
    expect(checkPrompt({ prompt: 'hi' }, 100)).toBe('hi');
    const parts = [
      'text',
      IMAGE,
      { kind: 'audio-url', url: 'https://example.com/a.mp3' },
      { kind: 'document-url', url: 'https://example.com/a.pdf', media_type: 'application/pdf' },
      { kind: 'video-url', url: 'https://example.com/a.mp4' },
      { kind: 'binary', data: 'iVBORw0KGgo=', media_type: 'image/png' },
      { kind: 'binary', data: 'iVBORw0KGgo', media_type: 'image/png' }, // unpadded, as pydantic accepts
      { kind: 'text-content', content: 'tagged', metadata: { a: 1 } },
      { kind: 'uploaded-file', file_id: 'f1', provider_name: 'openai' },
      { kind: 'structured-content', value: { a: 1 } },
      { kind: 'cache-point' },
    ];
    expect(new Set(parts.map((p) => (typeof p === 'string' ? 'str' : p.kind)))).toEqual(new Set(['str', ...PROMPT_PART_KINDS]));
    const out = checkPrompt({ prompt: parts }, 1 << 20);
    expect(out).toEqual(parts);
    expect(out).not.toBe(parts);
    expect((out as unknown[])[1]).not.toBe(parts[1]);
  });

  it.each([
    [[], 'empty', 'message.prompt'],
    [3, 'type', 'message.prompt'],
    [IMAGE, 'type', 'message.prompt'],
    [[null], 'type', 'message.prompt[0]'],
    [[['nested']], 'type', 'message.prompt[0]'],
    [['ok', { url: 'x' }], 'unknown_kind', 'message.prompt[1].kind'],
    [[{ kind: 'hologram' }], 'unknown_kind', 'message.prompt[0].kind'],
    [[{ kind: 'image-url' }], 'type', 'message.prompt[0].url'],
    [[{ kind: 'image-url', url: 'x', media_type: 5 }], 'type', 'message.prompt[0].media_type'],
    [[{ kind: 'binary', data: 'AAAA' }], 'type', 'message.prompt[0].media_type'],
    [[{ kind: 'binary', data: 5, media_type: 'image/png' }], 'type', 'message.prompt[0].data'],
    [[{ kind: 'binary', data: 'not base64!', media_type: 'image/png' }], 'invalid_base64', 'message.prompt[0].data'],
    [[{ kind: 'binary', data: 'AAAAA', media_type: 'image/png' }], 'invalid_base64', 'message.prompt[0].data'],
    [[{ kind: 'text-content' }], 'type', 'message.prompt[0].content'],
    [[{ kind: 'text-content', content: 'a\0b' }], 'nul', 'message.prompt[0].content'],
    [['\ud800'], 'invalid_unicode', 'message.prompt[0]'],
    [[{ ...IMAGE, vendor_metadata: { n: 1n } }], 'not_json', 'message.prompt[0]'],
    [['x', { ...IMAGE, vendor_metadata: { f: () => 1 } }], 'not_json', 'message.prompt[1]'], // JSON.stringify would drop it silently
    [[{ ...IMAGE, vendor_metadata: { at: new Date(0) } }], 'not_json', 'message.prompt[0]'], // … or send a string
    [[{ kind: 'structured-content', content: (() => { const o: Record<string, unknown> = {}; o.o = o; return o; })() }], 'not_json', 'message.prompt[0]'],
  ])('rejects bad prompt #%# with SYN_ERR_INVALID_ARGUMENT', (prompt, reason, argument) => {
    expect(error(() => checkPrompt({ prompt }, 1 << 20))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { reason, argument } });
  });

  it('limits the encoded prompt (UTF-8 bytes of its JSON) and names the part that passes the limit', () => {
    const parts = ['é', { kind: 'binary', data: 'A'.repeat(40), media_type: 'image/png' }];
    const exact = Buffer.byteLength(JSON.stringify(parts), 'utf8');
    expect(checkPrompt({ prompt: parts }, exact)).toEqual(parts);
    expect(error(() => checkPrompt({ prompt: parts }, exact - 1))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { reason: 'too_large', index: 1, bytes: exact, maxBytes: exact - 1 } });
    expect(error(() => checkPrompt({ prompt: ['x'.repeat(50), 'y'] }, 20))).toMatchObject({ details: { reason: 'too_large', index: 0, argument: 'message.prompt[0]' } });
  });
});

describe('admitRun with an array prompt', () => {
  const admission = (extra = {}) => ({ ...extra });
  const request = { id: 'r1', agent: 'a', prompt: ['hi', IMAGE] as Prompt };

  it('is refused (SYN_ERR_INVALID_ARGUMENT) by a bridge without multimodal_prompt and sent as is to one with it', () => {
    expect(error(() => admitRun(request, {}, admission()))).toMatchObject({ code: 'SYN_ERR_INVALID_ARGUMENT', details: { argument: 'message.prompt', reason: 'unsupported' } });
    expect(admitRun(request, {}, admission({ multimodalPrompt: true }))).toBe(`{"t":"run","id":"r1","agent":"a","prompt":["hi",${JSON.stringify(IMAGE)}],"history":[],"timeoutMs":null,"stream":false}\n`);
  });
});
