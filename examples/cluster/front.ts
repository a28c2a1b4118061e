/**
 * A cluster front (child process): a Synapse system whose history and per-conversation lease
 * are in PostgreSQL (`PostgresHistoryStore`, `PostgresConversationLease`) and whose cluster
 * agent runs on the hosts (`attachRemoteAgent(natsFront(...))`). Driven over Node IPC by its
 * parent (examples/cluster/protocol.ts): `send` / `stream` run a turn with the given
 * conversation and turn ids and answer `settled` with the value or the coded error
 * (`{ code, message, details }`); `stream` also reports each text delta. `stop` (or the parent
 * disconnecting) stops it cleanly.
 *
 * Environment: SYN_CLUSTER_NATS (URL), SYN_CLUSTER_NAMESPACE, SYN_CLUSTER_ID (front id),
 * SYN_CLUSTER_PG (connection string: a secret, so never in argv), SYN_CLUSTER_LEASE_TTL_MS
 * (default 30 000), SYN_CLUSTER_LEASE_RENEW_MS (default ttl / 3), SYN_CLUSTER_HOST_LOST_MS
 * (default 3 000), SYN_CLUSTER_ACCEPT_TIMEOUT_MS (default 2 000), SYN_CLUSTER_TIMEOUT_MS (turn
 * deadline, default 20 000), SYN_CLUSTER_LOG (pino level, default silent).
 *
 * Run: node --import tsx examples/cluster/front.ts (from the repository root, with IPC).
 */
import { Synapse, isSynapseError, type SynapseOptions } from '../../src/index.ts';
import { natsFront } from '../../src/nats/index.ts';
import { PostgresConversationLease, PostgresHistoryStore } from '../../src/postgres/index.ts';
import { CLUSTER_AGENT, env, send, type ClusterCommand, type TurnCommand, type WireError } from './protocol.ts';

const id = env('SYN_CLUSTER_ID');
const ttlMs = Number(env('SYN_CLUSTER_LEASE_TTL_MS', '30000'));
const history = await PostgresHistoryStore.open({ connectionString: env('SYN_CLUSTER_PG'), migrate: true, poolSize: 4 });
const lease = new PostgresConversationLease({ store: history, ttlMs, renewMs: Number(env('SYN_CLUSTER_LEASE_RENEW_MS', String(Math.floor(ttlMs / 3)))), owner: id });
const system = await Synapse.start({ logLevel: env('SYN_CLUSTER_LOG', 'silent') as NonNullable<SynapseOptions['logLevel']>, history, lease, conversations: { policy: 'queue' } });
let stopping: Promise<void> | undefined;
const stop = (): Promise<void> => (stopping ??= system.stop().then(() => send({ ev: 'stopped' })));
process.on('disconnect', () => void stop().then(() => process.exit(0)));

await system.attachRemoteAgent({
  id: CLUSTER_AGENT,
  transport: natsFront({
    servers: env('SYN_CLUSTER_NATS'),
    namespace: env('SYN_CLUSTER_NAMESPACE'),
    frontId: id,
    hostLostMs: Number(env('SYN_CLUSTER_HOST_LOST_MS', '3000')),
    acceptTimeoutMs: Number(env('SYN_CLUSTER_ACCEPT_TIMEOUT_MS', '2000')),
  }),
  timeoutMs: Number(env('SYN_CLUSTER_TIMEOUT_MS', '20000')),
});

function wire(error: unknown): WireError {
  if (isSynapseError(error)) return { code: error.code, message: error.message, details: { ...error.details } };
  return { code: 'UNCODED', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error), details: {} };
}

async function turn(m: TurnCommand): Promise<void> {
  const options = { conversationId: m.conversationId, turnId: m.turnId, ...(m.timeoutMs === undefined ? {} : { timeoutMs: m.timeoutMs }) };
  try {
    let result;
    if (m.cmd === 'send') result = await system.sendMessage(CLUSTER_AGENT, { prompt: m.prompt }, options);
    else {
      for await (const item of system.streamMessage(CLUSTER_AGENT, { prompt: m.prompt }, options)) {
        if (item.kind === 'text_delta') send({ ev: 'delta', id: m.id, text: item.delta });
        else if (item.kind === 'result') result = item;
      }
    }
    if (result === undefined) throw new Error('stream ended without a result');
    send({ ev: 'settled', id: m.id, ok: true, value: { output: result.output, messages: result.messages, conversationId: result.conversationId, turnId: result.turnId, replayed: result.replayed } });
  } catch (error) {
    send({ ev: 'settled', id: m.id, ok: false, error: wire(error) });
  }
}

process.on('message', (m: ClusterCommand) => {
  if (m.cmd === 'send' || m.cmd === 'stream') void turn(m);
  else if (m.cmd === 'stop') void stop().then(() => process.exit(0));
});
send({ ev: 'ready', role: 'front', id, pid: process.pid });
