/**
 * `checkRestartsWithinPolicy`: the supervision invariants of a fault run, checked on the
 * recorded lifecycle events of each agent:
 *
 * 1. every worker restart delay lies in the agent's `restart.backoff` window for its attempt,
 *    `[minMs, min(maxMs, minMs·2^(attempt−1))]` (full jitter, exponential cap), every quarantine
 *    delay likewise in `restart.quarantine`'s;
 * 2. no restart happens before its delay elapsed;
 * 3. intensity: within any `periodMs`, at most `intensity` worker restarts, plus the one that
 *    exceeds it — which must be followed by the agent's escalation (quarantine); and no
 *    escalation without `intensity + 1` restarts in its window.
 *
 * Restart instants are estimated as `restart_scheduled.t + delayMs` (when the backoff timer
 * fires); `toleranceMs` absorbs timer lateness on a loaded machine.
 */
import { AGENT_DEFAULTS } from '../agent/options.ts';
import { assertNone } from './invariant.ts';
import type { EventRecorder, Recorded } from './recorder.ts';

/** An agent's restart policy as passed to `spawnAgent({ restart })`; omitted fields take the defaults. */
export interface RestartPolicy {
  intensity?: number;
  periodMs?: number;
  backoff?: { minMs?: number; maxMs?: number };
  quarantine?: { minMs?: number; maxMs?: number };
}

/** Options of {@link checkRestartsWithinPolicy}. */
export interface RestartCheckOptions {
  /** Slack for timer lateness when comparing instants (default 250 ms). */
  toleranceMs?: number;
}

type Events = EventRecorder | readonly Recorded[];

const listOf = (events: Events): readonly Recorded[] => ('events' in events && !Array.isArray(events) ? (events as EventRecorder).events : (events as readonly Recorded[]));

/** The violations of the restart invariants for each agent of `policies` (empty when they hold). */
export function restartViolations(events: Events, policies: Readonly<Record<string, RestartPolicy>>, options: RestartCheckOptions = {}): string[] {
  const all = listOf(events);
  const tol = options.toleranceMs ?? 250;
  const out: string[] = [];
  for (const [agent, policy] of Object.entries(policies)) {
    const d = AGENT_DEFAULTS.restart;
    const intensity = policy.intensity ?? d.intensity;
    const periodMs = policy.periodMs ?? d.periodMs;
    const backoff = { minMs: policy.backoff?.minMs ?? d.backoff.minMs, maxMs: policy.backoff?.maxMs ?? d.backoff.maxMs };
    const quarantine = { minMs: policy.quarantine?.minMs ?? d.quarantine.minMs, maxMs: policy.quarantine?.maxMs ?? d.quarantine.maxMs };
    const sup = `agent:${agent}`;
    const scheduled = all.filter((e): e is Recorded<'supervisor.restart_scheduled'> => e.type === 'supervisor.restart_scheduled');
    const workerSched = scheduled.filter((e) => e.supervisor === sup);
    const agentSched = scheduled.filter((e) => e.child === agent && !e.supervisor.startsWith('agent:'));
    const escalations = all.filter((e): e is Recorded<'supervisor.escalated'> => e.type === 'supervisor.escalated' && e.supervisor === sup).map((e) => e.t);

    // 1. delays within the configured bounds
    // (the event's `attempt` counts this restart: the delay was drawn for attempt − 1, capped at minMs·2^(attempt−1))
    const cap = (b: { minMs: number; maxMs: number }, attempt: number) => Math.min(b.maxMs, b.minMs * 2 ** Math.max(0, attempt - 1));
    for (const e of workerSched) {
      if (e.delayMs < backoff.minMs || e.delayMs > cap(backoff, e.attempt)) {
        out.push(`${agent}: worker ${e.child} restart ${e.attempt} delay ${e.delayMs} ms outside backoff [${backoff.minMs}, ${cap(backoff, e.attempt)}]`);
      }
    }
    for (const e of agentSched) {
      if (e.delayMs < quarantine.minMs || e.delayMs > cap(quarantine, e.attempt)) {
        out.push(`${agent}: quarantine ${e.attempt} delay ${e.delayMs} ms outside [${quarantine.minMs}, ${cap(quarantine, e.attempt)}]`);
      }
    }

    // 2. no restart before its delay elapsed
    const lastScheduled = new Map<string, Recorded<'supervisor.restart_scheduled'>>();
    for (const e of all) {
      if (e.type === 'supervisor.restart_scheduled') lastScheduled.set(`${e.supervisor}\0${e.child}`, e as Recorded<'supervisor.restart_scheduled'>);
      if (e.type !== 'supervisor.restarted') continue;
      const r = e as Recorded<'supervisor.restarted'>;
      if (r.supervisor !== sup && !(r.child === agent && !r.supervisor.startsWith('agent:'))) continue;
      const s = lastScheduled.get(`${r.supervisor}\0${r.child}`);
      if (s !== undefined && r.t + tol < s.t + s.delayMs) out.push(`${agent}: ${r.child} restarted ${Math.round(s.t + s.delayMs - r.t)} ms before its ${s.delayMs} ms backoff elapsed`);
    }

    // 3. intensity window, on estimated restart instants (dropping restarts cancelled by an escalation)
    const stamps = workerSched
      .map((e) => e.t + e.delayMs)
      .filter((s, i) => !escalations.some((x) => x > workerSched[i]!.t && x < s - tol))
      .sort((a, b) => a - b);
    const window = Math.max(0, periodMs - tol);
    for (let i = 0; i < stamps.length; i++) {
      const s = stamps[i]!;
      // A new incarnation of the agent supervisor (after an escalation) starts a fresh window.
      const since = Math.max(s - window, ...escalations.filter((x) => x < s - tol));
      const inWindow = stamps.filter((x) => x <= s && x >= since).length;
      if (inWindow > intensity + 1) out.push(`${agent}: ${inWindow} worker restarts within ${periodMs} ms (intensity ${intensity})`);
      else if (inWindow === intensity + 1 && !escalations.some((x) => x >= s - tol && (stamps[i + 1] === undefined || x <= stamps[i + 1]! + tol))) {
        out.push(`${agent}: restart ${intensity + 1} within ${periodMs} ms at t=${Math.round(s)} was not followed by an escalation`);
      }
    }
    for (const x of escalations) {
      const previous = Math.max(-Infinity, ...escalations.filter((y) => y < x));
      const before = stamps.filter((s) => s <= x + tol && s >= x - periodMs - tol && s > previous).length;
      if (before < intensity + 1) out.push(`${agent}: escalated at t=${Math.round(x)} after only ${before} restarts within ${periodMs} ms (intensity ${intensity})`);
    }
  }
  return out;
}

/**
 * Asserts the restart invariants.
 * @throws FaultInvariantError (`restarts`) listing every violation.
 * @example
 * ```ts
 * const events = new EventRecorder(system);
 * // … fault run …
 * checkRestartsWithinPolicy(events, { bot: { intensity: 3, periodMs: 5_000, backoff: { minMs: 50, maxMs: 500 } } });
 * ```
 */
export function checkRestartsWithinPolicy(events: Events, policies: Readonly<Record<string, RestartPolicy>>, options: RestartCheckOptions = {}): void {
  assertNone('restarts', restartViolations(events, policies, options));
}
