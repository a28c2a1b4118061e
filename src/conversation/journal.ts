/**
 * The durable {@link HistoryStore}: one append-only journal file per conversation, one framed
 * record per turn (`./journal-format.ts`). A commit is one `write` of the whole record
 * followed (with `fsync: 'always'`) by `fsync` of the file — and of the directory when the
 * file was just created — before `commit` resolves.
 *
 * Why a journal and not SQLite: see docs/decisions.md ("Conversations: journal store").
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { synErr } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import { validateConversationId, validateTurnId } from './ids.ts';
import { encodeRecord, readRecordAt, scanJournal } from './journal-format.ts';
import { acquireDirLock } from './dir-lock.ts';
import type { DirLock, ForeignLockPolicy } from './dir-lock.ts';
import { ioError, isJournalFileName, journalFileName, readRange, syncDir, truncateFile } from './journal-files.ts';
import { prepareTurn, tooManyMessages } from './record.ts';
import type { StoreLimits, StoredTurn, TurnInput } from './record.ts';
import { LIMIT_FIELDS, resolveLimits, storeClosed } from './store.ts';
import type { CommitOutcome, HistoryStore } from './store.ts';

/** A torn last record found (and truncated away) when a journal was opened. */
export interface RecoveryReport {
  /** Absolute path of the journal file. */
  readonly file: string;
  /** The conversation, when at least one valid record identified it. */
  readonly conversationId: string | undefined;
  /** Byte offset where the dropped bytes started (the new file size). */
  readonly offset: number;
  /** How many bytes were dropped. */
  readonly bytesDropped: number;
  /** What was wrong with them (e.g. `truncated record`, `checksum mismatch`). */
  readonly reason: string;
}

/** Options of {@link JournalHistoryStore.open}. */
export interface JournalHistoryStoreOptions {
  /** Directory of the journals (created if missing). One store per directory at a time (lock file). */
  dir: string;
  /**
   * `'always'` (default): `fsync` the file (and the directory on creation) before `commit`
   * resolves — an acked turn survives a process crash, a kernel crash and power loss (on
   * storage that honours flushes). `'never'`: the write reaches the OS page cache only — an
   * acked turn survives a process crash (SIGKILL) but may be lost, or torn, on power loss or
   * kernel crash. Much faster.
   */
  fsync?: 'always' | 'never';
  /** `'eager'` (default): scan every journal at open (corruption found up front). `'lazy'`: on first use. */
  scan?: 'eager' | 'lazy';
  /**
   * A `LOCK` written on another host, whose owner cannot be checked from here: `'refuse'`
   * (default) → SYN_ERR_STORE_LOCKED naming this option; `'takeOver'` → taken over like a
   * lock of a dead process. Set `'takeOver'` only if this directory is never used by two
   * instances at once — e.g. a container's persistent volume, where the hostname changes on
   * every restart and the old lock would otherwise block the store forever.
   */
  foreignLock?: ForeignLockPolicy;
  /** Largest serialised turn in bytes. Default 4 MiB. */
  maxTurnBytes?: number;
  /** Most messages per conversation. Default 10 000. */
  maxMessagesPerConversation?: number;
  /** Called for each torn tail recovered (also kept in {@link JournalHistoryStore.recovered}). */
  onRecovered?: (report: RecoveryReport) => void;
}

/** Defaults of {@link JournalHistoryStoreOptions}. */
export const JOURNAL_STORE_DEFAULTS = Object.freeze({ fsync: 'always', scan: 'eager', foreignLock: 'refuse' } as const);

const SCHEMA = {
  dir: v.string({ min: 1 }),
  fsync: v.optional(v.oneOf(['always', 'never'] as const)),
  scan: v.optional(v.oneOf(['eager', 'lazy'] as const)),
  foreignLock: v.optional(v.oneOf(['refuse', 'takeOver'] as const)),
  ...LIMIT_FIELDS,
  onRecovered: v.optional(v.func<(report: RecoveryReport) => void>()),
};

/** In-memory index of one journal: where each turn lives, never the messages themselves. */
interface Journal {
  readonly file: string;
  conversationId: string | undefined;
  exists: boolean;
  size: number;
  messages: number;
  readonly turns: Map<string, { offset: number; length: number }>;
  /** Set when a failed write could not be rolled back: refuse further commits until reopened. */
  poisoned: Error | undefined;
}

/**
 * Durable, append-only history store.
 *
 * @example
 * ```ts
 * const store = await JournalHistoryStore.open({ dir: './data/history', onRecovered: (r) => log.warn(r) });
 * await store.commit({ conversationId: 'c1', turnId: 't1', agent: 'bot', messages, at: Date.now() });
 * await store.close();
 * ```
 */
export class JournalHistoryStore implements HistoryStore {
  /** `'journal'` (the `store` label of `synapse_store_commit_duration_seconds`). */
  readonly kind = 'journal';
  readonly dir: string;
  readonly limits: StoreLimits;
  readonly fsync: 'always' | 'never';
  #recovered: RecoveryReport[] = [];
  #onRecovered: ((report: RecoveryReport) => void) | undefined;
  #lock: DirLock;
  #journals = new Map<string, Journal>(); // by file name
  #opening = new Map<string, Promise<Journal>>();
  #chains = new Map<string, Promise<unknown>>(); // per-file commit serialisation
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(dir: string, limits: StoreLimits, fsyncMode: 'always' | 'never', lock: DirLock, onRecovered: ((r: RecoveryReport) => void) | undefined) {
    this.dir = dir;
    this.limits = Object.freeze(limits);
    this.fsync = fsyncMode;
    this.#lock = lock;
    this.#onRecovered = onRecovered;
  }

  /**
   * Opens (creating if needed) the store in `options.dir` and takes its lock.
   *
   * @throws SYN_ERR_INVALID_OPTION (bad options), SYN_ERR_STORE_LOCKED (directory in use, or
   * locked from another host: `details.option` is `'foreignLock'`),
   * SYN_ERR_STORE_CORRUPT (eager scan: a journal is corrupt before its tail; `details.file`),
   * SYN_ERR_STORE_IO.
   */
  static async open(options: JournalHistoryStoreOptions): Promise<JournalHistoryStore> {
    const o = resolveOptions('JournalHistoryStore', options, SCHEMA);
    const dir = path.resolve(o.dir);
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (err) {
      ioError('mkdir', dir, err);
    }
    const lock = await acquireDirLock(dir, { foreignLock: o.foreignLock ?? JOURNAL_STORE_DEFAULTS.foreignLock });
    const store = new JournalHistoryStore(dir, resolveLimits(o), o.fsync ?? JOURNAL_STORE_DEFAULTS.fsync, lock, o.onRecovered);
    if ((o.scan ?? JOURNAL_STORE_DEFAULTS.scan) === 'eager') {
      try {
        for (const name of await store.#journalFiles()) await store.#journal(name);
      } catch (err) {
        await lock.release().catch(() => undefined); // the scan error is the one to report
        throw err;
      }
    }
    return store;
  }

  /** Torn tails recovered since open, in discovery order. */
  get recovered(): readonly RecoveryReport[] {
    return this.#recovered;
  }

  async load(conversationId: string): Promise<readonly StoredTurn[]> {
    this.#check();
    const j = await this.#journal(journalFileName(validateConversationId(conversationId)));
    const size = j.size; // snapshot: a concurrent append past it is not part of this load
    if (size === 0) return [];
    const buf = await readRange(j.file, 0, size);
    if (buf.length < size) this.#corrupt(j.file, buf.length, 'file shorter than its index (changed on disk since open)');
    const scan = scanJournal(buf);
    if (scan.kind === 'corrupt' || scan.torn !== undefined) {
      this.#corrupt(j.file, scan.kind === 'corrupt' ? scan.offset : scan.torn!.offset, 'changed on disk since open');
    }
    return scan.records.map((r) => r.turn);
  }

  async getTurn(conversationId: string, turnId: string): Promise<StoredTurn | undefined> {
    this.#check();
    const j = await this.#journal(journalFileName(validateConversationId(conversationId)));
    const at = j.turns.get(validateTurnId(turnId));
    if (at === undefined) return undefined;
    const attempt = readRecordAt(await readRange(j.file, at.offset, at.length), 0);
    if (!attempt.ok) this.#corrupt(j.file, at.offset, `changed on disk since open: ${attempt.reason}`);
    return attempt.record.turn;
  }

  async hasTurn(conversationId: string, turnId: string): Promise<boolean> {
    this.#check();
    const j = await this.#journal(journalFileName(validateConversationId(conversationId)));
    return j.turns.has(validateTurnId(turnId));
  }

  async commit(input: TurnInput): Promise<CommitOutcome> {
    this.#check();
    const prepared = prepareTurn(input, this.limits);
    const name = journalFileName(prepared.turn.conversationId);
    // Accepted before close: close() waits for it, so no closed-check inside the chain.
    return this.#serial(name, async () => {
      const j = await this.#journal(name);
      const { turn } = prepared;
      if (j.turns.has(turn.turnId)) return 'duplicate';
      if (j.poisoned !== undefined) {
        throw synErr('SYN_ERR_STORE_IO', `History store journal ${j.file} failed earlier and needs a reopen`, { op: 'append', file: j.file }, j.poisoned);
      }
      if (j.messages + turn.messages.length > this.limits.maxMessagesPerConversation) {
        tooManyMessages(turn.conversationId, j.messages, turn.messages.length, this.limits.maxMessagesPerConversation);
      }
      const record = encodeRecord(prepared.json);
      await this.#append(j, record);
      j.turns.set(turn.turnId, { offset: j.size, length: record.length });
      j.size += record.length;
      j.messages += turn.messages.length;
      j.conversationId = turn.conversationId;
      return 'committed';
    });
  }

  async list(): Promise<string[]> {
    this.#check();
    const ids: string[] = [];
    for (const name of await this.#journalFiles()) {
      const j = await this.#journal(name);
      if (j.conversationId !== undefined && j.turns.size > 0) ids.push(j.conversationId);
    }
    return ids;
  }

  async delete(conversationId: string): Promise<boolean> {
    this.#check();
    const name = journalFileName(validateConversationId(conversationId));
    return this.#serial(name, async () => {
      const j = await this.#journal(name);
      const had = j.turns.size > 0;
      try {
        await fs.rm(j.file, { force: true });
        if (this.fsync === 'always') await syncDir(this.dir);
      } catch (err) {
        ioError('delete', j.file, err);
      }
      this.#journals.delete(name);
      return had;
    });
  }

  /** Waits for in-flight commits, then releases the directory lock. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#chains.values()]);
      await this.#lock.release();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #check(): void {
    if (this.#closed) storeClosed('JournalHistoryStore');
  }

  #corrupt(file: string, offset: number, reason: string): never {
    throw synErr('SYN_ERR_STORE_CORRUPT', `History journal ${file} is corrupt at byte ${offset}: ${reason}`, { file, offset, reason });
  }

  /** Runs `fn` after every earlier operation queued on the same journal. */
  #serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined); // the caller gets the error; the chain only orders
    this.#chains.set(name, tail);
    void tail.then(() => {
      if (this.#chains.get(name) === tail) this.#chains.delete(name);
    });
    return run;
  }

  async #journalFiles(): Promise<string[]> {
    try {
      return (await fs.readdir(this.dir)).filter(isJournalFileName).sort();
    } catch (err) {
      return ioError('readdir', this.dir, err);
    }
  }

  /** The journal's index, scanning (and recovering) the file on first use. Concurrent callers share one scan. */
  #journal(name: string): Promise<Journal> {
    const known = this.#journals.get(name);
    if (known !== undefined) return Promise.resolve(known);
    let opening = this.#opening.get(name);
    if (opening === undefined) {
      opening = this.#scan(name).finally(() => this.#opening.delete(name));
      this.#opening.set(name, opening);
    }
    return opening;
  }

  async #scan(name: string): Promise<Journal> {
    const file = path.join(this.dir, name);
    const j: Journal = { file, conversationId: undefined, exists: false, size: 0, messages: 0, turns: new Map(), poisoned: undefined };
    let buf: Buffer;
    try {
      buf = await fs.readFile(file);
      j.exists = true;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') ioError('read', file, err);
      buf = Buffer.alloc(0);
    }
    const scan = scanJournal(buf);
    if (scan.kind === 'corrupt') this.#corrupt(file, scan.offset, scan.reason);
    for (const { turn, offset, length } of scan.records) {
      if (journalFileName(turn.conversationId) !== name) this.#corrupt(file, offset, `record of conversation "${turn.conversationId}" in the wrong journal`);
      if (j.turns.has(turn.turnId)) this.#corrupt(file, offset, `turn "${turn.turnId}" recorded twice`);
      j.turns.set(turn.turnId, { offset, length });
      j.messages += turn.messages.length;
      j.conversationId = turn.conversationId;
    }
    j.size = scan.validEnd;
    if (scan.torn !== undefined) {
      await truncateFile(file, scan.validEnd);
      const report: RecoveryReport = { file, conversationId: j.conversationId, offset: scan.torn.offset, bytesDropped: scan.torn.bytes, reason: scan.torn.reason };
      this.#recovered.push(report);
      this.#onRecovered?.(report);
    }
    this.#journals.set(name, j);
    return j;
  }

  async #append(j: Journal, record: Buffer): Promise<void> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(j.file, 'a');
    } catch (err) {
      return ioError('open', j.file, err);
    }
    try {
      for (let done = 0; done < record.length; ) {
        const { bytesWritten } = await fh.write(record, done, record.length - done);
        done += bytesWritten;
      }
      if (this.fsync === 'always') await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined); // the write error is the one to report
      await this.#rollback(j);
      return ioError('append', j.file, err);
    }
    try {
      await fh.close();
      if (!j.exists && this.fsync === 'always') await syncDir(this.dir);
      j.exists = true;
    } catch (err) {
      // The record is written and synced; only the directory entry's durability is in doubt.
      j.poisoned = err as Error;
      ioError('sync directory', this.dir, err);
    }
  }

  /** After a failed append: cut the file back to its last good size, or poison the journal. */
  async #rollback(j: Journal): Promise<void> {
    try {
      await truncateFile(j.file, j.size);
    } catch (err) {
      j.poisoned = err as Error;
    }
  }
}
