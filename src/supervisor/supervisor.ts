/**
 * The static supervisor (OTP `supervisor`): a fixed, ordered list of children started at
 * init, restarted per strategy with per-child backoff, escalating when restarts are too
 * frequent. See docs/supervision.md for the exact semantics and every difference from OTP.
 */
import type { ActorRef, ActorSystemLike, Behaviour, MailboxOptions } from '../actor/types.ts';
import { synErr } from '../errors.ts';
import { invalid, resolveOptions, stripUndefined, v } from '../options.ts';
import { commonRequest, noChild, supervisorBehaviour } from './behaviour.ts';
import type { RequestHandler } from './behaviour.ts';
import { supervisorClient } from './client.ts';
import type { SupervisorHandle } from './client.ts';
import { SUP, fail, ok } from './messages.ts';
import type { SupervisorMessage } from './messages.ts';
import { SUPERVISOR_DEFAULTS, childrenField, intensitySchema, invalidOption, mailboxField } from './spec.ts';
import type { AutoShutdown, ChildSpec, ResolvedChildSpec, Strategy } from './spec.ts';

/** Options of {@link supervisor} / {@link startSupervisor}. */
export interface SupervisorOptions {
  /** Default `'one_for_one'`. */
  strategy?: Strategy;
  /** Max restarts within `periodMs` before escalating. Default 3 (see {@link SUPERVISOR_DEFAULTS}). */
  intensity?: number;
  /** Sliding window of the intensity check, ms (finite, >= 1). Default 5000. */
  periodMs?: number;
  /**
   * OTP `auto_shutdown`: shut this supervisor down when significant children exit by
   * themselves (see {@link AutoShutdown}). Default `'never'`, which rejects significant children.
   */
  autoShutdown?: AutoShutdown;
  /** Started in order at init; stopped in reverse order. Default []. */
  children?: ChildSpec[];
  /** Registered name of the supervisor actor ({@link startSupervisor} only; also its label in events). */
  name?: string;
  /** Random source for backoff jitter, `[0, 1)`. Default `Math.random` (tests pass a constant). */
  rand?: () => number;
  /** Mailbox of the supervisor actor ({@link startSupervisor} only). Default: the runtime's. */
  mailbox?: MailboxOptions;
}

const schema = {
  ...intensitySchema,
  strategy: v.optional(v.oneOf(['one_for_one', 'one_for_all', 'rest_for_one'] as const)),
  autoShutdown: v.optional(v.oneOf(['never', 'any_significant', 'all_significant'] as const)),
  children: v.optional(childrenField),
  mailbox: v.optional(mailboxField),
};

function resolve(options: SupervisorOptions | undefined) {
  const r = resolveOptions('supervisor', options, schema);
  const autoShutdown = r.autoShutdown ?? SUPERVISOR_DEFAULTS.autoShutdown;
  const children = r.children ?? [];
  children.forEach((spec, i) => {
    const bad = significantMisuse(spec, autoShutdown);
    if (bad !== undefined) invalid(`supervisor.children[${i}].significant`, bad, true);
  });
  return {
    config: {
      kind: 'static' as const,
      strategy: r.strategy ?? SUPERVISOR_DEFAULTS.strategy,
      intensity: r.intensity ?? SUPERVISOR_DEFAULTS.intensity,
      periodMs: r.periodMs ?? SUPERVISOR_DEFAULTS.periodMs,
      maxChildren: Infinity,
      autoShutdown,
      rand: r.rand ?? Math.random,
      name: r.name,
    },
    children,
    name: r.name,
    mailbox: r.mailbox === undefined ? undefined : stripUndefined(r.mailbox),
  };
}

/** Why `spec` may not be significant here (OTP `bad_combination`), or undefined when it may. */
function significantMisuse(spec: ResolvedChildSpec, autoShutdown: AutoShutdown): string | undefined {
  if (!spec.significant || autoShutdown !== 'never') return undefined;
  return `false while the supervisor's autoShutdown is "never" (set autoShutdown to "any_significant" or "all_significant")`;
}

const handleRequest: RequestHandler = async (core, request) => {
  const common = commonRequest(core, request);
  if (common !== undefined) return common;
  switch (request[SUP]) {
    case 'startChild': {
      if (core.find(request.spec.id) !== undefined) {
        return fail(synErr('SYN_ERR_NAME_TAKEN', `Supervisor ${core.label} already has a child "${request.spec.id}"`, { supervisor: core.label, child: request.spec.id }));
      }
      const bad = significantMisuse(request.spec, core.autoShutdown);
      if (bad !== undefined) return fail(invalidOption('spec.significant', bad, true));
      return core.add(request.spec);
    }
    case 'terminateChild': {
      const child = core.find(request.id);
      if (child === undefined) return noChild(core, request.id);
      await core.stopChild(child);
      if (child.spec.restart === 'temporary') core.remove(child); // OTP: a temporary child's spec is not kept
      return ok(undefined);
    }
    case 'restartChild': {
      const child = core.find(request.id);
      if (child === undefined) return noChild(core, request.id);
      if (child.state !== 'stopped') return childRunning(core.label, request.id, child.state);
      return core.startIncarnation(child);
    }
    case 'deleteChild': {
      const child = core.find(request.id);
      if (child === undefined) return noChild(core, request.id);
      if (child.state !== 'stopped') return childRunning(core.label, request.id, child.state);
      core.remove(child);
      return ok(undefined);
    }
    default:
      return fail(synErr('SYN_ERR_INVALID_ARGUMENT', `Unsupported supervisor request "${String(request[SUP])}"`));
  }
};

function childRunning(supervisor: string, child: string, state: string) {
  return fail(synErr('SYN_ERR_CHILD_RUNNING', `Supervisor ${supervisor}: child "${child}" is ${state}`, { supervisor, child, state }));
}

/**
 * A supervisor behaviour, for use as a child of another supervisor
 * (`{ id: 'workers', type: 'supervisor', start: () => supervisor({...}) }`).
 * Its `init` starts the children in order and fails (SYN_ERR_START_FAILED) if one fails,
 * after stopping those already started in reverse order.
 *
 * @throws SYN_ERR_INVALID_OPTION for bad or unknown options (synchronously).
 * @example
 * ```ts
 * const tree = supervisor({ strategy: 'rest_for_one', children: [
 *   { id: 'db', start: () => dbBehaviour() },
 *   { id: 'api', start: () => apiBehaviour() }, // depends on db: restarted when db restarts
 * ] });
 * ```
 */
export function supervisor(options?: SupervisorOptions): Behaviour<SupervisorMessage, unknown> {
  const { config, children } = resolve(options);
  return supervisorBehaviour(config, children, handleRequest);
}

/**
 * Spawns a top-level supervisor on `runtime` and resolves once all its children started.
 *
 * @throws SYN_ERR_INVALID_OPTION (bad options), SYN_ERR_NAME_TAKEN (name in use),
 *   SYN_ERR_START_FAILED (a child failed to start; the supervisor has exited).
 * @example
 * ```ts
 * const sup = await startSupervisor(runtime, { children: [{ id: 'a', start: () => worker() }] });
 * await sup.whichChildren();
 * await sup.stop();
 * ```
 */
export async function startSupervisor(runtime: ActorSystemLike, options?: SupervisorOptions): Promise<SupervisorHandle> {
  const { config, children, name, mailbox } = resolve(options);
  const behaviour = supervisorBehaviour(config, children, handleRequest);
  const ref = runtime.spawn(behaviour, {
    trapExit: true,
    ...(name === undefined ? {} : { name }),
    ...(mailbox === undefined ? {} : { mailbox }),
  }) as ActorRef<SupervisorMessage, unknown>;
  await ref.started;
  return supervisorClient(ref);
}
