/**
 * The dynamic supervisor (Elixir `DynamicSupervisor`): starts with no children, adds them at
 * run time, `one_for_one` only, same restart types, backoff and intensity as the static one.
 * A child that exits without being restarted (or is terminated) is forgotten.
 */
import type { ActorRef, ActorSystemLike, Behaviour, MailboxOptions } from '../actor/types.ts';
import { synErr } from '../errors.ts';
import { resolveOptions, stripUndefined, v } from '../options.ts';
import { commonRequest, noChild, supervisorBehaviour } from './behaviour.ts';
import type { RequestHandler } from './behaviour.ts';
import { dynamicSupervisorClient } from './client.ts';
import type { DynamicSupervisorHandle } from './client.ts';
import { SUP, fail, ok } from './messages.ts';
import type { SupervisorMessage } from './messages.ts';
import { SUPERVISOR_DEFAULTS, intensitySchema, invalidOption, mailboxField } from './spec.ts';

/** Default bound on children of a dynamic supervisor (every collection is bounded). */
export const DYNAMIC_SUPERVISOR_DEFAULTS = Object.freeze({ ...SUPERVISOR_DEFAULTS, maxChildren: 10_000 });

/** Options of {@link dynamicSupervisor} / {@link startDynamicSupervisor}. */
export interface DynamicSupervisorOptions {
  /** Max restarts within `periodMs` before escalating. Default 3. */
  intensity?: number;
  /** Sliding window of the intensity check, ms (finite, >= 1). Default 5000. */
  periodMs?: number;
  /** `startChild` beyond this many children fails with SYN_ERR_OVERLOADED. Default 10 000. */
  maxChildren?: number;
  /** Registered name ({@link startDynamicSupervisor} only) and label in events. */
  name?: string;
  /** Random source for backoff jitter. Default `Math.random`. */
  rand?: () => number;
  /** Mailbox of the supervisor actor ({@link startDynamicSupervisor} only). */
  mailbox?: MailboxOptions;
}

const schema = {
  ...intensitySchema,
  maxChildren: v.optional(v.number({ min: 1, integer: true })),
  mailbox: v.optional(mailboxField),
};

function resolve(options: DynamicSupervisorOptions | undefined) {
  const r = resolveOptions('dynamicSupervisor', options, schema);
  const d = DYNAMIC_SUPERVISOR_DEFAULTS;
  return {
    config: {
      kind: 'dynamic' as const,
      strategy: 'one_for_one' as const,
      intensity: r.intensity ?? d.intensity,
      periodMs: r.periodMs ?? d.periodMs,
      maxChildren: r.maxChildren ?? d.maxChildren,
      autoShutdown: 'never' as const,
      rand: r.rand ?? Math.random,
      name: r.name,
    },
    name: r.name,
    mailbox: r.mailbox === undefined ? undefined : stripUndefined(r.mailbox),
  };
}

const handleRequest: RequestHandler = async (core, request) => {
  const common = commonRequest(core, request);
  if (common !== undefined) return common;
  switch (request[SUP]) {
    case 'startChild': {
      const { id } = request.spec;
      if (core.find(id) !== undefined) {
        return fail(synErr('SYN_ERR_NAME_TAKEN', `Dynamic supervisor ${core.label} already has a child "${id}"`, { supervisor: core.label, child: id }));
      }
      if (request.spec.significant) {
        // OTP rejects auto_shutdown for simple_one_for_one (significant_simple), so nothing here can be significant.
        return fail(invalidOption('spec.significant', 'false (a dynamic supervisor has no autoShutdown)', true));
      }
      if (core.size >= core.maxChildren) {
        return fail(synErr('SYN_ERR_OVERLOADED', `Dynamic supervisor ${core.label} is at maxChildren (${core.maxChildren})`, { supervisor: core.label, maxChildren: core.maxChildren }));
      }
      return core.add(request.spec);
    }
    case 'terminateChild': {
      const child = core.find(request.id);
      if (child === undefined) return noChild(core, request.id);
      await core.stopChild(child);
      core.remove(child);
      return ok(undefined);
    }
    default:
      return fail(synErr('SYN_ERR_INVALID_ARGUMENT', `Dynamic supervisors do not support "${String(request[SUP])}"`));
  }
};

/**
 * A dynamic supervisor behaviour (for use as a child: `type: 'supervisor'`).
 * @throws SYN_ERR_INVALID_OPTION for bad or unknown options.
 */
export function dynamicSupervisor(options?: DynamicSupervisorOptions): Behaviour<SupervisorMessage, unknown> {
  return supervisorBehaviour(resolve(options).config, [], handleRequest);
}

/**
 * Spawns a top-level dynamic supervisor on `runtime`.
 * @throws SYN_ERR_INVALID_OPTION, SYN_ERR_NAME_TAKEN (name in use).
 * @example
 * ```ts
 * const agents = await startDynamicSupervisor(runtime, { name: 'agents', maxChildren: 100 });
 * await agents.startChild({ id: 'bot-1', start: () => agentBehaviour('bot-1'), restart: 'transient' });
 * ```
 */
export async function startDynamicSupervisor(runtime: ActorSystemLike, options?: DynamicSupervisorOptions): Promise<DynamicSupervisorHandle> {
  const { config, name, mailbox } = resolve(options);
  const ref = runtime.spawn(supervisorBehaviour(config, [], handleRequest), {
    trapExit: true,
    ...(name === undefined ? {} : { name }),
    ...(mailbox === undefined ? {} : { mailbox }),
  }) as ActorRef<SupervisorMessage, unknown>;
  await ref.started;
  return dynamicSupervisorClient(ref);
}
