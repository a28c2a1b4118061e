// Fronts as separate Node processes (test/fixtures/pg-front-child.ts) sharing one real
// PostgreSQL: a front SIGSTOPped past its lease is fenced when it resumes (no duplicate, its
// retry commits once), and a front killed -9 while holding a lease is taken over after the TTL.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TurnSerializer } from '../../../src/conversation/turns.ts';
import { PostgresConversationLease, PostgresHistoryStore } from '../../../src/postgres/index.ts';
import { turnMessages } from '../../fixtures/pydantic-messages.ts';
import { usePostgres } from '../../helpers/postgres.ts';

const CHILD = fileURLToPath(new URL('../../fixtures/pg-front-child.ts', import.meta.url));

const db = usePostgres({ admin: true });

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

type Msg = { ev: string; turnId?: string; code?: string; replayed?: boolean };

interface ChildFront {
  readonly child: ChildProcess;
  next(ev: string, turnId?: string): Promise<Msg>;
  send(m: unknown): void;
}

async function childFront(schema: string, ttlMs: number, renewMs: number): Promise<ChildFront> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, db.server.connectionString, schema, String(ttlMs), String(renewMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await exited;
  });
  const inbox: Msg[] = [];
  const waiters: Array<() => void> = [];
  child.on('message', (m: Msg) => {
    inbox.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const front: ChildFront = {
    child,
    send: (m) => child.send(m as never),
    async next(ev, turnId) {
      for (;;) {
        const i = inbox.findIndex((m) => m.ev === ev && (turnId === undefined || m.turnId === turnId));
        if (i >= 0) return inbox.splice(i, 1)[0]!;
        await Promise.race([new Promise<void>((r) => waiters.push(r)), exited.then(() => Promise.reject(new Error(`front exited waiting for ${ev}`)))]);
      }
    },
  };
  await front.next('ready');
  return front;
}

async function localFront(schema: string): Promise<TurnSerializer> {
  const store = await PostgresHistoryStore.open({ connectionString: db.server.connectionString, schema, migrate: true, poolSize: 3 });
  const lease = new PostgresConversationLease({ store });
  const turns = new TurnSerializer({ store, lease });
  cleanup.push(async () => {
    await turns.close();
    await lease.close();
    await store.close();
  });
  return turns;
}

const answer = (tag: string) => async () => ({ messages: turnMessages(`p-${tag}`, `a-${tag}`), output: tag });

async function rows(schema: string): Promise<{ turns: Array<[string, number]>; liveLeases: number }> {
  const t = await db.admin.query<{ turn_id: string; seq: number }>(`SELECT turn_id, seq::int FROM ${schema}.turns ORDER BY conversation_id, seq`);
  const l = await db.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.conversations WHERE lease_expires >= clock_timestamp()`);
  return { turns: t.rows.map((r) => [r.turn_id, r.seq]), liveLeases: l.rows[0]!.n };
}

describe('fronts in separate processes', () => {
  it('a front SIGSTOPped past its lease is fenced after SIGCONT: SYN_ERR_LEASE_LOST, no duplicate; its retry commits once', async () => {
    const a = await childFront('stopped', 600, 200);
    const b = await localFront('stopped');
    a.send({ cmd: 'run', conversationId: 'c', turnId: 't-a' });
    await a.next('started', 't-a');
    a.child.kill('SIGSTOP');
    // B queues until A's lease runs out on the database clock (A cannot renew while stopped).
    expect((await b.run({ conversationId: 'c', turnId: 't-b', agent: 'bot' }, answer('b'))).replayed).toBe(false);
    a.child.kill('SIGCONT');
    a.send({ cmd: 'open', turnId: 't-a' });
    expect(await a.next('settled', 't-a')).toMatchObject({ code: 'SYN_ERR_LEASE_LOST' });
    expect((await rows('stopped')).turns).toEqual([['t-b', 0]]);
    a.send({ cmd: 'run', conversationId: 'c', turnId: 't-a' });
    await a.next('started', 't-a');
    a.send({ cmd: 'open', turnId: 't-a' });
    expect(await a.next('settled', 't-a')).toEqual({ ev: 'settled', turnId: 't-a', replayed: false });
    expect(await rows('stopped')).toEqual({ turns: [['t-b', 0], ['t-a', 1]], liveLeases: 0 });
  }, 60_000);

  it('a front killed -9 holding a lease: another front takes over after the TTL; the caller retries the turn id there, once', async () => {
    const a = await childFront('killed', 600, 200);
    const b = await localFront('killed');
    a.send({ cmd: 'run', conversationId: 'c', turnId: 't-a' });
    await a.next('started', 't-a');
    const exited = once(a.child, 'exit');
    a.child.kill('SIGKILL');
    await exited;
    expect((await rows('killed')).liveLeases).toBe(1); // the dead front's lease outlives it until the TTL
    expect((await b.run({ conversationId: 'c', turnId: 't-b', agent: 'bot' }, answer('b'))).replayed).toBe(false);
    expect((await b.run({ conversationId: 'c', turnId: 't-a', agent: 'bot' }, answer('a'))).replayed).toBe(false);
    expect((await b.run({ conversationId: 'c', turnId: 't-a', agent: 'bot' }, answer('x'))).replayed).toBe(true);
    expect(await rows('killed')).toEqual({ turns: [['t-b', 0], ['t-a', 1]], liveLeases: 0 });
  }, 60_000);
});
