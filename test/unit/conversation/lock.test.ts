// The history store directory lock (src/conversation/dir-lock.ts): stale-lock takeover that
// never removes a lock it did not verify, legacy lock files, breakers left by processes that
// died mid-takeover, locks from another host (refused unless foreignLock: 'takeOver'), and a
// release that only ever removes our own lock. The multi-process race is in
// test/integration/conversations/lock-race.test.ts.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireDirLock } from '../../../src/conversation/dir-lock.ts';
import type { DirLock } from '../../../src/conversation/dir-lock.ts';
import { JournalHistoryStore } from '../../../src/conversation/journal.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { Synapse } from '../../../src/index.ts';

const dirs: string[] = [];
const locks: DirLock[] = [];
let deadPid = 0;

beforeAll(async () => {
  // A pid that is certainly dead: a process we started and saw exit.
  const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const exited = once(gone, 'exit');
  deadPid = gone.pid!;
  await exited;
});

afterEach(async () => {
  for (const lock of locks.splice(0)) await lock.release();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'syn-lock-'));
  dirs.push(dir);
  return dir;
}

async function acquire(dir: string, options: { foreignLock?: 'refuse' | 'takeOver' } = {}): Promise<DirLock> {
  const lock = await acquireDirLock(dir, options);
  locks.push(lock);
  return lock;
}

async function caught(p: Promise<unknown>): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (isSynapseError(err)) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  throw new Error('expected a rejection');
}

const nonce = (): string => randomBytes(16).toString('hex');
const lockOf = async (dir: string, name = 'LOCK'): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>;
const put = (dir: string, name: string, content: unknown): Promise<void> => writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));

describe('directory lock: takeover', () => {
  it('writes {pid, host, nonce}; release removes it and leaves nothing behind', async () => {
    const dir = await tempDir();
    const lock = await acquireDirLock(dir);
    expect(await lockOf(dir)).toEqual({ pid: process.pid, host: hostname(), nonce: lock.nonce, at: expect.any(String) });
    expect(await readdir(dir)).toEqual(['LOCK']);
    await lock.release();
    await lock.release(); // idempotent
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([
    ['legacy {pid, host}', () => ({ pid: deadPid, host: hostname() })],
    ['legacy {pid} (no host)', () => ({ pid: deadPid })],
    ['unreadable content (a legacy lock torn by a crash)', () => '{"pid":'],
    ['current format', () => ({ pid: deadPid, host: hostname(), nonce: nonce() })],
  ])('takes over a stale lock: %s', async (_, content) => {
    const dir = await tempDir();
    await put(dir, 'LOCK', content());
    const lock = await acquire(dir);
    expect(await lockOf(dir)).toMatchObject({ pid: process.pid, nonce: lock.nonce });
    expect(await readdir(dir)).toEqual(['LOCK']); // no breaker or temp file left
  });

  it('a lock with our pid but not ours (a dead predecessor with the same pid, e.g. pid 1 in a container) is stale', async () => {
    const dir = await tempDir();
    await put(dir, 'LOCK', { pid: process.pid, host: hostname(), nonce: nonce() });
    const lock = await acquire(dir);
    expect((await lockOf(dir)).nonce).toBe(lock.nonce);
  });

  it('refuses a live owner on this host, legacy or current format, and leaves its lock alone', async () => {
    const dir = await tempDir();
    for (const content of [{ pid: process.ppid }, { pid: process.ppid, host: hostname(), nonce: nonce() }]) {
      await put(dir, 'LOCK', content);
      const err = await caught(acquire(dir));
      expect(err).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { dir, pid: process.ppid, lockFile: join(dir, 'LOCK') } });
      expect(err.details).not.toHaveProperty('option');
      expect(await lockOf(dir)).toEqual(content);
      expect(await readdir(dir)).toEqual(['LOCK']);
    }
  });

  it('refuses a second lock on the same directory from this process, also under another path', async () => {
    const dir = await tempDir();
    const alias = `${dir}-alias`;
    await symlink(dir, alias);
    dirs.push(alias);
    await acquire(dir);
    expect(await caught(acquire(dir))).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { dir, pid: process.pid } });
    // Another path to the same directory: the LOCK has our pid and a nonce we hold, so it is not stale.
    expect(await caught(acquire(alias))).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', message: expect.stringContaining('(this process)') });
  });

  it('concurrent takeovers of one stale lock (one directory under several paths): exactly one wins, the rest get SYN_ERR_STORE_LOCKED', async () => {
    const dir = await tempDir();
    const aliases = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const alias = `${dir}-${i}`;
        await symlink(dir, alias);
        dirs.push(alias);
        return alias;
      }),
    );
    for (let round = 0; round < 10; round++) {
      await put(dir, 'LOCK', round % 2 === 0 ? { pid: deadPid, host: hostname() } : { pid: deadPid, host: hostname(), nonce: nonce() });
      const results = await Promise.allSettled(aliases.map((alias) => acquireDirLock(alias)));
      const won = results.filter((r): r is PromiseFulfilledResult<DirLock> => r.status === 'fulfilled').map((r) => r.value);
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as { code?: string }).code);
      for (const lock of won) await lock.release();
      expect(won, `round ${round}`).toHaveLength(1);
      expect(lost, `round ${round}`).toEqual(Array.from({ length: 5 }, () => 'SYN_ERR_STORE_LOCKED'));
      expect(await readdir(dir), `round ${round}`).toEqual([]);
    }
  });
});

describe('directory lock: breakers', () => {
  it('a breaker left by a process that died mid-takeover does not wedge the store', async () => {
    const dir = await tempDir();
    const stale = nonce();
    await put(dir, 'LOCK', { pid: deadPid, host: hostname(), nonce: stale });
    await put(dir, `LOCK.break.${stale}`, { pid: deadPid, host: hostname(), nonce: nonce() });
    const lock = await acquire(dir);
    expect(await readdir(dir)).toEqual(['LOCK']);
    expect((await lockOf(dir)).nonce).toBe(lock.nonce);
  });

  it('a chain of dead breakers (a breaker of a breaker) is broken too, and a dead breaker of a legacy lock', async () => {
    const dir = await tempDir();
    const [stale, b1] = [nonce(), nonce()];
    await put(dir, 'LOCK', { pid: deadPid, host: hostname(), nonce: stale });
    await put(dir, `LOCK.break.${stale}`, { pid: deadPid, host: hostname(), nonce: b1 });
    await put(dir, `LOCK.break.${b1}`, { pid: deadPid, host: hostname(), nonce: nonce() });
    await acquire(dir);
    expect(await readdir(dir)).toEqual(['LOCK']);
  });

  it('a breaker held by a live process: SYN_ERR_STORE_LOCKED (it is taking over), nothing removed', async () => {
    const dir = await tempDir();
    const stale = nonce();
    const lock = { pid: deadPid, host: hostname(), nonce: stale };
    const breaker = { pid: process.ppid, host: hostname(), nonce: nonce() };
    await put(dir, 'LOCK', lock);
    await put(dir, `LOCK.break.${stale}`, breaker);
    expect(await caught(acquire(dir))).toMatchObject({
      code: 'SYN_ERR_STORE_LOCKED',
      message: expect.stringContaining('being taken over by process'),
      details: { dir, pid: process.ppid, lockFile: join(dir, `LOCK.break.${stale}`) },
    });
    expect(await lockOf(dir)).toEqual(lock);
    expect(await lockOf(dir, `LOCK.break.${stale}`)).toEqual(breaker);
  });

  it('the new holder sweeps leftover breakers and temp files of locks that are gone', async () => {
    const dir = await tempDir();
    await put(dir, `LOCK.break.${nonce()}`, { pid: process.ppid, host: hostname(), nonce: nonce() });
    await put(dir, `LOCK.break.legacy-1-2-3`, 'x');
    await put(dir, `LOCK.tmp.${nonce()}`, { pid: deadPid, host: hostname(), nonce: nonce() });
    await put(dir, 'c.0123456789abcdef0123456789abcdef.journal', ''); // not the lock's business
    await acquire(dir);
    expect((await readdir(dir)).sort()).toEqual(['LOCK', 'c.0123456789abcdef0123456789abcdef.journal']);
  });
});

describe('directory lock: another host', () => {
  const foreign = (): Record<string, unknown> => ({ pid: 4242, host: `not-${hostname()}`, nonce: nonce() });

  it('is refused by default, naming the foreignLock option, and left alone', async () => {
    const dir = await tempDir();
    const content = foreign();
    await put(dir, 'LOCK', content);
    for (const attempt of [() => acquire(dir), () => acquire(dir, { foreignLock: 'refuse' }), () => JournalHistoryStore.open({ dir })]) {
      const err = await caught(attempt());
      expect(err).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { dir, pid: 4242, host: content.host, lockFile: join(dir, 'LOCK'), option: 'foreignLock' } });
      expect(err.message).toContain(`on host "${String(content.host)}"`);
      expect(err.message).toContain("foreignLock: 'takeOver'");
    }
    expect(await lockOf(dir)).toEqual(content);
  });

  it("is taken over with foreignLock: 'takeOver' (store option too); a live owner on this host is still refused", async () => {
    const dir = await tempDir();
    await put(dir, 'LOCK', foreign());
    const lock = await acquire(dir, { foreignLock: 'takeOver' });
    expect(await lockOf(dir)).toMatchObject({ pid: process.pid, host: hostname(), nonce: lock.nonce });
    await lock.release();

    await put(dir, 'LOCK', foreign());
    const store = await JournalHistoryStore.open({ dir, foreignLock: 'takeOver' });
    expect((await lockOf(dir)).pid).toBe(process.pid);
    await store.close();
    expect(await readdir(dir)).toEqual([]);

    await put(dir, 'LOCK', { pid: process.ppid, host: hostname(), nonce: nonce() });
    expect(await caught(acquire(dir, { foreignLock: 'takeOver' }))).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { pid: process.ppid } });
  });

  it('a breaker from another host is refused by default, naming the option', async () => {
    const dir = await tempDir();
    const stale = nonce();
    await put(dir, 'LOCK', { pid: deadPid, host: hostname(), nonce: stale });
    await put(dir, `LOCK.break.${stale}`, foreign());
    expect(await caught(acquire(dir))).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { option: 'foreignLock', lockFile: join(dir, `LOCK.break.${stale}`) } });
    await acquire(dir, { foreignLock: 'takeOver' });
    expect(await readdir(dir)).toEqual(['LOCK']);
  });

  it("Synapse.start passes history.foreignLock through: refused by default, started with 'takeOver'", async () => {
    const dir = await tempDir();
    const stateDir = await tempDir();
    await put(dir, 'LOCK', foreign());
    const base = { logLevel: 'silent', metrics: false, reapOrphans: false, stateDir } as const;
    expect(await caught(Synapse.start({ ...base, history: { dir } }))).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { option: 'foreignLock' } });
    const system = await Synapse.start({ ...base, history: { dir, foreignLock: 'takeOver' } });
    expect((await lockOf(dir)).pid).toBe(process.pid);
    await system.stop();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a bad foreignLock value is SYN_ERR_INVALID_OPTION naming it', async () => {
    const dir = await tempDir();
    expect(await caught(JournalHistoryStore.open({ dir, foreignLock: 'yes' as never }))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'JournalHistoryStore.foreignLock' } });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('directory lock: release', () => {
  it('removes only our own lock: a LOCK replaced by someone else survives our release', async () => {
    const dir = await tempDir();
    const lock = await acquireDirLock(dir);
    const theirs = { pid: process.ppid, host: hostname(), nonce: nonce() };
    await rm(join(dir, 'LOCK'));
    await put(dir, 'LOCK', theirs);
    await lock.release();
    expect(await lockOf(dir)).toEqual(theirs);
    expect(await readdir(dir)).toEqual(['LOCK']);
  });

  it('release after the whole directory was deleted resolves', async () => {
    const dir = await tempDir();
    const lock = await acquireDirLock(dir);
    await rm(dir, { recursive: true });
    await expect(lock.release()).resolves.toBeUndefined();
  });

  it('a LOCK that vanished is fine; the directory can be locked again afterwards', async () => {
    const dir = await tempDir();
    const lock = await acquireDirLock(dir);
    await rm(join(dir, 'LOCK'));
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
    const again = await acquire(dir);
    expect(again.nonce).not.toBe(lock.nonce);
  });
});
