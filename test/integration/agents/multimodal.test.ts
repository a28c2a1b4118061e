// Multimodal prompts and `handler(input: RunInput)` (issue #12), through the public API with real
// Python: an array prompt arrives at the model as pydantic-ai's ImageUrl / BinaryContent (the
// vision.py FunctionModel reports the classes it saw), the committed history keeps them as
// pydantic-ai stores them and round-trips the next turn, a RunInput handler sees deps / metadata /
// conversation and commits its multimodal turn, and bad prompts are coded errors with nothing
// routed or committed and the worker unharmed.
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import type { Prompt } from '../../../src/index.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { example, rejection, useAgents } from '../../helpers/system.ts';

const MAX_PROMPT_BYTES = 64 * 1024;
const PIXELS = Buffer.from('\x89PNG\r\n\x1a\n-private-pixels-of-the-user', 'latin1');
const PIXELS_B64 = PIXELS.toString('base64');
const IMAGE_URL = 'https://example.com/cat.png';
const PROMPT: Prompt = ['What is this?', { kind: 'image-url', url: IMAGE_URL }, { kind: 'binary', data: PIXELS_B64, media_type: 'image/png' }];
const SEEN = `str:What is this?, ImageUrl:${IMAGE_URL}, BinaryImage:image/png:${PIXELS.length} bytes`;

const logs = captureLogs('trace');
let system: ActorSystem;
useAgents(
  (s) => (system = s),
  [
    { id: 'vision', agent: example('vision.py') },
    { id: 'describe', agent: example('vision.py', 'describe') },
  ],
  { system: { logger: logs.log, logLevel: 'trace', maxPromptBytes: MAX_PROMPT_BYTES } },
);

type Part = { kind?: string; data?: string; url?: string; media_type?: string };
const userContent = (messages: readonly unknown[], at: number): unknown => (messages[at] as { parts: { content: unknown }[] }).parts[0]!.content;

describe('multimodal prompt (real Python)', () => {
  it('the model sees an ImageUrl and BinaryContent, and the next turn sees them again from the history', async () => {
    const first = await system.sendMessage('vision', { prompt: PROMPT });
    expect(first.output).toBe(SEEN);
    const stored = userContent(await system.history(first.conversationId), 0) as Part[];
    expect(stored[0]).toBe('What is this?');
    expect(stored[1]).toMatchObject({ kind: 'image-url', url: IMAGE_URL, media_type: 'image/png' });
    expect(stored[2]).toMatchObject({ kind: 'binary', data: PIXELS_B64, media_type: 'image/png' });

    const second = await system.sendMessage('vision', { prompt: 'And now?' }, { conversationId: first.conversationId });
    expect(second.output).toBe(`${SEEN} | str:And now?`);
    expect(await system.history(first.conversationId)).toHaveLength(4);
  });

  it('streamMessage takes an array prompt too', async () => {
    const items = [];
    for await (const item of system.streamMessage('vision', { prompt: [{ kind: 'document-url', url: 'https://example.com/report.pdf' }, 'summarise'] })) items.push(item);
    expect(items.some((i) => i.kind === 'text_delta')).toBe(true);
    const result = items.at(-1);
    expect(result).toMatchObject({ kind: 'result', output: 'DocumentUrl:https://example.com/report.pdf, str:summarise ; ' });
  });

  it('a prompt given as an array is checked once: mutating it after the call changes nothing', async () => {
    const parts: Part[] = [{ kind: 'image-url', url: IMAGE_URL }];
    const pending = system.sendMessage('vision', { prompt: parts as Prompt });
    parts[0] = { kind: 'hologram' };
    expect((await pending).output).toBe(`ImageUrl:${IMAGE_URL}`);
  });
});

describe('plain handler(input: RunInput) (real Python)', () => {
  it('sees prompt, deps, metadata, conversation and history; its multimodal turn commits and round-trips', async () => {
    const first = await system.sendMessage('describe', { prompt: PROMPT }, { deps: { customer_id: 7 }, metadata: { tenant: 't-1' }, conversationId: 'run-input-1' });
    expect(first.output).toEqual({
      prompt: ['str:What is this?', `ImageUrl:${IMAGE_URL}`, `BinaryImage:image/png:${PIXELS.length} bytes`],
      deps: { customer_id: 7 },
      metadata: { tenant: 't-1' },
      conversationId: 'run-input-1',
      historyMessages: 0,
    });
    expect(first.outputType).toBe('dict');
    expect(userContent(await system.history('run-input-1'), 0)).toEqual([
      'What is this?',
      expect.objectContaining({ kind: 'image-url', url: IMAGE_URL }),
      expect.objectContaining({ kind: 'binary', data: PIXELS_B64 }),
    ]);
    const second = await system.sendMessage('describe', { prompt: 'again' }, { conversationId: 'run-input-1' });
    expect(second.output).toMatchObject({ prompt: ['str:again'], deps: null, metadata: null, historyMessages: 2 });
  });
});

describe('bad prompts: coded error, nothing routed or committed, the worker unharmed', () => {
  it('rejected in Node before anything is sent', async () => {
    const base = await system.sendMessage('vision', { prompt: 'base' }, { conversationId: 'bad-prompts' });
    const before = await system.history('bad-prompts');
    const status = system.agentStatus('vision');
    const routed: unknown[] = [];
    const off = system.on('message.routed', (e) => routed.push(e));
    const huge = 'A'.repeat(MAX_PROMPT_BYTES);
    const cases: [unknown, string, string][] = [
      [[{ kind: 'hologram', url: IMAGE_URL }], 'unknown_kind', 'message.prompt[0].kind'],
      [['hi', { kind: 'binary', data: 'not base64!', media_type: 'image/png' }], 'invalid_base64', 'message.prompt[1].data'],
      [[{ kind: 'binary', data: PIXELS_B64 }], 'type', 'message.prompt[0].media_type'],
      [['small', { kind: 'binary', data: huge, media_type: 'image/png' }], 'too_large', 'message.prompt[1]'],
      [[], 'empty', 'message.prompt'],
      [42, 'type', 'message.prompt'],
      [{ kind: 'image-url', url: IMAGE_URL }, 'type', 'message.prompt'],
      [[7], 'type', 'message.prompt[0]'],
      [['bad \ud800 surrogate'], 'invalid_unicode', 'message.prompt[0]'],
      [[{ kind: 'image-url', url: IMAGE_URL, vendor_metadata: { n: 10n } }], 'not_json', 'message.prompt[0]'],
    ];
    for (const [prompt, reason, argument] of cases) {
      for (const call of [
        () => system.sendMessage('vision', { prompt: prompt as Prompt }, { conversationId: 'bad-prompts' }),
        async () => {
          for await (const _ of system.streamMessage('vision', { prompt: prompt as Prompt }, { conversationId: 'bad-prompts' })) void _;
        },
      ]) {
        const error = await rejection(call);
        expect(error.code, JSON.stringify(prompt, (_, v: unknown) => (typeof v === 'bigint' ? 'n' : v)).slice(0, 60)).toBe('SYN_ERR_INVALID_ARGUMENT');
        expect(error.details).toMatchObject({ reason, argument });
      }
    }
    const oversized = await rejection(system.sendMessage('vision', { prompt: ['small', { kind: 'binary', data: huge, media_type: 'image/png' }] }));
    expect(oversized.details).toMatchObject({ index: 1, maxBytes: MAX_PROMPT_BYTES });
    off();
    expect(routed).toEqual([]);
    expect(await system.history('bad-prompts')).toEqual(before);
    expect(system.agentStatus('vision')).toMatchObject({ pids: status.pids, restarts: status.restarts });
    const next = await system.sendMessage('vision', { prompt: PROMPT }, { conversationId: 'bad-prompts' });
    expect(next.output).toBe(`str:base | ${SEEN}`);
    expect(base.output).toBe('str:base');
  });

  it('a part pydantic-ai rejects (valid in shape): SYN_ERR_INVALID_ARGUMENT with its errors, nothing committed, no restart', async () => {
    await system.sendMessage('describe', { prompt: 'base' }, { conversationId: 'bad-parts' });
    const before = await system.history('bad-parts');
    for (const agent of ['vision', 'describe']) {
      const status = system.agentStatus(agent);
      const error = await rejection(system.sendMessage(agent, { prompt: ['hi', { kind: 'cache-point', ttl: '9 years' }] }, agent === 'describe' ? { conversationId: 'bad-parts' } : {}));
      expect(error.code).toBe('SYN_ERR_INVALID_ARGUMENT');
      expect(error.details.errors).toEqual([expect.objectContaining({ loc: [1, 'cache-point', 'ttl'], type: 'literal_error' })]);
      expect(JSON.stringify(error.details.errors)).not.toContain('9 years'); // no input values
      expect(system.agentStatus(agent)).toMatchObject({ pids: status.pids, restarts: status.restarts });
    }
    expect(await system.history('bad-parts')).toEqual(before);
    expect((await system.sendMessage('describe', { prompt: PROMPT }, { conversationId: 'bad-parts' })).output).toMatchObject({ historyMessages: 2 });
  });

  it('prompt content never appears in the logs', () => {
    expect(logs.records.length).toBeGreaterThan(0);
    expect(JSON.stringify(logs.records)).not.toContain(PIXELS_B64);
  });
});
