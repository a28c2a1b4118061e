// The HistoryStore contract (test/helpers/store-contract.ts), run against the in-process stores.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { JournalHistoryStore } from '../../../src/conversation/journal.ts';
import { MemoryHistoryStore } from '../../../src/conversation/store.ts';
import { describeStoreContract } from '../../helpers/store-contract.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describeStoreContract('MemoryHistoryStore', async (limits = {}) => {
  const s = new MemoryHistoryStore(limits);
  cleanup.push(() => s.close());
  return s;
});

describeStoreContract('JournalHistoryStore', async (limits = {}) => {
  const dir = await mkdtemp(join(tmpdir(), 'syn-store-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const s = await JournalHistoryStore.open({ dir, ...limits });
  cleanup.push(() => s.close());
  return s;
});
