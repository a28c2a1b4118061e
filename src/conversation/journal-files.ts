/**
 * File-system helpers of the journal store: safe file names from conversation ids, the
 * directory lock that keeps a second process from writing the same journals, and directory
 * fsync.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { synErr } from '../errors.ts';

/** Suffix of journal files. */
export const JOURNAL_SUFFIX = '.journal';
/** Name of the lock file inside the store directory. */
export const LOCK_FILE = 'LOCK';
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

// Directories locked by this process: a second store on the same directory in-process is refused too.
const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** A held directory lock; `release` is idempotent. */
export interface DirLock {
  readonly file: string;
  release(): Promise<void>;
}

/**
 * Takes the store directory's lock file (`LOCK`, holding `{pid, host}`). A lock left by a dead
 * process on this host is taken over. Best effort against mistakes, not a security boundary:
 * it does not protect journals on a network file system shared by several hosts.
 *
 * @throws SYN_ERR_STORE_LOCKED when a live process (or another store in this process) holds it;
 * SYN_ERR_STORE_IO on I/O failure.
 */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  const file = path.join(dir, LOCK_FILE);
  const content = JSON.stringify({ pid: process.pid, host: hostname() });
  for (let attempt = 0; ; attempt++) {
    if (heldHere.has(dir)) {
      throw synErr('SYN_ERR_STORE_LOCKED', `History store directory ${dir} is already open in this process`, { dir, pid: process.pid });
    }
    try {
      await fs.writeFile(file, content, { flag: 'wx' });
      heldHere.add(dir);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST' || attempt > 0) ioError('lock', file, err);
    }
    let holder: { pid?: unknown; host?: unknown } = {};
    try {
      holder = JSON.parse(await fs.readFile(file, 'utf8')) as typeof holder;
    } catch {
      // An unreadable or half-written lock file has no live owner we could name: treat it as stale.
    }
    const pid = typeof holder.pid === 'number' ? holder.pid : undefined;
    const sameHost = holder.host === undefined || holder.host === hostname();
    if (pid !== undefined && (!sameHost || (pid !== process.pid && alive(pid)))) {
      throw synErr('SYN_ERR_STORE_LOCKED', `History store directory ${dir} is locked by process ${pid}${sameHost ? '' : ` on ${String(holder.host)}`}`, { dir, pid, lockFile: file });
    }
    await fs.rm(file, { force: true }).catch((err: unknown) => ioError('unlock stale', file, err));
  }
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(dir);
      await fs.rm(file, { force: true }).catch((err: unknown) => ioError('unlock', file, err));
    },
  };
}
