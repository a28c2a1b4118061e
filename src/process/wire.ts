/**
 * The protocol channel of one worker (frame handling): NDJSON frames to the child's stdin and
 * from its protocol stream (the child's stdout pipe).
 *
 * - Outbound: each frame is encoded (and size-checked) when sent, so the caller gets
 *   SYN_ERR_FRAME_TOO_LARGE / SYN_ERR_INVALID_ARGUMENT at once; the lines sent during one
 *   synchronous turn leave together in one `write` on `process.nextTick` (one syscall for a
 *   burst of runs instead of one each). Order is preserved; frames are never split or merged.
 * - Inbound: bytes go through {@link FrameDecoder} (max frame size enforced before buffering)
 *   and every frame is schema-checked by {@link parseInbound} before the owner sees it.
 */
import type { Readable, Writable } from 'node:stream';
import type { SynapseError } from '../errors.ts';
import { encodeFrame, FrameDecoder } from '../protocol/codec.ts';
import { parseInbound } from '../protocol/frames.ts';
import type { InboundFrame, OutboundFrame } from '../protocol/frames.ts';

/** What a {@link WireChannel} reports to its owner. */
export interface WireHandlers {
  /** A valid inbound frame, in stream order. */
  readonly onFrame: (frame: InboundFrame) => void;
  /** An inbound frame broke the protocol (bad UTF-8/JSON/schema, oversized). */
  readonly onViolation: (error: SynapseError) => void;
  /** The inbound stream ended: cleanly between frames (`truncated` undefined) or inside one (SYN_ERR_PROTOCOL). */
  readonly onEnd: (truncated: SynapseError | undefined) => void;
  /** True once the worker is condemned: further inbound bytes are moot and ignored. */
  readonly ignoreInbound: () => boolean;
}

/** Framed I/O over one child's pipes. Owned by {@link PythonWorker}. */
export class WireChannel {
  readonly #decoder: FrameDecoder;
  readonly #maxFrameBytes: number;
  readonly #handlers: WireHandlers;
  #stdin: Writable | undefined;
  #outbox: string[] = [];
  #flushQueued = false;
  readonly #flush = (): void => this.#flushOutbox();

  constructor(maxFrameBytes: number, handlers: WireHandlers) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#decoder = new FrameDecoder({ maxFrameBytes });
    this.#handlers = handlers;
  }

  /** Starts reading `stdout` and writing to `stdin`. */
  attach(stdin: Writable, stdout: Readable): void {
    this.#stdin = stdin;
    stdin.on('error', () => {
      // EPIPE/ECONNRESET after the worker died: the death itself is reported by 'exit'/'close'.
    });
    stdout.on('data', (chunk: Buffer) => this.push(chunk));
    stdout.on('end', () => this.#onEnd());
  }

  /**
   * Encodes `frame` and queues it for this tick's write.
   *
   * @throws SYN_ERR_FRAME_TOO_LARGE above `maxFrameBytes`; SYN_ERR_INVALID_ARGUMENT if not JSON-serialisable.
   */
  send(frame: OutboundFrame): void {
    this.sendLine(encodeFrame(frame, this.#maxFrameBytes));
  }

  /** Queues an already encoded line (from {@link encodeFrame}, `\n` included). */
  sendLine(line: string): void {
    this.#outbox.push(line);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(this.#flush);
    }
  }

  /** Feeds inbound bytes, exactly as if read from the protocol stream. */
  push(chunk: Buffer): void {
    const h = this.#handlers;
    if (h.ignoreInbound()) return;
    try {
      this.#decoder.push(chunk, (raw) => {
        if (!h.ignoreInbound()) h.onFrame(parseInbound(raw));
      });
    } catch (error) {
      h.onViolation(error as SynapseError);
    }
  }

  #onEnd(): void {
    let truncated: SynapseError | undefined;
    try {
      this.#decoder.end();
    } catch (error) {
      truncated = error as SynapseError;
    }
    this.#handlers.onEnd(truncated);
  }

  #flushOutbox(): void {
    this.#flushQueued = false;
    const lines = this.#outbox;
    if (lines.length === 0) return;
    this.#outbox = [];
    const stdin = this.#stdin;
    if (stdin === undefined || !stdin.writable) return; // the worker is gone; its death is reported elsewhere
    stdin.write(lines.length === 1 ? (lines[0] as string) : lines.join(''));
  }
}
