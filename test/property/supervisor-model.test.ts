// Model-based test of supervision: random command sequences run against a real supervisor
// (ActorRuntime on a SimulatedClock) and against a pure model of OTP supervision + backoff.
// After every command the children (ids, states, restart/start-up failure counts,
// nextRestartAt), the journal of starts/stops (order!), liveness, escalations and the number
// of live actors must agree. Replay a failure with FC_SEED (and FC_PATH), see docs/supervision.md.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../src/errors.ts';
import { nextDelay, intensityExceeded, pruneStamps, shouldRestart } from '../../src/supervisor/policy.ts';
import type { RestartType } from '../../src/supervisor/policy.ts';
import { startDynamicSupervisor, startSupervisor } from '../../src/supervisor/index.ts';
import type { BackoffSpec, DynamicSupervisorHandle, Strategy, SupervisorHandle } from '../../src/supervisor/index.ts';
import { Rig } from '../unit/supervisor/harness.ts';

// ── the pure model ──────────────────────────────────────────────────────────────────────

interface MJob {
  readonly id: number;
  /** The child whose exit or failed start caused the restart: terminating it cancels the whole job. */
  readonly trigger: MChild;
  readonly members: MChild[];
  readonly at: number;
}

interface MChild {
  readonly id: string;
  readonly restart: RestartType;
  readonly backoff: BackoffSpec | false;
  state: 'running' | 'backoff' | 'stopped';
  restarts: number;
  startupFailures: number;
  attempt: number;
  upSince: number | undefined;
  job: MJob | undefined;
}

interface Config {
  readonly kind: 'static' | 'dynamic';
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly periodMs: number;
  readonly rand: number;
  readonly maxChildren: number;
  readonly initial: readonly { id: string; restart: RestartType; backoff: BackoffSpec | false }[];
}

class Model {
  now = 1_000; // the Rig's SimulatedClock starts at 1000
  alive = true;
  children: MChild[] = [];
  jobs: MJob[] = [];
  stamps: number[] = [];
  jobSeq = 0;
  escalations = 0;
  readonly journal: string[] = [];
  readonly failInit = new Set<string>();

  constructor(readonly cfg: Config) {}

  find(id: string): MChild | undefined {
    return this.children.find((c) => c.id === id);
  }

  /** One start attempt of `c`; true if init succeeded. */
  startOnce(c: MChild): boolean {
    this.journal.push(`start:${c.id}:${c.attempt}`);
    if (this.failInit.has(c.id)) {
      this.journal.push(`init-failed:${c.id}`);
      return false;
    }
    c.state = 'running';
    c.upSince = this.now;
    return true;
  }

  add(id: string, restart: RestartType, backoff: BackoffSpec | false): 'ok' | 'taken' | 'overloaded' | 'failed' {
    if (this.find(id) !== undefined) return 'taken';
    if (this.cfg.kind === 'dynamic' && this.children.length >= this.cfg.maxChildren) return 'overloaded';
    const c: MChild = { id, restart, backoff, state: 'stopped', restarts: 0, startupFailures: 0, attempt: 0, upSince: undefined, job: undefined };
    this.children.push(c);
    if (this.startOnce(c)) return 'ok';
    this.remove(c);
    return 'failed';
  }

  markDown(c: MChild): void {
    const resetAfter = c.backoff === false ? this.cfg.periodMs : c.backoff.resetAfterMs;
    if (c.upSince !== undefined && this.now - c.upSince >= resetAfter) c.attempt = 0;
    c.upSince = undefined;
    c.state = 'stopped';
  }

  /** Supervisor-initiated stop of a running child: its terminate runs (journal). */
  stopRunning(c: MChild): void {
    if (c.state !== 'running') return;
    this.journal.push(`stop:${c.id}`);
    this.markDown(c);
  }

  detach(c: MChild): void {
    const job = c.job;
    if (job === undefined) return;
    c.job = undefined;
    if (c.state === 'backoff') c.state = 'stopped';
    job.members.splice(job.members.indexOf(c), 1);
    if (job.members.length === 0) this.jobs = this.jobs.filter((j) => j !== job);
  }

  remove(c: MChild): void {
    this.detach(c);
    this.children = this.children.filter((x) => x !== c);
  }

  /** A running child exited by itself with a clean (`normal`) or abnormal reason. */
  exit(c: MChild, abnormal: boolean): void {
    this.markDown(c);
    const reason = abnormal ? new Error('crash') : 'normal';
    if (!shouldRestart(c.restart, reason)) {
      if (c.restart === 'temporary' || this.cfg.kind === 'dynamic') this.remove(c);
      return;
    }
    this.scheduleRestart(c);
  }

  group(c: MChild): MChild[] {
    if (this.cfg.kind === 'dynamic' || this.cfg.strategy === 'one_for_one') return [c];
    if (this.cfg.strategy === 'one_for_all') return [...this.children];
    return this.children.slice(this.children.indexOf(c));
  }

  scheduleRestart(c: MChild): void {
    const group = this.group(c);
    for (const m of [...group].reverse()) {
      if (m === c) continue;
      this.detach(m);
      this.stopRunning(m);
    }
    for (const m of group) if (m !== c && m.restart === 'temporary') this.remove(m);
    const members = group.filter((m) => this.children.includes(m));
    const delay = c.backoff === false ? 0 : nextDelay(c.attempt, c.backoff, () => this.cfg.rand);
    for (const m of members) m.attempt++;
    const job: MJob = { id: ++this.jobSeq, trigger: c, members, at: this.now + delay };
    for (const m of members) {
      m.state = 'backoff';
      m.job = job;
    }
    if (delay === 0) this.runJob(job);
    else this.jobs.push(job);
  }

  runJob(job: MJob): void {
    this.jobs = this.jobs.filter((j) => j !== job);
    if (job.members.length === 0) return;
    this.stamps = pruneStamps([...this.stamps, this.now], this.now, this.cfg.periodMs);
    if (intensityExceeded(this.stamps, this.now, this.cfg)) return this.escalate();
    for (const m of [...job.members]) {
      if (m.job !== job) continue;
      m.job = undefined;
      if (this.startOnce(m)) {
        m.restarts++;
        continue;
      }
      m.startupFailures++;
      m.state = 'stopped';
      return this.scheduleRestart(m);
    }
  }

  escalate(): void {
    this.alive = false;
    this.escalations++;
    this.jobs = [];
    for (const c of [...this.children].reverse()) {
      c.job = undefined;
      this.stopRunning(c);
    }
  }

  terminate(c: MChild): void {
    const job = c.job;
    if (job !== undefined && job.trigger === c) for (const m of [...job.members]) this.detach(m);
    else this.detach(c);
    this.stopRunning(c);
    if (c.restart === 'temporary' || this.cfg.kind === 'dynamic') this.remove(c);
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      if (!this.alive) break;
      const due = this.jobs.filter((j) => j.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.now = due.at;
      this.runJob(due);
    }
    this.now = target;
  }
}

// ── the real system ─────────────────────────────────────────────────────────────────────

interface Real {
  readonly rig: Rig;
  readonly sup: SupervisorHandle | DynamicSupervisorHandle;
}

async function compare(m: Model, r: Real): Promise<void> {
  // A failed restart is retried through the supervisor's mailbox (one message per attempt):
  // settle until the retries stop, so the snapshot is not taken between two attempts.
  for (let i = 0, seen = -1; i < 50 && seen !== r.rig.journal.length + r.rig.events.length; i++) {
    seen = r.rig.journal.length + r.rig.events.length;
    await r.rig.settle();
  }
  expect(r.rig.clock.now()).toBe(m.now);
  expect(r.rig.journal).toEqual(m.journal);
  expect(r.sup.ref.isAlive()).toBe(m.alive);
  expect(r.rig.ofType('supervisor.escalated')).toHaveLength(m.escalations);
  if (!m.alive) {
    expect(await r.sup.ref.exited).toBe('shutdown');
    expect(r.rig.liveCount()).toBe(0);
    return;
  }
  const which = await r.sup.whichChildren();
  expect(which.map((c) => ({ id: c.id, state: c.state, restarts: c.restarts, startupFailures: c.startupFailures, nextRestartAt: c.nextRestartAt }))).toEqual(
    m.children.map((c) => ({ id: c.id, state: c.state, restarts: c.restarts, startupFailures: c.startupFailures, nextRestartAt: c.job?.at })),
  );
  for (const c of which) expect(c.ref?.isAlive() ?? false).toBe(c.state === 'running');
  expect(r.rig.liveCount()).toBe(1 + m.children.filter((c) => c.state === 'running').length);
}

// ── commands ────────────────────────────────────────────────────────────────────────────

type Cmd = fc.AsyncCommand<Model, Real>;
const IDS = ['a', 'b', 'c', 'd', 'e'] as const;
const BACKOFFS: (BackoffSpec | false)[] = [false, { minMs: 100, maxMs: 1_000, resetAfterMs: 2_000 }, { minMs: 300, maxMs: 5_000, resetAfterMs: 4_000 }];

class SpawnChild implements Cmd {
  constructor(
    readonly id: string,
    readonly restart: RestartType,
    readonly backoff: BackoffSpec | false,
  ) {}
  check = (m: Readonly<Model>) => m.alive;
  async run(m: Model, r: Real) {
    const expected = m.add(this.id, this.restart, this.backoff);
    const outcome = await r.sup.startChild({ id: this.id, start: r.rig.worker(this.id), restart: this.restart, backoff: this.backoff }).then(
      () => 'ok',
      (e: unknown) =>
        isSynapseError(e, 'SYN_ERR_NAME_TAKEN') ? 'taken' : isSynapseError(e, 'SYN_ERR_OVERLOADED') ? 'overloaded' : isSynapseError(e, 'SYN_ERR_START_FAILED') ? 'failed' : e,
    );
    expect(outcome).toBe(expected);
    await compare(m, r);
  }
  toString = () => `spawn(${this.id}, ${this.restart}, ${JSON.stringify(this.backoff)})`;
}

class CrashChild implements Cmd {
  constructor(
    readonly pick: number,
    readonly how: 'normal' | 'crash' | 'kill',
  ) {}
  check = (m: Readonly<Model>) => m.alive && m.children.some((c) => c.state === 'running');
  async run(m: Model, r: Real) {
    const running = m.children.filter((c) => c.state === 'running');
    const target = running[this.pick % running.length]!;
    const ref = await r.sup.childRef(target.id);
    if (this.how === 'normal') m.journal.push(`stop:${target.id}`); // terminate runs on a self-stop
    m.exit(target, this.how !== 'normal');
    if (this.how === 'kill') ref!.kill();
    else ref!.send(this.how);
    await ref!.exited;
    await compare(m, r);
  }
  toString = () => `crash(#${this.pick}, ${this.how})`;
}

class TerminateChild implements Cmd {
  constructor(readonly id: string) {}
  check = (m: Readonly<Model>) => m.alive;
  async run(m: Model, r: Real) {
    const c = m.find(this.id);
    if (c === undefined) {
      await expect(r.sup.terminateChild(this.id)).rejects.toMatchObject({ code: 'SYN_ERR_NO_CHILD' });
    } else {
      m.terminate(c);
      await r.sup.terminateChild(this.id);
    }
    await compare(m, r);
  }
  toString = () => `terminate(${this.id})`;
}

class SetFailInit implements Cmd {
  constructor(
    readonly id: string,
    readonly fail: boolean,
  ) {}
  check = (m: Readonly<Model>) => m.alive;
  async run(m: Model, r: Real) {
    if (this.fail) m.failInit.add(this.id);
    else m.failInit.delete(this.id);
    r.rig.script(this.id).failInit = this.fail;
    await compare(m, r);
  }
  toString = () => `failInit(${this.id}, ${this.fail})`;
}

class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = (m: Readonly<Model>) => m.alive;
  async run(m: Model, r: Real) {
    m.advance(this.ms);
    await r.rig.clock.advance(this.ms);
    await compare(m, r);
  }
  toString = () => `advance(${this.ms})`;
}

/** FC_REPLAY_PATH: the `replayPath` fast-check prints next to a failing command list (with FC_SEED + FC_PATH). */
const commandsReplay = process.env.FC_REPLAY_PATH === undefined ? {} : { replayPath: process.env.FC_REPLAY_PATH };
const howArb = fc.constantFrom('normal' as const, 'crash' as const, 'crash' as const, 'kill' as const);
const restartArb = fc.constantFrom<RestartType>('permanent', 'permanent', 'transient', 'temporary');

const commands = (kind: 'static' | 'dynamic') =>
  fc.commands(
    [
      fc.oneof(
        { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...IDS), restartArb, fc.constantFrom(...BACKOFFS)).map(([id, r, b]) => new SpawnChild(id, r, b)) },
        { weight: 6, arbitrary: fc.tuple(fc.nat(10), howArb).map(([pick, how]) => new CrashChild(pick, how)) },
        { weight: 1, arbitrary: fc.constantFrom(...IDS).map((id) => new TerminateChild(id)) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...IDS), fc.boolean()).map(([id, fail]) => new SetFailInit(id, fail)) },
        { weight: 4, arbitrary: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 400, max: 6_000 })).map((ms) => new Advance(ms)) },
      ),
    ],
    { maxCommands: kind === 'static' ? 40 : 30, size: 'large', ...commandsReplay },
  );

/** Children present from the start (static: the `children` option; dynamic: started first). */
const initialArb = fc.uniqueArray(fc.record({ id: fc.constantFrom(...IDS), restart: restartArb, backoff: fc.constantFrom(...BACKOFFS) }), {
  selector: (c) => c.id,
  maxLength: 4,
});

const configArb = (kind: 'static' | 'dynamic') =>
  fc.record({
    kind: fc.constant(kind),
    strategy: kind === 'static' ? fc.constantFrom<Strategy>('one_for_one', 'one_for_all', 'rest_for_one') : fc.constant<Strategy>('one_for_one'),
    intensity: fc.integer({ min: 1, max: 4 }),
    periodMs: fc.integer({ min: 500, max: 8_000 }),
    rand: fc.constantFrom(0, 0.37, 0.999),
    maxChildren: fc.integer({ min: 2, max: 5 }),
    initial: initialArb,
  });

async function runScenario(cfg: Config, cmds: Iterable<Cmd>): Promise<void> {
  const rig = new Rig();
  try {
    const common = { intensity: cfg.intensity, periodMs: cfg.periodMs, rand: () => cfg.rand };
    const initial = cfg.initial.map((c) => ({ ...c, start: rig.worker(c.id) }));
    const sup =
      cfg.kind === 'static'
        ? await startSupervisor(rig.runtime, { ...common, strategy: cfg.strategy, children: initial })
        : await startDynamicSupervisor(rig.runtime, { ...common, maxChildren: cfg.maxChildren });
    if (cfg.kind === 'dynamic') for (const spec of initial.slice(0, cfg.maxChildren)) await sup.startChild(spec);
    const model = new Model(cfg);
    for (const c of cfg.initial.slice(0, cfg.kind === 'dynamic' ? cfg.maxChildren : undefined)) model.add(c.id, c.restart, c.backoff);
    await fc.asyncModelRun(() => ({ model, real: { rig, sup } }), cmds);
    if (model.alive) {
      // Final shutdown: running children stop in reverse start order.
      const expected = model.children.filter((c) => c.state === 'running').reverse().map((c) => `stop:${c.id}`);
      const before = rig.journal.length;
      await sup.stop();
      expect(rig.journal.slice(before)).toEqual(expected);
    }
    expect(rig.liveCount()).toBe(0);
    expect(rig.clock.pending).toBe(0); // every backoff / shutdown timer was cancelled or fired
  } finally {
    await rig.close();
  }
}

const replay = process.env.FC_PATH === undefined ? {} : { path: process.env.FC_PATH };
/** Modest default run counts; FC_NUM_RUNS (global config in test/setup.ts) overrides them. */
const runs = (n: number) => (process.env.FC_NUM_RUNS === undefined ? { numRuns: n } : {});

describe('supervisor model (fast-check fc.commands)', () => {
  it('static supervisor (all strategies) agrees with the OTP + backoff model', async () => {
    await fc.assert(
      fc.asyncProperty(configArb('static'), commands('static'), (cfg, cmds) => runScenario(cfg, cmds)),
      { ...runs(150), timeout: 10_000, ...replay },
    );
  });

  it('dynamic supervisor agrees with the model (add/remove children, maxChildren)', async () => {
    await fc.assert(
      fc.asyncProperty(configArb('dynamic'), commands('dynamic'), (cfg, cmds) => runScenario(cfg, cmds)),
      { ...runs(100), timeout: 10_000, ...replay },
    );
  });
});
