// Synapse.start validates every option up front: a bad one rejects with SYN_ERR_INVALID_OPTION
// naming exactly that option (its path as the user wrote it), before anything is started.
import { describe, expect, it } from 'vitest';
import { MemoryHistoryStore, Synapse, type SynapseOptions } from '../../src/index.ts';
import { isSynapseError } from '../../src/errors.ts';

const BAD: [string, Record<string, unknown>][] = [
  ['history', { history: 42 }],
  ['history', { history: null }],
  ['history', { history: 'dir' }],
  ['history.dir', { history: { dir: '' } }],
  ['history.fsync', { history: { dir: '/tmp/x', fsync: 'sometimes' } }],
  ['history.foreignLock', { history: { dir: '/tmp/x', foreignLock: 'always' } }],
  ['history', { history: { load() {} } }],
  ['clock', { clock: Date }],
  ['clock', { clock: { now: () => 0 } }],
  ['logger', { logger: console.log }],
  ['logger', { logger: {} }],
  ['redact', { redact: 'password' }],
  ['redact[1]', { redact: ['a', 7] }],
  ['mailbox', { mailbox: 5 }],
  ['mailbox.capacity', { mailbox: { capacity: 0 } }],
  ['mailbox.overflow', { mailbox: { overflow: 'spill' } }],
  ['mailbox.size', { mailbox: { size: 3 } }],
  ['logLevel', { logLevel: 'loud' }],
  ['metrics', { metrics: true }],
  ['metrics.port', { metrics: { port: 70_000 } }],
  ['metrics.backlogSize', { metrics: { port: 0, backlogSize: 0 } }],
  ['conversations.policy', { conversations: { policy: 'drop' } }],
  ['stateDir', { stateDir: '' }],
  ['nope', { nope: 1 }],
];

async function startError(options: unknown): Promise<unknown> {
  try {
    const system = await Synapse.start(options as SynapseOptions);
    await system.stop();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('Synapse.start options', () => {
  it.each(BAD)('a bad %s → SYN_ERR_INVALID_OPTION naming it', async (option, options) => {
    const error = await startError(options);
    expect(isSynapseError(error) && { code: error.code, option: error.details.option }).toEqual({ code: 'SYN_ERR_INVALID_OPTION', option });
  });

  it('accepts a HistoryStore instance, { dir }, a custom logger-like object and a mailbox', async () => {
    const store = new MemoryHistoryStore();
    const system = await Synapse.start({ history: store, logLevel: 'silent', metrics: false, mailbox: { capacity: 10, overflow: 'drop-oldest' }, redact: ['a.b'] });
    expect(await system.history('none')).toEqual([]);
    await system.stop();
  });

  it('passes metrics.backlogSize to the live view server', async () => {
    const system = await Synapse.start({ logLevel: 'silent', reapOrphans: false, metrics: { port: 0, backlogSize: 7 } });
    try {
      const body = (await (await fetch(`${system.observeUrl!}events.json`)).json()) as { capacity: number };
      expect(body.capacity).toBe(7);
    } finally {
      await system.stop();
    }
  });
});
