/**
 * Interleavings of send / call / stop / kill / crash / timers / clock steps on a few actors
 * whose handlers await scheduler-controlled promises (fast-check `fc.scheduler()`).
 *
 * Invariants: every call settles exactly once (its value or a coded SynapseError), per-sender
 * FIFO holds, no two handlers of one actor overlap, nothing is handled after stop/kill was
 * requested, and no timer outlives its actor (SimulatedClock pending count).
 *
 * Replay: a failure prints seed + path (fast-check) and the scheduler report (below); rerun
 * with FC_SEED=<seed> FC_PATH=<path> and `-t <test name>` (both read globally in test/setup.ts).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { ActorCell } from '../../src/actor/cell.ts';
import { ActorRuntime } from '../../src/actor/runtime.ts';
import { ExitSignal, type ActorContext, type ActorRef } from '../../src/actor/types.ts';
import { isSynapseError, type ErrorCode } from '../../src/errors.ts';
import type { TimerHandle } from '../../src/clock.ts';
import { SimulatedClock } from '../../src/testing/clock.ts';

/** A simulated clock that remembers which actor created each pending timer (set around ctx.sendAfter). */
class OwnedTimersClock extends SimulatedClock {
  owner: number | undefined;
  readonly owners = new Map<TimerHandle, number>();

  override setTimeout(fn: () => void, ms: number): TimerHandle {
    const owner = this.owner;
    const handle: TimerHandle = super.setTimeout(() => {
      this.owners.delete(handle);
      fn();
    }, ms);
    if (owner !== undefined) this.owners.set(handle, owner);
    return handle;
  }

  override clearTimeout(handle: TimerHandle): void {
    this.owners.delete(handle);
    super.clearTimeout(handle);
  }
}

const ACTORS = 3;
const SENDERS = 2;
const TIMEOUTS = [Infinity, 30, 80] as const;

type Cmd =
  | { kind: 'send'; actor: number; sender: number }
  | { kind: 'call'; actor: number; sender: number; timeout: number; abortable: boolean }
  | { kind: 'crash'; actor: number; sender: number }
  | { kind: 'timer'; actor: number; ms: number }
  | { kind: 'stop'; actor: number }
  | { kind: 'kill'; actor: number }
  | { kind: 'abort' }
  | { kind: 'tick'; ms: number };

interface Msg {
  readonly sender: number; // -1: a timer message
  readonly seq: number;
  readonly crash?: boolean;
  readonly timerMs?: number;
}

const actor = fc.integer({ min: 0, max: ACTORS - 1 });
const sender = fc.integer({ min: 0, max: SENDERS - 1 });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('send' as const), actor, sender }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('call' as const), actor, sender, timeout: fc.constantFrom(...TIMEOUTS), abortable: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), actor, sender }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('timer' as const), actor, ms: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stop' as const), actor }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), actor }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 60 }) }) },
);
const setupArb: fc.Arbitrary<Setup> = fc.record({
  capacity: fc.integer({ min: 1, max: 6 }),
  overflow: fc.constantFrom('reject' as const, 'drop-newest' as const, 'drop-oldest' as const),
  linked: fc.boolean(),
});

const CALL_ERRORS: readonly ErrorCode[] = [
  'SYN_ERR_NO_PROC',
  'SYN_ERR_ACTOR_EXITED',
  'SYN_ERR_SHUTDOWN',
  'SYN_ERR_TIMEOUT',
  'SYN_ERR_ABORTED',
  'SYN_ERR_MAILBOX_FULL',
];

interface CallRecord {
  readonly label: string;
  readonly seq: number;
  settled: number;
  value?: unknown;
  error?: unknown;
}

interface Setup {
  readonly capacity: number;
  readonly overflow: 'reject' | 'drop-newest' | 'drop-oldest';
  readonly linked: boolean;
}

async function runSchedule(s: fc.Scheduler, setup: Setup, cmds: Cmd[]): Promise<void> {
  const clock = new OwnedTimersClock();
  const runtime = new ActorRuntime({ clock, defaultMailbox: { capacity: setup.capacity, overflow: setup.overflow } });
  const violations: string[] = [];
  const active = new Array<number>(ACTORS).fill(0);
  const closed = new Array<boolean>(ACTORS).fill(false); // stop or kill requested
  const lastSeq = Array.from({ length: ACTORS }, () => new Array<number>(SENDERS).fill(-1));
  const nextSeq = Array.from({ length: ACTORS }, () => new Array<number>(SENDERS).fill(0));
  const calls: CallRecord[] = [];
  const controllers: AbortController[] = [];
  let timerSeq = 0;

  const behaviour = (index: number) => ({
    async handle(msg: Msg, ctx: ActorContext<Msg>): Promise<number> {
      if (closed[index]) violations.push(`actor ${index} handled ${JSON.stringify(msg)} after stop/kill`);
      if (++active[index]! > 1) violations.push(`actor ${index}: two handlers overlap`);
      if (msg.sender >= 0) {
        if (msg.seq <= lastSeq[index]![msg.sender]!) violations.push(`actor ${index}: sender ${msg.sender} seq ${msg.seq} after ${lastSeq[index]![msg.sender]}`);
        lastSeq[index]![msg.sender] = msg.seq;
      }
      await s.schedule(Promise.resolve(), `handle a${index} s${msg.sender}#${msg.seq}`);
      active[index]!--;
      if (msg.crash) throw new Error(`crash a${index}`);
      if (msg.timerMs !== undefined) {
        clock.owner = index;
        try {
          ctx.sendAfter({ sender: -1, seq: timerSeq++ }, msg.timerMs);
        } finally {
          clock.owner = undefined;
        }
      }
      return msg.seq;
    },
  });

  const refs: ActorRef<Msg, number>[] = [];
  for (let i = 0; i < ACTORS; i++) {
    const linkTo = setup.linked && i === 1 ? refs[0] : undefined;
    refs.push(runtime.spawn(behaviour(i), linkTo === undefined ? {} : { linkTo }));
  }

  const trySend = (ref: ActorRef<Msg, number>, msg: Msg): void => {
    try {
      ref.send(msg);
    } catch (err) {
      if (!isSynapseError(err, 'SYN_ERR_NO_PROC') && !isSynapseError(err, 'SYN_ERR_MAILBOX_FULL')) violations.push(`send threw ${String(err)}`);
    }
  };

  const exec = (cmd: Cmd): void => {
    switch (cmd.kind) {
      case 'send':
      case 'crash': {
        const seq = nextSeq[cmd.actor]![cmd.sender]!++;
        trySend(refs[cmd.actor]!, { sender: cmd.sender, seq, crash: cmd.kind === 'crash' });
        return;
      }
      case 'timer':
        trySend(refs[cmd.actor]!, { sender: -1, seq: -1, timerMs: cmd.ms });
        return;
      case 'call': {
        const seq = nextSeq[cmd.actor]![cmd.sender]!++;
        const record: CallRecord = { label: `call a${cmd.actor} s${cmd.sender}#${seq}`, seq, settled: 0 };
        calls.push(record);
        let signal: AbortSignal | undefined;
        if (cmd.abortable) {
          const controller = new AbortController();
          controllers.push(controller);
          signal = controller.signal;
        }
        const options = signal === undefined ? { timeout: cmd.timeout } : { timeout: cmd.timeout, signal };
        refs[cmd.actor]!.call({ sender: cmd.sender, seq }, options).then(
          (value) => {
            record.settled++;
            record.value = value;
          },
          (error: unknown) => {
            record.settled++;
            record.error = error;
          },
        );
        return;
      }
      case 'stop':
        closed[cmd.actor] = true;
        void refs[cmd.actor]!.stop();
        return;
      case 'kill':
        closed[cmd.actor] = true;
        refs[cmd.actor]!.kill();
        return;
      case 'abort':
        controllers.shift()?.abort(new Error('aborted by schedule'));
        return;
      case 'tick':
        clock.tick(cmd.ms);
        return;
    }
  };

  for (const [i, cmd] of cmds.entries()) {
    // Each command is its own scheduled task: fast-check picks the interleaving.
    s.schedule(Promise.resolve(), `cmd ${i} ${JSON.stringify(cmd)}`).then(
      () => exec(cmd),
      () => undefined,
    );
  }
  await s.waitIdle();

  // Timers: no pending sendAfter timer may belong to an actor that has exited.
  for (const owner of clock.owners.values()) {
    if (!refs[owner]!.isAlive()) violations.push(`a timer of exited actor ${owner} is still pending`);
  }
  const liveTimers = [...runtime.actors()].reduce((n, info) => n + info.timers, 0);
  if (clock.owners.size !== liveTimers) violations.push(`clock holds ${clock.owners.size} actor timers, live actors report ${liveTimers}`);
  clock.tick(1_000); // fire everything left (timer messages, deadlines)
  await s.waitIdle();

  const done = runtime.shutdown({ timeout: Infinity });
  await s.waitFor(done);
  await s.waitIdle();
  if (clock.pending !== 0) violations.push(`${clock.pending} timers survived shutdown`);
  if (runtime.size !== 0) violations.push(`${runtime.size} actors alive after shutdown`);

  for (const c of calls) {
    if (c.settled !== 1) violations.push(`${c.label} settled ${c.settled} times`);
    else if (c.error !== undefined) {
      if (!CALL_ERRORS.some((code) => isSynapseError(c.error, code))) violations.push(`${c.label} rejected with ${String(c.error)}`);
    } else if (c.value !== c.seq) violations.push(`${c.label} resolved with ${String(c.value)}`);
  }
  for (let i = 0; i < ACTORS; i++) if (active[i] !== 0) violations.push(`actor ${i}: ${active[i]} handlers still active`);
  if (violations.length > 0) throw new Error(violations.join('\n'));
}

describe('actor core under scheduled interleavings', () => {
  it('keeps its invariants for any interleaving of send/call/stop/kill/crash/timers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), setupArb, fc.array(cmdArb, { minLength: 1, maxLength: 30 }), async (s, setup, cmds) => {
        try {
          await runSchedule(s, setup, cmds);
        } catch (err) {
          const report = s
            .report()
            .map((t) => `  ${t.status.padEnd(8)} ${t.label}${t.outputValue === undefined ? '' : ` -> ${t.outputValue}`}`)
            .join('\n');
          throw new Error(`${(err as Error).message}\nScheduler report (execution order):\n${report}`, { cause: err });
        }
      }),
      {
        // FC_NUM_RUNS (test/setup.ts) raises this for the long run; CI pins FC_SEED.
        ...(process.env.FC_NUM_RUNS === undefined ? { numRuns: 150 } : {}),
        timeout: 10_000,
      },
    );
  });

  it('regression: stop requested while a handler is parked; queued messages are not handled', async () => {
    // Counterexample found by the property above against a loop that ignored a pending stop
    // between async messages, kept as a fixed schedule (fc.schedulerFor).
    // Task ids in scheduling order: 1-5 the commands, then the handler awaits as they start.
    // The correct run schedules exactly these; the buggy loop started a handler after the
    // stop (its extra task makes the scheduler throw and the invariant check fails).
    const s = fc.schedulerFor([5, 1, 2, 3, 7, 4, 6]);
    await runSchedule(s, { capacity: 1, overflow: 'reject', linked: false }, [
      { kind: 'call', actor: 0, sender: 0, timeout: Infinity, abortable: false },
      { kind: 'send', actor: 0, sender: 0 },
      { kind: 'stop', actor: 0 },
      { kind: 'timer', actor: 0, ms: 0 },
      { kind: 'send', actor: 1, sender: 1 },
    ]);
  }, 5_000); // a regression makes the fixed schedule stall rather than throw: fail fast
});

// ── mailbox bookkeeping against a model ─────────────────────────────────────────────────
// The loop skips `instanceof` checks while no call / signal is queued, trusting the cell's
// `callsQueued` / `signalsQueued` counters; the counters must therefore match the mailbox
// exactly after every operation (sends, calls, timeouts of queued calls, every overflow
// policy, trapped exit signals), and the actor must handle exactly what a plain queue
// model says, in order.

type MailboxOp = { kind: 'send' } | { kind: 'call'; timeout: number } | { kind: 'tick' } | { kind: 'step' } | { kind: 'signal' };

const mailboxOpArb: fc.Arbitrary<MailboxOp> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'send' as const }), weight: 3 },
  { arbitrary: fc.constantFrom(Infinity, 10, 20).map((timeout) => ({ kind: 'call' as const, timeout })), weight: 3 },
  { arbitrary: fc.constant({ kind: 'tick' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'step' as const }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'signal' as const }), weight: 1 },
);

interface ModelEntry {
  readonly label: string;
  readonly kind: 'send' | 'call' | 'signal';
  readonly deadline: number;
  settled: boolean;
}

async function runMailboxModel(capacity: number, overflow: 'reject' | 'drop-newest' | 'drop-oldest', ops: readonly MailboxOp[]): Promise<void> {
  const clock = new SimulatedClock();
  const runtime = new ActorRuntime({ clock });
  const flushAll = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  try {
    const seen: string[] = [];
    let release: ((value: string) => void) | undefined;
    const ref = runtime.spawn<unknown, string>(
      {
        handle: (m) => {
          const label = m instanceof ExitSignal ? 'EXIT' : String(m);
          seen.push(label);
          return new Promise<string>((resolve) => (release = () => resolve(label)));
        },
      },
      { mailbox: { capacity, overflow }, trapExit: true },
    );
    const cell = ref as unknown as ActorCell;
    const queue: ModelEntry[] = [];
    let current: ModelEntry | undefined;
    const handled: string[] = [];
    const expected = new Map<string, string>();
    const actual = new Map<string, string>();
    let now = 0;
    let seq = 0;
    const advance = (): void => {
      while (current === undefined && queue.length > 0) {
        const next = queue.shift()!;
        if (next.kind === 'call' && next.settled) continue;
        current = next;
        handled.push(next.label);
      }
    };
    /** Applies the overflow policy to the model; returns true if the new entry is queued. */
    const admit = (entry: ModelEntry): boolean => {
      if (queue.filter((e) => e.kind !== 'signal').length < capacity) return true;
      if (overflow === 'drop-oldest') {
        const i = queue.findIndex((e) => e.kind !== 'signal');
        const [oldest] = queue.splice(i, 1);
        if (oldest!.kind === 'call' && !oldest!.settled) expected.set(oldest!.label, 'SYN_ERR_MAILBOX_FULL');
        return true;
      }
      if (entry.kind === 'call') expected.set(entry.label, 'SYN_ERR_MAILBOX_FULL');
      return false;
    };
    for (const op of ops) {
      if (op.kind === 'send' || op.kind === 'call') {
        const label = `${op.kind}${++seq}`;
        const entry: ModelEntry = { label, kind: op.kind, deadline: op.kind === 'call' ? now + op.timeout : Infinity, settled: false };
        const queued = admit(entry);
        if (op.kind === 'send') {
          let threw = false;
          try {
            ref.send(label);
          } catch (err) {
            if (!isSynapseError(err, 'SYN_ERR_MAILBOX_FULL')) throw err;
            threw = true;
          }
          if (threw !== (!queued && overflow === 'reject')) throw new Error(`${label}: send threw=${threw}, model queued=${queued}`);
        } else {
          ref.call(label, { timeout: op.timeout }).then(
            (value) => actual.set(label, `ok:${value}`),
            (err: { code?: string }) => actual.set(label, String(err.code)),
          );
          if (queued) expected.set(label, `ok:${label}`);
        }
        if (queued) queue.push(entry);
      } else if (op.kind === 'tick') {
        now += 10;
        clock.tick(10);
        for (const e of current === undefined ? queue : [current, ...queue]) {
          if (e.kind === 'call' && !e.settled && e.deadline <= now) {
            e.settled = true;
            expected.set(e.label, 'SYN_ERR_TIMEOUT');
          }
        }
      } else if (op.kind === 'step') {
        if (current !== undefined) {
          if (current.kind === 'call') current.settled = true;
          current = undefined;
          release!(''); // the handler resolves with its own label
        }
      } else {
        const peer = runtime.spawn({ handle: () => undefined }, { linkTo: ref });
        peer.kill();
        queue.push({ label: 'EXIT', kind: 'signal', deadline: Infinity, settled: false });
      }
      advance();
      await flushAll();
      const calls = queue.filter((e) => e.kind === 'call').length;
      const signals = queue.filter((e) => e.kind === 'signal').length;
      if (cell.callsQueued !== calls || cell.signalsQueued !== signals || cell.mailboxDepth !== queue.length) {
        throw new Error(`after ${op.kind}: cell counts calls=${cell.callsQueued} signals=${cell.signalsQueued} depth=${cell.mailboxDepth}, model ${calls}/${signals}/${queue.length}`);
      }
    }
    while (current !== undefined) {
      current = undefined;
      release!('');
      advance();
      await flushAll();
    }
    if (cell.callsQueued !== 0 || cell.signalsQueued !== 0 || cell.mailboxDepth !== 0) throw new Error('counters not back to zero once idle');
    if (seen.join(',') !== handled.join(',')) throw new Error(`handled ${seen.join(',')}, model ${handled.join(',')}`);
    for (const [label, outcome] of expected) {
      if (actual.get(label) !== outcome) throw new Error(`${label}: got ${actual.get(label)}, model ${outcome}`);
    }
    if (actual.size !== expected.size) throw new Error(`${actual.size} calls settled, model ${expected.size}`);
  } finally {
    // A failed run may leave a handler parked: the kill fallback needs the clock to move.
    const done = runtime.shutdown({ timeout: 0 });
    await clock.runAll(100);
    await done;
  }
}

describe('mailbox bookkeeping (model)', () => {
  it('counters, handling order and call outcomes match a plain queue model under every overflow policy', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom('reject' as const, 'drop-newest' as const, 'drop-oldest' as const),
        fc.array(mailboxOpArb, { minLength: 1, maxLength: 40 }),
        runMailboxModel,
      ),
      { ...(process.env.FC_NUM_RUNS === undefined ? { numRuns: 200 } : {}), timeout: 10_000 },
    );
  });
});
