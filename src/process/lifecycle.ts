/**
 * The lifecycle of one Python worker process as an xstate v5 machine:
 *
 * ```
 * spawning ─SPAWNED─▶ handshaking ─READY─▶ ready ◀─RESUME/DRAIN─▶ draining
 *     │                    │                 │                        │
 *     └────────FAIL────────┴──────FAIL───────┴──────────FAIL──────────┴──▶ crashed (final)
 *                          └──────STOP───────┴──────────STOP──────────┴──▶ stopping ─EXITED─▶ exited (final)
 * ```
 *
 * Used for state only (one event per lifecycle step), never on the per-message path.
 * `crashed` is entered the moment the process is found defective (death, protocol violation,
 * heartbeat timeout, start-up failure); the OS exit may come later.
 */
import { assign, createActor, setup } from 'xstate';
import type { Actor } from 'xstate';
import type { SynapseError } from '../errors.ts';

/** States of a worker process. */
export type ProcessState = 'spawning' | 'handshaking' | 'ready' | 'draining' | 'stopping' | 'exited' | 'crashed';

/** Events of the lifecycle machine. */
export type LifecycleEvent =
  | { type: 'SPAWNED'; pid: number }
  | { type: 'READY' }
  | { type: 'DRAIN' }
  | { type: 'RESUME' }
  | { type: 'STOP' }
  | { type: 'EXITED' }
  | { type: 'FAIL'; error: SynapseError };

interface LifecycleContext {
  pid: number | undefined;
  error: SynapseError | undefined;
}

const fail = { target: 'crashed', actions: 'recordError' } as const;

/** The machine definition (exported for inspection and tests). */
export const processLifecycleMachine = setup({
  types: { context: {} as LifecycleContext, events: {} as LifecycleEvent },
  actions: {
    recordError: assign({ error: ({ event }) => (event.type === 'FAIL' ? event.error : undefined) }),
  },
}).createMachine({
  id: 'pythonProcess',
  initial: 'spawning',
  context: { pid: undefined, error: undefined },
  states: {
    spawning: {
      on: {
        SPAWNED: { target: 'handshaking', actions: assign({ pid: ({ event }) => event.pid }) },
        FAIL: fail,
        STOP: 'stopping',
      },
    },
    handshaking: { on: { READY: 'ready', FAIL: fail, STOP: 'stopping' } },
    ready: { on: { DRAIN: 'draining', STOP: 'stopping', FAIL: fail } },
    draining: { on: { RESUME: 'ready', STOP: 'stopping', FAIL: fail } },
    // A failure while stopping (e.g. it ignored `shutdown`) is part of stopping, not a crash.
    stopping: { on: { EXITED: 'exited' } },
    exited: { type: 'final' },
    crashed: { type: 'final' },
  },
});

/** A running lifecycle actor with a synchronous view of its state. */
export interface Lifecycle {
  readonly state: ProcessState;
  readonly error: SynapseError | undefined;
  send(event: LifecycleEvent): void;
  stop(): void;
}

/**
 * Starts a lifecycle actor. `onChange` sees every state change; an internal xstate error is
 * routed to `onError` (subscribing to `error` keeps xstate from rethrowing it as uncaught).
 */
export function createLifecycle(onChange: (state: ProcessState) => void, onError: (error: unknown) => void): Lifecycle {
  const actor: Actor<typeof processLifecycleMachine> = createActor(processLifecycleMachine);
  let state: ProcessState = 'spawning';
  actor.subscribe({
    next(snapshot) {
      const next = snapshot.value as ProcessState;
      if (next !== state) {
        state = next;
        onChange(next);
      }
    },
    error: onError,
  });
  actor.start();
  return {
    get state() {
      return state;
    },
    get error() {
      return actor.getSnapshot().context.error;
    },
    send(event) {
      // A final state ignores further events; skipping them avoids xstate's "sent to stopped actor" warning.
      if (actor.getSnapshot().status === 'active') actor.send(event);
    },
    stop: () => actor.stop(),
  };
}
