// Shared rig for the supervisor tests: a runtime on a SimulatedClock, a journal of child
// lifecycle steps, recorded supervisor events, and scriptable worker behaviours.
import pino from 'pino';
import type { Logger } from 'pino';
import { ActorRuntime } from '../../../src/actor/runtime.ts';
import type { ActorRef, Behaviour } from '../../../src/actor/types.ts';
import type { SynapseEvents } from '../../../src/observe/events.ts';
import type { StartInfo } from '../../../src/supervisor/spec.ts';
import { SimulatedClock } from '../../../src/testing/clock.ts';

export type SupEventName = Extract<keyof SynapseEvents, `supervisor.${string}`>;
export type RecordedEvent = { [K in SupEventName]: { type: K; at: number } & SynapseEvents[K] }[SupEventName];

const SUP_EVENTS: SupEventName[] = [
  'supervisor.child_started',
  'supervisor.child_exited',
  'supervisor.restart_scheduled',
  'supervisor.restarted',
  'supervisor.intensity_exceeded',
  'supervisor.escalated',
];

/** What a scripted worker does; fields are read at each start, so tests can flip them. */
export interface WorkerScript {
  /** init throws while true. */
  failInit?: boolean;
  /** init never completes while true (start timeout tests). */
  hangInit?: boolean;
  /** terminate never completes while true (shutdown timeout tests). */
  hangTerminate?: boolean;
  /** init first waits this many ms on the simulated clock (a slow start, e.g. a failing one). */
  initMs?: number;
  /** terminate waits this many ms on the simulated clock (a slow graceful stop). */
  terminateMs?: number;
  /** The start function returns 'ignore' while true (see {@link Rig.ignorable}). */
  ignore?: boolean;
}

export type WorkerMsg = 'crash' | 'normal' | 'shutdown' | 'ping';

export class Rig {
  readonly clock = new SimulatedClock(1_000);
  readonly runtime: ActorRuntime;
  readonly events: RecordedEvent[] = [];
  /** `start:<id>:<attempt>`, `init-failed:<id>`, `stop:<id>` (terminate ran) in order. */
  readonly journal: string[] = [];
  readonly scripts = new Map<string, WorkerScript>();

  constructor(log: Logger = pino({ level: 'silent' })) {
    this.runtime = new ActorRuntime({ clock: this.clock, log });
    for (const type of SUP_EVENTS) {
      this.runtime.events.on(type, (e: object) => this.events.push({ type, at: this.clock.now(), ...e } as RecordedEvent));
    }
  }

  script(id: string): WorkerScript {
    let s = this.scripts.get(id);
    if (s === undefined) this.scripts.set(id, (s = {}));
    return s;
  }

  /** A `start` function for a scripted worker named `id`. */
  worker(id: string): (info: StartInfo) => Behaviour<WorkerMsg, string> {
    return (info) => {
      const script = this.script(id);
      const journal = this.journal;
      return {
        async init(ctx) {
          journal.push(`start:${id}:${info.attempt}`);
          if (script.initMs !== undefined) await new Promise<void>((resolve) => ctx.clock.setTimeout(resolve, script.initMs!));
          if (script.failInit) {
            journal.push(`init-failed:${id}`);
            throw new Error(`init of ${id} failed`);
          }
          if (script.hangInit) await new Promise<never>(() => {});
        },
        handle(msg, ctx) {
          if (msg === 'crash') throw new Error(`${id} crashed`);
          if (msg === 'normal' || msg === 'shutdown') ctx.stop(msg);
          return 'pong';
        },
        async terminate(_reason, ctx) {
          journal.push(`stop:${id}`);
          if (script.terminateMs !== undefined) await new Promise<void>((resolve) => ctx.clock.setTimeout(resolve, script.terminateMs!));
          if (script.hangTerminate) await new Promise<never>(() => {});
        },
      };
    };
  }

  /** Where {@link ignorable} returns 'ignore': from the child spec's `start`, or from the actor's `init` (sync or async). */
  ignoreVia: 'start' | 'init' | 'async-init' = 'start';

  /**
   * Like {@link worker}, but 'ignore' is returned (journal `ignore:<id>`) while `script(id).ignore`
   * is set: by the start function, or by the actor's `init` (see {@link ignoreVia}).
   */
  ignorable(id: string): (info: StartInfo) => Behaviour<WorkerMsg, string> | 'ignore' {
    const start = this.worker(id);
    const via = this.ignoreVia;
    const ignoring = (): boolean => {
      if (!this.script(id).ignore) return false;
      this.journal.push(`ignore:${id}`);
      return true;
    };
    return (info) => {
      if (via === 'start') return ignoring() ? 'ignore' : start(info);
      const behaviour = start(info);
      const init = behaviour.init!.bind(behaviour);
      return {
        ...behaviour,
        init: via === 'init' ? (ctx) => (ignoring() ? 'ignore' : init(ctx)) : async (ctx) => (await Promise.resolve(), ignoring() ? 'ignore' : init(ctx)),
      };
    };
  }

  ofType<K extends SupEventName>(type: K): Extract<RecordedEvent, { type: K }>[] {
    return this.events.filter((e): e is Extract<RecordedEvent, { type: K }> => e.type === type);
  }

  /** Resolves with the next event of `type` (already-recorded ones do not count). */
  next<K extends SupEventName>(type: K): Promise<SynapseEvents[K]> {
    return new Promise((resolve) => (this.runtime.events.once as (t: string, fn: (e: SynapseEvents[K]) => void) => unknown)(type, resolve));
  }

  /** Lets queued messages and promise chains settle without moving time. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await this.clock.advance(0);
  }

  /** Sends `msg` to `ref` and waits until the supervisor has reacted (time does not move). */
  async poke(ref: ActorRef | undefined, msg: WorkerMsg): Promise<void> {
    if (ref === undefined) throw new Error('poke: no ref');
    ref.send(msg);
    await ref.exited;
    await this.settle();
  }

  /** Live actors other than the listed refs (leak check). */
  liveCount(): number {
    return this.runtime.size;
  }

  /** Shuts the runtime down, stepping simulated time so shutdown timers can fire. */
  async close(): Promise<void> {
    let done = false;
    const closing = this.runtime.shutdown({ timeout: 0 }).then(() => {
      done = true;
    });
    for (let i = 0; i < 1_000 && !done; i++) await this.clock.advance(10);
    await closing;
  }
}
