/**
 * The one way layers report a lifecycle event: `emit(events, 'worker.crashed', {...})`.
 * Delivers the typed event, then the same event with `type` and `at` on the unified `inspect`
 * stream. Each listener runs in isolation: a listener that throws neither breaks the emitting
 * layer nor starves the listeners after it; its error is re-thrown on a fresh macrotask
 * (xstate's `reportUnhandledError`), where the process's `uncaughtException` handling sees it.
 */
import type { InspectEvent, SynapseEventEmitter, SynapseEventName, SynapseEvents } from './events.ts';
import { rethrowLater } from '../rethrow.ts';

/** Options of {@link emit}. */
export interface EmitOptions {
  /** Source of the `at` timestamp on the inspect stream. Default `Date.now` (epoch ms). */
  now?: () => number;
  /** Called with a listener's error. Default: re-throw it on a fresh macrotask. */
  onListenerError?: (error: unknown) => void;
}

/** Re-throws `error` outside the current call stack so the emitter's caller is never affected. */
export function reportListenerError(error: unknown): void {
  rethrowLater(error);
}

type AnyListener = (this: unknown, payload: unknown) => void;

function deliver(events: SynapseEventEmitter, name: SynapseEventName | 'inspect', payload: unknown, onError: (e: unknown) => void): void {
  // eventemitter3 stops at the first throwing listener; call a snapshot one by one instead.
  const emitter = events as unknown as {
    listeners(event: string): AnyListener[];
    removeListener(event: string, fn: AnyListener, context: undefined, once: boolean): unknown;
  };
  for (const listener of emitter.listeners(name)) {
    emitter.removeListener(name, listener, undefined, true); // drops it only if registered with `once`
    try {
      listener.call(events, payload);
    } catch (error) {
      onError(error);
    }
  }
}

/**
 * Emits `name` with `payload` on `events` and `{ type: name, at, ...payload }` on `inspect`.
 * Never throws because of a listener.
 * @example
 * ```ts
 * emit(system.events, 'supervisor.restarted', { supervisor: 'agents', child: 'bot', actor: ref.id, attempt: 1 });
 * ```
 */
export function emit<K extends SynapseEventName>(events: SynapseEventEmitter, name: K, payload: SynapseEvents[K], options: EmitOptions = {}): void {
  const onError = options.onListenerError ?? reportListenerError;
  deliver(events, name, payload, onError);
  if (events.listenerCount('inspect') > 0) {
    const entry = { type: name, at: (options.now ?? Date.now)(), ...payload } as InspectEvent;
    deliver(events, 'inspect', entry, onError);
  }
}
