/**
 * The heartbeat control channel of one worker: two extra stdio pipes (fd 3: Node → Python
 * `ping`, fd 4: Python → Node `pong`), NDJSON with the protocol's own frame schema.
 *
 * Python serves it from a dedicated thread, so the heartbeat keeps flowing while user code
 * blocks the asyncio loop, and the loop itself can read the protocol stream (stdin) directly
 * instead of through a reader thread (one wake-up per request instead of two). Python also writes
 * `gc` notices here around its full garbage collections (feature `gc_notices`). See
 * `docs/protocol.md`, "Heartbeat control channel" and "GC notices".
 */
import type { Readable, Writable } from 'node:stream';
import { synErr } from '../errors.ts';
import type { SynapseError } from '../errors.ts';
import { encodeFrame, FrameDecoder } from '../protocol/codec.ts';
import { parseInbound } from '../protocol/frames.ts';
import type { GcFrame, PongFrame } from '../protocol/frames.ts';

/** Largest frame accepted on the control channel (a `pong` is well under 200 bytes). */
export const CONTROL_MAX_FRAME_BYTES = 4096;

/** The child's fds of the control channel, as passed in env `SYNAPSE_CONTROL_FDS` (`read,write` from Python's view). */
export const CONTROL_FDS = '3,4';

/** What a {@link ControlChannel} reports to its owner. */
export interface ControlHandlers {
  /** A valid `pong`. */
  readonly onPong: (frame: PongFrame) => void;
  /** A valid `gc` notice (a full collection started or ended in the worker). */
  readonly onGc: (frame: GcFrame) => void;
  /** The control stream broke the protocol (not a `pong` or `gc`, bad JSON/schema, oversized). */
  readonly onViolation: (error: SynapseError) => void;
  /** True once the worker is condemned: further inbound bytes are ignored. */
  readonly ignoreInbound: () => boolean;
}

/** Ping writer and pong reader over the worker's control pipes. Owned by the worker; its lifetime is the child's pipes'. */
export class ControlChannel {
  readonly #decoder = new FrameDecoder({ maxFrameBytes: CONTROL_MAX_FRAME_BYTES });
  readonly #handlers: ControlHandlers;
  #out: Writable | undefined;

  constructor(handlers: ControlHandlers) {
    this.#handlers = handlers;
  }

  /** Starts writing pings to `out` (child fd 3) and reading pongs from `input` (child fd 4). */
  attach(out: Writable, input: Readable): void {
    this.#out = out;
    out.on('error', () => {
      // EPIPE after the worker died: the death itself is reported by 'exit'/'close'.
    });
    input.on('data', (chunk: Buffer) => this.push(chunk));
  }

  /** Sends `ping {seq}` at once (not batched: a ping must never wait behind protocol traffic). */
  ping(seq: number): void {
    const out = this.#out;
    if (out === undefined || !out.writable) return; // gone: the missing pong or the exit reports it
    out.write(encodeFrame({ t: 'ping', seq }, CONTROL_MAX_FRAME_BYTES));
  }

  /** Feeds bytes read from the pong pipe. */
  push(chunk: Buffer): void {
    const h = this.#handlers;
    if (h.ignoreInbound()) return;
    try {
      this.#decoder.push(chunk, (raw) => {
        if (h.ignoreInbound()) return;
        const frame = parseInbound(raw);
        if (frame.t === 'pong') h.onPong(frame);
        else if (frame.t === 'gc') h.onGc(frame);
        else throw synErr('SYN_ERR_PROTOCOL', `Unexpected "${frame.t}" frame on the heartbeat control channel`, { frame: frame.t });
      });
    } catch (error) {
      h.onViolation(error as SynapseError);
    }
  }
}
