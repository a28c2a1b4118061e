/**
 * The protocol layer: pure NDJSON codec and frame schema of wire protocol v1 (docs/protocol.md).
 */
export { FrameDecoder, encodeFrame, DEFAULT_MAX_FRAME_BYTES } from './codec.ts';
export type { FrameDecoderOptions } from './codec.ts';
export { FEATURE_HISTORY_CHUNKS, FEATURE_RUN_OPTIONS, parseInbound, parseOutbound, PROTOCOL_VERSION, PY_ERROR_KINDS } from './frames.ts';
export { DEFAULT_MAX_HISTORY_BYTES, encodeRunChunked } from './history-chunks.ts';
export type * from './frames.ts';
