// The durable history store through the system: history survives a system restart; a corrupt
// journal makes Synapse.start fail loudly, naming the file, without touching it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isWellFormed } from '../../../src/conversation/history.ts';
import { exchanges, fixture, rejection, startSystem, tempDir } from '../../helpers/system.ts';

const tmp = tempDir('synapse-durable-');
afterAll(() => tmp.remove());

describe('durable history (Synapse.start({ history: { dir } }))', () => {
  it('stop the system, start a new one on the same dir: history intact, the conversation continues', async () => {
    const dir = join(tmp.dir, 'restart');
    const first = await startSystem({ history: { dir } });
    let before: unknown[];
    try {
      await first.system.spawnAgent({ id: 'counter', agent: fixture('counter.py') });
      for (let i = 1; i <= 3; i++) {
        expect((await first.system.sendMessage('counter', { prompt: `p${i}` }, { conversationId: 'durable-1', turnId: `d${i}` })).output).toBe(`turns=${i}`);
      }
      await first.system.sendMessage('counter', { prompt: 'other' }, { conversationId: 'durable-2' });
      before = await first.system.history('durable-1');
    } finally {
      await first.stopAndCheck();
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.journal'))).toHaveLength(2);

    const second = await startSystem({ history: { dir } });
    try {
      expect(await second.system.history('durable-1')).toEqual(before);
      expect(exchanges(await second.system.history('durable-2')).map((x) => x.prompt)).toEqual(['other']);
      expect(await second.system.history('never')).toEqual([]);
      await second.system.spawnAgent({ id: 'counter', agent: fixture('counter.py') });
      // A retry of an acked turn from before the restart is still idempotent.
      const replay = await second.system.sendMessage('counter', { prompt: 'p3' }, { conversationId: 'durable-1', turnId: 'd3' });
      expect(replay).toMatchObject({ replayed: true, output: 'turns=3' });
      expect((await second.system.sendMessage('counter', { prompt: 'p4' }, { conversationId: 'durable-1' })).output).toBe('turns=4');
      const history = await second.system.history('durable-1');
      expect(isWellFormed(history)).toBe(true);
      expect(exchanges(history).map((x) => x.prompt)).toEqual(['p1', 'p2', 'p3', 'p4']);
    } finally {
      await second.stopAndCheck();
    }
  });

  it('a journal corrupt before its tail → Synapse.start rejects with SYN_ERR_STORE_CORRUPT naming the file; the file is untouched', async () => {
    const dir = join(tmp.dir, 'corrupt');
    const sys = await startSystem({ history: { dir } });
    try {
      await sys.system.spawnAgent({ id: 'counter', agent: fixture('counter.py') });
      await sys.system.sendMessage('counter', { prompt: 'one' }, { conversationId: 'c' });
      await sys.system.sendMessage('counter', { prompt: 'two' }, { conversationId: 'c' });
    } finally {
      await sys.stopAndCheck();
    }
    const name = readdirSync(dir).find((f) => f.endsWith('.journal'))!;
    const file = join(dir, name);
    const bytes = readFileSync(file);
    // Flip one byte inside the first record's JSON: its CRC no longer matches, and a valid record follows.
    const at = bytes.indexOf('"one"');
    expect(at).toBeGreaterThan(0);
    const corrupt = Buffer.from(bytes);
    corrupt[at + 1] = 'X'.charCodeAt(0);
    writeFileSync(file, corrupt);

    const error = await rejection(startSystem({ history: { dir } }));
    expect(error.code).toBe('SYN_ERR_STORE_CORRUPT');
    expect(String(error.details.file)).toContain(name);
    expect(error.message).toContain(name);
    expect(readFileSync(file).equals(corrupt)).toBe(true);
    // The failed start released the directory lock: fixing the file lets a system start.
    writeFileSync(file, bytes);
    const fixed = await startSystem({ history: { dir } });
    try {
      expect(exchanges(await fixed.system.history('c')).map((x) => x.prompt)).toEqual(['one', 'two']);
    } finally {
      await fixed.stopAndCheck();
    }
  });

  it('a second system on a directory in use → SYN_ERR_STORE_LOCKED', async () => {
    const dir = join(tmp.dir, 'locked');
    const sys = await startSystem({ history: { dir } });
    try {
      expect((await rejection(startSystem({ history: { dir } }))).code).toBe('SYN_ERR_STORE_LOCKED');
    } finally {
      await sys.stopAndCheck();
    }
  });
});
