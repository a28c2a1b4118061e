/**
 * NDJSON framing for protocol v1: one JSON object per `\n`-terminated UTF-8 line.
 *
 * The decoder enforces the maximum frame size while bytes arrive: the moment the current
 * line passes `maxFrameBytes` it fails, before buffering more (a peer announcing a 2 GiB
 * line never makes us allocate it). It scans with `indexOf(10)` (native) and runs exactly
 * one `JSON.parse` per line; multi-byte UTF-8 characters split across chunks are safe
 * because a line is only decoded once complete (0x0A never occurs inside a UTF-8 sequence).
 */
import { isUtf8 } from 'node:buffer';
import { synErr } from '../errors.ts';
import type { SynapseError } from '../errors.ts';

/** Default maximum frame size (bytes of one line, excluding the newline): 8 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

const NEWLINE = 10;

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted line in bytes, excluding the `\n`. Default {@link DEFAULT_MAX_FRAME_BYTES}. */
  readonly maxFrameBytes?: number;
}

/**
 * Incremental NDJSON decoder. Feed it chunks in arrival order; it calls `onFrame` with each
 * decoded JSON object (not yet schema-checked: see `parseInbound`).
 *
 * After the first violation the decoder is poisoned: every later `push` throws the same error
 * without buffering anything.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
 * child.stdout.on('data', (chunk) => decoder.push(chunk, (frame) => handle(parseInbound(frame))));
 * ```
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  #parts: Buffer[] = [];
  #pending = 0;
  #failure: SynapseError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "maxFrameBytes": expected an integer >= 1, got ${String(max)}`, { option: 'maxFrameBytes' });
    }
    this.maxFrameBytes = max;
  }

  /** Bytes of the current, incomplete line held in memory (never more than `maxFrameBytes`). */
  get bufferedBytes(): number {
    return this.#pending;
  }

  /** The violation that poisoned this decoder, if any. */
  get failure(): SynapseError | undefined {
    return this.#failure;
  }

  /**
   * Consumes one chunk. Frames completed by it are passed to `onFrame` in order, before any
   * violation later in the same chunk is thrown.
   *
   * @throws SYN_ERR_FRAME_TOO_LARGE when the current line passes `maxFrameBytes`.
   * @throws SYN_ERR_PROTOCOL for invalid UTF-8, a line that is not JSON, or JSON that is not an object.
   */
  push(chunk: Uint8Array, onFrame: (frame: Record<string, unknown>) => void): void {
    if (this.#failure !== undefined) throw this.#failure;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    const length = buf.length;
    while (start < length) {
      const nl = buf.indexOf(NEWLINE, start);
      const end = nl === -1 ? length : nl;
      if (this.#pending + (end - start) > this.maxFrameBytes) {
        this.#parts = [];
        const size = this.#pending + (end - start);
        this.#pending = 0;
        throw this.#fail(
          synErr('SYN_ERR_FRAME_TOO_LARGE', `Frame exceeds maxFrameBytes (${this.maxFrameBytes}): ${size}+ bytes without a newline`, {
            maxFrameBytes: this.maxFrameBytes,
            receivedBytes: size,
          }),
        );
      }
      if (nl === -1) {
        // Incomplete line: keep a view of the rest (bounded by the check above).
        this.#parts.push(buf.subarray(start));
        this.#pending += length - start;
        return;
      }
      let line: Buffer;
      if (this.#pending === 0) {
        line = buf.subarray(start, nl);
      } else {
        this.#parts.push(buf.subarray(start, nl));
        line = Buffer.concat(this.#parts, this.#pending + (nl - start));
        this.#parts = [];
        this.#pending = 0;
      }
      start = nl + 1;
      onFrame(this.#decodeLine(line));
    }
  }

  /**
   * Signals end of input.
   *
   * @throws SYN_ERR_PROTOCOL if an incomplete (truncated) line is pending.
   */
  end(): void {
    if (this.#failure !== undefined) return;
    if (this.#pending > 0) {
      const pending = this.#pending;
      this.#parts = [];
      this.#pending = 0;
      throw this.#fail(synErr('SYN_ERR_PROTOCOL', `Truncated frame: stream ended inside a line (${pending} bytes)`, { truncatedBytes: pending }));
    }
  }

  #decodeLine(line: Buffer): Record<string, unknown> {
    if (!isUtf8(line)) throw this.#fail(synErr('SYN_ERR_PROTOCOL', 'Invalid UTF-8 in frame', { preview: preview(line) }));
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch (cause) {
      throw this.#fail(synErr('SYN_ERR_PROTOCOL', `Frame is not valid JSON: ${(cause as Error).message}`, { preview: preview(line) }, cause));
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.#fail(synErr('SYN_ERR_PROTOCOL', 'Frame is not a JSON object', { preview: preview(line) }));
    }
    return value as Record<string, unknown>;
  }

  #fail(error: SynapseError): SynapseError {
    this.#failure = error;
    return error;
  }
}

/** First bytes of a bad line, for error details (never the whole line: it may be huge or secret). */
function preview(line: Buffer): string {
  return line.subarray(0, 120).toString('utf8');
}

/**
 * Encodes one frame as an NDJSON line (`JSON.stringify` + `\n`). When `maxFrameBytes` is
 * given the encoded size is checked, so Node never sends a frame the peer must reject.
 *
 * @throws SYN_ERR_INVALID_ARGUMENT if the frame is not JSON-serialisable (cycle, BigInt).
 * @throws SYN_ERR_FRAME_TOO_LARGE if the line is longer than `maxFrameBytes`.
 */
export function encodeFrame(frame: object, maxFrameBytes?: number): string {
  let text: string;
  try {
    text = JSON.stringify(frame);
  } catch (cause) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `Frame is not JSON-serialisable: ${(cause as Error).message}`, undefined, cause);
  }
  if (maxFrameBytes !== undefined && text.length > maxFrameBytes / 3) {
    // Cheap pre-check first: a UTF-16 unit encodes to at most 3 UTF-8 bytes.
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxFrameBytes) {
      throw synErr('SYN_ERR_FRAME_TOO_LARGE', `Outgoing frame is ${bytes} bytes, above maxFrameBytes (${maxFrameBytes})`, { maxFrameBytes, frameBytes: bytes });
    }
  }
  return `${text}\n`;
}
