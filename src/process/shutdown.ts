/**
 * The stop escalation of a worker (tinypool's process-worker pattern): ask, wait, SIGTERM,
 * wait, SIGKILL, then await the exit. Timers via the injected clock.
 */
import type { Clock } from '../clock.ts';

/** What {@link escalateStop} needs from the worker. */
export interface StopTarget {
  /** Sends the polite request (the `shutdown` frame). */
  ask(): void;
  /** Signals the worker's process group. */
  signal(signal: 'SIGTERM' | 'SIGKILL'): void;
  /** Resolves once the worker has exited (never rejects). */
  readonly exited: Promise<unknown>;
  /** Called before each escalation step (for logging). */
  onEscalate?(signal: 'SIGTERM' | 'SIGKILL', afterMs: number): void;
}

function within(clock: Clock, exited: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(false), ms);
    void exited.then(() => {
      clock.clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Stops `target` within about `timeoutMs`: half of it for the polite request, half for SIGTERM;
 * then SIGKILL, which always ends a process. Resolves once it exited.
 */
export async function escalateStop(clock: Clock, target: StopTarget, timeoutMs: number): Promise<void> {
  target.ask();
  const half = Math.floor(timeoutMs / 2);
  if (await within(clock, target.exited, half)) return;
  target.onEscalate?.('SIGTERM', half);
  target.signal('SIGTERM');
  if (await within(clock, target.exited, timeoutMs - half)) return;
  target.onEscalate?.('SIGKILL', timeoutMs);
  target.signal('SIGKILL');
  await target.exited;
}
