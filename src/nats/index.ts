/**
 * `synapse/nats` — agents on remote hosts over NATS (docs/nats.md). Needs the optional peer
 * dependency `@nats-io/transport-node` (3.3.x, which supports Node 20); the core `synapse`
 * entry never loads it.
 *
 * @example
 * ```ts
 * import { Synapse } from 'synapse';
 * import { natsFront, natsHost } from 'synapse/nats';
 *
 * // on a GPU box
 * const host = await Synapse.start();
 * await host.spawnAgent({ id: 'support', agent: 'examples/agents/support.py:agent' });
 * await host.serve(natsHost({ servers: 'nats://10.0.0.5:4222', namespace: 'prod', hostId: 'gpu-1' }));
 *
 * // on a front
 * const front = await Synapse.start();
 * await front.attachRemoteAgent({ id: 'support', transport: natsFront({ servers: 'nats://10.0.0.5:4222', namespace: 'prod' }) });
 * await front.sendMessage('support', { prompt: 'hi' });
 * ```
 */
export { natsFront, NATS_FRONT_DEFAULTS } from './front.ts';
export type { NatsFrontOptions } from './front.ts';
export { natsHost, NATS_HOST_DEFAULTS } from './host.ts';
export type { NatsHostOptions } from './host.ts';
export type { NatsConnectOptions } from './shared.ts';
export { HOP_VERSION, HOP_FRAME_TYPES, DEFAULT_HOP_MAX_FRAME_BYTES, encodeHopFrame, decodeHopFrame, parseHopFrame } from './codec.ts';
export type { HopFrame, HopFrameType, HopRun, HopAccepted, HopEvent, HopToolCall, HopToolResult, HopKeepalive, HopResult, HopError, HopCancel, HopStatus, HopAgentAdvert } from './codec.ts';
export type { RemoteTransport, RemoteTransportContext, RemoteRun, RemoteRunHandlers, RemoteToolCall, RemoteHostStatus, HostService, ServeContext, ServeRequest } from '../agent/remote.ts';
