/**
 * `natsFront(options)`: the front side of a remote agent over NATS (docs/nats.md).
 *
 * One run: subscribe a fresh inbox, send `run` as a request on `syn.<ns>.run.<agent>` (a queue
 * group: one host takes it). The reply is `accepted` (with the host's control subject) or
 * `error`; "no responders" (no host serves the agent) is SYN_ERR_AGENT_UNAVAILABLE at once. The
 * host then publishes `event` / `result` / `error` on the inbox and requests `tool_call` and
 * `keepalive` there (answered here). Any frame from the host is a sign of life; silence longer
 * than `hostLostMs` (on the system clock) fails the run with SYN_ERR_AGENT_CRASHED
 * `{ reason: 'host_lost' }`. An aborted run (deadline, caller, shutdown) publishes `cancel` on the
 * host's control subject. Dispatch is at most once: nothing is re-sent.
 */
import { connect, createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { nanoid } from 'nanoid';
import type { Logger } from 'pino';
import type { AgentEvent, RunResult } from '../agent/router.ts';
import type { RemoteRun, RemoteRunHandlers, RemoteTransport, RemoteTransportContext } from '../agent/remote.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import { errorCodeOf, isSynapseError, synErr, type SynapseError } from '../errors.ts';
import type { Usage } from '../protocol/frames.ts';
import { DEFAULT_HOP_MAX_FRAME_BYTES, decodeHopFrame, encodeHopFrame, type HopAgentAdvert, type HopFrame } from './codec.ts';
import { checkConnectOptions, checkMs, checkServers, checkToken, errorFromHop, isNoResponders, isRequestTimeout, runSubject, showServers, statusSubject, type NatsConnectOptions, type ResolvedConnectOptions } from './shared.ts';
import type { RemoteHostStatus } from '../agent/remote.ts';

/** Most hosts a front remembers adverts of, per attached agent (bounded). */
const MAX_ADVERTISED_HOSTS = 1_024;
/** A host silent for this many of its advert periods is dropped. */
const ADVERT_EXPIRY_PERIODS = 3;
/** Inbox frames held while the host's `accepted` reply is still a pending promise (one socket read's worth). */
const MAX_EARLY_FRAMES = 4_096;

interface Advert {
  readonly at: number;
  readonly advertMs: number;
  readonly agent: HopAgentAdvert;
}

/** `natsFront(options)`: these, plus authentication, TLS and `inboxPrefix` ({@link NatsConnectOptions}). */
export interface NatsFrontOptions extends NatsConnectOptions {
  /** NATS server URL(s), e.g. `'nats://127.0.0.1:4222'`. */
  readonly servers: string | readonly string[];
  /** Subject namespace shared with the hosts (`syn.<namespace>.…`): `[A-Za-z0-9_-]{1,64}`. */
  readonly namespace: string;
  /** This front's id in frames and logs. Default `front-<random>`. */
  readonly frontId?: string;
  /** Silence from the host (no frame, no keepalive) after which a run fails `host_lost`. Default 3 000 ms (hosts send a keepalive every second). */
  readonly hostLostMs?: number;
  /** How long a host may take to accept a run. Default 2 000 ms. */
  readonly acceptTimeoutMs?: number;
  /** Largest host-hop frame. Default 8 MiB. */
  readonly maxFrameBytes?: number;
}

/** The defaults of {@link NatsFrontOptions}. */
export const NATS_FRONT_DEFAULTS = Object.freeze({ hostLostMs: 3_000, acceptTimeoutMs: 2_000, maxFrameBytes: DEFAULT_HOP_MAX_FRAME_BYTES });

/**
 * A {@link RemoteTransport} over NATS for `system.attachRemoteAgent`.
 * @throws SYN_ERR_INVALID_OPTION for a bad option.
 * @example
 * ```ts
 * await system.attachRemoteAgent({ id: 'support', transport: natsFront({ servers: 'nats://10.0.0.5:4222', namespace: 'prod' }) });
 * ```
 */
export function natsFront(options: NatsFrontOptions): RemoteTransport {
  if (typeof options !== 'object' || options === null) throw synErr('SYN_ERR_INVALID_OPTION', 'natsFront(options) needs { servers, namespace }', { option: 'options' });
  const servers = checkServers(options.servers);
  const namespace = checkToken('namespace', options.namespace);
  const frontId = options.frontId === undefined ? `front-${nanoid(8).replace(/[^A-Za-z0-9_-]/g, '_')}` : checkToken('frontId', options.frontId);
  return new NatsFront({
    servers,
    namespace,
    frontId,
    hostLostMs: checkMs('hostLostMs', options.hostLostMs, NATS_FRONT_DEFAULTS.hostLostMs),
    acceptTimeoutMs: checkMs('acceptTimeoutMs', options.acceptTimeoutMs, NATS_FRONT_DEFAULTS.acceptTimeoutMs),
    maxFrameBytes: checkMs('maxFrameBytes', options.maxFrameBytes, NATS_FRONT_DEFAULTS.maxFrameBytes),
    connect: checkConnectOptions(options),
  });
}

interface Resolved {
  servers: string | string[];
  namespace: string;
  frontId: string;
  hostLostMs: number;
  acceptTimeoutMs: number;
  maxFrameBytes: number;
  /** Auth, TLS, inbox prefix for the NATS client (never logged). */
  connect: ResolvedConnectOptions;
}

class NatsFront implements RemoteTransport {
  readonly kind = 'nats';
  /** This front's id (`frontId`): the hosts log it and label `synapse_remote_served_total` with it. */
  get frontId(): string {
    return this.#o.frontId;
  }
  readonly #o: Resolved;
  #nc: NatsConnection | undefined;
  #clock: Clock | undefined;
  #log: Logger | undefined;
  #agent = '';
  readonly #hosts = new Map<string, number>();
  /** Status adverts of the hosts that have this agent, by host id (expired on read). */
  readonly #adverts = new Map<string, Advert>();
  readonly #runs = new Set<(error: SynapseError) => void>();
  #closed = false;

  constructor(o: Resolved) {
    this.#o = o;
  }

  async open(context: RemoteTransportContext): Promise<void> {
    if (this.#nc !== undefined) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'This natsFront transport is already attached: create one per remote agent', { argument: 'transport' });
    this.#clock = context.clock;
    this.#agent = context.agent;
    this.#log = context.log.child({ front: this.#o.frontId });
    try {
      this.#nc = await connect({ ...this.#o.connect, servers: this.#o.servers, name: `synapse-front-${this.#o.frontId}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (error) {
      throw synErr('SYN_ERR_AGENT_UNAVAILABLE', `Cannot connect to NATS (${showServers(this.#o.servers)}) for remote agent "${context.agent}": ${error instanceof Error ? error.message : String(error)}`, { agent: context.agent, state: 'unreachable', reason: 'nats_connect' }, error);
    }
    this.#nc.subscribe(statusSubject(this.#o.namespace, '*'), { callback: (err, msg) => void (err === null && this.#onAdvert(msg)) });
    // Attached means subscribed: the server has the advert subscription before attachRemoteAgent resolves.
    await this.#nc.flush();
  }

  #onAdvert(msg: Msg): void {
    let frame: HopFrame;
    try {
      frame = decodeHopFrame(msg.data, this.#o.maxFrameBytes);
    } catch (error) {
      this.#log!.debug({ err: error, subject: msg.subject }, 'status advert ignored');
      return;
    }
    if (frame.t !== 'status') return;
    const agent = frame.agents.find((a) => a.id === this.#agent);
    const before = this.#adverts.get(frame.host);
    this.#adverts.delete(frame.host); // re-inserted last: the oldest advert is the first key
    if (agent?.state !== before?.agent.state) this.#log!.info({ host: frame.host, agent: this.#agent, state: agent?.state ?? 'gone', was: before?.agent.state ?? 'unknown' }, 'host advert: agent state changed');
    if (agent === undefined) return;
    this.#adverts.set(frame.host, { at: this.#clock!.now(), advertMs: frame.advertMs, agent });
    if (this.#adverts.size > MAX_ADVERTISED_HOSTS) this.#adverts.delete(this.#adverts.keys().next().value!);
  }

  /** The hosts whose adverts name this agent and are fresh (a host silent for 3 advert periods is dropped). */
  #known(): RemoteHostStatus[] {
    const now = this.#clock!.now();
    const out: RemoteHostStatus[] = [];
    for (const [host, a] of this.#adverts) {
      const age = now - a.at;
      if (age > a.advertMs * ADVERT_EXPIRY_PERIODS) {
        this.#adverts.delete(host);
        continue;
      }
      const retry = a.agent.nextRetryInMs;
      out.push({ id: host, state: a.agent.state, inFlight: a.agent.inFlight, capacity: a.agent.capacity, advertAgeMs: Math.round(age), ...(retry === undefined ? {} : { nextRetryAt: a.at + retry }) });
    }
    return out;
  }

  /** The earliest `nextRetryAt` (this front's clock) of the hosts that advertise the agent quarantined. */
  #nextRetryAt(known: readonly RemoteHostStatus[]): number | undefined {
    let min: number | undefined;
    for (const h of known) if (h.nextRetryAt !== undefined && (min === undefined || h.nextRetryAt < min)) min = h.nextRetryAt;
    return min;
  }

  describe(): { hosts: string[]; known: RemoteHostStatus[]; nextRetryAt?: number } {
    const known = this.#known();
    const nextRetryAt = this.#nextRetryAt(known);
    return { hosts: [...this.#hosts.keys()], known, ...(nextRetryAt === undefined ? {} : { nextRetryAt }) };
  }

  run(run: RemoteRun, handlers: RemoteRunHandlers): Promise<RunResult> {
    const nc = this.#nc;
    const clock = this.#clock!;
    const log = this.#log!.child({ runId: run.id, ...(run.turnId === undefined ? {} : { turnId: run.turnId }) });
    const o = this.#o;
    if (nc === undefined || this.#closed) return Promise.reject(synErr('SYN_ERR_SHUTDOWN', `Remote agent "${run.agent}" transport is closed`, { agent: run.agent }));
    if (handlers.signal.aborted) return Promise.reject(handlers.signal.reason);
    const inbox = createInbox(o.connect.inboxPrefix);
    const tools = new AbortController();
    return new Promise<RunResult>((resolve, reject) => {
      let settled = false;
      let host: string | undefined;
      let ctl: string | undefined;
      let lastSeen = clock.now();
      let watchdog: TimerHandle | undefined;
      let nextSeq = 0;

      const cancel = (reason: string): void => {
        if (ctl === undefined || nc.isClosed()) return;
        try {
          nc.publish(ctl, encodeHopFrame({ t: 'cancel', id: run.id, reason }, o.maxFrameBytes));
        } catch (error) {
          log.warn({ err: error }, 'cancel could not be sent to the host');
        }
      };
      const finish = (error: unknown, value?: RunResult): void => {
        if (settled) return;
        settled = true;
        sub.unsubscribe();
        if (watchdog !== undefined) clock.clearTimeout(watchdog);
        handlers.signal.removeEventListener('abort', onAbort);
        this.#runs.delete(shutdown);
        tools.abort(error ?? synErr('SYN_ERR_ABORTED', 'run settled'));
        if (error === undefined) resolve(value!);
        else reject(error);
      };
      let failedWith: string | undefined; // the code a run failed with before its host's `accepted` was read
      const fail = (error: SynapseError): void => {
        if (settled) return;
        failedWith = error.code;
        cancel(error.code);
        finish(error);
      };
      const shutdown = (error: SynapseError): void => fail(error);
      const onAbort = (): void => {
        const reason: unknown = handlers.signal.reason;
        if (settled) return;
        cancel(isSynapseError(reason) ? reason.code : 'SYN_ERR_ABORTED');
        finish(reason);
      };
      const arm = (delay: number): void => {
        watchdog = clock.setTimeout(() => {
          watchdog = undefined;
          const silent = clock.now() - lastSeen;
          if (silent < o.hostLostMs) return arm(o.hostLostMs - silent);
          log.warn({ host, silentMs: Math.round(silent), code: 'SYN_ERR_AGENT_CRASHED' }, 'host lost: keepalive silence');
          fail(synErr('SYN_ERR_AGENT_CRASHED', `Host ${host ?? '?'} of remote agent "${run.agent}" went silent for ${Math.round(silent)} ms (hostLostMs ${o.hostLostMs}) with the run in flight`, { agent: run.agent, reason: 'host_lost', ...(host === undefined ? {} : { host }), hostLostMs: o.hostLostMs, requestId: run.id }));
        }, delay);
      };

      // Frames on the run inbox can be read before the `accepted` reply is: the reply settles a
      // promise (a microtask) while inbox callbacks run synchronously in the same read. They wait
      // here until the accept is handled, so a result never settles a run whose host is unknown.
      let early: Msg[] | undefined = [];
      const onMessage = (msg: Msg): void => {
        if (settled) return;
        if (early !== undefined) {
          if (early.length >= MAX_EARLY_FRAMES) return fail(synErr('SYN_ERR_PROTOCOL', `More than ${MAX_EARLY_FRAMES} host-hop frames arrived before the host's "accepted"`, { hop: true, field: 't' }));
          early.push(msg);
          return;
        }
        let frame: HopFrame;
        try {
          frame = decodeHopFrame(msg.data, o.maxFrameBytes);
        } catch (error) {
          fail(error as SynapseError);
          return;
        }
        if (frame.id !== run.id) return; // a stray frame (not ours): ignore
        lastSeen = clock.now();
        switch (frame.t) {
          case 'event':
            if (frame.seq !== nextSeq) {
              // NATS core is at most once: events the host published while this front's connection was
              // down (a NATS server restart, a reconnect) are gone. The run is lost in transit like a
              // host_lost one (retryable with the same turn id; cancelled on the host), not a protocol defect.
              log.warn({ host, expected: nextSeq, received: frame.seq, code: 'SYN_ERR_AGENT_CRASHED' }, 'remote run lost events in transit');
              fail(synErr('SYN_ERR_AGENT_CRASHED', `Host-hop event ${frame.seq} received, ${nextSeq} expected: events of the run were lost in transit (NATS reconnect?)`, { agent: run.agent, reason: 'events_lost', ...(host === undefined ? {} : { host }), expected: nextSeq, received: frame.seq, requestId: run.id }));
              return;
            }
            nextSeq++;
            try {
              handlers.onEvent?.(frame.event as unknown as AgentEvent);
            } catch (error) {
              setImmediate(() => {
                throw error;
              });
            }
            return;
          case 'keepalive':
            msg.respond(encodeHopFrame({ t: 'keepalive', id: run.id, from: 'front' }, o.maxFrameBytes));
            return;
          case 'tool_call': {
            const reply = (value: { ok: true; value: unknown } | { ok: false; error: string }): void => {
              if (settled) return;
              try {
                msg.respond(encodeHopFrame({ t: 'tool_result', id: run.id, callId: frame.callId, ...value }, o.maxFrameBytes));
              } catch (error) {
                msg.respond(encodeHopFrame({ t: 'tool_result', id: run.id, callId: frame.callId, ok: false, error: `tool result could not be sent: ${errorCodeOf(error)}` }, o.maxFrameBytes));
              }
            };
            handlers.onToolCall({ callId: frame.callId, tool: frame.tool, args: frame.args, signal: tools.signal }).then(
              (value) => reply({ ok: true, value: value === undefined ? null : value }),
              (error: unknown) => reply({ ok: false, error: error instanceof Error ? error.message : String(error) }),
            );
            return;
          }
          case 'result':
            finish(undefined, {
              output: frame.output,
              ...(frame.outputType === undefined ? {} : { outputType: frame.outputType }),
              messages: frame.messages,
              usage: frame.usage as unknown as Usage,
              ...(frame.deferred === undefined ? {} : { deferred: frame.deferred as unknown as NonNullable<RunResult['deferred']> }),
            });
            return;
          case 'error':
            finish(errorFromHop(frame, host));
            return;
          default:
            fail(synErr('SYN_ERR_PROTOCOL', `Unexpected host-hop "${frame.t}" frame on the run inbox`, { frameType: frame.t, field: 't', hop: true }));
        }
      };
      const sub = nc.subscribe(inbox, { callback: (err, msg) => (err === null ? onMessage(msg) : fail(synErr('SYN_ERR_PROTOCOL', `NATS subscription failed: ${err.message}`, { hop: true }, err))) });
      handlers.signal.addEventListener('abort', onAbort, { once: true });
      this.#runs.add(shutdown);

      let payload: Uint8Array;
      try {
        payload = encodeHopFrame(
          {
            t: 'run',
            id: run.id,
            agent: run.agent,
            front: o.frontId,
            inbox,
            prompt: run.prompt,
            history: run.history,
            timeoutMs: run.timeoutMs,
            ...(run.conversationId === undefined ? {} : { conversationId: run.conversationId }),
            ...(run.turnId === undefined ? {} : { turnId: run.turnId }),
            ...(run.runOptions === undefined ? {} : { options: run.runOptions as Record<string, unknown> }),
            ...(run.toolResults === undefined ? {} : { toolResults: run.toolResults as unknown as Record<string, unknown> }),
            tools: run.tools,
            ...(handlers.onEvent === undefined ? {} : { stream: true as const }),
          },
          o.maxFrameBytes,
        );
      } catch (error) {
        finish(error);
        return;
      }
      nc.request(runSubject(o.namespace, run.agent), payload, { timeout: o.acceptTimeoutMs }).then(
        (msg) => {
          let frame: HopFrame;
          try {
            frame = decodeHopFrame(msg.data, o.maxFrameBytes);
          } catch (error) {
            finish(error);
            return;
          }
          // Refused before accepting: nothing ran (opt-in re-dispatch may send it again).
          if (frame.t === 'error') return finish(errorFromHop({ ...frame, details: { ...frame.details, refused: true } }, undefined));
          if (frame.t !== 'accepted' || frame.id !== run.id) return finish(synErr('SYN_ERR_PROTOCOL', `Host answered a run with "${frame.t}"`, { frameType: frame.t, field: 't', hop: true }));
          host = frame.host;
          ctl = frame.ctl;
          this.#hosts.set(host, clock.now());
          if (this.#hosts.size > 64) this.#hosts.delete(this.#hosts.keys().next().value!);
          if (settled) {
            cancel(failedWith ?? (isSynapseError(handlers.signal.reason) ? handlers.signal.reason.code : 'SYN_ERR_ABORTED')); // failed or aborted before it was accepted
            return;
          }
          log.debug({ host }, 'remote run accepted');
          handlers.onAccepted?.(host);
          lastSeen = clock.now();
          arm(o.hostLostMs);
          const waiting = early ?? [];
          early = undefined;
          for (const m of waiting) onMessage(m);
        },
        (error: unknown) => {
          if (isNoResponders(error)) {
            const nextRetryAt = this.#nextRetryAt(this.#known());
            const when = nextRetryAt === undefined ? '' : ` (a host retries it in ${Math.max(0, Math.round(nextRetryAt - clock.now()))} ms)`;
            finish(synErr('SYN_ERR_AGENT_UNAVAILABLE', `No host serves agent "${run.agent}" on NATS namespace "${o.namespace}"${when}`, { agent: run.agent, state: 'unavailable', reason: 'no_host', ...(nextRetryAt === undefined ? {} : { nextRetryAt }) }));
          } else if (isRequestTimeout(error)) {
            finish(synErr('SYN_ERR_AGENT_UNAVAILABLE', `No host accepted the run of "${run.agent}" within ${o.acceptTimeoutMs} ms`, { agent: run.agent, state: 'unavailable', reason: 'accept_timeout', acceptTimeoutMs: o.acceptTimeoutMs }, error));
          } else {
            finish(synErr('SYN_ERR_AGENT_UNAVAILABLE', `NATS request for "${run.agent}" failed: ${error instanceof Error ? error.message : String(error)}`, { agent: run.agent, state: 'unavailable', reason: 'nats' }, error));
          }
        },
      );
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const fail of [...this.#runs]) fail(synErr('SYN_ERR_SHUTDOWN', `Remote agent "${this.#agent}" was detached while the run was in flight`, { agent: this.#agent }));
    const nc = this.#nc;
    this.#nc = undefined;
    if (nc !== undefined && !nc.isClosed()) {
      await nc.flush().catch(() => undefined); // the cancels go out first
      await nc.close();
    }
  }
}
