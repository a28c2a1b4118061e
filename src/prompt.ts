/**
 * Validation of a user prompt at the API edge: a string (valid Unicode — no lone surrogates,
 * which cannot be encoded as UTF-8 — no NUL, at most `maxBytes` UTF-8 bytes), or a multimodal
 * prompt: a non-empty array of content parts in pydantic-ai's own JSON shape (the items of a
 * `UserPromptPart.content` as `ModelMessagesTypeAdapter` dumps them; docs/agents.md, "Multimodal
 * prompt"). The array check is cheap and structural; Python validates each part into
 * pydantic-ai's classes and answers a bad one with SYN_ERR_INVALID_ARGUMENT (`details.errors`).
 */
import { jsonSize } from './json.ts';
import { synErr } from './errors.ts';

/** An image, audio, document or video by URL (pydantic-ai `ImageUrl`, `AudioUrl`, `DocumentUrl`, `VideoUrl`). */
export interface FileUrlPart {
  readonly kind: 'image-url' | 'audio-url' | 'document-url' | 'video-url';
  readonly url: string;
  /** Inferred from the URL by pydantic-ai when absent. */
  readonly media_type?: string;
  readonly force_download?: boolean;
  readonly vendor_metadata?: Readonly<Record<string, unknown>> | null;
  readonly identifier?: string;
}

/** Inline bytes (pydantic-ai `BinaryContent`): `data` is base64 text, as pydantic-ai dumps it. */
export interface BinaryPart {
  readonly kind: 'binary';
  /** Base64 (standard or URL-safe alphabet, padding optional) of the bytes. */
  readonly data: string;
  /** e.g. `'image/png'`, `'application/pdf'`, `'audio/wav'`. */
  readonly media_type: string;
  readonly vendor_metadata?: Readonly<Record<string, unknown>> | null;
  readonly identifier?: string;
}

/** Text with application-only metadata (pydantic-ai `TextContent`; the metadata is not sent to the model). */
export interface TextContentPart {
  readonly kind: 'text-content';
  readonly content: string;
  readonly metadata?: unknown;
}

/**
 * A part of another pydantic-ai `UserContent` kind (`uploaded-file`, `structured-content`,
 * `cache-point`): its fields as pydantic-ai dumps them, validated by Python.
 */
export interface OtherContentPart {
  readonly kind: 'uploaded-file' | 'structured-content' | 'cache-point';
  readonly [field: string]: unknown;
}

/** One item of a multimodal prompt: a string or a `kind`-tagged pydantic-ai content part. */
export type PromptPart = string | FileUrlPart | BinaryPart | TextContentPart | OtherContentPart;

/** A user prompt: a string, or a non-empty array of content parts (feature `multimodal_prompt`). */
export type Prompt = string | readonly PromptPart[];

/** The `kind` values a prompt part may have (pydantic-ai 2.68's `UserContent`; `_prompt.PART_KINDS` in Python). */
export const PROMPT_PART_KINDS: readonly string[] = Object.freeze(['text-content', 'structured-content', 'image-url', 'audio-url', 'document-url', 'video-url', 'binary', 'uploaded-file', 'cache-point']);

const URL_KINDS: ReadonlySet<string> = new Set(['image-url', 'audio-url', 'document-url', 'video-url']);
const KINDS: ReadonlySet<string> = new Set(PROMPT_PART_KINDS);
/** What pydantic's base64 bytes validation accepts: either alphabet, padding optional, no whitespace. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * @returns the prompt: the string, or a shallow copy of the array (so a caller mutating its own
 *   array after the call cannot change what was checked).
 * @throws SYN_ERR_INVALID_ARGUMENT naming the problem (`details.argument`, e.g. `message.prompt[2].data`,
 *   and `details.reason`; an oversized prompt: `bytes`, `maxBytes` and the `index` of the part
 *   where the encoded prompt passes the limit).
 * @example
 * ```ts
 * checkPrompt({ prompt: ['What is in this picture?', { kind: 'image-url', url: 'https://example.com/cat.png' }] }, 1 << 20);
 * ```
 */
export function checkPrompt(input: unknown, maxBytes: number): Prompt {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `The message must be an object like { prompt: string }, got ${input === null ? 'null' : typeof input}`, { argument: 'message' });
  }
  const extra = Object.keys(input).filter((k) => k !== 'prompt');
  if (extra.length > 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', `Unknown message field "${extra[0]}" (expected only { prompt })`, { argument: `message.${extra[0]}` });
  const prompt = (input as { prompt?: unknown }).prompt;
  if (Array.isArray(prompt)) return checkParts(prompt, maxBytes);
  if (typeof prompt !== 'string') throw synErr('SYN_ERR_INVALID_ARGUMENT', `message.prompt must be a string or an array of content parts, got ${prompt === null ? 'null' : typeof prompt}`, { argument: 'message.prompt', reason: 'type' });
  if (prompt.length === 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'message.prompt must not be empty', { argument: 'message.prompt', reason: 'empty' });
  // Cheap upper bound first: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (prompt.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(prompt, 'utf8');
    if (bytes > maxBytes) throw synErr('SYN_ERR_INVALID_ARGUMENT', `message.prompt is ${bytes} bytes; the limit is ${maxBytes}`, { argument: 'message.prompt', reason: 'too_large', bytes, maxBytes });
  }
  checkText(prompt, 'message.prompt');
  return prompt;
}

function checkText(text: string, argument: string): void {
  if (!text.isWellFormed()) throw synErr('SYN_ERR_INVALID_ARGUMENT', `${argument} contains a lone surrogate (not valid Unicode, cannot be sent as UTF-8)`, { argument, reason: 'invalid_unicode' });
  if (text.includes('\0')) throw synErr('SYN_ERR_INVALID_ARGUMENT', `${argument} contains a NUL character`, { argument, reason: 'nul' });
}

function badPart(index: number, field: string | undefined, expected: string, reason: string): never {
  const argument = `message.prompt[${index}]${field === undefined ? '' : `.${field}`}`;
  throw synErr('SYN_ERR_INVALID_ARGUMENT', `${argument} must be ${expected}`, { argument, reason, index });
}

function checkParts(parts: readonly unknown[], maxBytes: number): readonly PromptPart[] {
  if (parts.length === 0) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'message.prompt must not be an empty array', { argument: 'message.prompt', reason: 'empty' });
  const out: PromptPart[] = [];
  // The size limit is on the encoded prompt: the UTF-8 bytes of the array's JSON ("[" + parts joined by "," + "]").
  let bytes = 1;
  for (let i = 0; i < parts.length; i++) {
    const part = checkPart(parts[i], i);
    let size: number;
    try {
      // Plain JSON only: a function would be dropped and a Date turned into a string by JSON.stringify, a cycle or BigInt would fail the frame.
      size = jsonSize(part, `message.prompt[${i}]`, 'SYN_ERR_INVALID_ARGUMENT');
    } catch (err) {
      throw synErr('SYN_ERR_INVALID_ARGUMENT', (err as Error).message, { argument: `message.prompt[${i}]`, reason: 'not_json', index: i });
    }
    bytes += size + 1;
    if (bytes > maxBytes) {
      throw synErr('SYN_ERR_INVALID_ARGUMENT', `message.prompt is over its limit of ${maxBytes} bytes (encoded as JSON) at part ${i}`, { argument: `message.prompt[${i}]`, reason: 'too_large', index: i, bytes, maxBytes });
    }
    out.push(part);
  }
  return out;
}

function checkPart(part: unknown, i: number): PromptPart {
  if (typeof part === 'string') {
    checkText(part, `message.prompt[${i}]`);
    return part;
  }
  if (typeof part !== 'object' || part === null || Array.isArray(part)) badPart(i, undefined, 'a string or an object with a "kind"', 'type');
  const p = part as Record<string, unknown>;
  const kind = p.kind;
  if (typeof kind !== 'string' || !KINDS.has(kind)) badPart(i, 'kind', `one of ${PROMPT_PART_KINDS.join(', ')}`, 'unknown_kind');
  if (URL_KINDS.has(kind) && typeof p.url !== 'string') badPart(i, 'url', 'a string', 'type');
  if (p.media_type !== undefined && p.media_type !== null && typeof p.media_type !== 'string') badPart(i, 'media_type', 'a string', 'type');
  if (kind === 'binary') {
    if (typeof p.media_type !== 'string') badPart(i, 'media_type', 'a string (e.g. "image/png")', 'type');
    const data = p.data;
    if (typeof data !== 'string') badPart(i, 'data', 'base64 text of the bytes', 'type');
    if (data.length % 4 === 1 || !BASE64.test(data)) badPart(i, 'data', 'base64 text of the bytes', 'invalid_base64');
  }
  if (kind === 'text-content') {
    if (typeof p.content !== 'string') badPart(i, 'content', 'a string', 'type');
    checkText(p.content, `message.prompt[${i}].content`);
  }
  return { ...p } as PromptPart;
}
