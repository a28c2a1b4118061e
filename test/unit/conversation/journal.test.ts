// JournalHistoryStore specifics: framing, torn-tail recovery, corruption, file names, lock, I/O errors.
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JournalHistoryStore } from '../../../src/conversation/journal.ts';
import type { RecoveryReport } from '../../../src/conversation/journal.ts';
import { crc32, encodeRecord, scanJournal } from '../../../src/conversation/journal-format.ts';
import { journalFileName } from '../../../src/conversation/journal-files.ts';
import type { TurnInput } from '../../../src/conversation/store.ts';
import { isSynapseError } from '../../../src/errors.ts';
import { turnMessages } from '../../fixtures/pydantic-messages.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'syn-journal-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function open(dir: string, extra: Partial<Parameters<typeof JournalHistoryStore.open>[0]> = {}): Promise<JournalHistoryStore> {
  const s = await JournalHistoryStore.open({ dir, ...extra });
  cleanup.push(() => s.close());
  return s;
}

function turn(conversationId: string, turnId: string): TurnInput {
  return { conversationId, turnId, agent: 'bot', at: 1, messages: turnMessages(`p-${turnId}`, `a-${turnId}`) };
}

/** The exact journal line the store writes for `t` (JSON key order as the store writes it). */
function line(t: TurnInput): Buffer {
  return encodeRecord(JSON.stringify({ v: 1, conversationId: t.conversationId, turnId: t.turnId, agent: t.agent, at: t.at, messages: t.messages }));
}

async function caught(p: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (isSynapseError(err)) return { code: err.code, details: { ...err.details } };
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('journal framing', () => {
  it('crc32 matches the IEEE check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('encodes len\\tcrc\\tjson\\n and scans it back', () => {
    const t = turn('c', 't');
    const buf = line(t);
    const json = JSON.stringify({ v: 1, conversationId: 'c', turnId: 't', agent: 'bot', at: 1, messages: t.messages });
    expect(buf.toString('utf8')).toBe(`${Buffer.byteLength(json)}\t${crc32(Buffer.from(json)).toString(16).padStart(8, '0')}\t${json}\n`);
    const scan = scanJournal(Buffer.concat([buf, line(turn('c', 'u'))]));
    expect(scan.kind === 'ok' && scan.records.map((r) => r.turn.turnId)).toEqual(['t', 'u']);
  });

  it('every strict prefix of the last record is a torn tail, never corruption', () => {
    const first = line(turn('c', 't1'));
    const last = line(turn('c', 't2 ünïcödé'));
    for (let cut = 1; cut < last.length; cut++) {
      const scan = scanJournal(Buffer.concat([first, last.subarray(0, cut)]));
      expect(scan).toMatchObject({ kind: 'ok', validEnd: first.length, torn: { offset: first.length, bytes: cut } });
    }
  });
});

describe('JournalHistoryStore files', () => {
  it('derives safe, distinct file names inside the directory', async () => {
    const dir = await tempDir();
    const s = await open(dir);
    const ids = ['../../etc/passwd', '/abs/path', 'a\\b', 'Conv', 'conv', '.', '..', 'x'.repeat(200), 'ü'.repeat(200)];
    for (const id of ids) await s.commit(turn(id, 't'));
    const names = (await readdir(dir)).filter((n) => n !== 'LOCK');
    expect(names.sort()).toEqual(ids.map(journalFileName).sort());
    expect(new Set(names).size).toBe(ids.length);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_-]{1,40}\.[0-9a-f]{32}\.journal$/);
    expect((await s.list()).sort()).toEqual([...ids].sort());
  });

  it('reopens with the same turns (fsync always and never)', async () => {
    for (const fsync of ['always', 'never'] as const) {
      const dir = await tempDir();
      const a = await open(dir, { fsync });
      await a.commit(turn('c', 't1'));
      await a.commit(turn('c', 't2'));
      await a.close();
      for (const scan of ['eager', 'lazy'] as const) {
        const b = await open(dir, { scan });
        expect((await b.load('c')).map((t) => t.turnId)).toEqual(['t1', 't2']);
        expect(await b.commit(turn('c', 't1'))).toBe('duplicate');
        expect(b.recovered).toEqual([]);
        await b.close();
      }
    }
  });

  it('rejects a bad fsync option naming it', async () => {
    const dir = await tempDir();
    await expect(JournalHistoryStore.open({ dir, fsync: 'sometimes' as never })).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'JournalHistoryStore.fsync' } });
    await expect(JournalHistoryStore.open({} as never)).rejects.toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'JournalHistoryStore.dir' } });
  });
});

describe('JournalHistoryStore recovery', () => {
  const tails: Array<[string, (good: Buffer) => Buffer, string]> = [
    ['a partial record', () => line(turn('c', 't3')).subarray(0, 37), 'truncated record'],
    ['a partial length header', () => Buffer.from('12'), 'truncated header'],
    ['a bad checksum at EOF', () => {
      const b = Buffer.from(line(turn('c', 't3')));
      b[b.length - 5]! ^= 0x01;
      return b;
    }, 'checksum mismatch'],
    ['appended garbage', () => Buffer.from('\u0000\u0000garbage\nmore garbage'), 'bad length header'],
  ];

  it.each(tails)('truncates %s at the tail and reports it', async (_name, tail, reason) => {
    const dir = await tempDir();
    const file = join(dir, journalFileName('c'));
    const good = Buffer.concat([line(turn('c', 't1')), line(turn('c', 't2'))]);
    const bad = tail(good);
    await writeFile(file, Buffer.concat([good, bad]));
    const reports: RecoveryReport[] = [];
    const s = await open(dir, { onRecovered: (r) => reports.push(r) });
    const expected = { file, conversationId: 'c', offset: good.length, bytesDropped: bad.length, reason };
    expect(reports).toEqual([expected]);
    expect(s.recovered).toEqual([expected]);
    expect(await readFile(file)).toEqual(good);
    expect((await s.load('c')).map((t) => t.turnId)).toEqual(['t1', 't2']);
    expect(await s.commit(turn('c', 't3'))).toBe('committed');
    await s.close();
    const again = await open(dir);
    expect(again.recovered).toEqual([]);
    expect((await again.load('c')).map((t) => t.turnId)).toEqual(['t1', 't2', 't3']);
  });

  it('lazy scan recovers on first use', async () => {
    const dir = await tempDir();
    const file = join(dir, journalFileName('c'));
    await writeFile(file, Buffer.concat([line(turn('c', 't1')), Buffer.from('99\tdead')]));
    const s = await open(dir, { scan: 'lazy' });
    expect(s.recovered).toEqual([]);
    expect(await s.hasTurn('c', 't1')).toBe(true);
    expect(s.recovered).toEqual([{ file, conversationId: 'c', offset: line(turn('c', 't1')).length, bytesDropped: 7, reason: 'truncated header' }]);
  });

  it('a file holding only a torn record becomes an empty conversation', async () => {
    const dir = await tempDir();
    const file = join(dir, journalFileName('c'));
    await writeFile(file, line(turn('c', 't1')).subarray(0, 20));
    const s = await open(dir);
    expect(s.recovered).toMatchObject([{ file, conversationId: undefined, offset: 0, bytesDropped: 20 }]);
    expect(await s.load('c')).toEqual([]);
    expect(await s.list()).toEqual([]);
    expect(await s.commit(turn('c', 't1'))).toBe('committed');
  });
});

describe('JournalHistoryStore corruption', () => {
  const cases: Array<[string, () => Buffer, number, string]> = [
    ['a flipped byte in a middle record', () => {
      const [a, b, c] = [line(turn('c', 't1')), Buffer.from(line(turn('c', 't2'))), line(turn('c', 't3'))];
      b[b.length - 10]! ^= 0x20;
      return Buffer.concat([a, b, c]);
    }, line(turn('c', 't1')).length, 'checksum mismatch'],
    ['garbage between records', () => Buffer.concat([line(turn('c', 't1')), Buffer.from('junk\n'), line(turn('c', 't2'))]), line(turn('c', 't1')).length, 'bad length header'],
    ['a torn record followed by a valid one', () => Buffer.concat([line(turn('c', 't1')).subarray(0, 30), Buffer.from('\n'), line(turn('c', 't2'))]), 0, 'missing record terminator'],
    ['a record of another conversation', () => Buffer.concat([line(turn('c', 't1')), line(turn('d', 't2'))]), line(turn('c', 't1')).length, 'record of conversation "d" in the wrong journal'],
    ['a turn recorded twice', () => Buffer.concat([line(turn('c', 't1')), line(turn('c', 't1'))]), line(turn('c', 't1')).length, 'turn "t1" recorded twice'],
  ];

  it.each(cases)('%s → SYN_ERR_STORE_CORRUPT naming the file, nothing overwritten', async (_name, bytes, offset, reason) => {
    const dir = await tempDir();
    const file = join(dir, journalFileName('c'));
    const content = bytes();
    await writeFile(file, content);
    const err = await caught(JournalHistoryStore.open({ dir }));
    expect(err).toEqual({ code: 'SYN_ERR_STORE_CORRUPT', details: { file, offset, reason } });
    expect(await readFile(file)).toEqual(content);
    // The lock was released: a lazy open succeeds, other conversations work, this one keeps failing.
    const s = await open(dir, { scan: 'lazy' });
    expect(await s.commit(turn('other', 't1'))).toBe('committed');
    expect((await caught(s.load('c'))).code).toBe('SYN_ERR_STORE_CORRUPT');
    expect((await caught(s.commit(turn('c', 't9')))).code).toBe('SYN_ERR_STORE_CORRUPT');
    expect(await readFile(file)).toEqual(content);
  });

  it('a journal changed on disk after open is reported as corrupt on load', async () => {
    const dir = await tempDir();
    const s = await open(dir);
    await s.commit(turn('c', 't1'));
    const file = join(dir, journalFileName('c'));
    const b = await readFile(file);
    b[b.length - 3]! ^= 0x01;
    await writeFile(file, b);
    expect(await caught(s.load('c'))).toMatchObject({ code: 'SYN_ERR_STORE_CORRUPT', details: { file } });
    expect(await caught(s.getTurn('c', 't1'))).toMatchObject({ code: 'SYN_ERR_STORE_CORRUPT', details: { file } });
  });
});

describe('JournalHistoryStore lock and I/O errors', () => {
  it('refuses a second store on the same directory, in-process or from a live process', async () => {
    const dir = await tempDir();
    const s = await open(dir);
    expect(await caught(JournalHistoryStore.open({ dir }))).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { dir } });
    await s.close();
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: process.ppid }));
    expect(await caught(JournalHistoryStore.open({ dir }))).toMatchObject({ code: 'SYN_ERR_STORE_LOCKED', details: { dir, pid: process.ppid } });
  });

  it('takes over a lock left by a dead process', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: 2 ** 22 + 12345 })); // above pid_max on Linux: never alive
    const s = await open(dir);
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
    await s.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('an append that fails rejects with SYN_ERR_STORE_IO naming the file and commits nothing', async () => {
    const dir = await tempDir();
    const s = await open(dir);
    await s.commit(turn('c', 't1'));
    const file = join(dir, journalFileName('c'));
    const saved = await readFile(file);
    await rm(file);
    await mkdir(file); // a directory where the journal was: open('a') fails with EISDIR even as root
    expect(await caught(s.commit(turn('c', 't2')))).toMatchObject({ code: 'SYN_ERR_STORE_IO', details: { file, op: 'open' } });
    expect(await s.hasTurn('c', 't2')).toBe(false);
    await rm(file, { recursive: true });
    await writeFile(file, saved);
    expect(await s.commit(turn('c', 't2'))).toBe('committed');
    expect((await s.load('c')).map((t) => t.turnId)).toEqual(['t1', 't2']);
  });

  it('an unreadable directory is SYN_ERR_STORE_IO', async () => {
    const dir = await tempDir();
    const notDir = join(dir, 'file');
    await appendFile(notDir, 'x');
    expect(await caught(JournalHistoryStore.open({ dir: notDir }))).toMatchObject({ code: 'SYN_ERR_STORE_IO', details: { op: 'mkdir', file: notDir } });
  });
});
