/**
 * Exit-reason helpers shared by the actor core (Erlang semantics, see ./types.ts).
 */
import type { ExitReason } from './types.ts';

/** Human-readable form of an exit reason for logs and events. */
export function formatReason(reason: ExitReason | 'noproc'): string {
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`;
  if (typeof reason === 'object' && reason !== null && 'shutdown' in reason) return `{shutdown, ${String((reason as { shutdown: unknown }).shutdown)}}`;
  return String(reason);
}

/** True for the reasons a supervisor treats as a deliberate stop: `normal`, `shutdown`, `{ shutdown: x }`. */
export function isCleanExit(reason: ExitReason | 'noproc'): boolean {
  if (reason === 'normal' || reason === 'shutdown') return true;
  return typeof reason === 'object' && reason !== null && !(reason instanceof Error) && 'shutdown' in reason;
}

/** True for a brutal kill (`kill` on the killed actor, `killed` as seen by its links). */
export function isKillReason(reason: ExitReason | 'noproc'): boolean {
  return reason === 'kill' || reason === 'killed';
}

/** The reason linked and monitoring actors see: a `kill` propagates as `killed` (Erlang). */
export function propagatedReason(reason: ExitReason): ExitReason {
  return reason === 'kill' ? 'killed' : reason;
}

/**
 * Turns whatever a handler threw into an exit reason. Non-`Error` values are wrapped so a
 * thrown string such as `'normal'` can never masquerade as a clean exit.
 */
export function reasonFromThrown(thrown: unknown): ExitReason {
  if (thrown instanceof Error) return thrown;
  return new Error(`Non-error value thrown: ${describe(thrown)}`, { cause: thrown });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

