/**
 * The #16 topology for tests: a real NATS server and a real PostgreSQL (test/helpers/nats.ts,
 * test/helpers/pg-server.ts), 2 host processes serving the cluster agent (real Python
 * pydantic-ai workers, examples/cluster/host.ts) and 2 front processes sharing conversations in
 * PostgreSQL under the lease (examples/cluster/front.ts), all children of the test process
 * driven over Node IPC (examples/cluster/launch.ts).
 *
 * `useCluster(options)` starts it in `beforeAll` and reaps everything in `afterAll` (clean
 * stop, SIGKILL past a grace, then every Python worker any host ever had must be gone).
 * Calls are booked in the testing kit's `CallLedger` with `cluster.turn(ledger, front, …)`;
 * `cluster.check(ledger)` runs the kit's invariant checks after a scenario (see {@link Cluster.check}).
 * API described for other test files in /work/briefs/cluster-ready.md: keep it stable.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { launchFront, launchHost, type ClusterFront, type ClusterHost, type ClusterTurn } from '../../examples/cluster/launch.ts';
import type { TurnValue } from '../../examples/cluster/protocol.ts';
import { historyOf } from '../../src/conversation/record.ts';
import { PostgresHistoryStore } from '../../src/postgres/index.ts';
import { CallLedger, FaultInvariantError, checkHistory, findWorkerPids, type AckedTurn, type LedgerCheckOptions, type Outcome } from '../../src/testing/index.ts';
import { startNats, type NatsServer } from './nats.ts';
import { startPostgres, type PgServer } from './pg-server.ts';
import { waitForPidsGone } from './pids.ts';

export type { ClusterFront, ClusterHost, ClusterTurn } from '../../examples/cluster/launch.ts';
export type { TurnValue } from '../../examples/cluster/protocol.ts';

/** Options of {@link useCluster} (timings short for CI; all optional). */
export interface ClusterOptions {
  /** Hosts and fronts (default 2 and 2; ids `host-a`, `host-b`, … / `front-a`, `front-b`, …). */
  readonly hosts?: number;
  readonly fronts?: number;
  /** Python workers per host (default 1). */
  readonly workersPerHost?: number;
  /** Host keepalive period (default 200 ms). */
  readonly keepaliveMs?: number;
  /** Front: silence before `host_lost` (default 1 000 ms). */
  readonly hostLostMs?: number;
  /** Front: accept timeout (default 1 000 ms). */
  readonly acceptTimeoutMs?: number;
  /** Front: lease TTL / renew period (default 2 000 / 500 ms). */
  readonly leaseTtlMs?: number;
  readonly leaseRenewMs?: number;
  /** Front: default turn deadline (default 15 000 ms). */
  readonly turnTimeoutMs?: number;
  /** Children's stderr (default `'inherit'`) and pino level (default `'silent'`; `SYN_CLUSTER_LOG` overrides). */
  readonly stderr?: 'ignore' | 'inherit';
  readonly logLevel?: string;
}

/** Options of {@link Cluster.check}. */
export interface ClusterCheckOptions extends LedgerCheckOptions {
  /** How long the ledger may take to settle (real time, default 30 s). */
  readonly settleMs?: number;
  /** How long a dead host's Python workers may take to exit (default 10 s). */
  readonly pidsGoneMs?: number;
}

/** The running topology (fields set in `beforeAll`). */
export interface Cluster {
  readonly nats: NatsServer;
  readonly pg: PgServer;
  readonly hosts: readonly ClusterHost[];
  readonly fronts: readonly ClusterFront[];
  /** The parent's own store on the same database (reads only: `load`, `getTurn`). */
  readonly store: PostgresHistoryStore;
  /** An admin client on the database (assertions on `synapse.turns` / `synapse.conversations`). */
  readonly admin: pg.Client;
  /** The host / front of that id. @throws for an unknown id. */
  host(id: string): ClusterHost;
  front(id: string): ClusterFront;
  /**
   * Books one turn on `front` in `ledger` (meta: `conversationId`, `turnId`, `prompt`, `front`,
   * `cmd`) and returns its outcome (never rejects). `cmd` `'stream'` streams; `onDelta` sees
   * each text delta (the first one proves the run is under way on a host).
   */
  turn(ledger: CallLedger, front: ClusterFront, turn: ClusterTurn & { readonly cmd?: 'send' | 'stream'; readonly onDelta?: (text: string) => void }): Promise<Outcome>;
  /**
   * Sends a turn with the same turn id until it is acked (each attempt booked in `ledger`), with
   * a 100 ms pause between attempts — the client's retry policy, not a wait for state; at most
   * `attempts` (60) sends. Returns the last outcome.
   */
  retryUntilOk(ledger: CallLedger, front: ClusterFront, turn: ClusterTurn, attempts?: number): Promise<Outcome>;
  /**
   * The invariants after a scenario, each a `FaultInvariantError` listing every violation:
   * every booked call settled exactly once with a value or a coded error (`ledger.check`);
   * every acked turn is in PostgreSQL exactly once, in ack order, histories well-formed, no
   * unacked prompt twice (`checkHistory`); one row per acked turn id; each conversation's
   * sequence contiguous from 0 and `next_seq` = its row count; no lease left on any of them;
   * no Python worker left by a dead host process, and each live host's workers are exactly the
   * ones it reports.
   */
  check(ledger: CallLedger, options?: ClusterCheckOptions): Promise<void>;
  /**
   * How many times a prompt was executed by a Python agent on any host (every host appends
   * each run's prompt to its run log): 1 for a turn that ran once, even if acked twice.
   */
  runsOf(prompt: string): number;
  /** The conversation ids a ledger's calls touched. */
  conversationsOf(ledger: CallLedger): string[];
  /**
   * Stops PostgreSQL (`'immediate'`: SIGQUIT, like a crash; `'fast'`: clean) and awaits its exit;
   * the admin client's connection ends with it (its error is expected and swallowed).
   */
  stopPostgres(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts PostgreSQL again on the same data directory and port and reconnects {@link Cluster.admin}. */
  startPostgres(): Promise<void>;
}

const letters = 'abcdefghijklmnopqrstuvwxyz';

/** The parent's admin connection; a PostgreSQL stop (a scenario's fault) ends it, which is not an error of the test. */
async function connectAdmin(connectionString: string): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString });
  admin.on('error', () => undefined);
  await admin.connect();
  return admin;
}

/** Starts the topology in `beforeAll` (~10 s on 2 cores) and reaps it in `afterAll`. Read its fields inside tests. */
export function useCluster(options: ClusterOptions = {}): Cluster {
  const state: { nats?: NatsServer; pg?: PgServer; hosts: ClusterHost[]; fronts: ClusterFront[]; store?: PostgresHistoryStore; admin?: pg.Client; dir?: string } = { hosts: [], fronts: [] };
  const namespace = `cluster${process.pid}`;

  const cluster: Cluster = {
    get nats() {
      return state.nats!;
    },
    get pg() {
      return state.pg!;
    },
    get hosts() {
      return state.hosts;
    },
    get fronts() {
      return state.fronts;
    },
    get store() {
      return state.store!;
    },
    get admin() {
      return state.admin!;
    },
    host(id) {
      const h = state.hosts.find((x) => x.id === id);
      if (h === undefined) throw new Error(`no host ${id}`);
      return h;
    },
    front(id) {
      const f = state.fronts.find((x) => x.id === id);
      if (f === undefined) throw new Error(`no front ${id}`);
      return f;
    },
    turn(ledger, front, t) {
      const { cmd = 'send', onDelta, ...turn } = t;
      const meta = { conversationId: turn.conversationId, turnId: turn.turnId, prompt: turn.prompt, front: front.id, cmd };
      return ledger.track(`${cmd} ${front.id} ${turn.conversationId}/${turn.turnId}`, () => (cmd === 'stream' ? front.stream(turn, onDelta) : front.send(turn)), meta);
    },
    async retryUntilOk(ledger, front, turn, attempts = 60) {
      let last: Outcome | undefined;
      for (let i = 0; i < attempts; i++) {
        last = await cluster.turn(ledger, front, turn);
        if (last.ok) return last;
        await new Promise((r) => setTimeout(r, 100));
      }
      return last!;
    },
    runsOf(prompt) {
      let n = 0;
      for (const h of state.hosts) {
        const file = join(state.dir!, `${h.id}.runs`);
        if (!existsSync(file)) continue;
        for (const line of readFileSync(file, 'utf8').split('\n')) if (line === prompt) n++;
      }
      return n;
    },
    conversationsOf(ledger) {
      return [...new Set(ledger.entries.map((e) => String(e.meta.conversationId)))];
    },
    async stopPostgres(mode = 'immediate') {
      await state.pg!.stop(mode);
    },
    async startPostgres() {
      await state.pg!.start();
      const old = state.admin;
      state.admin = await connectAdmin(state.pg!.connectionString);
      await old?.end().catch(() => undefined);
    },
    async check(ledger, o = {}) {
      await ledger.settled(o.settleMs ?? 30_000);
      ledger.check(o);
      const settled = [...ledger.entries].filter((e) => e.outcome !== undefined).sort((a, b) => a.settledAs - b.settledAs);
      const acked: AckedTurn[] = [];
      const seen = new Set<string>();
      const unackedPrompts: { conversationId: string; prompt: string }[] = [];
      for (const e of settled) {
        const conversationId = String(e.meta.conversationId);
        const turnId = String(e.meta.turnId);
        const prompt = String(e.meta.prompt);
        if (e.outcome?.ok === true) {
          const key = `${conversationId}\0${turnId}`;
          if (seen.has(key)) continue; // the same turn id acked twice (a replay): one turn
          seen.add(key);
          acked.push({ conversationId, turnId, prompt, messages: (e.outcome.value as TurnValue).messages });
        } else unackedPrompts.push({ conversationId, prompt });
      }
      // An unacked prompt whose turn id was acked later (a retry) is that acked turn.
      const ackedPrompts = new Set(acked.map((a) => `${a.conversationId}\0${a.prompt}`));
      const source = { history: async (c: string) => historyOf(await state.store!.load(c)) };
      await checkHistory(source, acked, { unackedPrompts: unackedPrompts.filter((u) => !ackedPrompts.has(`${u.conversationId}\0${u.prompt}`)) });

      const conversations = cluster.conversationsOf(ledger);
      const violations: string[] = [];
      const rows = await state.admin!.query<{ conversation_id: string; turn_id: string; seq: string }>('SELECT conversation_id, turn_id, seq FROM synapse.turns WHERE conversation_id = ANY($1) ORDER BY conversation_id, seq', [conversations]);
      const count = new Map<string, number>();
      for (const r of rows.rows) count.set(`${r.conversation_id}\0${r.turn_id}`, (count.get(`${r.conversation_id}\0${r.turn_id}`) ?? 0) + 1);
      for (const a of acked) {
        const n = count.get(`${a.conversationId}\0${a.turnId}`) ?? 0;
        if (n !== 1) violations.push(`${a.conversationId}/${a.turnId}: acked, ${n} rows`);
      }
      const seqs = new Map<string, number[]>();
      for (const r of rows.rows) seqs.set(r.conversation_id, [...(seqs.get(r.conversation_id) ?? []), Number(r.seq)]);
      const convs = await state.admin!.query<{ id: string; next_seq: string; lease_owner: string | null; held: boolean }>('SELECT id, next_seq, lease_owner, lease_expires > clock_timestamp() AS held FROM synapse.conversations WHERE id = ANY($1)', [conversations]);
      for (const c of convs.rows) {
        const s = seqs.get(c.id) ?? [];
        if (s.some((v, i) => v !== i)) violations.push(`${c.id}: sequence not contiguous from 0: ${s.join(',')}`);
        if (Number(c.next_seq) !== s.length) violations.push(`${c.id}: next_seq ${c.next_seq} but ${s.length} turns`);
        if (c.held) violations.push(`${c.id}: lease still held by ${c.lease_owner}`);
      }
      if (violations.length > 0) throw new FaultInvariantError('postgres', violations);
      await checkHostPids(o.pidsGoneMs ?? 10_000);
    },
  };

  async function checkHostPids(deadlineMs: number): Promise<void> {
    const violations: string[] = [];
    for (const h of state.hosts) {
      for (const nodePid of h.pids) {
        if (nodePid === h.pid) {
          const live = new Set(await h.livePids());
          const found = findWorkerPids(nodePid);
          const extra = found.filter((p) => !live.has(p));
          if (extra.length > 0) violations.push(`${h.id} (pid ${nodePid}): Python processes it does not report: ${extra.join(', ')}`);
          continue;
        }
        const left = await waitForPidsGone(findWorkerPids(nodePid), deadlineMs);
        if (left.length > 0) violations.push(`${h.id}: dead host pid ${nodePid} left Python workers ${left.join(', ')}`);
      }
    }
    if (violations.length > 0) throw new FaultInvariantError('pids', violations);
  }

  beforeAll(async () => {
    state.dir = mkdtempSync(join(tmpdir(), 'syn-cluster-'));
    [state.nats, state.pg] = await Promise.all([startNats(), startPostgres()]);
    // Migrate once, before the fronts (they migrate too; racing is safe but slower).
    state.store = await PostgresHistoryStore.open({ connectionString: state.pg.connectionString, migrate: true, poolSize: 2 });
    state.admin = await connectAdmin(state.pg.connectionString);
    const common = { SYN_CLUSTER_NATS: state.nats.url, SYN_CLUSTER_NAMESPACE: namespace, SYN_CLUSTER_LOG: process.env.SYN_CLUSTER_LOG ?? options.logLevel ?? 'silent' };
    const stderr = options.stderr ?? 'inherit';
    const hostEnv = (id: string) => ({ ...common, SYN_CLUSTER_STATE_DIR: join(state.dir!, id), SYN_CLUSTER_RUN_LOG: join(state.dir!, `${id}.runs`), SYN_CLUSTER_WORKERS: String(options.workersPerHost ?? 1), SYN_CLUSTER_KEEPALIVE_MS: String(options.keepaliveMs ?? 200) });
    const frontEnv = {
      ...common,
      SYN_CLUSTER_PG: state.pg.connectionString,
      SYN_CLUSTER_LEASE_TTL_MS: String(options.leaseTtlMs ?? 2_000),
      SYN_CLUSTER_LEASE_RENEW_MS: String(options.leaseRenewMs ?? 500),
      SYN_CLUSTER_HOST_LOST_MS: String(options.hostLostMs ?? 1_000),
      SYN_CLUSTER_ACCEPT_TIMEOUT_MS: String(options.acceptTimeoutMs ?? 1_000),
      SYN_CLUSTER_TIMEOUT_MS: String(options.turnTimeoutMs ?? 15_000),
    };
    const hostIds = Array.from({ length: options.hosts ?? 2 }, (_, i) => `host-${letters[i]}`);
    const frontIds = Array.from({ length: options.fronts ?? 2 }, (_, i) => `front-${letters[i]}`);
    // Sequential: two tsx + Python start-ups at once on 2 shared cores are slower than one after the other.
    for (const id of hostIds) state.hosts.push(await launchHost({ id, env: hostEnv(id), stderr }));
    for (const id of frontIds) state.fronts.push(await launchFront({ id, env: frontEnv, stderr }));
  }, 90_000);

  afterAll(async () => {
    const errors: unknown[] = [];
    await Promise.all([...state.fronts, ...state.hosts].map((c) => c.shutdown().catch((e: unknown) => errors.push(e))));
    const workers = state.hosts.flatMap((h) => h.pids.flatMap((p) => findWorkerPids(p)));
    const left = await waitForPidsGone(workers, 10_000);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    await state.admin?.end().catch((e: unknown) => errors.push(e));
    await state.store?.close().catch((e: unknown) => errors.push(e));
    await Promise.all([state.nats?.close(), state.pg?.close()]);
    if (state.dir !== undefined) rmSync(state.dir, { recursive: true, force: true });
    if (left.length > 0) errors.push(new FaultInvariantError('pids', left.map((p) => `Python worker ${p} outlived its host's shutdown`)));
    if (errors.length > 0) throw errors[0];
  }, 60_000);

  return cluster;
}
