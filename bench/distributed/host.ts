/**
 * Child process of bench/distributed.ts: one host system (its own Node event loop) serving one
 * agent over NATS.
 *
 *   child → parent  { ev: 'ready' }   serving
 *
 * Usage: node --import tsx bench/distributed/host.ts <natsUrl> <namespace> <hostId> <stateDir> <agentId> <agentRef> <concurrency>
 * The parent disconnecting ends us (after a clean stop).
 */
import { Synapse } from '../../src/index.ts';
import { natsHost } from '../../src/nats/index.ts';

const [servers, namespace, hostId, stateDir, agentId, agentRef, concurrency] = process.argv.slice(2);
if (servers === undefined || namespace === undefined || hostId === undefined || stateDir === undefined || agentId === undefined || agentRef === undefined || concurrency === undefined) {
  throw new Error('usage: host.ts <natsUrl> <namespace> <hostId> <stateDir> <agentId> <agentRef> <concurrency>');
}
const system = await Synapse.start({ logLevel: 'silent', stateDir });
process.on('disconnect', () => void system.stop().then(() => process.exit(0)));
await system.spawnAgent({ id: agentId, agent: agentRef, workers: 1, concurrency: Number(concurrency) });
await system.serve(natsHost({ servers, namespace, hostId }));
process.send?.({ ev: 'ready' });
