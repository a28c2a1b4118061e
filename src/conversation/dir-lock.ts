/**
 * The history store directory's lock: keeps a second process (or a second store in this
 * process) from writing the same journals. Node has no `flock`, so it is built from
 * exclusive creation only (design and proof sketch: docs/decisions.md, "Directory lock").
 *
 * - Every lock file — `LOCK` and the breakers below — is written to a unique temp file,
 *   fsync'ed, then hard-linked into place: `link` is atomic and fails with EEXIST, so a lock
 *   file is never seen half-written. Each carries `{pid, host, nonce}`; the random nonce is
 *   its identity (a legacy file without one is identified by inode, size and mtime).
 * - A stale `LOCK` (owner dead) with identity N is removed only by whoever holds the breaker
 *   `LOCK.break.N` (created the same way), after re-reading `LOCK` and finding N still there.
 *   Nonces never repeat, so once lock N is gone nobody can remove a newer lock by mistake.
 * - A breaker left by a process that died mid-takeover is itself broken by the same rule
 *   (`LOCK.break.<its nonce>`), to a bounded depth; the new holder sweeps leftover breakers.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { synErr } from '../errors.ts';
import type { SynapseError } from '../errors.ts';
import { ioError } from './journal-files.ts';

/** Name of the lock file inside the store directory. */
export const LOCK_FILE = 'LOCK';
const BREAKER_PREFIX = `${LOCK_FILE}.break.`;
const TMP_PREFIX = `${LOCK_FILE}.tmp.`;
const NONCE = /^[0-9a-f]{32}$/;
/** Retries of one step (a file that vanished between two looks); each retry follows someone else's progress. */
const MAX_ATTEMPTS = 8;
/** Breakers of breakers followed before giving up (each level needs another process dying mid-takeover). */
const MAX_DEPTH = 4;

/**
 * What to do with a lock written on another host, whose owner cannot be checked from here:
 * `'refuse'` (default) fails with SYN_ERR_STORE_LOCKED; `'takeOver'` treats it as stale.
 */
export type ForeignLockPolicy = 'refuse' | 'takeOver';

/** A held directory lock; `release` is idempotent. */
export interface DirLock {
  /** Path of the `LOCK` file. */
  readonly file: string;
  /** This lock's nonce (also in the file). */
  readonly nonce: string;
  /** Removes `LOCK` if it is still this lock (never a lock someone else wrote). @throws SYN_ERR_STORE_IO. */
  release(): Promise<void>;
}

/** What a lock file says about its owner. */
interface Holder {
  /** The nonce, or for a legacy / unreadable file `legacy-<ino>-<size>-<mtimeNs>`. */
  readonly identity: string;
  readonly pid: number | undefined;
  readonly host: string | undefined;
  readonly nonce: string | undefined;
}

// Directories locked (or being locked) by this process: a second store on one directory in-process is refused too.
const heldHere = new Set<string>();
// Nonces of the lock files this process holds right now: a file with our pid but another nonce is a dead predecessor's.
const ownNonces = new Set<string>();

function errno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

/** Writes `content` to a new file and fsyncs it, so the name linked to it never shows a partial write. */
async function writeSynced(file: string, content: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, 'wx');
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } catch (err) {
    ioError('lock', file, err);
  } finally {
    await fh?.close().catch(() => undefined); // after a successful sync a close failure loses nothing
  }
}

/**
 * Atomically creates `target` holding `{pid, host, nonce}` with a fresh nonce (temp file +
 * fsync + `link`). Resolves the nonce, or `undefined` if `target` already exists.
 */
async function createExclusive(dir: string, target: string): Promise<string | undefined> {
  for (let attempt = 0; ; attempt++) {
    const nonce = randomBytes(16).toString('hex');
    const tmp = path.join(dir, `${TMP_PREFIX}${nonce}`);
    await writeSynced(tmp, JSON.stringify({ pid: process.pid, host: hostname(), nonce, at: new Date().toISOString() }));
    ownNonces.add(nonce); // before the name appears: nobody can see it earlier
    try {
      await fs.link(tmp, target);
      return nonce;
    } catch (err) {
      ownNonces.delete(nonce);
      if (errno(err) === 'EEXIST') return undefined;
      // A new holder's sweep may remove our temp file before the link: write another.
      if (errno(err) === 'ENOENT' && attempt < MAX_ATTEMPTS) continue;
      return ioError('lock', target, err);
    } finally {
      // A leftover temp file is harmless and swept by the next holder.
      await fs.rm(tmp, { force: true }).catch(() => undefined);
    }
  }
}

/** Reads a lock file; `undefined` if it does not exist (any more). @throws SYN_ERR_STORE_IO. */
async function readHolder(file: string): Promise<Holder | undefined> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(file, 'r');
    const st = await fh.stat({ bigint: true });
    const text = await fh.readFile('utf8');
    let parsed: { pid?: unknown; host?: unknown; nonce?: unknown } = {};
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null) parsed = value as typeof parsed;
    } catch {
      // Unreadable content (e.g. a legacy lock torn by a crash) names no owner: judged stale below.
    }
    const nonce = typeof parsed.nonce === 'string' && NONCE.test(parsed.nonce) ? parsed.nonce : undefined;
    return {
      identity: nonce ?? `legacy-${st.ino}-${st.size}-${st.mtimeNs}`,
      pid: typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0 ? parsed.pid : undefined,
      host: typeof parsed.host === 'string' ? parsed.host : undefined,
      nonce,
    };
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    return ioError('read lock', file, err);
  } finally {
    await fh?.close().catch(() => undefined); // read-only handle: nothing to lose
  }
}

/**
 * The SYN_ERR_STORE_LOCKED error refusing `holder` (of `file`), or `undefined` when it is stale:
 * its pid is dead on this host, it names no pid, it has our pid but is not ours (a dead
 * predecessor with the same pid, e.g. pid 1 in a restarted container), or it was written on
 * another host and `policy` is `'takeOver'`.
 */
function refusal(dir: string, file: string, holder: Holder, policy: ForeignLockPolicy): SynapseError | undefined {
  const { pid, host } = holder;
  if (pid === undefined) return undefined;
  const lockFile = file;
  const what = path.basename(file) === LOCK_FILE ? 'locked' : 'being taken over';
  if (host !== undefined && host !== hostname()) {
    if (policy === 'takeOver') return undefined;
    return synErr(
      'SYN_ERR_STORE_LOCKED',
      `History store directory ${dir} is ${what} by process ${pid} on host "${host}" (this host is "${hostname()}"), ` +
        `whose liveness cannot be checked from here. If only one instance ever uses this directory at a time ` +
        `(e.g. a container volume, where the hostname changes on every restart), set the history store option foreignLock: 'takeOver'.`,
      { dir, pid, host, lockFile, option: 'foreignLock' },
    );
  }
  const ours = pid === process.pid && holder.nonce !== undefined && ownNonces.has(holder.nonce);
  if (!ours && (pid === process.pid || !alive(pid))) return undefined;
  return synErr('SYN_ERR_STORE_LOCKED', `History store directory ${dir} is ${what} by process ${pid}${ours ? ' (this process)' : ''}`, { dir, pid, lockFile });
}

function contended(dir: string, file: string): never {
  throw synErr('SYN_ERR_STORE_LOCKED', `History store directory ${dir}: ${path.basename(file)} is still contended after ${MAX_ATTEMPTS} attempts`, { dir, lockFile: file });
}

/**
 * Removes `file` if its identity is still `identity`, holding the breaker
 * `LOCK.break.<identity>` while it checks and removes. A breaker held by a dead process is
 * broken first (recursively, bounded). Resolves the refusal when a live process holds the
 * breaker (it is doing the same job), else `undefined`: done (removed, or `file` had changed).
 */
async function removeIfStill(dir: string, file: string, identity: string, policy: ForeignLockPolicy, depth: number): Promise<SynapseError | undefined> {
  const breaker = path.join(dir, `${BREAKER_PREFIX}${identity}`);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const mine = await createExclusive(dir, breaker);
    if (mine !== undefined) {
      try {
        // Nobody else can remove lock `identity` while we hold its breaker, so this check-then-rm is safe.
        if ((await readHolder(file))?.identity === identity) {
          await fs.rm(file, { force: true }).catch((err: unknown) => ioError('unlock', file, err));
        }
      } finally {
        ownNonces.delete(mine);
        await fs.rm(breaker, { force: true }).catch((err: unknown) => ioError('unlock', breaker, err));
      }
      return undefined;
    }
    const other = await readHolder(breaker);
    if (other === undefined) continue; // its holder just finished: try again
    const busy = refusal(dir, breaker, other, policy);
    if (busy !== undefined) return busy;
    if (depth >= MAX_DEPTH) contended(dir, breaker);
    const deeper = await removeIfStill(dir, breaker, other.identity, policy, depth + 1);
    if (deeper !== undefined) return deeper;
  }
  return contended(dir, breaker);
}

/**
 * Removes leftover temp files and breakers. Safe while we hold `LOCK` (nonce `mine`): every
 * breaker other than `LOCK.break.<mine>` guards a lock file that is gone for good (nonces
 * never repeat), and a process whose temp file vanishes before its `link` writes another.
 */
async function sweep(dir: string, mine: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return; // best effort: leftovers are harmless and swept by the next holder
  }
  const keep = `${BREAKER_PREFIX}${mine}`;
  for (const name of names) {
    if (name !== keep && (name.startsWith(BREAKER_PREFIX) || name.startsWith(TMP_PREFIX))) {
      await fs.rm(path.join(dir, name), { force: true }).catch(() => undefined); // best effort, as above
    }
  }
}

/**
 * Takes the store directory's lock file (`LOCK`, holding `{pid, host, nonce}`). A lock whose
 * owner is dead on this host (or that names no owner) is taken over; exactly one of several
 * processes racing to take over the same stale lock wins, every other one gets
 * SYN_ERR_STORE_LOCKED. A lock from another host is refused unless `foreignLock` is
 * `'takeOver'`. Best effort against mistakes, not a security boundary; it needs a file system
 * with hard links and does not protect a directory shared by several hosts at once.
 *
 * @throws SYN_ERR_STORE_LOCKED when a live process (or another store in this process) holds
 * it, a live process is taking it over, or it was written on another host
 * (`details.option: 'foreignLock'`); SYN_ERR_STORE_IO on I/O failure.
 * @example
 * ```ts
 * const lock = await acquireDirLock('/var/lib/app/history', { foreignLock: 'refuse' });
 * try { ... } finally { await lock.release(); }
 * ```
 */
export async function acquireDirLock(dir: string, options: { foreignLock?: ForeignLockPolicy } = {}): Promise<DirLock> {
  const file = path.join(dir, LOCK_FILE);
  const policy = options.foreignLock ?? 'refuse';
  if (heldHere.has(dir)) {
    throw synErr('SYN_ERR_STORE_LOCKED', `History store directory ${dir} is already open in this process`, { dir, pid: process.pid });
  }
  heldHere.add(dir); // synchronously, before any await: a concurrent open in this process is refused above
  try {
    const nonce = await takeLock(dir, file, policy);
    await sweep(dir, nonce);
    return lockHandle(dir, file, nonce);
  } catch (err) {
    heldHere.delete(dir);
    throw err;
  }
}

async function takeLock(dir: string, file: string, policy: ForeignLockPolicy): Promise<string> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const nonce = await createExclusive(dir, file);
    if (nonce !== undefined) return nonce;
    const holder = await readHolder(file);
    if (holder === undefined) continue; // released meanwhile
    const refused = refusal(dir, file, holder, policy) ?? (await removeIfStill(dir, file, holder.identity, policy, 0));
    if (refused !== undefined) throw refused; // a live owner, or a live process taking it over
  }
  return contended(dir, file);
}

function lockHandle(dir: string, file: string, nonce: string): DirLock {
  let released: Promise<void> | undefined;
  return {
    file,
    nonce,
    release() {
      released ??= (async () => {
        try {
          // Remove LOCK only if it is still ours (gone or replaced: nothing to do, even if the
          // directory itself was deleted). A live process holding our breaker is taking our lock
          // over (foreignLock: 'takeOver' from another host): leave it to that process.
          if ((await readHolder(file))?.identity === nonce) await removeIfStill(dir, file, nonce, 'refuse', 0);
        } finally {
          ownNonces.delete(nonce);
          heldHere.delete(dir);
        }
      })();
      return released;
    },
  };
}
