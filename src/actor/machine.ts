/**
 * An xstate v5 state machine as an actor behaviour. The Synapse actor owns the mailbox and
 * the one-at-a-time loop; each message is `send` to the wrapped xstate actor, and a `call`
 * replies with the machine snapshot after the event. A final state stops the actor with
 * reason 'normal'; a machine error crashes it. The machine's delayed events run on the
 * actor's injected clock and are cancelled when the actor exits (however it exits).
 *
 * @example
 * ```ts
 * const toggle = createMachine({ initial: 'off', states: { off: { on: { T: 'on' } }, on: { on: { T: 'off' } } } });
 * const ref = runtime.spawn(toggle);            // or runtime.spawn(fromMachine(toggle, { input }))
 * const snap = await ref.call({ type: 'T' });   // { value: 'on', context: undefined, status: 'active' }
 * ```
 */
import {
  createActor,
  StateMachine,
  type AnyActor,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type ContextFrom,
  type EventFromLogic,
  type InputFrom,
  type SnapshotStatus,
  type StateValue,
} from 'xstate';
import { synErr } from '../errors.ts';
import { resolveOptions, v } from '../options.ts';
import { crashActor, onActorExit } from './context.ts';
import type { ActorContext, ActorRef, Behaviour } from './types.ts';

/** What `call` on a machine actor resolves with: the snapshot after the event. */
export interface MachineReply<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly value: StateValue;
  readonly context: ContextFrom<TMachine>;
  readonly status: SnapshotStatus;
}

/** Options of {@link fromMachine}. */
export interface FromMachineOptions<TMachine extends AnyStateMachine = AnyStateMachine> {
  /** Input passed to the machine (`createActor(machine, { input })`). */
  input?: InputFrom<TMachine>;
}

/** True for an xstate v5 `StateMachine` (also across duplicate xstate installs, by shape). */
export function isStateMachine(value: unknown): value is AnyStateMachine {
  if (value instanceof StateMachine) return true;
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return typeof m.transition === 'function' && typeof m.getInitialSnapshot === 'function' && typeof m.config === 'object' && 'root' in m;
}

interface Running {
  readonly actor: AnyActor;
  /** True while `init`/`handle` is inside a synchronous xstate call. */
  inside: boolean;
}

/**
 * Wraps an xstate v5 machine as a {@link Behaviour}. Each spawn gets its own xstate actor.
 * A message that is not an xstate event (`{ type: string }`) crashes the actor with
 * SYN_ERR_INVALID_ARGUMENT (let it crash, as an unmatched message would in Erlang).
 * @throws SYN_ERR_INVALID_ARGUMENT if `machine` is not an xstate StateMachine; SYN_ERR_INVALID_OPTION for bad options.
 */
export function fromMachine<TMachine extends AnyStateMachine>(
  machine: TMachine,
  options?: FromMachineOptions<TMachine>,
): Behaviour<EventFromLogic<TMachine>, MachineReply<TMachine>> {
  if (!isStateMachine(machine)) throw synErr('SYN_ERR_INVALID_ARGUMENT', 'fromMachine expects an xstate v5 StateMachine');
  const { input } = resolveOptions('fromMachine', options, { input: v.any() });
  const running = new WeakMap<ActorRef, Running>();

  return {
    init(ctx: ActorContext<EventFromLogic<TMachine>>): void {
      const logic = machine as AnyStateMachine;
      const actor = createActor(logic, input === undefined ? { clock: ctx.clock } : { clock: ctx.clock, input });
      const state: Running = { actor, inside: true };
      running.set(ctx.self, state);
      onActorExit(ctx, () => {
        running.delete(ctx.self);
        actor.stop();
      });
      actor.subscribe({
        // Inside init/handle the snapshot is checked right after the xstate call; outside
        // (a delayed transition) the reaction is deferred a microtask so we never re-enter
        // xstate from its own observer notification.
        error: (err: unknown) => {
          if (!state.inside) queueMicrotask(() => crashActor(ctx, err));
        },
        complete: () => {
          if (state.inside) ctx.stop('normal');
          else queueMicrotask(() => ctx.stop('normal'));
        },
      });
      try {
        actor.start();
      } finally {
        state.inside = false;
      }
      const snapshot = actor.getSnapshot() as AnyMachineSnapshot;
      if (snapshot.status === 'error') throw snapshot.error;
    },

    handle(event: EventFromLogic<TMachine>, ctx: ActorContext<EventFromLogic<TMachine>>): MachineReply<TMachine> {
      if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string') {
        throw synErr('SYN_ERR_INVALID_ARGUMENT', `Machine actor ${ctx.self.id} received a message that is not an xstate event ({ type: string })`);
      }
      const state = running.get(ctx.self)!;
      state.inside = true;
      try {
        state.actor.send(event);
      } finally {
        state.inside = false;
      }
      const snapshot = state.actor.getSnapshot() as AnyMachineSnapshot;
      if (snapshot.status === 'error') throw snapshot.error;
      return { value: snapshot.value, context: snapshot.context as ContextFrom<TMachine>, status: snapshot.status };
    },
  };
}
