/**
 * The supervision engine shared by `supervisor()` and `dynamicSupervisor()`: the ordered
 * child list, exit handling, restart strategies, backoff jobs and the intensity window.
 *
 * It runs inside the supervisor actor, one message at a time, so its state needs no locks;
 * every `await` is followed by a liveness check because a `kill()` of the supervisor can
 * abandon a handler half-way.
 */
import { ExitSignal } from '../actor/types.ts';
import type { ActorContext, ActorId, ActorRef, ExitReason, SpawnOptions, TimerRef } from '../actor/types.ts';
import { isSynapseError, synErr } from '../errors.ts';
import { formatReason } from '../actor/reason.ts';
import { awaitStarted, shutdownChild } from './lifecycle.ts';
import { SUP, fail, ok } from './messages.ts';
import type { ChildCounts, ChildInfo, Reply, SupervisorMessage } from './messages.ts';
import { notify } from './notify.ts';
import { rethrowLater } from '../rethrow.ts';
import { countInWindow, intensityExceeded, isAbnormal, nextDelay, recordRestart, shouldRestart } from './policy.ts';
import type { AutoShutdown, ResolvedChildSpec, Strategy } from './spec.ts';

/** Resolved configuration of one supervisor incarnation. */
export interface CoreConfig {
  readonly kind: 'static' | 'dynamic';
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly periodMs: number;
  readonly maxChildren: number;
  /** OTP `auto_shutdown`: what a significant child exiting by itself does to the supervisor. */
  readonly autoShutdown: AutoShutdown;
  readonly rand: () => number;
  /** Label in events and logs; default the actor's registered name, else its id. */
  readonly name: string | undefined;
}

/** Mutable record of one child (spec + current incarnation + counters). */
export interface Child {
  readonly spec: ResolvedChildSpec;
  ref: ActorRef | undefined;
  state: 'running' | 'backoff' | 'stopped';
  restarts: number;
  startupFailures: number;
  /** Consecutive restarts since the last backoff reset; the next delay is computed from it. */
  attempt: number;
  /** When the current incarnation finished `init` (clock ms); undefined when not running. */
  upSince: number | undefined;
  job: Job | undefined;
}

/**
 * A pending restart of a group of children, restarted together in start order: after a
 * backoff delay (a timer), or at once through a message to self when a restart attempt
 * failed to start (OTP's `try_again_restart`), so requests and shutdown get in between.
 */
interface Job {
  readonly id: number;
  /** The child whose exit (or failed start) caused the restart (OTP marks it `restarting`). */
  readonly trigger: Child;
  readonly members: Child[];
  timer: TimerRef | undefined;
  readonly at: number;
}

/**
 * One supervisor incarnation's state and rules. Created in the behaviour's `init`; every
 * method runs inside that actor's handler (never concurrently).
 */
export class SupervisorCore {
  readonly #ctx: ActorContext<SupervisorMessage>;
  readonly #cfg: CoreConfig;
  readonly label: string;
  /** Children by id; a Map iterates in insertion order, which is the start order (O(1) lookup and removal). */
  readonly #children = new Map<string, Child>();
  /** Every incarnation we spawned whose EXIT signal has not been handled yet (bounded by live + exiting children). */
  readonly #linked = new Map<ActorId, Child>();
  readonly #jobs = new Map<number, Job>();
  #stamps: number[] = [];
  #jobSeq = 0;
  #halted = false;

  constructor(ctx: ActorContext<SupervisorMessage>, cfg: CoreConfig) {
    this.#ctx = ctx;
    this.#cfg = cfg;
    this.label = cfg.name ?? ctx.self.name ?? ctx.self.id;
  }

  /** False once escalating/terminating or after the supervisor itself died mid-handler. */
  get live(): boolean {
    return !this.#halted && this.#ctx.self.isAlive();
  }

  get maxChildren(): number {
    return this.#cfg.maxChildren;
  }

  get autoShutdown(): AutoShutdown {
    return this.#cfg.autoShutdown;
  }

  get size(): number {
    return this.#children.size;
  }

  find(id: string): Child | undefined {
    return this.#children.get(id);
  }

  /**
   * Starts `specs` in order. If one fails, the already-started ones are stopped in reverse
   * start order. @throws SYN_ERR_START_FAILED naming the child.
   */
  async startInitial(specs: readonly ResolvedChildSpec[]): Promise<void> {
    for (const spec of specs) {
      const reply = await this.add(spec);
      if (!reply.ok) {
        await this.stopAll();
        throw reply.error;
      }
    }
  }

  /**
   * Appends a child and starts it (attempt 0); on failure the child is not kept. A start
   * that returns `'ignore'` replies `undefined` (OTP `{ok, undefined}`): a static supervisor
   * keeps the spec as `stopped`, except for a temporary child; a dynamic one does not add it.
   */
  async add(spec: ResolvedChildSpec): Promise<Reply<ActorRef | undefined>> {
    const child: Child = { spec, ref: undefined, state: 'stopped', restarts: 0, startupFailures: 0, attempt: 0, upSince: undefined, job: undefined };
    this.#children.set(spec.id, child);
    const reply = await this.startIncarnation(child);
    if (!reply.ok || (reply.value === undefined && !this.#keepsIgnored(child))) this.remove(child);
    return reply;
  }

  /** OTP: an ignored child's spec is kept by a static supervisor unless it is temporary. */
  #keepsIgnored(child: Child): boolean {
    return this.#cfg.kind === 'static' && child.spec.restart !== 'temporary';
  }

  /**
   * Spawns one incarnation linked to the supervisor and waits (bounded) for its `init`.
   * Replies `undefined` when the child's `start` returned `'ignore'` (nothing spawned) or its
   * actor's `init` did (the actor exited `'normal'`).
   */
  async startIncarnation(child: Child): Promise<Reply<ActorRef | undefined>> {
    const { spec } = child;
    let ref: ActorRef;
    try {
      const behaviour = spec.start({ attempt: child.attempt });
      if (behaviour === 'ignore') {
        child.state = 'stopped';
        this.#ctx.log.debug({ child: spec.id }, 'supervisor: child start returned ignore');
        return ok(undefined);
      }
      const options: SpawnOptions = { linkTo: this.#ctx.self, logContext: { supervisor: this.label, child: spec.id } };
      if (spec.spawn.name !== undefined) options.name = spec.spawn.name;
      if (spec.spawn.mailbox !== undefined) options.mailbox = spec.spawn.mailbox;
      if (spec.type === 'supervisor') options.trapExit = true;
      ref = this.#ctx.system.spawn(behaviour, options);
    } catch (error) {
      return fail(this.#startFailed(child, error));
    }
    this.#linked.set(ref.id, child);
    try {
      await awaitStarted(ref, spec.startTimeoutMs, this.#ctx.clock);
    } catch (error) {
      if (isIgnored(error)) {
        // OTP: init returned ignore; the actor exited 'normal' and is no incarnation of ours.
        this.#linked.delete(ref.id);
        child.state = 'stopped';
        this.#ctx.log.debug({ child: spec.id }, 'supervisor: child init returned ignore');
        return ok(undefined);
      }
      return fail(this.#startFailed(child, error));
    }
    child.ref = ref;
    child.state = 'running';
    child.upSince = this.#ctx.clock.now();
    notify(this.#ctx, 'supervisor.child_started', { supervisor: this.label, child: spec.id, actor: ref.id });
    return ok(ref);
  }

  #startFailed(child: Child, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    return synErr('SYN_ERR_START_FAILED', `Supervisor ${this.label}: child "${child.spec.id}" failed to start: ${why}`, { supervisor: this.label, child: child.spec.id }, cause);
  }

  /** Handles an EXIT signal: a child crash/exit, a stale incarnation, or our parent exiting. */
  async onExit(signal: ExitSignal): Promise<void> {
    const child = this.#linked.get(signal.from.id);
    if (child === undefined) {
      // Not one of our incarnations: the parent (or another linked actor) died. OTP: a
      // supervisor exits with its parent's reason; a 'normal' exit of a peer is ignored.
      if (signal.reason !== 'normal') {
        this.#ctx.log.warn({ from: signal.from.id, reason: formatReason(signal.reason) }, 'supervisor: linked actor exited; stopping');
        this.#ctx.stop(signal.reason);
      }
      return;
    }
    this.#linked.delete(signal.from.id);
    if (child.ref?.id !== signal.from.id || !this.live) return; // stale: already stopped or replaced by us
    this.#markDown(child, signal.reason);
    await this.#afterExit(child, signal.reason);
  }

  async #afterExit(child: Child, reason: ExitReason): Promise<void> {
    if (!shouldRestart(child.spec.restart, reason)) {
      if (child.spec.restart === 'temporary' || this.#cfg.kind === 'dynamic') this.remove(child);
      if (child.spec.significant) this.#autoShutdown(child);
      return;
    }
    await this.#scheduleRestart(child, false);
  }

  /**
   * OTP `auto_shutdown`: a significant child exited by itself and is not restarted. With
   * `any_significant` the supervisor shuts down; with `all_significant` once no other
   * significant child is running or about to restart. It exits with reason `'shutdown'`
   * (children stopped in reverse start order by `terminate`), which its parent sees as clean.
   */
  #autoShutdown(child: Child): void {
    const mode = this.#cfg.autoShutdown;
    if (mode === 'never') return;
    if (mode === 'all_significant') {
      for (const c of this.#children.values()) if (c !== child && c.spec.significant && (c.ref !== undefined || c.job !== undefined)) return;
    }
    this.#halted = true;
    this.#ctx.log.info({ child: child.spec.id, autoShutdown: mode }, 'supervisor: significant child exited; shutting down');
    this.#ctx.stop('shutdown');
  }

  /** The children a restart of `child` affects, in start order (strategy). */
  #group(child: Child): Child[] {
    if (this.#cfg.kind === 'dynamic' || this.#cfg.strategy === 'one_for_one') return [child];
    const all = [...this.#children.values()];
    if (this.#cfg.strategy === 'one_for_all') return all;
    return all.slice(all.indexOf(child));
  }

  /** Stops the rest of `child`'s group (reverse start order), then restarts the group now or after backoff. */
  async #scheduleRestart(child: Child, startup: boolean): Promise<void> {
    const group = this.#group(child);
    for (const m of [...group].reverse()) {
      if (m === child) continue;
      this.#detach(m);
      await this.stopIncarnation(m);
      if (!this.live) return;
    }
    for (const m of group) if (m !== child && m.spec.restart === 'temporary') this.remove(m);
    const members = group.filter((m) => this.#children.get(m.spec.id) === m);
    const delay = child.spec.backoff === false ? 0 : nextDelay(child.attempt, child.spec.backoff, this.#cfg.rand);
    for (const m of members) m.attempt++;
    const now = this.#ctx.clock.now();
    const job: Job = { id: ++this.#jobSeq, trigger: child, members, timer: undefined, at: now + delay };
    for (const m of members) {
      m.state = 'backoff';
      m.job = job;
    }
    callHook(() => child.spec.hooks?.restartScheduled?.({ delayMs: delay, attempt: child.attempt, startup }));
    notify(this.#ctx, 'supervisor.restart_scheduled', { supervisor: this.label, child: child.spec.id, delayMs: delay, attempt: child.attempt, startup });
    // A first restart without backoff happens inside this handler (exactly OTP).
    if (delay === 0 && !startup) return this.#runJob(job);
    this.#jobs.set(job.id, job);
    const message = { [SUP]: 'restart', job: job.id } as const;
    if (delay > 0) {
      job.timer = this.#ctx.sendAfter(message, delay);
      return;
    }
    // A failed restart attempt is retried through the mailbox (OTP's try_again_restart): the
    // calls and the stop queued meanwhile are handled first, so a child whose start keeps
    // failing slowly can never wedge the supervisor in a loop inside one handler.
    try {
      this.#ctx.self.send(message);
    } catch (error) {
      // Our own mailbox is full (overflow 'reject'): retry inside this handler, as before.
      this.#ctx.log.debug({ err: error, child: child.spec.id }, 'supervisor: retry not queued (mailbox full); retrying now');
      return this.#runJob(job);
    }
  }

  /** Backoff timer fired. */
  async onRestartTimer(jobId: number): Promise<void> {
    const job = this.#jobs.get(jobId);
    if (job !== undefined && this.live) await this.#runJob(job);
  }

  /** A restart happens now: count it (intensity), then start the group in start order. */
  async #runJob(job: Job): Promise<void> {
    this.#jobs.delete(job.id);
    job.timer?.cancel();
    if (job.members.length === 0) return;
    const now = this.#ctx.clock.now();
    this.#stamps = recordRestart(this.#stamps, now, this.#cfg); // bounded: at most intensity + 1
    if (intensityExceeded(this.#stamps, now, this.#cfg)) return this.#escalate();
    for (const m of [...job.members]) {
      if (m.job !== job) continue; // moved into a newer job meanwhile
      m.job = undefined;
      const reply = await this.startIncarnation(m);
      if (!this.live) return;
      if (reply.ok) {
        if (reply.value === undefined) {
          // OTP: a restart whose start returns ignore leaves the child without a process (a
          // dynamic supervisor forgets it); it is not retried.
          if (this.#cfg.kind === 'dynamic' || m.spec.restart === 'temporary') this.remove(m);
          continue;
        }
        m.restarts++;
        callHook(() => m.spec.hooks?.restarted?.({ attempt: m.attempt }));
        notify(this.#ctx, 'supervisor.restarted', { supervisor: this.label, child: m.spec.id, actor: reply.value.id, attempt: m.attempt });
        continue;
      }
      m.startupFailures++;
      m.state = 'stopped';
      // Debug: the failure is logged as the child's actor.crashed, the retry as supervisor.restart_scheduled (startup).
      this.#ctx.log.debug({ child: m.spec.id, err: reply.error.cause }, 'supervisor: restart failed to start');
      if (isSynapseError(reply.error.cause, 'SYN_ERR_SYSTEM_STOPPED')) {
        // The runtime is shutting down (it stops actors newest first, children before us):
        // retrying can never succeed, so leave the rest of the group stopped.
        for (const rest of [...job.members]) this.#detach(rest);
        return;
      }
      // A start-up failure is handled like a crash of that child, flagged `startup`; the
      // not-yet-started members belong to its group and move into the new job.
      return this.#scheduleRestart(m, true);
    }
  }

  async #escalate(): Promise<void> {
    this.#halted = true;
    const restarts = countInWindow(this.#stamps, this.#ctx.clock.now(), this.#cfg.periodMs);
    notify(this.#ctx, 'supervisor.intensity_exceeded', { supervisor: this.label, restarts, intensity: this.#cfg.intensity, periodMs: this.#cfg.periodMs });
    await this.stopAll();
    notify(this.#ctx, 'supervisor.escalated', { supervisor: this.label, reason: 'shutdown' });
    this.#ctx.stop('shutdown');
  }

  /** Removes `m` from its pending restart job (cancelling the timer when the job empties). */
  #detach(m: Child): void {
    const job = m.job;
    if (job === undefined) return;
    m.job = undefined;
    m.state = m.ref === undefined ? 'stopped' : 'running';
    const i = job.members.indexOf(m);
    if (i >= 0) job.members.splice(i, 1);
    if (job.members.length === 0 && job.timer !== undefined) {
      job.timer.cancel();
      this.#jobs.delete(job.id);
    }
  }

  /** Records that `child`'s incarnation is gone: resets the backoff attempt after enough uptime, reports the exit. */
  #markDown(child: Child, reason: ExitReason): void {
    const now = this.#ctx.clock.now();
    const resetAfter = child.spec.backoff === false ? this.#cfg.periodMs : child.spec.backoff.resetAfterMs;
    if (child.upSince !== undefined && now - child.upSince >= resetAfter) child.attempt = 0;
    child.upSince = undefined;
    child.ref = undefined;
    child.state = 'stopped';
    notify(this.#ctx, 'supervisor.child_exited', { supervisor: this.label, child: child.spec.id, reason: formatReason(reason), abnormal: isAbnormal(reason) });
  }

  /**
   * Cancels `child`'s pending restart and stops its incarnation (per its `shutdown` spec).
   * If `child` caused a pending group restart, the whole group's restart is cancelled: the
   * children that depend on it stay stopped (OTP: they are left `undefined`).
   */
  async stopChild(child: Child): Promise<void> {
    const job = child.job;
    if (job !== undefined && job.trigger === child) for (const m of [...job.members]) this.#detach(m);
    else this.#detach(child);
    await this.stopIncarnation(child);
  }

  /** Stops the live incarnation (if any) per the child's `shutdown` spec; keeps any pending restart. */
  async stopIncarnation(child: Child): Promise<void> {
    const ref = child.ref;
    if (ref === undefined) return;
    const reason = await shutdownChild(ref, child.spec.shutdown, this.#ctx.clock);
    if (child.ref === ref) this.#markDown(child, reason);
  }

  /**
   * Stops every child and cancels all pending restarts: a static supervisor one at a time
   * in reverse start order; a dynamic one all at once (OTP `simple_one_for_one`, Elixir's
   * `DynamicSupervisor`: its children are independent, so shutdown takes the slowest
   * child's time, not the sum).
   */
  async stopAll(): Promise<void> {
    for (const job of this.#jobs.values()) job.timer?.cancel();
    this.#jobs.clear();
    const children = [...this.#children.values()].reverse();
    if (this.#cfg.kind === 'dynamic') {
      await Promise.all(children.map((child) => this.stopChild(child)));
      return;
    }
    for (const child of children) await this.stopChild(child);
  }

  /** Final cleanup when the supervisor actor terminates. */
  async terminate(): Promise<void> {
    this.#halted = true;
    await this.stopAll();
  }

  /** Forgets `child` (cancelling a pending restart); its incarnation must already be stopped. */
  remove(child: Child): void {
    this.#detach(child);
    if (this.#children.get(child.spec.id) === child) this.#children.delete(child.spec.id);
  }

  /** `whichChildren()` snapshot, in start order. */
  which(): ChildInfo[] {
    return [...this.#children.values()].map((c) => ({
      id: c.spec.id,
      state: c.state,
      type: c.spec.type,
      restarts: c.restarts,
      startupFailures: c.startupFailures,
      ...(c.ref === undefined ? {} : { ref: c.ref }),
      ...(c.job === undefined ? {} : { nextRestartAt: c.job.at }),
    }));
  }

  /** `countChildren()` snapshot. */
  counts(): ChildCounts {
    let supervisors = 0;
    let active = 0;
    for (const c of this.#children.values()) {
      if (c.spec.type === 'supervisor') supervisors++;
      if (c.ref !== undefined) active++;
    }
    return { specs: this.#children.size, active, supervisors, workers: this.#children.size - supervisors };
  }

  /** True while escalating/terminating: requests are refused with SYN_ERR_SHUTDOWN. */
  get halted(): boolean {
    return this.#halted;
  }
}

/** The `started` rejection of an actor whose `init` returned `'ignore'` (see `IGNORE`). */
function isIgnored(error: unknown): boolean {
  return isSynapseError(error, 'SYN_ERR_START_FAILED') && (error.details as { ignored?: unknown } | undefined)?.ignored === true;
}

/** Runs a child's hook; a throw is the owner's bug, reported on a fresh macrotask (never unwinds the restart logic). */
function callHook(call: () => void): void {
  try {
    call();
  } catch (error) {
    rethrowLater(error);
  }
}
