/**
 * Child specifications and supervisor options: types, documented defaults, and the one
 * resolver per shape (unknown keys and bad types → SYN_ERR_INVALID_OPTION naming the option).
 */
import type { Behaviour, MailboxOptions } from '../actor/types.ts';
import type { SynapseError } from '../errors.ts';
import { resolveOptions, stripUndefined, v, invalid } from '../options.ts';
import type { Field } from '../options.ts';
import type { RestartType } from './policy.ts';

/** Supervision strategies (OTP). */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

/**
 * OTP `auto_shutdown` (OTP 24+): what happens when a *significant* child exits by itself and
 * is not restarted (a transient one exiting normally, a temporary one exiting at all):
 * - `'never'` (default): nothing; significant children are not allowed;
 * - `'any_significant'`: the supervisor shuts down (reason `'shutdown'`);
 * - `'all_significant'`: it shuts down once no significant child is left running or restarting.
 * Exits the supervisor causes itself (terminateChild, a group restart, its own shutdown) never count.
 */
export type AutoShutdown = 'never' | 'any_significant' | 'all_significant';

import { IGNORE } from '../actor/types.ts';

/** What a child's `start` (or its actor's `init`) may return instead of a behaviour: start nothing (OTP's `ignore`). */
export { IGNORE };

/** How a child is stopped: ms to wait after `stop('shutdown')` before `kill()`, kill at once, or wait forever. */
export type ShutdownSpec = number | 'brutal_kill' | 'infinity';

/** Per-child exponential backoff (see `nextDelay`). */
export interface BackoffSpec {
  /** First restart delay and lower bound of every delay; 0 disables backoff. */
  minMs: number;
  /** Upper bound of every delay (≥ minMs). */
  maxMs: number;
  /** The attempt counter resets when the child crashes after having been up at least this long. */
  resetAfterMs: number;
}

/** A behaviour with any message/reply types (children have arbitrary protocols). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyBehaviour = Behaviour<any, any>;

/** What `start` is told about the start it is asked for. */
export interface StartInfo {
  /** 0 for the first start; n ≥ 1 for the n-th consecutive restart since the backoff last reset. */
  attempt: number;
}

/**
 * How to start and supervise one child (OTP child spec + backoff).
 *
 * @example
 * ```ts
 * const spec: ChildSpec = { id: 'cache', start: () => cacheBehaviour(), restart: 'transient', shutdown: 2000 };
 * ```
 */
/**
 * Callbacks for the owner of a child (e.g. the agent layer keeping its router's state), called by
 * the supervisor that owns the child, synchronously, just before the matching `supervisor.*`
 * event is emitted — so the owner never has to filter global events by label. A throw is
 * reported on a fresh macrotask and never unwinds the restart logic.
 */
export interface ChildHooks {
  /** A restart of this child is scheduled after `delayMs` (`startup`: its last start attempt failed). */
  restartScheduled?(info: { readonly delayMs: number; readonly attempt: number; readonly startup: boolean }): void;
  /** This child was restarted (it is up again). */
  restarted?(info: { readonly attempt: number }): void;
}

export interface ChildSpec {
  /** Unique within its supervisor. */
  id: string;
  /**
   * Builds a fresh behaviour for each start (never reuse state across incarnations), or
   * returns `'ignore'` ({@link IGNORE}) to start nothing, as an OTP start function returning
   * `ignore`: `startChild` resolves `undefined`, a static supervisor keeps the spec as
   * `stopped` (restartable with `restartChild`) unless the child is temporary, a dynamic
   * supervisor does not add it.
   */
  start: (info: StartInfo) => AnyBehaviour | typeof IGNORE;
  /** Default `'permanent'`. */
  restart?: RestartType;
  /**
   * OTP significant child: its own exit (when not restarted) may shut the supervisor down
   * per the supervisor's `autoShutdown`. Default false. Only for `transient` / `temporary`
   * children of a static supervisor whose `autoShutdown` is not `'never'`.
   */
  significant?: boolean;
  /** Default 5000 for workers, `'infinity'` for supervisors. */
  shutdown?: ShutdownSpec;
  /** Default `'worker'`. */
  type?: 'worker' | 'supervisor';
  /** Default {@link DEFAULT_BACKOFF}; `false` restarts immediately (pure OTP). */
  backoff?: BackoffSpec | false;
  /** Max ms for `init` to complete; longer counts as a start-up failure. Default {@link CHILD_DEFAULTS}.startTimeoutMs; `Infinity` waits forever. */
  startTimeoutMs?: number;
  /** Options passed to `spawn` for each incarnation. */
  spawn?: { name?: string; mailbox?: MailboxOptions };
  /** The owner's callbacks about this child's restarts (see {@link ChildHooks}). */
  hooks?: ChildHooks;
}

/** A child spec with every default applied. */
export interface ResolvedChildSpec {
  readonly id: string;
  readonly start: (info: StartInfo) => AnyBehaviour | typeof IGNORE;
  readonly restart: RestartType;
  readonly significant: boolean;
  readonly shutdown: ShutdownSpec;
  readonly type: 'worker' | 'supervisor';
  readonly backoff: Readonly<BackoffSpec> | false;
  readonly startTimeoutMs: number;
  readonly spawn: { name?: string; mailbox?: MailboxOptions };
  readonly hooks: ChildHooks | undefined;
}

/** Default backoff: 100 ms doubling up to 10 s (full jitter), reset after 30 s of uptime. */
export const DEFAULT_BACKOFF: Readonly<BackoffSpec> = Object.freeze({ minMs: 100, maxMs: 10_000, resetAfterMs: 30_000 });

/** Child spec defaults (`shutdown` is `'infinity'` instead for `type: 'supervisor'`). */
export const CHILD_DEFAULTS = Object.freeze({
  restart: 'permanent' as RestartType,
  significant: false,
  shutdown: 5000 as ShutdownSpec,
  type: 'worker' as 'worker' | 'supervisor',
  startTimeoutMs: 30_000,
});

/**
 * Supervisor intensity defaults: 3 restarts per 5000 ms. OTP's 1 per 5 s is harsh once
 * restarts are spread by backoff; 3 lets a child survive a short burst of crashes.
 */
export const SUPERVISOR_DEFAULTS = Object.freeze({ strategy: 'one_for_one' as Strategy, intensity: 3, periodMs: 5000, autoShutdown: 'never' as AutoShutdown });

const ms = v.number({ min: 0 });
/** Longest delay a timer can hold (Node's setTimeout limit, ~24.8 days). */
const timerMs = v.number({ min: 0, max: 2 ** 31 - 1 });

/** Validates actor mailbox options. */
export const mailboxField = v.object({
  capacity: v.optional(v.number({ min: 1, integer: true })),
  overflow: v.optional(v.oneOf(['reject', 'drop-newest', 'drop-oldest'] as const)),
});

const shutdownField: Field<ShutdownSpec> = (value, path) => {
  if (value === 'brutal_kill' || value === 'infinity') return value;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  return invalid(path, `a number >= 0, "brutal_kill" or "infinity"`, value);
};

const backoffField: Field<BackoffSpec | false> = (value, path) => {
  if (value === false) return false;
  // All three fields are required: a missing one is reported by name (`backoff.maxMs`).
  const b = resolveOptions(path, value, { minMs: timerMs, maxMs: timerMs, resetAfterMs: ms });
  if (b.maxMs < b.minMs) invalid(`${path}.maxMs`, `a number >= minMs (${b.minMs})`, b.maxMs);
  return { minMs: b.minMs, maxMs: b.maxMs, resetAfterMs: b.resetAfterMs };
};

const childSchema = {
  id: v.string({ min: 1, max: 200 }),
  start: v.func<ChildSpec['start']>(),
  restart: v.optional(v.oneOf(['permanent', 'transient', 'temporary'] as const)),
  significant: v.optional(v.boolean()),
  shutdown: v.optional(shutdownField),
  type: v.optional(v.oneOf(['worker', 'supervisor'] as const)),
  backoff: v.optional(backoffField),
  startTimeoutMs: v.optional(ms),
  spawn: v.optional(v.object({ name: v.optional(v.string({ min: 1, max: 200 })), mailbox: v.optional(mailboxField) })),
  hooks: v.optional(v.object({ restartScheduled: v.optional(v.func<NonNullable<ChildHooks['restartScheduled']>>()), restarted: v.optional(v.func<NonNullable<ChildHooks['restarted']>>()) })),
};

/**
 * Validates a child spec and applies defaults.
 * @throws SYN_ERR_INVALID_OPTION naming the bad field (e.g. `children[2].shutdown`).
 */
export function resolveChildSpec(input: unknown, path = 'childSpec'): ResolvedChildSpec {
  const r = resolveOptions(path, input, childSchema);
  if (r.id === undefined) invalid(`${path}.id`, 'a non-empty string', undefined);
  if (r.start === undefined) invalid(`${path}.start`, 'a function', undefined);
  const type = r.type ?? CHILD_DEFAULTS.type;
  const restart = r.restart ?? CHILD_DEFAULTS.restart;
  const significant = r.significant ?? CHILD_DEFAULTS.significant;
  // OTP rejects this combination (bad_combination): a permanent child never exits for good.
  if (significant && restart === 'permanent') invalid(`${path}.significant`, 'false for a permanent child (only transient or temporary children can be significant)', significant);
  const spawn: { name?: string; mailbox?: MailboxOptions } = {};
  if (r.spawn?.name !== undefined) spawn.name = r.spawn.name;
  if (r.spawn?.mailbox !== undefined) spawn.mailbox = stripUndefined(r.spawn.mailbox);
  return Object.freeze({
    id: r.id,
    start: r.start,
    restart,
    significant,
    shutdown: r.shutdown ?? (type === 'supervisor' ? 'infinity' : CHILD_DEFAULTS.shutdown),
    type,
    backoff: r.backoff === undefined ? DEFAULT_BACKOFF : r.backoff === false ? false : Object.freeze(r.backoff),
    startTimeoutMs: r.startTimeoutMs ?? CHILD_DEFAULTS.startTimeoutMs,
    spawn,
    hooks: r.hooks === undefined ? undefined : stripUndefined(r.hooks),
  });
}

/** The SYN_ERR_INVALID_OPTION that `invalid` throws, as a value: a supervisor replies with errors, never throws. */
export function invalidOption(path: string, expected: string, value: unknown): SynapseError {
  try {
    return invalid(path, expected, value);
  } catch (error) {
    return error as SynapseError;
  }
}

/** Intensity options shared by both supervisor kinds. */
export const intensitySchema = {
  intensity: v.optional(v.number({ min: 0, integer: true })),
  // Finite: an infinite window would make every restart count forever (and keep every stamp).
  periodMs: v.optional(v.number({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  name: v.optional(v.string({ min: 1, max: 200 })),
  rand: v.optional(v.func<() => number>()),
};

/**
 * Validates an array of child specs (ids unique).
 * @throws SYN_ERR_INVALID_OPTION naming the bad entry (`children[i]…`).
 */
export const childrenField: Field<ResolvedChildSpec[]> = (value, path) => {
  if (!Array.isArray(value)) return invalid(path, 'an array of child specs', value);
  const seen = new Set<string>();
  return value.map((item: unknown, i) => {
    const spec = resolveChildSpec(item, `${path}[${i}]`);
    if (seen.has(spec.id)) invalid(`${path}[${i}].id`, 'an id unique among the children', spec.id);
    seen.add(spec.id);
    return spec;
  });
};
