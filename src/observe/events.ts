/**
 * Every lifecycle event Synapse reports, as one typed map. The same events are logged via
 * pino (see ./log.ts) and emitted on `system.events` (eventemitter3) and the `inspect` stream.
 * Fields are documented in docs/observability.md.
 */
import { EventEmitter } from 'eventemitter3';

/** Every typed event of `system.on(name, listener)`, by name, with its payload (docs/observability.md lists them with their log levels). */
export interface SynapseEvents {
  // actor core
  'actor.spawned': { actor: string; name?: string | undefined; parent?: string | undefined };
  'actor.stopped': { actor: string; name?: string | undefined; reason: string };
  'actor.crashed': { actor: string; name?: string | undefined; reason: string; error?: unknown };
  'mailbox.dropped': { actor: string; name?: string | undefined; policy: string; capacity: number };
  // supervision
  'supervisor.child_started': { supervisor: string; child: string; actor: string };
  'supervisor.child_exited': { supervisor: string; child: string; reason: string; abnormal: boolean };
  'supervisor.restart_scheduled': { supervisor: string; child: string; delayMs: number; attempt: number; startup: boolean };
  'supervisor.restarted': { supervisor: string; child: string; actor: string; attempt: number };
  'supervisor.intensity_exceeded': { supervisor: string; restarts: number; intensity: number; periodMs: number };
  'supervisor.escalated': { supervisor: string; reason: string };
  // python agents
  'agent.spawned': { agent: string; workers: number };
  'agent.stopped': { agent: string; reason: string };
  /** The worker's process is up (emitted once the process layer hands it over, just before `worker.ready`); `spare`: a warm spare was taken. */
  'worker.spawned': { agent: string; worker: number; pid: number; spare: boolean };
  'worker.ready': { agent: string; worker: number; pid: number; startupMs: number };
  'worker.crashed': {
    agent: string;
    worker: number;
    pid: number;
    code: string;
    exitCode: number | null;
    signal: string | null;
    stderrTail: string;
    inFlight: number;
  };
  'worker.exited': { agent: string; worker: number; pid: number; exitCode: number | null; signal: string | null };
  /** A warm spare of the agent is up and idle (in `inspect()` and the spare metrics from now on). */
  'spare.ready': { agent: string; pid: number };
  'agent.quarantined': { agent: string; nextRetryAt: number; crashes: number };
  'agent.recovered': { agent: string };
  'orphan.reaped': { pid: number; pidFile: string };
  'message.routed': { agent: string; requestId: string; worker: number; conversationId?: string | undefined; turnId?: string | undefined };
  /** `latencyMs`: from admission to failure (queue time included), like `call.completed`. */
  'call.failed': { agent: string; requestId: string; code: string; latencyMs: number; conversationId?: string | undefined; turnId?: string | undefined };
  'call.completed': { agent: string; requestId: string; latencyMs: number };
  /** A model request of a `rateLimit`ed agent stopped waiting for its slot: granted, rejected (deadline, queue full) or aborted (run ended). */
  'model.slot_waited': { agent: string; runId: string; waitMs: number; outcome: 'granted' | 'rejected' | 'aborted' };
  /**
   * `store`: the history store's kind (`memory`, `journal`, `postgres`…); `commitMs`: the store's
   * (or, with a lease, the fenced) commit; `leaseWaitMs`: the time `lease.acquire` took (a lease only).
   */
  'turn.committed': { conversationId: string; turnId: string; agent: string; messages: number; store?: string; commitMs?: number; leaseWaitMs?: number };
  /**
   * `stage`: where the turn failed — `lease` (acquiring it), `run`, or `commit` (the store's
   * commit, which took `commitMs`); `leaseWaitMs` as in `turn.committed`.
   */
  'turn.failed': { conversationId: string; turnId: string; agent: string; code: string; store?: string; stage?: 'lease' | 'run' | 'commit'; commitMs?: number; leaseWaitMs?: number };
  // remote agents (attachRemoteAgent on a front, serve on a host)
  /** A remote run on this front settled with its result. `host`: the host that ran it; `front`: this front's id on the transport. */
  'remote.completed': { agent: string; requestId: string; host: string; front?: string | undefined; latencyMs: number; conversationId?: string | undefined; turnId?: string | undefined };
  /** A remote run on this front failed. `host`: the host that had accepted (or refused) it, `none` when no host took it; `reason`: `details.reason` of the error (`host_lost`, `no_host`…). */
  'remote.failed': { agent: string; requestId: string; host: string; front?: string | undefined; code: string; reason?: string | undefined; latencyMs: number; conversationId?: string | undefined; turnId?: string | undefined };
  /** A run this host served for a remote front settled (`code` absent: ok). `latencyMs`: from acceptance to settlement on this host. */
  'remote.served': { agent: string; runId: string; host: string; front: string; latencyMs: number; code?: string | undefined; conversationId?: string | undefined; turnId?: string | undefined };
}

export type SynapseEventName = keyof SynapseEvents;

/** One entry of the unified `inspect` stream. */
export type InspectEvent = { [K in SynapseEventName]: { type: K; at: number } & SynapseEvents[K] }[SynapseEventName];

/** Typed emitter: `events.on('worker.crashed', (e) => …)`. */
export class SynapseEventEmitter extends EventEmitter<{ [K in SynapseEventName]: (event: SynapseEvents[K]) => void } & { inspect: (event: InspectEvent) => void }> {}
