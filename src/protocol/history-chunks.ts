/**
 * Chunked history (protocol v1 feature `history_chunks`, see `docs/protocol.md`): a run whose
 * `run` frame would pass `maxFrameBytes` because of its history is sent as `history_chunk`
 * frames followed by the `run` frame with `history: []` and `historyChunks: n`.
 *
 * The history's JSON is split by UTF-8 bytes (a slice may end inside a message, a string or a
 * multi-byte character, so one huge message works too) and each slice travels as base64, whose
 * size is known in advance: every chunk line fits `maxFrameBytes` exactly, with no escaping
 * surprises. Pure: no I/O. A run that fits one frame never comes here.
 */
import { synErr } from '../errors.ts';
import { encodeFrame } from './codec.ts';
import type { RunFrame } from './frames.ts';

/** Default cap on the bytes of one chunked history (the JSON's UTF-8 bytes): 256 MiB. */
export const DEFAULT_MAX_HISTORY_BYTES = 256 * 1024 * 1024;

/**
 * Encodes `frame` as its `history_chunk` lines followed by its `run` line (one string, `\n`
 * after each line), every line at most `maxFrameBytes` bytes.
 *
 * @throws SYN_ERR_HISTORY_TOO_LARGE when the history's JSON is above `maxHistoryBytes`
 *   (details `runId`, `historyBytes`, `maxHistoryBytes`).
 * @throws SYN_ERR_FRAME_TOO_LARGE when the `run` frame is too large even without its history
 *   (a huge prompt), or `maxFrameBytes` cannot hold a chunk at all.
 * @throws SYN_ERR_INVALID_ARGUMENT when the history is not JSON-serialisable.
 * @example
 * ```ts
 * const lines = encodeRunChunked(runFrame, 64 * 1024, DEFAULT_MAX_HISTORY_BYTES);
 * stdin.write(lines); // history_chunk × n, then run {historyChunks: n}
 * ```
 */
export function encodeRunChunked(frame: RunFrame, maxFrameBytes: number, maxHistoryBytes: number): string {
  let json: string;
  try {
    json = JSON.stringify(frame.history);
  } catch (cause) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `Run history is not JSON-serialisable: ${(cause as Error).message}`, { runId: frame.id }, cause);
  }
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length > maxHistoryBytes) {
    throw synErr(
      'SYN_ERR_HISTORY_TOO_LARGE',
      `The history of run ${frame.id} is ${bytes.length} bytes, above maxHistoryBytes (${maxHistoryBytes}): raise python.maxHistoryBytes or continue in a new conversation`,
      { runId: frame.id, historyBytes: bytes.length, maxHistoryBytes, ...(frame.conversationId === undefined ? {} : { conversationId: frame.conversationId }) },
    );
  }
  const head = `{"t":"history_chunk","id":${JSON.stringify(frame.id)},"data":"`;
  const room = maxFrameBytes - Buffer.byteLength(head, 'utf8') - 2; // 2: the closing `"}`
  const perChunk = Math.floor(room / 4) * 3; // raw bytes whose base64 fills at most `room`
  if (perChunk < 3) {
    throw synErr('SYN_ERR_FRAME_TOO_LARGE', `maxFrameBytes (${maxFrameBytes}) is too small to carry the history of run ${frame.id} in chunks`, { maxFrameBytes, runId: frame.id });
  }
  const count = Math.ceil(bytes.length / perChunk);
  const run = encodeFrame({ ...frame, history: [], historyChunks: count }, maxFrameBytes);
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += perChunk) lines.push(`${head}${bytes.toString('base64', at, at + perChunk)}"}\n`);
  lines.push(run);
  return lines.join('');
}
