/**
 * Reports supervision lifecycle events: logged through the supervisor actor's logger and
 * emitted on `system.events` (and its `inspect` stream).
 */
import type { ActorContext } from '../actor/types.ts';
import { emit } from '../observe/emit.ts';
import type { SynapseEvents } from '../observe/events.ts';

type SupervisorEventName = Extract<keyof SynapseEvents, `supervisor.${string}`>;

const WARN: ReadonlySet<SupervisorEventName> = new Set(['supervisor.intensity_exceeded', 'supervisor.escalated']);

/**
 * Logs and emits one supervision event through the observe layer's `emit` (named event, then
 * the `inspect` stream; a throwing listener is reported on a fresh macrotask and never
 * unwinds the restart logic).
 */
export function notify<K extends SupervisorEventName>(ctx: ActorContext<unknown>, name: K, payload: SynapseEvents[K]): void {
  const abnormal = name === 'supervisor.child_exited' && (payload as SynapseEvents['supervisor.child_exited']).abnormal;
  const level = WARN.has(name) || abnormal ? 'warn' : 'info';
  const fields: Record<string, unknown> = { event: name, ...payload };
  ctx.log[level](fields, name);
  emit(ctx.system.events, name, payload);
}
