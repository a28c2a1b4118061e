/**
 * File-system helpers of the journal store: safe file names from conversation ids, I/O error
 * translation, ranged reads, truncation and directory fsync. The directory lock is in
 * `./dir-lock.ts`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { synErr } from '../errors.ts';

/** Suffix of journal files. */
export const JOURNAL_SUFFIX = '.journal';
const JOURNAL_NAME = /^[A-Za-z0-9_-]{1,40}\.[0-9a-f]{32}\.journal$/;

/**
 * The journal file name of a (validated) conversation id: a readable slug of the id (only
 * `[A-Za-z0-9_-]`, ≤ 40 chars) plus 128 bits of its SHA-256. Never contains a path separator
 * or dot segment, is unique per id (case-insensitive file systems included: the hash is
 * lowercase hex) and stays far below the 255-byte name limit.
 */
export function journalFileName(conversationId: string): string {
  const slug = conversationId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  const hash = createHash('sha256').update(conversationId, 'utf8').digest('hex').slice(0, 32);
  return `${slug}.${hash}${JOURNAL_SUFFIX}`;
}

/** Whether a directory entry looks like a journal file. */
export function isJournalFileName(name: string): boolean {
  return JOURNAL_NAME.test(name);
}

/** Wraps an I/O error as SYN_ERR_STORE_IO naming the operation and the file. */
export function ioError(op: string, file: string, cause: unknown): never {
  const code = (cause as { code?: unknown } | null)?.code;
  throw synErr('SYN_ERR_STORE_IO', `History store ${op} failed on ${file}: ${(cause as Error)?.message ?? String(cause)}`, { op, file, ...(typeof code === 'string' ? { errno: code } : {}) }, cause);
}

/** fsyncs a directory so a newly created entry survives power loss. No-op on Windows (unsupported there). */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Cuts `file` to `size` bytes and fsyncs it. @throws SYN_ERR_STORE_IO. */
export async function truncateFile(file: string, size: number): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, 'r+');
    await fh.truncate(size);
    await fh.sync();
  } catch (err) {
    ioError('truncate', file, err);
  } finally {
    await fh?.close().catch(() => undefined); // a close failure after a successful sync loses nothing
  }
}

/** Reads `length` bytes at `offset`; the result is shorter if the file ends first. @throws SYN_ERR_STORE_IO. */
export async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, 'r');
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) return buf.subarray(0, done);
      done += bytesRead;
    }
    return buf;
  } catch (err) {
    return ioError('read', file, err);
  } finally {
    await fh?.close().catch(() => undefined); // read-only handle: nothing to lose
  }
}
