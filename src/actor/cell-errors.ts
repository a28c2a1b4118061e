/**
 * The coded errors an actor's callers see, in one place (messages name the actor by id and,
 * if registered, by name; details carry both).
 */
import { synErr, type SynapseError } from '../errors.ts';
import type { ExitReason } from './types.ts';

/** Who the error is about. */
export interface ActorLabel {
  readonly id: string;
  readonly name: string | undefined;
}

function label(actor: ActorLabel): string {
  return actor.name === undefined ? actor.id : `${actor.id} (${actor.name})`;
}

/** SYN_ERR_NO_PROC: the actor is not alive. */
export function noProcError(actor: ActorLabel): SynapseError {
  return synErr('SYN_ERR_NO_PROC', `Actor ${label(actor)} is not alive`, { actor: actor.id, name: actor.name });
}

/** SYN_ERR_SHUTDOWN: the actor was stopped before handling the call. */
export function shutdownError(actor: ActorLabel): SynapseError {
  return synErr('SYN_ERR_SHUTDOWN', `Actor ${label(actor)} was stopped before handling the call`, { actor: actor.id, name: actor.name });
}

/** SYN_ERR_ACTOR_EXITED with the exit reason as `cause`. */
export function exitedError(actor: ActorLabel, reason: ExitReason): SynapseError {
  return synErr('SYN_ERR_ACTOR_EXITED', `Actor ${label(actor)} exited before replying`, { actor: actor.id, name: actor.name }, reason);
}

/** SYN_ERR_START_FAILED with the exit reason as `cause`. */
export function startFailedError(actor: ActorLabel, reason: ExitReason | undefined): SynapseError {
  return synErr('SYN_ERR_START_FAILED', `Actor ${label(actor)} failed to start`, { actor: actor.id, name: actor.name }, reason);
}

/** SYN_ERR_START_FAILED of an actor whose `init` returned `'ignore'` (`details.ignored: true`). */
export function ignoredError(actor: ActorLabel): SynapseError {
  return synErr('SYN_ERR_START_FAILED', `Actor ${label(actor)} started nothing: its init returned 'ignore'`, { actor: actor.id, name: actor.name, ignored: true });
}

/** SYN_ERR_MAILBOX_FULL naming the capacity and the overflow policy. */
export function mailboxFullError(actor: ActorLabel, capacity: number, overflow: string): SynapseError {
  return synErr('SYN_ERR_MAILBOX_FULL', `Mailbox of actor ${label(actor)} is full (capacity ${capacity}, overflow '${overflow}')`, {
    actor: actor.id,
    name: actor.name,
    capacity,
    overflow,
  });
}
