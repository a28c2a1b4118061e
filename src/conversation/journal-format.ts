/**
 * The journal's record framing (pure, no I/O).
 *
 * One record per committed turn, one line each:
 *
 * ```
 * <byte length of json, decimal>\t<crc32 of json, 8 lowercase hex>\t<json>\n
 * ```
 *
 * JSON escaping guarantees no raw newline inside `json`, so a record's only `\n` is its last
 * byte. A torn write (crash mid-`write`) leaves a strict prefix of one record at the end of the
 * file; such a prefix never contains a complete valid record, which is how the scanner tells a
 * torn tail (truncate and report) from corruption before the tail (refuse to open).
 */
import * as zlib from 'node:zlib';
import { decodeTurn } from './record.ts';
import type { StoredTurn } from './record.ts';

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32Fallback(buf: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (IEEE, as zlib) of `buf`; uses `zlib.crc32` where Node has it (≥ 20.15). */
export function crc32(buf: Uint8Array): number {
  return nativeCrc32 === undefined ? crc32Fallback(buf) : nativeCrc32(buf) >>> 0;
}

/** Longest length header accepted (10 decimal digits ≈ 9.3 GiB): anything longer is garbage. */
const MAX_LEN_DIGITS = 10;
const TAB = 0x09;
const NL = 0x0a;

/** Frames a record's JSON as one journal line. */
export function encodeRecord(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const head = Buffer.from(`${body.length}\t${crc32(body).toString(16).padStart(8, '0')}\t`, 'latin1');
  return Buffer.concat([head, body, Buffer.from([NL])]);
}

/** One record found by {@link scanJournal}. */
export interface ScannedRecord {
  readonly turn: StoredTurn;
  readonly offset: number;
  readonly length: number;
}

type Attempt = { ok: true; record: ScannedRecord } | { ok: false; reason: string };

/** Tries to read one complete, checksum-valid record starting at `offset`. */
export function readRecordAt(buf: Buffer, offset: number): Attempt {
  let i = offset;
  let len = 0;
  while (i < buf.length && buf[i] !== TAB) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9 || i - offset >= MAX_LEN_DIGITS) return { ok: false, reason: 'bad length header' };
    len = len * 10 + d;
    i++;
  }
  if (i === offset) return { ok: false, reason: i >= buf.length ? 'truncated header' : 'bad length header' };
  if (i >= buf.length) return { ok: false, reason: 'truncated header' };
  i++; // tab
  if (i + 9 > buf.length) return { ok: false, reason: 'truncated header' };
  const crcText = buf.toString('latin1', i, i + 8);
  if (!/^[0-9a-f]{8}$/.test(crcText) || buf[i + 8] !== TAB) return { ok: false, reason: 'bad checksum header' };
  i += 9;
  const end = i + len;
  if (end + 1 > buf.length) return { ok: false, reason: 'truncated record' };
  if (buf[end] !== NL) return { ok: false, reason: 'missing record terminator' };
  const body = buf.subarray(i, end);
  if (crc32(body) !== Number.parseInt(crcText, 16)) return { ok: false, reason: 'checksum mismatch' };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'invalid JSON' };
  }
  const turn = decodeTurn(value);
  if (turn === undefined) return { ok: false, reason: 'not a turn record' };
  return { ok: true, record: { turn, offset, length: end + 1 - offset } };
}

/** Result of {@link scanJournal}. */
export type ScanResult =
  | { readonly kind: 'ok'; readonly records: ScannedRecord[]; readonly validEnd: number; readonly torn?: { readonly offset: number; readonly bytes: number; readonly reason: string } }
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

/**
 * Reads every record of a journal. A bad record followed by no valid record is a torn tail
 * (`torn` says where and why; the caller truncates to `validEnd`); a bad record followed by a
 * valid one is corruption (`kind: 'corrupt'`).
 */
export function scanJournal(buf: Buffer): ScanResult {
  const records: ScannedRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const attempt = readRecordAt(buf, offset);
    if (attempt.ok) {
      records.push(attempt.record);
      offset += attempt.record.length;
      continue;
    }
    if (validRecordAfter(buf, offset)) return { kind: 'corrupt', offset, reason: attempt.reason };
    return { kind: 'ok', records, validEnd: offset, torn: { offset, bytes: buf.length - offset, reason: attempt.reason } };
  }
  return { kind: 'ok', records, validEnd: offset };
}

function validRecordAfter(buf: Buffer, from: number): boolean {
  for (let nl = buf.indexOf(NL, from); nl !== -1 && nl + 1 < buf.length; nl = buf.indexOf(NL, nl + 1)) {
    if (readRecordAt(buf, nl + 1).ok) return true;
  }
  return false;
}
