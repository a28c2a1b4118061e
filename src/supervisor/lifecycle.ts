/**
 * Starting and stopping one child incarnation, with every wait bounded by the injected clock.
 * Internal to the supervisor layer.
 */
import type { ActorRef, Clock, ExitReason } from '../actor/types.ts';
import { synErr } from '../errors.ts';
import type { ShutdownSpec } from './spec.ts';

/**
 * Waits until `ref` has finished `init`, at most `timeoutMs` on `clock`. On timeout the child
 * is killed (and its exit awaited) so a half-started actor never outlives the attempt.
 *
 * @throws SYN_ERR_START_FAILED when `init` threw (the runtime's error) or the timeout passed
 *   (`details.timeoutMs`, cause SYN_ERR_TIMEOUT).
 */
export async function awaitStarted(ref: ActorRef, timeoutMs: number, clock: Clock): Promise<void> {
  if (!Number.isFinite(timeoutMs)) return ref.started;
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimeout(() => resolve('timeout'), timeoutMs);
  });
  // Settle-never-rejects wrapper: a rejection arriving after the timeout must not go unhandled.
  const started = ref.started.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  try {
    const outcome = await Promise.race([started, timedOut]);
    if (outcome !== 'timeout') {
      if (outcome.ok) return;
      throw outcome.error;
    }
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
  }
  ref.kill();
  await ref.exited;
  const cause = synErr('SYN_ERR_TIMEOUT', `init did not complete within ${timeoutMs} ms`, { timeoutMs });
  throw synErr('SYN_ERR_START_FAILED', `Child ${ref.name ?? ref.id} did not start within ${timeoutMs} ms`, { timeoutMs, actor: ref.id }, cause);
}

/**
 * Stops one child the OTP way and resolves with its exit reason:
 * - a number: `stop('shutdown')`, then `kill()` if still alive after that many ms;
 * - `'brutal_kill'`: `kill()` at once;
 * - `'infinity'`: `stop('shutdown')` and wait however long it takes (supervisors).
 * Never rejects; an already-dead child resolves with its recorded reason.
 */
export async function shutdownChild(ref: ActorRef, shutdown: ShutdownSpec, clock: Clock): Promise<ExitReason> {
  if (!ref.isAlive()) return ref.exited;
  if (shutdown === 'brutal_kill') {
    ref.kill();
    return ref.exited;
  }
  // stop() resolves when exited; its rejection (if any) is reported by `exited`, so ignore it here.
  ref.stop('shutdown').catch(() => undefined);
  if (shutdown === 'infinity') return ref.exited;
  const timer = clock.setTimeout(() => {
    if (ref.isAlive()) ref.kill();
  }, shutdown);
  try {
    return await ref.exited;
  } finally {
    clock.clearTimeout(timer);
  }
}
