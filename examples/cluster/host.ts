/**
 * A cluster host (child process): a Synapse system that spawns and supervises the cluster agent
 * (examples/cluster/agent.py, real pydantic-ai in Python workers) and serves it over NATS
 * (`system.serve(natsHost(...))`). Driven over Node IPC by its parent (examples/cluster/protocol.ts):
 * `ready` carries its Python worker pids and its pid file (`<stateDir>/<pid>.json`); `pids`
 * reports every live Python process of the host — the workers and the zygote they are forked
 * from (`python.zygote`, on by default on Linux); `stop` (or the parent disconnecting) stops it cleanly.
 *
 * Environment: SYN_CLUSTER_NATS (URL), SYN_CLUSTER_NAMESPACE, SYN_CLUSTER_ID (host id),
 * SYN_CLUSTER_STATE_DIR (pid files: a restarted host reaps its predecessor's orphans there),
 * SYN_CLUSTER_WORKERS (default 1), SYN_CLUSTER_KEEPALIVE_MS (default 200),
 * SYN_CLUSTER_RUN_LOG (optional: the agent appends each run's prompt there), SYN_CLUSTER_LOG
 * (pino level, default silent).
 *
 * Run: node --import tsx examples/cluster/host.ts (from the repository root, with IPC).
 */
import { join } from 'node:path';
import { Synapse, type SynapseOptions } from '../../src/index.ts';
import { natsHost } from '../../src/nats/index.ts';
import { CLUSTER_AGENT, env, send, type ClusterCommand } from './protocol.ts';

const id = env('SYN_CLUSTER_ID');
const stateDir = env('SYN_CLUSTER_STATE_DIR');
const system = await Synapse.start({ logLevel: env('SYN_CLUSTER_LOG', 'silent') as NonNullable<SynapseOptions['logLevel']>, stateDir });
let stopping: Promise<void> | undefined;
const stop = (): Promise<void> => (stopping ??= system.stop().then(() => send({ ev: 'stopped' })));
process.on('disconnect', () => void stop().then(() => process.exit(0)));

const status = await system.spawnAgent({
  id: CLUSTER_AGENT,
  agent: 'examples/cluster/agent.py:agent',
  workers: Number(env('SYN_CLUSTER_WORKERS', '1')),
  python: { env: { SYN_CLUSTER_HOST_ID: id, ...(process.env.SYN_CLUSTER_RUN_LOG === undefined ? {} : { SYN_CLUSTER_RUN_LOG: process.env.SYN_CLUSTER_RUN_LOG }) } },
});
await system.serve(natsHost({ servers: env('SYN_CLUSTER_NATS'), namespace: env('SYN_CLUSTER_NAMESPACE'), hostId: id, keepaliveMs: Number(env('SYN_CLUSTER_KEEPALIVE_MS', '200')) }));

/** The host's live Python processes: the agent's workers and the zygotes of `system.inspect()`. */
const pythonPids = (): number[] => [
  ...system.agentStatus(CLUSTER_AGENT).pids,
  ...system
    .inspect()
    .children.filter((n) => n.kind === 'zygote' && n.pid !== undefined)
    .map((n) => n.pid!),
];
process.on('message', (m: ClusterCommand) => {
  if (m.cmd === 'pids') send({ ev: 'pids', pids: pythonPids() });
  else if (m.cmd === 'stop') void stop().then(() => process.exit(0));
});
send({ ev: 'ready', role: 'host', id, pid: process.pid, pids: status.pids, pidFile: join(stateDir, `${process.pid}.json`) });
