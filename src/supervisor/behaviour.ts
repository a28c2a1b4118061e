/**
 * Glue between the actor core and {@link SupervisorCore}: the behaviour object both
 * supervisor kinds return, and the request dispatch shared by them.
 */
import { ExitSignal } from '../actor/types.ts';
import type { ActorContext, Behaviour } from '../actor/types.ts';
import { synErr } from '../errors.ts';
import { SupervisorCore } from './core.ts';
import type { CoreConfig } from './core.ts';
import { SUP, fail, isRequest, ok } from './messages.ts';
import type { Reply, SupervisorMessage, SupervisorRequest } from './messages.ts';
import type { ResolvedChildSpec } from './spec.ts';

/** Per-kind request handlers (the static and dynamic supervisors differ only here). */
export type RequestHandler = (core: SupervisorCore, request: SupervisorRequest) => Promise<Reply<unknown>> | Reply<unknown>;

/**
 * Builds a supervisor behaviour. Each `init` creates fresh state, so the returned object can
 * be restarted by a parent (but must not run as two live actors at once).
 */
export function supervisorBehaviour(
  config: CoreConfig,
  initialChildren: readonly ResolvedChildSpec[],
  onRequest: RequestHandler,
): Behaviour<SupervisorMessage, unknown> {
  let core: SupervisorCore | undefined;
  let owner: ActorContext<SupervisorMessage> | undefined;

  return {
    async init(ctx) {
      if (owner !== undefined && owner.self.isAlive() && owner.self.id !== ctx.self.id) {
        throw synErr('SYN_ERR_INVALID_ARGUMENT', 'This supervisor behaviour is already running in another actor; create one per spawn');
      }
      owner = ctx;
      ctx.trapExit(true);
      core = new SupervisorCore(ctx, config);
      await core.startInitial(initialChildren);
    },

    async handle(message, ctx) {
      if (core === undefined) return undefined;
      if (message instanceof ExitSignal) return core.onExit(message);
      if (!isRequest(message)) {
        ctx.log.warn({ message: typeof message }, 'supervisor: unexpected message ignored');
        return undefined;
      }
      if (message[SUP] === 'restart') return core.onRestartTimer(message.job);
      if (core.halted) return fail(synErr('SYN_ERR_SHUTDOWN', `Supervisor ${core.label} is shutting down`));
      return onRequest(core, message);
    },

    async terminate() {
      await core?.terminate();
    },
  };
}

/** Requests both supervisor kinds answer the same way. */
export function commonRequest(core: SupervisorCore, request: SupervisorRequest): Reply<unknown> | undefined {
  switch (request[SUP]) {
    case 'whichChildren':
      return ok(core.which());
    case 'countChildren':
      return ok(core.counts());
    case 'childRef':
      return ok(core.find(request.id)?.ref);
    default:
      return undefined;
  }
}

/** SYN_ERR_NO_CHILD for `id`. */
export function noChild(core: SupervisorCore, id: string): Reply<never> {
  return fail(synErr('SYN_ERR_NO_CHILD', `Supervisor ${core.label} has no child "${id}"`, { supervisor: core.label, child: id }));
}
