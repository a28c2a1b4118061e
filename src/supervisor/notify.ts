/**
 * Reports supervision lifecycle events on `system.events` (and its `inspect` stream). They are
 * logged, like every event, by the one event logger (src/observe/event-log.ts), at the level
 * of its table — not here.
 */
import type { ActorContext } from '../actor/types.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEvents } from '../observe/events.ts';

type SupervisorEventName = Extract<keyof SynapseEvents, `supervisor.${string}`>;

/**
 * Emits one supervision event through the observe layer's `emit` (named event, then the
 * `inspect` stream; a throwing listener is reported on a fresh macrotask and never unwinds
 * the restart logic).
 */
export function notify<K extends SupervisorEventName>(ctx: ActorContext<unknown>, name: K, payload: SynapseEvents[K]): void {
  emit(ctx.system.events, name, payload);
}
