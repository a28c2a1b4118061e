/**
 * `natsHost(options)`: serves a system's local agents to remote fronts over NATS (docs/nats.md).
 *
 * One queue-group subscription per served agent on `syn.<ns>.run.<agent>` (so one host of the
 * group takes each run), dropped while the agent is quarantined or stopped (routing skips this
 * host; a front with no other host sees "no responders"), and `syn.<ns>.ctl.<hostId>` for
 * `cancel`. A run is answered `accepted` at once, then runs on the local agent exactly as a local
 * turn (router, workers, supervision); its events, result or error go to the front's inbox, its
 * front-side tool calls are requests there, and every `keepaliveMs` a keepalive request asks the
 * front whether it is still there: "no responders" (the front is gone) cancels the run, freeing
 * the slot and the Python task.
 */
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { HostService, ServeContext } from '../agent/remote.ts';
import type { TimerHandle } from '../clock.ts';
import { errorCodeOf, isSynapseError, synErr, type SynapseError } from '../errors.ts';
import type { Prompt } from '../prompt.ts';
import type { RunOptionsFrame, ToolResultsFrame } from '../protocol/frames.ts';
import { PROTOCOL_VERSION } from '../protocol/frames.ts';
import { DEFAULT_HOP_MAX_FRAME_BYTES, HOP_VERSION, decodeHopFrame, encodeHopFrame, type HopAgentAdvert, type HopFrame, type HopRun } from './codec.ts';
import { checkConnectOptions, checkMs, checkServers, checkToken, ctlSubject, isNoResponders, runSubject, showServers, statusSubject, type NatsConnectOptions, type ResolvedConnectOptions } from './shared.ts';

/** `natsHost(options)`: these, plus authentication, TLS and `inboxPrefix` ({@link NatsConnectOptions}). */
export interface NatsHostOptions extends NatsConnectOptions {
  /** NATS server URL(s). */
  readonly servers: string | readonly string[];
  /** Subject namespace shared with the fronts: `[A-Za-z0-9_-]{1,64}`. */
  readonly namespace: string;
  /** This host's id (its control subject, and `details.host` of errors on the fronts): `[A-Za-z0-9_-]{1,64}`, unique per namespace. */
  readonly hostId: string;
  /** Interval of the keepalive request to the front of each run. Default 1 000 ms. */
  readonly keepaliveMs?: number;
  /** Largest host-hop frame. Default 8 MiB. */
  readonly maxFrameBytes?: number;
  /** Interval of the status advert on `syn.<ns>.status.<hostId>` (fronts drop a host silent for 3 of them). Default 1 000 ms. */
  readonly advertMs?: number;
}

/** The defaults of {@link NatsHostOptions}. */
export const NATS_HOST_DEFAULTS = Object.freeze({ keepaliveMs: 1_000, maxFrameBytes: DEFAULT_HOP_MAX_FRAME_BYTES, advertMs: 1_000 });

/**
 * A {@link HostService} over NATS for `system.serve`.
 * @throws SYN_ERR_INVALID_OPTION for a bad option.
 * @example
 * ```ts
 * await system.spawnAgent({ id: 'support', agent: 'examples/agents/support.py:agent' });
 * await system.serve(natsHost({ servers: 'nats://10.0.0.5:4222', namespace: 'prod', hostId: 'gpu-1' }));
 * ```
 */
export function natsHost(options: NatsHostOptions): HostService {
  if (typeof options !== 'object' || options === null) throw synErr('SYN_ERR_INVALID_OPTION', 'natsHost(options) needs { servers, namespace, hostId }', { option: 'options' });
  return new NatsHost({
    servers: checkServers(options.servers),
    namespace: checkToken('namespace', options.namespace),
    hostId: checkToken('hostId', options.hostId),
    keepaliveMs: checkMs('keepaliveMs', options.keepaliveMs, NATS_HOST_DEFAULTS.keepaliveMs),
    maxFrameBytes: checkMs('maxFrameBytes', options.maxFrameBytes, NATS_HOST_DEFAULTS.maxFrameBytes),
    advertMs: checkMs('advertMs', options.advertMs, NATS_HOST_DEFAULTS.advertMs),
    connect: checkConnectOptions(options),
  });
}

interface Resolved {
  servers: string | string[];
  namespace: string;
  hostId: string;
  keepaliveMs: number;
  maxFrameBytes: number;
  advertMs: number;
  /** Auth, TLS, inbox prefix for the NATS client (never logged). */
  connect: ResolvedConnectOptions;
}

interface ServedRun {
  readonly abort: AbortController;
  readonly done: Promise<void>;
  /** The run's logger (host, front, agent, runId, turnId bound). */
  readonly log: Logger;
}

class NatsHost implements HostService {
  readonly kind = 'nats';
  readonly #o: Resolved;
  #nc: NatsConnection | undefined;
  #ctx: ServeContext | undefined;
  #log: Logger | undefined;
  readonly #subs = new Map<string, Subscription>();
  readonly #runs = new Map<string, ServedRun>();
  #offAgents: (() => void) | undefined;
  #advertTimer: TimerHandle | undefined;
  #stopping: Promise<void> | undefined;

  constructor(o: Resolved) {
    this.#o = o;
  }

  async start(ctx: ServeContext): Promise<void> {
    if (this.#nc !== undefined) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'This natsHost service is already serving', { argument: 'service' });
    this.#ctx = ctx;
    this.#log = ctx.log.child({ host: this.#o.hostId });
    try {
      this.#nc = await connect({ ...this.#o.connect, servers: this.#o.servers, name: `synapse-host-${this.#o.hostId}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (error) {
      throw synErr('SYN_ERR_START_FAILED', `Cannot connect to NATS (${showServers(this.#o.servers)}) to serve agents: ${error instanceof Error ? error.message : String(error)}`, { host: this.#o.hostId, reason: 'nats_connect' }, error);
    }
    this.#nc.subscribe(ctlSubject(this.#o.namespace, this.#o.hostId), { callback: (err, msg) => void (err === null && this.#onControl(msg)) });
    this.#offAgents = ctx.onAgentsChanged(() => this.#sync());
    this.#sync();
    const tick = (): void => {
      // sync, not just advert: an agent whose status turned 'ready' before its 'agent.recovered'
      // event is subscribed first, so no advert says 'ready' for a subject nobody serves yet.
      this.#sync();
      this.#advertTimer = ctx.clock.setTimeout(tick, this.#o.advertMs);
    };
    this.#advertTimer = ctx.clock.setTimeout(tick, this.#o.advertMs);
    await this.#nc.flush(); // the subscriptions are registered with the server before serve() resolves
  }

  /** Publishes this host's status advert (every `advertMs`, and at once on an agent change or stop). */
  #advert(agents: HopAgentAdvert[] | undefined = undefined): void {
    const nc = this.#nc;
    const ctx = this.#ctx!;
    if (nc === undefined || nc.isClosed()) return;
    const now = ctx.clock.now();
    const list =
      agents ??
      ctx.agentIds().flatMap((id): HopAgentAdvert[] => {
        const st = ctx.agentStatus(id);
        if (st === undefined) return [];
        const retry = st.nextRetryAt === undefined ? undefined : Math.max(0, st.nextRetryAt - now);
        return [{ id, state: st.state, inFlight: st.inFlight, capacity: ctx.agentCapacity?.(id) ?? 0, ...(retry === undefined ? {} : { nextRetryInMs: retry }) }];
      });
    try {
      nc.publish(statusSubject(this.#o.namespace, this.#o.hostId), encodeHopFrame({ t: 'status', id: this.#o.hostId, host: this.#o.hostId, advertMs: this.#o.advertMs, versions: { hop: HOP_VERSION, worker: PROTOCOL_VERSION }, agents: list }, this.#o.maxFrameBytes));
    } catch (error) {
      this.#log!.warn({ err: error }, 'status advert could not be sent');
    }
  }

  /** Subscribes the agents that take runs, unsubscribes quarantined, stopped and removed ones. */
  #sync(): void {
    const nc = this.#nc;
    const ctx = this.#ctx!;
    if (nc === undefined || this.#stopping !== undefined) return;
    const serving = new Set(ctx.agentIds().filter((id) => {
      const state = ctx.agentStatus(id)?.state;
      return state !== undefined && state !== 'quarantined' && state !== 'stopped';
    }));
    for (const [id, sub] of this.#subs) {
      if (serving.has(id)) continue;
      // drain, not unsubscribe: a run the server already routed here is answered (refused below),
      // not dropped into the front's accept timeout.
      sub.drain().catch((error: unknown) => this.#log!.debug({ err: error, agent: id }, 'queue subscription drain failed'));
      this.#subs.delete(id);
      this.#log!.info({ agent: id }, 'stopped serving agent over NATS');
    }
    for (const id of serving) {
      if (this.#subs.has(id)) continue;
      const subject = runSubject(this.#o.namespace, id);
      this.#subs.set(id, nc.subscribe(subject, { queue: subject, callback: (err, msg) => void (err === null && this.#onRun(id, msg)) }));
      this.#log!.info({ agent: id }, 'serving agent over NATS');
    }
    this.#advert(); // fronts learn of a quarantine (and its nextRetryAt) at once, not a period later
  }

  #onControl(msg: Msg): void {
    let frame: HopFrame;
    try {
      frame = decodeHopFrame(msg.data, this.#o.maxFrameBytes);
    } catch (error) {
      this.#log!.warn({ err: error }, 'bad control frame ignored');
      return;
    }
    if (frame.t !== 'cancel') return;
    const run = this.#runs.get(frame.id);
    if (run === undefined) return;
    run.log.info({ reason: frame.reason }, 'run cancelled by its front');
    run.abort.abort(synErr('SYN_ERR_ABORTED', `Run cancelled by its front (${frame.reason})`, { requestId: frame.id, reasonCode: frame.reason }));
  }

  #reply(msg: Msg, frame: HopFrame): void {
    try {
      msg.respond(encodeHopFrame(frame, this.#o.maxFrameBytes));
    } catch (error) {
      this.#log!.warn({ err: error }, 'reply could not be sent');
    }
  }

  #onRun(agent: string, msg: Msg): void {
    let frame: HopFrame;
    try {
      frame = decodeHopFrame(msg.data, this.#o.maxFrameBytes);
    } catch (error) {
      const e = error as SynapseError;
      // A front of another version reads the header and the code even if it cannot read the rest.
      this.#reply(msg, { t: 'error', id: 'unknown', code: e.code, message: e.message, details: { ...e.details, host: this.#o.hostId, hostVersion: HOP_VERSION } });
      return;
    }
    if (frame.t !== 'run' || frame.agent !== agent) {
      this.#reply(msg, { t: 'error', id: frame.id, code: 'SYN_ERR_PROTOCOL', message: `Expected a "run" frame for "${agent}"`, details: { frameType: frame.t, field: frame.t !== 'run' ? 't' : 'agent', hop: true } });
      return;
    }
    if (this.#stopping !== undefined || this.#runs.has(frame.id)) {
      this.#reply(msg, { t: 'error', id: frame.id, code: 'SYN_ERR_AGENT_UNAVAILABLE', message: `Host ${this.#o.hostId} is stopping`, details: { agent, state: 'stopped', host: this.#o.hostId } });
      return;
    }
    if (!this.#subs.has(agent)) {
      // Routed here just before this host stopped serving the agent (its subscription draining).
      const state = this.#ctx!.agentStatus(agent)?.state ?? 'stopped';
      this.#reply(msg, { t: 'error', id: frame.id, code: 'SYN_ERR_AGENT_UNAVAILABLE', message: `Host ${this.#o.hostId} no longer serves agent "${agent}" (${state})`, details: { agent, state, host: this.#o.hostId } });
      return;
    }
    this.#reply(msg, { t: 'accepted', id: frame.id, host: this.#o.hostId, ctl: ctlSubject(this.#o.namespace, this.#o.hostId) });
    this.#serve(frame);
  }

  #serve(run: HopRun): void {
    const nc = this.#nc!;
    const ctx = this.#ctx!;
    const o = this.#o;
    const log = this.#log!.child({ runId: run.id, front: run.front, agent: run.agent, ...(run.turnId === undefined ? {} : { turnId: run.turnId }) });
    const abort = new AbortController();
    let seq = 0;
    let keepalive: TimerHandle | undefined;
    const send = (frame: HopFrame): void => {
      if (nc.isClosed()) return;
      nc.publish(run.inbox, encodeHopFrame(frame, o.maxFrameBytes));
    };
    const ping = (): void => {
      keepalive = undefined;
      if (abort.signal.aborted || nc.isClosed()) return;
      nc.request(run.inbox, encodeHopFrame({ t: 'keepalive', id: run.id, from: 'host' }, o.maxFrameBytes), { timeout: o.keepaliveMs * 3 }).then(
        () => undefined,
        (error: unknown) => {
          if (!isNoResponders(error) || abort.signal.aborted) return; // a slow front is the front's business (its own deadline)
          log.warn({ code: 'SYN_ERR_ABORTED' }, 'front gone (no responders on its inbox): cancelling its run');
          abort.abort(synErr('SYN_ERR_ABORTED', `Front ${run.front} is gone`, { requestId: run.id, front: run.front, reason: 'front_gone' }));
        },
      );
      if (!abort.signal.aborted) keepalive = ctx.clock.setTimeout(ping, o.keepaliveMs);
    };
    keepalive = ctx.clock.setTimeout(ping, o.keepaliveMs);
    const done = ctx
      .request(run.agent, {
        prompt: run.prompt as Prompt | null,
        history: [...run.history],
        ...(run.timeoutMs === null ? {} : { timeoutMs: run.timeoutMs }),
        signal: abort.signal,
        // Streamed only when the front's caller streams: a plain sendMessage stays a plain run on the
        // worker (an agent whose model cannot stream, e.g. FunctionModel without stream_function, works).
        ...(run.stream !== true
          ? {}
          : {
              onEvent: (event: unknown) => {
                try {
                  send({ t: 'event', id: run.id, seq: seq++, event: event as Record<string, unknown> & { kind: string } });
                } catch (error) {
                  abort.abort(error); // an oversized event: the run fails coded, the front hears it
                }
              },
            }),
        ...(run.conversationId === undefined ? {} : { conversationId: run.conversationId }),
        ...(run.turnId === undefined ? {} : { turnId: run.turnId }),
        ...(run.options === undefined ? {} : { runOptions: run.options as unknown as RunOptionsFrame }),
        ...(run.toolResults === undefined ? {} : { toolResults: run.toolResults as unknown as ToolResultsFrame }),
        remoteTools: new Set(run.tools),
        served: { runId: run.id, host: o.hostId, front: run.front },
        onToolCall: async (call) => {
          const reply = await nc.request(run.inbox, encodeHopFrame({ t: 'tool_call', id: run.id, callId: call.callId, tool: call.tool, args: call.args }, o.maxFrameBytes), { timeout: run.timeoutMs ?? 3_600_000 });
          const frame = decodeHopFrame(reply.data, o.maxFrameBytes);
          if (frame.t !== 'tool_result') throw synErr('SYN_ERR_PROTOCOL', `Front answered a tool call with "${frame.t}"`, { frameType: frame.t, field: 't', hop: true });
          if (!frame.ok) throw new Error(frame.error);
          return frame.value;
        },
      })
      .then(
        (result) => {
          try {
            send({
              t: 'result',
              id: run.id,
              output: result.output,
              ...(result.outputType === undefined ? {} : { outputType: result.outputType }),
              messages: result.messages,
              usage: result.usage as unknown as Record<string, unknown>,
              ...(result.deferred === undefined ? {} : { deferred: result.deferred as unknown as Record<string, unknown> }),
            });
          } catch (error) {
            sendError(error);
          }
        },
        (error: unknown) => sendError(abort.signal.aborted && isSynapseError(abort.signal.reason) && !isSynapseError(error) ? abort.signal.reason : error),
      )
      .finally(() => {
        if (keepalive !== undefined) ctx.clock.clearTimeout(keepalive);
        this.#runs.delete(run.id);
      });
    const sendError = (error: unknown): void => {
      // Every error a served run rejects with is coded; anything else is reported as a failure of the agent.
      const code = isSynapseError(error) ? error.code : 'SYN_ERR_AGENT_FAILED';
      const message = (error instanceof Error ? error.message : String(error)).slice(0, 64 * 1024);
      const details = isSynapseError(error) ? { ...error.details } : { type: errorCodeOf(error) };
      try {
        send({ t: 'error', id: run.id, code, message, details });
      } catch {
        try {
          send({ t: 'error', id: run.id, code, message: message.slice(0, 1000), details: { detailsDropped: true } }); // details not JSON or too large
        } catch (error2) {
          log.error({ err: error2 }, 'error frame could not be sent; the front fails the run by keepalive silence');
        }
      }
    };
    this.#runs.set(run.id, { abort, done, log });
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#offAgents?.();
    if (this.#advertTimer !== undefined) this.#ctx!.clock.clearTimeout(this.#advertTimer);
    this.#advertTimer = undefined;
    for (const sub of this.#subs.values()) sub.unsubscribe(); // take no more runs
    this.#subs.clear();
    this.#advert([]); // a last advert: serving nothing (fronts need not wait 3 periods)
    const runs = [...this.#runs.values()];
    for (const r of runs) r.abort.abort(synErr('SYN_ERR_SHUTDOWN', `Host ${this.#o.hostId} is stopping`, { host: this.#o.hostId }));
    await Promise.all(runs.map((r) => r.done.catch(() => undefined))); // their error frames are sent
    const nc = this.#nc;
    if (nc !== undefined && !nc.isClosed()) {
      await nc.flush().catch(() => undefined);
      await nc.close();
    }
  }
}
