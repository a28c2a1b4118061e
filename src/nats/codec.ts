/**
 * The host-hop codec of `synapse/nats` (docs/nats.md, "Host-hop protocol"): the frames a front
 * and a host exchange over NATS. Pure: bytes in, typed frames out (and back), no NATS import.
 *
 * A frame is one UTF-8 JSON object, one per NATS message, with a versioned header: `syn` (the
 * host-hop protocol version, {@link HOP_VERSION}), `t` (the frame type) and `id` (the run id).
 * Decoding checks, in order: size (≤ `maxFrameBytes`, default 8 MiB, before parsing), JSON, the
 * header (`syn` present and an integer, then equal to {@link HOP_VERSION}: another version is
 * `SYN_ERR_HOP_VERSION` — checked before the schema, since another version may have another
 * one), then the frame type's schema (`SYN_ERR_PROTOCOL` naming the field). Unknown fields are
 * dropped (forward compatibility inside one version).
 */
import { synErr, type SynapseError } from '../errors.ts';

/** The host-hop protocol version carried by every frame (`syn`). */
export const HOP_VERSION = 1;

/** Largest host-hop frame in bytes: 8 MiB (NATS's recommended `max_payload` ceiling). */
export const DEFAULT_HOP_MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Every frame type, in the order of docs/nats.md. */
export const HOP_FRAME_TYPES = Object.freeze(['run', 'accepted', 'event', 'tool_call', 'tool_result', 'keepalive', 'result', 'error', 'cancel', 'status'] as const);

/** A host-hop frame type. */
export type HopFrameType = (typeof HOP_FRAME_TYPES)[number];

/** Front → host (request on `syn.<ns>.run.<agent>`): run one turn. The reply is {@link HopAccepted} or {@link HopError}. */
export interface HopRun {
  readonly t: 'run';
  readonly id: string;
  readonly agent: string;
  /** The front's id (logs, and the host's "front gone" decision). */
  readonly front: string;
  /** The front's inbox for this run: the host publishes `event` / `result` / `error` and requests `tool_call` / `keepalive` there. */
  readonly inbox: string;
  /** A string, an array of content parts, or `null` (a resume with `toolResults` only). */
  readonly prompt: unknown;
  readonly history: readonly unknown[];
  /** Time left for the run at the front when sent (ms); `null`: none. */
  readonly timeoutMs: number | null;
  readonly conversationId?: string;
  readonly turnId?: string;
  /** The call's run options in the worker protocol's wire form (`run.options`). */
  readonly options?: Readonly<Record<string, unknown>>;
  /** Answers to pending deferred tool calls (`run.toolResults`). */
  readonly toolResults?: Readonly<Record<string, unknown>>;
  /** Names of the TypeScript tools the front answers (`tool_call` for others fails on the front). */
  readonly tools: readonly string[];
  /** `true`: the caller streams (`streamMessage`), the host runs it streamed and publishes `event`s; absent: a plain run. */
  readonly stream?: true;
}

/** Host → front (the reply to `run`): the host took the run; cancel it on `ctl`. */
export interface HopAccepted {
  readonly t: 'accepted';
  readonly id: string;
  readonly host: string;
  /** The host's control subject (`syn.<ns>.ctl.<hostId>`): where `cancel` goes. */
  readonly ctl: string;
}

/** Host → front inbox: one streamed event (`seq` counts from 0, so the front can see a gap). */
export interface HopEvent {
  readonly t: 'event';
  readonly id: string;
  readonly seq: number;
  /** The worker protocol's stream event (`{ kind, … }`), passed through. */
  readonly event: Readonly<Record<string, unknown>> & { readonly kind: string };
}

/** Host → front inbox (a request): call a TypeScript tool; the reply is {@link HopToolResult}. */
export interface HopToolCall {
  readonly t: 'tool_call';
  readonly id: string;
  readonly callId: string;
  readonly tool: string;
  readonly args: unknown;
}

/** Front → host (the reply to `tool_call`): the tool's value, or its error message. */
export type HopToolResult =
  | { readonly t: 'tool_result'; readonly id: string; readonly callId: string; readonly ok: true; readonly value: unknown }
  | { readonly t: 'tool_result'; readonly id: string; readonly callId: string; readonly ok: false; readonly error: string };

/** Either way: "still here" (host → front as a request every `keepaliveMs`; the front replies with one). */
export interface HopKeepalive {
  readonly t: 'keepalive';
  readonly id: string;
  readonly from: 'host' | 'front';
}

/** Host → front inbox: the run's result (the worker's `RunResult`). */
export interface HopResult {
  readonly t: 'result';
  readonly id: string;
  readonly output: unknown;
  readonly outputType?: string;
  readonly messages: readonly unknown[];
  readonly usage: Readonly<Record<string, unknown>>;
  readonly deferred?: Readonly<Record<string, unknown>>;
}

/** Host → front: the run failed (or was refused) with this SynapseError, code and details verbatim. */
export interface HopError {
  readonly t: 'error';
  readonly id: string;
  readonly code: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** Front → host control subject: stop this run (deadline, abort, front shutting down). */
export interface HopCancel {
  readonly t: 'cancel';
  readonly id: string;
  /** The SynapseError code that made the front give up (`SYN_ERR_TIMEOUT`, `SYN_ERR_ABORTED`…). */
  readonly reason: string;
}

/** One served agent in a {@link HopStatus} advert. */
export interface HopAgentAdvert {
  readonly id: string;
  /** The agent's state on the host (`ready`, `degraded`, `restarting`, `quarantined`, `starting`…). */
  readonly state: string;
  /** Runs in flight on the host (all fronts, and local callers). */
  readonly inFlight: number;
  /** Runs the host takes at once for this agent (workers × concurrency). */
  readonly capacity: number;
  /**
   * While quarantined: in how many ms the host retries the agent. Relative, not a timestamp:
   * each process's clock is its own (`performance.now()`), so the front re-bases it on arrival.
   */
  readonly nextRetryInMs?: number;
}

/** Host → `syn.<ns>.status.<hostId>` every `advertMs`: what it serves (`id` is the host id). */
export interface HopStatus {
  readonly t: 'status';
  readonly id: string;
  readonly host: string;
  /** The advert period: a front drops a host silent for 3 of them. */
  readonly advertMs: number;
  /** The protocol versions the host speaks: `hop` (this codec) and `worker` (the Python worker protocol). */
  readonly versions: { readonly hop: number; readonly worker: number };
  /** Every agent the host has (quarantined and stopping ones included, with their state). */
  readonly agents: readonly HopAgentAdvert[];
}

/** Every host-hop frame. */
export type HopFrame = HopRun | HopAccepted | HopEvent | HopToolCall | HopToolResult | HopKeepalive | HopResult | HopError | HopCancel | HopStatus;

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function bad(frameType: string, field: string, expected: string, value: unknown): SynapseError {
  const got = value === undefined ? 'missing' : value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  return synErr('SYN_ERR_PROTOCOL', `Invalid host-hop "${frameType}" frame: field "${field}" must be ${expected} (got ${got})`, { frameType, field, hop: true });
}
function str(o: Obj, t: string, f: string): string {
  const x = o[f];
  if (typeof x !== 'string' || x.length === 0) throw bad(t, f, 'a non-empty string', x);
  return x;
}
function optStr(o: Obj, t: string, f: string): string | undefined {
  const x = o[f];
  if (x === undefined) return undefined;
  if (typeof x !== 'string') throw bad(t, f, 'a string when present', x);
  return x;
}
function arr(o: Obj, t: string, f: string): unknown[] {
  const x = o[f];
  if (!Array.isArray(x)) throw bad(t, f, 'an array', x);
  return x;
}
function obj(o: Obj, t: string, f: string): Obj {
  const x = o[f];
  if (!isObj(x)) throw bad(t, f, 'an object', x);
  return x;
}
function optTrue(o: Obj, t: string, f: string): true | undefined {
  const v = o[f];
  if (v === undefined) return undefined;
  if (v !== true) throw bad(t, f, 'true or absent', v);
  return true;
}

function optObj(o: Obj, t: string, f: string): Obj | undefined {
  return o[f] === undefined ? undefined : obj(o, t, f);
}
function present(o: Obj, t: string, f: string): unknown {
  if (!Object.hasOwn(o, f)) throw bad(t, f, 'present', undefined);
  return o[f];
}
const opt = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } => (value === undefined ? {} : ({ [key]: value } as { [P in K]: V }));

const CODE = /^SYN_ERR_[A-Z_]+$/;
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * Validates a decoded JSON value as a host-hop frame and returns it typed (unknown fields dropped).
 *
 * @throws SYN_ERR_HOP_VERSION (`details.expected`, `details.actual`) when `syn` is another version;
 *   SYN_ERR_PROTOCOL (`details.frameType`, `details.field`) for anything else that is not a frame.
 */
export function parseHopFrame(value: unknown): HopFrame {
  if (!isObj(value)) throw bad('?', 'syn', 'a JSON object with a "syn" header', value);
  const o = value;
  const syn = o.syn;
  if (typeof syn !== 'number' || !Number.isSafeInteger(syn)) throw bad(typeof o.t === 'string' ? o.t : '?', 'syn', 'an integer (the host-hop protocol version)', syn);
  if (syn !== HOP_VERSION) {
    throw synErr('SYN_ERR_HOP_VERSION', `Host-hop protocol version ${syn} received; this Synapse speaks version ${HOP_VERSION}: deploy the same Synapse release on fronts and hosts`, { expected: HOP_VERSION, actual: syn });
  }
  const t = o.t;
  switch (t) {
    case 'run': {
      const prompt = present(o, t, 'prompt');
      if (!(prompt === null || typeof prompt === 'string' || (Array.isArray(prompt) && prompt.length > 0))) throw bad(t, 'prompt', 'a string, a non-empty array or null', prompt);
      const timeoutMs = o.timeoutMs;
      if (!(timeoutMs === null || (typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0))) throw bad(t, 'timeoutMs', 'a number > 0 or null', timeoutMs);
      const tools = arr(o, t, 'tools');
      if (!tools.every((x) => typeof x === 'string')) throw bad(t, 'tools', 'an array of strings', tools);
      return {
        t,
        id: str(o, t, 'id'),
        agent: str(o, t, 'agent'),
        front: str(o, t, 'front'),
        inbox: str(o, t, 'inbox'),
        prompt,
        history: arr(o, t, 'history'),
        timeoutMs,
        ...opt('conversationId', optStr(o, t, 'conversationId')),
        ...opt('turnId', optStr(o, t, 'turnId')),
        ...opt('options', optObj(o, t, 'options')),
        ...opt('toolResults', optObj(o, t, 'toolResults')),
        tools: tools as string[],
        ...opt('stream', optTrue(o, t, 'stream')),
      };
    }
    case 'accepted':
      return { t, id: str(o, t, 'id'), host: str(o, t, 'host'), ctl: str(o, t, 'ctl') };
    case 'event': {
      const seq = o.seq;
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw bad(t, 'seq', 'an integer >= 0', seq);
      const event = obj(o, t, 'event');
      if (typeof event.kind !== 'string') throw bad(t, 'event.kind', 'a string', event.kind);
      return { t, id: str(o, t, 'id'), seq, event: event as HopEvent['event'] };
    }
    case 'tool_call':
      return { t, id: str(o, t, 'id'), callId: str(o, t, 'callId'), tool: str(o, t, 'tool'), args: o.args };
    case 'tool_result': {
      const ok = o.ok;
      if (ok === true) return { t, id: str(o, t, 'id'), callId: str(o, t, 'callId'), ok, value: o.value };
      if (ok === false) {
        const error = o.error;
        if (typeof error !== 'string') throw bad(t, 'error', 'a string', error);
        return { t, id: str(o, t, 'id'), callId: str(o, t, 'callId'), ok, error };
      }
      throw bad(t, 'ok', 'a boolean', ok);
    }
    case 'keepalive': {
      const from = o.from;
      if (from !== 'host' && from !== 'front') throw bad(t, 'from', '"host" or "front"', from);
      return { t, id: str(o, t, 'id'), from };
    }
    case 'result':
      return {
        t,
        id: str(o, t, 'id'),
        output: present(o, t, 'output'),
        ...opt('outputType', optStr(o, t, 'outputType')),
        messages: arr(o, t, 'messages'),
        usage: obj(o, t, 'usage'),
        ...opt('deferred', optObj(o, t, 'deferred')),
      };
    case 'error': {
      const code = str(o, t, 'code');
      if (!CODE.test(code)) throw bad(t, 'code', 'a SYN_ERR_* code', code);
      const message = o.message;
      if (typeof message !== 'string') throw bad(t, 'message', 'a string', message);
      return { t, id: str(o, t, 'id'), code, message, details: obj(o, t, 'details') };
    }
    case 'cancel':
      return { t, id: str(o, t, 'id'), reason: str(o, t, 'reason') };
    case 'status': {
      const advertMs = o.advertMs;
      if (!isCount(advertMs) || advertMs < 1) throw bad(t, 'advertMs', 'an integer >= 1', advertMs);
      const versions = obj(o, t, 'versions');
      if (!isCount(versions.hop)) throw bad(t, 'versions.hop', 'an integer >= 0', versions.hop);
      if (!isCount(versions.worker)) throw bad(t, 'versions.worker', 'an integer >= 0', versions.worker);
      const agents = arr(o, t, 'agents').map((a, i): HopAgentAdvert => {
        if (!isObj(a)) throw bad(t, `agents[${i}]`, 'an object', a);
        const f = `agents[${i}]`;
        if (!isCount(a.inFlight)) throw bad(t, `${f}.inFlight`, 'an integer >= 0', a.inFlight);
        if (!isCount(a.capacity)) throw bad(t, `${f}.capacity`, 'an integer >= 0', a.capacity);
        const retry = a.nextRetryInMs;
        if (!(retry === undefined || (typeof retry === 'number' && Number.isFinite(retry) && retry >= 0))) throw bad(t, `${f}.nextRetryInMs`, 'a number >= 0 when present', retry);
        const id = a.id;
        if (typeof id !== 'string' || id.length === 0) throw bad(t, `${f}.id`, 'a non-empty string', id);
        const state = a.state;
        if (typeof state !== 'string' || state.length === 0) throw bad(t, `${f}.state`, 'a non-empty string', state);
        return { id, state, inFlight: a.inFlight, capacity: a.capacity, ...opt('nextRetryInMs', retry) };
      });
      return { t, id: str(o, t, 'id'), host: str(o, t, 'host'), advertMs, versions: { hop: versions.hop, worker: versions.worker }, agents };
    }
    default:
      throw bad(typeof t === 'string' ? t : '?', 't', `one of ${HOP_FRAME_TYPES.join(', ')}`, t);
  }
}

function checkMax(maxFrameBytes: number): void {
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "maxFrameBytes": expected an integer >= 1, got ${String(maxFrameBytes)}`, { option: 'maxFrameBytes' });
  }
}

function tooLarge(bytes: number, maxFrameBytes: number, frameType: string): SynapseError {
  return synErr('SYN_ERR_FRAME_TOO_LARGE', `Host-hop "${frameType}" frame of ${bytes} bytes exceeds maxFrameBytes (${maxFrameBytes})`, { bytes, maxFrameBytes, frameType, hop: true });
}

/**
 * Encodes a frame (adding the `syn` header) as UTF-8 JSON bytes.
 *
 * @throws SYN_ERR_FRAME_TOO_LARGE (`details.bytes`, `details.maxFrameBytes`) when the encoding is larger
 *   than `maxFrameBytes`; SYN_ERR_INVALID_ARGUMENT when the frame is not JSON (a cycle, a BigInt);
 *   SYN_ERR_PROTOCOL when it is not a valid frame (encoded frames always decode).
 * @example
 * ```ts
 * nc.publish(inbox, encodeHopFrame({ t: 'keepalive', id: runId, from: 'host' }));
 * ```
 */
export function encodeHopFrame(frame: HopFrame, maxFrameBytes: number = DEFAULT_HOP_MAX_FRAME_BYTES): Uint8Array {
  checkMax(maxFrameBytes);
  const withHeader = { syn: HOP_VERSION, ...frame };
  parseHopFrame(withHeader); // never send what the peer must refuse
  let text: string;
  try {
    text = JSON.stringify(withHeader);
  } catch (error) {
    throw synErr('SYN_ERR_INVALID_ARGUMENT', `Host-hop "${frame.t}" frame is not JSON: ${error instanceof Error ? error.message : String(error)}`, { argument: 'frame' }, error);
  }
  // UTF-8 is at most 3 bytes per UTF-16 unit: skip the exact count when it cannot matter.
  if (text.length * 3 > maxFrameBytes) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxFrameBytes) throw tooLarge(bytes, maxFrameBytes, frame.t);
  }
  return Buffer.from(text, 'utf8');
}

/**
 * Decodes the payload of one NATS message as a host-hop frame.
 *
 * @throws SYN_ERR_FRAME_TOO_LARGE (checked before parsing), SYN_ERR_PROTOCOL (not UTF-8 JSON, no
 *   header, bad schema: `details.frameType`, `details.field`), SYN_ERR_HOP_VERSION (another `syn`).
 * @example
 * ```ts
 * for await (const m of sub) handle(decodeHopFrame(m.data));
 * ```
 */
export function decodeHopFrame(data: Uint8Array, maxFrameBytes: number = DEFAULT_HOP_MAX_FRAME_BYTES): HopFrame {
  checkMax(maxFrameBytes);
  if (data.byteLength > maxFrameBytes) throw tooLarge(data.byteLength, maxFrameBytes, '?');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (error) {
    throw synErr('SYN_ERR_PROTOCOL', 'Host-hop message is not UTF-8 JSON', { frameType: '?', field: 'syn', hop: true }, error);
  }
  return parseHopFrame(value);
}
