/**
 * Remote agents (`system.attachRemoteAgent`) and served agents (`system.serve`): the seams an
 * adapter such as `synapse/nats` plugs into. No transport is imported here — the core never
 * loads a NATS client; an adapter implements {@link RemoteTransport} (the front side) and
 * {@link HostService} (the host side).
 *
 * A {@link RemoteAgent} has the same `request()` contract as a local `PythonAgent`, so
 * `sendMessage` / `streamMessage` (turns, history, leases) treat it like a local one. It owns the
 * caller's deadline (on the system clock) and its signal: either aborts the transport's run with
 * `SYN_ERR_TIMEOUT` / `SYN_ERR_ABORTED`, and the transport tells the host to cancel.
 */
import { nanoid } from 'nanoid';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.ts';
import { errorCodeOf, isSynapseError, synErr } from '../errors.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEventEmitter } from '../observe/events.ts';
import type { InspectNode } from '../observe/inspect.ts';
import type { Prompt } from '../prompt.ts';
import type { RunOptionsFrame, ToolResultsFrame } from '../protocol/frames.ts';
import type { AgentStatus } from './agent.ts';
import type { AgentTool } from './options.ts';
import type { AgentEvent, RequestOptions, RunResult } from './router.ts';
import type { ToolCallRequest } from '../process/runs.ts';

/** One run a front asks a remote host to execute (what {@link RemoteTransport.run} sends). */
export interface RemoteRun {
  /** Unique run id (the host's cancel key, and the id in both sides' logs). */
  readonly id: string;
  readonly agent: string;
  readonly prompt: Prompt | null;
  readonly history: readonly unknown[];
  /** Time left at the front (ms); `null`: none. The host runs with it as its own deadline. */
  readonly timeoutMs: number | null;
  readonly conversationId?: string;
  readonly turnId?: string;
  readonly runOptions?: RunOptionsFrame;
  readonly toolResults?: ToolResultsFrame;
  /** Names of the TypeScript tools this front answers. */
  readonly tools: readonly string[];
}

/** A TypeScript tool call the host forwards to the front. */
export interface RemoteToolCall {
  readonly callId: string;
  readonly tool: string;
  readonly args: unknown;
  /** Aborted when the run ends (settled, cancelled, host lost). */
  readonly signal: AbortSignal;
}

/** Callbacks of one remote run. */
export interface RemoteRunHandlers {
  readonly onEvent?: ((event: AgentEvent) => void) | undefined;
  /** Runs a front tool; a throw is sent back as a tool failure (the model sees its message). */
  readonly onToolCall: (call: RemoteToolCall) => Promise<unknown>;
  /** Aborting (deadline, caller abort, shutdown) must cancel the run on the host and reject with `signal.reason`. */
  readonly signal: AbortSignal;
  /** Called once a host accepted the run, with its id (metrics and logs name the host). */
  readonly onAccepted?: ((host: string) => void) | undefined;
}

/** What the system gives a transport when it is attached. */
export interface RemoteTransportContext {
  /** The remote agent's id. */
  readonly agent: string;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * The front side of a remote-agent adapter (e.g. `natsFront` of `synapse/nats`).
 * One transport object serves one attached agent.
 */
export interface RemoteTransport {
  /** Short name for logs and `inspect()` (`'nats'`). */
  readonly kind: string;
  /** This front's id on the transport (what hosts see as `front` in their logs and metrics), if it has one. */
  readonly frontId?: string;
  /** Connects. @throws a coded SynapseError when it cannot. */
  open(context: RemoteTransportContext): Promise<void>;
  /**
   * Runs one turn on some host. Rejects with the host's SynapseError verbatim, or with
   * SYN_ERR_AGENT_UNAVAILABLE (no host serves the agent), SYN_ERR_AGENT_CRASHED
   * (`details.reason: 'host_lost'`), SYN_ERR_HOP_VERSION, SYN_ERR_PROTOCOL, or `handlers.signal.reason`.
   */
  run(run: RemoteRun, handlers: RemoteRunHandlers): Promise<RunResult>;
  /**
   * Where the agent runs, for `agentStatus` / `inspect`: `hosts`, the host ids that accepted runs
   * lately; `known`, the hosts that advertise the agent now; `nextRetryAt`, the earliest retry of a
   * host that has it quarantined (this system's clock).
   */
  describe?(): { readonly hosts: readonly string[]; readonly known?: readonly RemoteHostStatus[]; readonly nextRetryAt?: number };
  /** Fails the runs in flight (SYN_ERR_SHUTDOWN) and disconnects. Idempotent. */
  close(): Promise<void>;
}

/** One host that advertises a remote agent (`agentStatus(id).hosts`, `inspect()`). */
export interface RemoteHostStatus {
  /** The host id. */
  readonly id: string;
  /** The agent's state on that host (`ready`, `degraded`, `restarting`, `quarantined`…). */
  readonly state: string;
  /** Runs in flight there (every front's). */
  readonly inFlight: number;
  /** Runs it takes at once (workers × concurrency). */
  readonly capacity: number;
  /** Age of its last advert (ms). */
  readonly advertAgeMs: number;
  /** While quarantined there: when it retries (this system's clock, ms). */
  readonly nextRetryAt?: number;
}

/** `system.attachRemoteAgent(options)`. */
export interface AttachRemoteAgentOptions {
  /** The agent id on this front (the hosts serve an agent of the same id). */
  readonly id: string;
  readonly transport: RemoteTransport;
  /** Default deadline of a turn (ms; a call's `timeoutMs` wins). Default 60 000. */
  readonly timeoutMs?: number;
  /**
   * TypeScript tools answered on this front when the remote agent's model calls them. The host's
   * agent declares them to its model (`spawnAgent({ tools })` there, with description and schema);
   * a front handler here takes the call instead of the host's.
   */
  readonly tools?: Readonly<Record<string, RemoteTool>>;
  /**
   * Opt-in re-dispatch: send the run again, up to `attempts` more times (0–10), when it provably
   * never started on any host — no host serves the agent (`no_host`), none accepted in time
   * (`accept_timeout`), or the host refused it before accepting (`details.refused`). A run a host
   * accepted (then `host_lost`, a deadline, any host error) is never re-sent. Default: none (at
   * most once).
   */
  readonly redispatch?: { readonly attempts: number };
}

/** A front-side TypeScript tool of a remote agent: only its handler (the host declares its schema). */
export interface RemoteTool {
  readonly handler: AgentTool['handler'];
}

/** The default deadline of a remote turn. */
export const REMOTE_DEFAULT_TIMEOUT_MS = 60_000;

/** An agent that runs on another host, behind a {@link RemoteTransport}. */
export class RemoteAgent {
  readonly id: string;
  readonly #transport: RemoteTransport;
  readonly #timeoutMs: number;
  readonly #tools: Readonly<Record<string, RemoteTool>>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #inFlight = new Set<AbortController>();
  readonly #redispatch: number;
  #closed = false;
  #runs = 0;
  #failures = 0;
  #hostLost = 0;
  #redispatched = 0;

  readonly #events: SynapseEventEmitter | undefined;

  /** `deps.events` receives `remote.completed` / `remote.failed` (metrics, the event log). */
  constructor(options: AttachRemoteAgentOptions, deps: { clock: Clock; log: Logger; events?: SynapseEventEmitter }) {
    this.#events = deps.events;
    this.id = options.id;
    this.#transport = options.transport;
    this.#timeoutMs = options.timeoutMs ?? REMOTE_DEFAULT_TIMEOUT_MS;
    this.#tools = options.tools ?? {};
    this.#redispatch = options.redispatch?.attempts ?? 0;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  /** Connects the transport. */
  async open(): Promise<void> {
    await this.#transport.open({ agent: this.id, clock: this.#clock, log: this.#log });
  }

  /**
   * Runs one turn on a remote host: same contract as `PythonAgent.request` (the deadline and the
   * signal are enforced here, on the system clock; the transport cancels on the host).
   * @throws SYN_ERR_SHUTDOWN (detached), SYN_ERR_TIMEOUT, SYN_ERR_ABORTED, and what {@link RemoteTransport.run} rejects with.
   */
  async request(options: Omit<RequestOptions, 'onToolCall'>): Promise<RunResult> {
    if (this.#closed) throw synErr('SYN_ERR_SHUTDOWN', `Remote agent "${this.id}" is detached`, { agent: this.id });
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const id = nanoid();
    const controller = new AbortController();
    const caller = options.signal;
    if (caller?.aborted === true) throw abortedBy(caller, this.id, id);
    const onAbort = (): void => controller.abort(abortedBy(caller!, this.id, id));
    caller?.addEventListener('abort', onAbort, { once: true });
    let timer: TimerHandle | undefined;
    if (Number.isFinite(timeoutMs)) {
      timer = this.#clock.setTimeout(() => controller.abort(synErr('SYN_ERR_TIMEOUT', `Remote agent "${this.id}" did not answer within ${timeoutMs} ms`, { agent: this.id, timeoutMs, requestId: id })), timeoutMs);
    }
    this.#inFlight.add(controller);
    this.#runs++;
    const startedAt = this.#clock.now();
    let host: string | undefined;
    const context = { conversationId: options.conversationId, turnId: options.turnId };
    const attempt = (): Promise<RunResult> =>
      this.#transport.run(
        {
          id,
          agent: this.id,
          prompt: options.prompt,
          history: options.history,
          timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : null,
          ...(options.conversationId === undefined ? {} : { conversationId: options.conversationId }),
          ...(options.turnId === undefined ? {} : { turnId: options.turnId }),
          ...(options.runOptions === undefined ? {} : { runOptions: options.runOptions }),
          ...(options.toolResults === undefined ? {} : { toolResults: options.toolResults }),
          tools: Object.keys(this.#tools),
        },
        { onEvent: options.onEvent, signal: controller.signal, onToolCall: (call) => this.#callTool(id, call, context), onAccepted: (h) => void (host = h) },
      );
    const ids = { agent: this.id, requestId: id, front: this.#transport.frontId, ...(options.conversationId === undefined ? {} : { conversationId: options.conversationId }), ...(options.turnId === undefined ? {} : { turnId: options.turnId }) };
    try {
      for (let n = 0; ; n++) {
        try {
          const result = await attempt();
          if (this.#events !== undefined) emit(this.#events, 'remote.completed', { ...ids, host: host ?? 'none', latencyMs: this.#clock.now() - startedAt });
          return result;
        } catch (error) {
          if (n >= this.#redispatch || controller.signal.aborted || !neverStarted(error)) throw error;
          host = undefined;
          this.#redispatched++;
          this.#log.info({ agent: this.id, requestId: id, turnId: options.turnId, attempt: n + 1, reason: reasonOf(error) }, 'remote run never started on a host: re-dispatching');
        }
      }
    } catch (error) {
      this.#failures++;
      if (isSynapseError(error, 'SYN_ERR_AGENT_CRASHED') && error.details.reason === 'host_lost') this.#hostLost++;
      if (this.#events !== undefined) {
        const details = isSynapseError(error) ? error.details : {};
        const failedOn = host ?? (typeof details.host === 'string' ? details.host : 'none'); // a refusal names its host
        const reason = typeof details.reason === 'string' ? details.reason : undefined;
        emit(this.#events, 'remote.failed', { ...ids, host: failedOn, code: errorCodeOf(error), ...(reason === undefined ? {} : { reason }), latencyMs: this.#clock.now() - startedAt });
      }
      throw error;
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
      this.#inFlight.delete(controller);
    }
  }

  async #callTool(runId: string, call: RemoteToolCall, context: { conversationId?: string | undefined; turnId?: string | undefined }): Promise<unknown> {
    const tool = this.#tools[call.tool];
    if (tool === undefined) throw synErr('SYN_ERR_TOOL_FAILED', `Remote agent "${this.id}" has no TypeScript tool "${call.tool}" on this front`, { agent: this.id, tool: call.tool });
    try {
      return await tool.handler(call.args, { agent: this.id, requestId: runId, conversationId: context.conversationId, turnId: context.turnId, signal: call.signal });
    } catch (error) {
      this.#log.warn({ agent: this.id, tool: call.tool, code: 'SYN_ERR_TOOL_FAILED', err: error }, 'tool handler threw; the model sees the error');
      throw error;
    }
  }

  /**
   * `agentStatus(id)` of a remote agent: no local pids; `inFlight` counts this front's runs;
   * `hosts` the hosts advertising it; `state` from them (`ready` if one has it ready or degraded,
   * else `restarting` / `quarantined` when they all do; `ready` when none is known).
   */
  status(): AgentStatus {
    const d = this.#transport.describe?.();
    const known = d?.known;
    return {
      id: this.id,
      state: this.#closed ? 'stopped' : remoteState(known ?? []),
      ...(known === undefined ? {} : { hosts: [...known] }),
      pids: [],
      restarts: 0,
      startupFailures: 0,
      inFlight: this.#inFlight.size,
      queued: 0,
      ...(d?.nextRetryAt === undefined ? {} : { nextRetryAt: d.nextRetryAt }),
      crashes: this.#hostLost,
    };
  }

  /** Queued and in-flight calls (metrics). */
  load(): { readonly queued: number; readonly inFlight: number } {
    return { queued: 0, inFlight: this.#inFlight.size };
  }

  /** This agent's node of `system.inspect()` (kind `agent`, `meta.remote` names the transport). */
  inspect(): InspectNode {
    const s = this.status();
    const hosts = this.#transport.describe?.().hosts ?? [];
    const children = (s.hosts ?? []).map(
      (h): InspectNode => ({
        kind: 'host',
        id: `${this.id}@${h.id}`,
        name: h.id,
        state: h.state,
        inFlight: h.inFlight,
        ...(h.nextRetryAt === undefined ? {} : { nextRetryAt: h.nextRetryAt }),
        meta: { capacity: h.capacity, advertAgeMs: h.advertAgeMs },
        children: [],
      }),
    );
    return {
      kind: 'agent',
      id: this.id,
      name: this.id,
      state: s.state,
      inFlight: s.inFlight,
      queued: 0,
      ...(s.nextRetryAt === undefined ? {} : { nextRetryAt: s.nextRetryAt }),
      meta: { remote: this.#transport.kind, hosts: hosts.join(','), runs: this.#runs, failures: this.#failures, hostLost: this.#hostLost, redispatched: this.#redispatched },
      children,
    };
  }

  /** Fails the runs in flight with SYN_ERR_SHUTDOWN (each cancelled on its host) and closes the transport. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#inFlight) c.abort(synErr('SYN_ERR_SHUTDOWN', `Remote agent "${this.id}" was detached while the run was in flight`, { agent: this.id }));
    await this.#transport.close();
  }
}

/** True for a failure where the run provably never started on a host (safe to re-dispatch). */
function neverStarted(error: unknown): boolean {
  if (!isSynapseError(error)) return false;
  if (error.details.refused === true) return true;
  return isSynapseError(error, 'SYN_ERR_AGENT_UNAVAILABLE') && (error.details.reason === 'no_host' || error.details.reason === 'accept_timeout');
}

function reasonOf(error: unknown): unknown {
  return isSynapseError(error) ? (error.details.refused === true ? 'refused' : error.details.reason) : undefined;
}

function remoteState(known: readonly RemoteHostStatus[]): AgentStatus['state'] {
  if (known.length === 0 || known.some((h) => h.state === 'ready' || h.state === 'degraded')) return 'ready';
  if (known.some((h) => h.state === 'restarting' || h.state === 'starting')) return 'restarting';
  return known.every((h) => h.state === 'quarantined') ? 'quarantined' : 'ready';
}

function abortedBy(signal: AbortSignal, agent: string, requestId: string): unknown {
  const reason: unknown = signal.reason;
  return isSynapseError(reason) ? reason : synErr('SYN_ERR_ABORTED', `Remote run of "${agent}" aborted by the caller`, { agent, requestId, reasonCode: errorCodeOf(reason) });
}

// ── the host side ────────────────────────────────────────────────────────────

/** Runs one request on a local agent of the serving system, with its TypeScript tool calls answered by `onToolCall`. */
export type ServeRequest = Omit<RequestOptions, 'onToolCall'> & {
  /** Answers the tools named in `remoteTools`; the agent's own tools answer the rest. */
  readonly onToolCall: (call: ToolCallRequest) => unknown;
  readonly remoteTools: ReadonlySet<string>;
  /** Who asked (the system emits `remote.served` with these when the run settles: metrics, logs). */
  readonly served?: { readonly runId: string; readonly host: string; readonly front: string };
};

/** What `system.serve(service)` gives a {@link HostService}. */
export interface ServeContext {
  readonly clock: Clock;
  readonly log: Logger;
  /** Ids of the local agents. */
  agentIds(): string[];
  /** `agentStatus(id)`, or `undefined` for an unknown id. */
  agentStatus(id: string): AgentStatus | undefined;
  /** Runs the local agent takes at once (workers × concurrency), or `undefined` for an unknown id (status adverts). */
  agentCapacity?(id: string): number | undefined;
  /** Runs one request on a local agent (the router's admission, queue, deadline and cancel as for a local turn). @throws SYN_ERR_NO_AGENT and what the agent's request throws. */
  request(agentId: string, request: ServeRequest): Promise<RunResult>;
  /** Called back on agent lifecycle changes (spawned, stopped, quarantined, recovered); returns an unsubscribe. */
  onAgentsChanged(listener: () => void): () => void;
}

/** The host side of a remote-agent adapter (e.g. `natsHost` of `synapse/nats`). */
export interface HostService {
  /** Short name for logs (`'nats'`). */
  readonly kind: string;
  /** Starts serving. @throws a coded SynapseError when it cannot. */
  start(context: ServeContext): Promise<void>;
  /** Stops taking runs, cancels those in flight, disconnects. Idempotent. */
  stop(): Promise<void>;
}
