// Stale-lock takeover under a real restart race (issue #11): several Node processes open one
// history store directory whose LOCK was left by a dead process, released by a barrier at
// once. Exactly one may hold it; every other one must get SYN_ERR_STORE_LOCKED (never
// SYN_ERR_STORE_IO), and no turn may be committed twice. The children live across rounds
// (tsx start-up is the slow part); each round plants a fresh stale lock, in the legacy
// `{pid, host}` format or the current one with a nonce, some with a dead breaker beside it.
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalHistoryStore } from '../../../src/conversation/journal.ts';

const CHILD = fileURLToPath(new URL('../../fixtures/lock-child.ts', import.meta.url));
const CHILDREN = 6;
// Sized for a 2-core machine: start-up ~ a few seconds, then ~0.1 s per round.
const ROUNDS = Number(process.env.LOCK_RACE_ROUNDS ?? 30);

type Child = ChildProcessByStdio<Writable, Readable, Readable>;
interface Racer {
  readonly child: Child;
  readonly lines: AsyncIterator<string>;
  readonly stderr: () => string;
}

const racers: Racer[] = [];
const pids: number[] = [];
let dir = '';
let deadPid = 0;

function startRacer(): Racer {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid !== undefined) pids.push(child.pid);
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    err = (err + d).slice(-4_000);
  });
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](), stderr: () => err };
}

async function next(racer: Racer): Promise<string> {
  const r = await racer.lines.next();
  if (r.done === true) throw new Error(`racer ${racer.child.pid} ended: ${racer.stderr()}`);
  return r.value;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'syn-lock-race-'));
  // A pid that is certainly dead: a process we started and saw exit.
  const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const exited = once(gone, 'exit');
  deadPid = gone.pid!;
  await exited;
  for (let i = 0; i < CHILDREN; i++) racers.push(startRacer());
  for (const racer of racers) expect(await next(racer)).toBe('ready');
}, 60_000);

afterAll(async () => {
  for (const { child } of racers) {
    const exited = child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined;
    child.stdin.end(); // the child exits when its stdin closes
    await exited;
  }
  for (const pid of pids) expect(() => process.kill(pid, 0), `child ${pid} still alive`).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  await rm(dir, { recursive: true, force: true });
});

/** Plants a lock left by the dead process: legacy, or current with a nonce (then maybe with a dead breaker too). */
async function plantStaleLock(round: number): Promise<string> {
  const host = hostname();
  if (round % 3 === 0) {
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: deadPid, host }));
    return 'legacy';
  }
  const nonce = randomBytes(16).toString('hex');
  await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: deadPid, host, nonce }));
  if (round % 3 === 1) return 'nonce';
  // The dead process also left the breaker of that lock (it died mid-takeover).
  await writeFile(join(dir, `LOCK.break.${nonce}`), JSON.stringify({ pid: deadPid, host, nonce: randomBytes(16).toString('hex') }));
  return 'nonce + dead breaker';
}

describe('stale LOCK taken over by racing processes', () => {
  it(`exactly one of ${CHILDREN} processes wins, the others get SYN_ERR_STORE_LOCKED (${ROUNDS} rounds)`, { timeout: 60_000 }, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const kind = await plantStaleLock(round);
      const ctx = `round ${round} (${kind})`;
      for (const { child } of racers) child.stdin.write(`open ${round}\n`); // the barrier
      const outcomes = await Promise.all(racers.map(async (racer) => ({ racer, line: await next(racer) })));
      const holders = outcomes.filter((o) => o.line.startsWith('held '));
      const refused = outcomes.filter((o) => !o.line.startsWith('held ')).map((o) => o.line);
      // Release every holder before asserting, so a failure leaves the children usable.
      for (const { racer } of holders) racer.child.stdin.write('close\n');
      const closed = await Promise.all(holders.map(({ racer }) => next(racer)));

      expect(holders.map((h) => h.line), ctx).toEqual([`held ${round} committed`]);
      expect(refused, ctx).toEqual(Array.from({ length: CHILDREN - 1 }, () => `refused ${round} SYN_ERR_STORE_LOCKED`));
      expect(closed, ctx).toEqual([`closed ${round} ok`]);
      // The winner released its lock and every breaker and temp file is gone.
      expect((await readdir(dir)).filter((name) => name.startsWith('LOCK')), ctx).toEqual([]);
    }
    // One turn per round, each committed once: the store opens (no "recorded twice") and has them all.
    const store = await JournalHistoryStore.open({ dir });
    try {
      expect((await store.load('c')).map((t) => t.turnId)).toEqual(Array.from({ length: ROUNDS }, (_, r) => `r${r}`));
    } finally {
      await store.close();
    }
  });
});
