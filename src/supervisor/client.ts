/**
 * Typed clients for a running supervisor actor. Every operation is a `call` through the
 * supervisor's mailbox (like OTP's `supervisor:*` API), so it sees a consistent state and
 * waits behind any restart or shutdown in progress. Calls never time out (OTP uses
 * `infinity` here too): a shutdown may legitimately take the children's shutdown time.
 */
import type { ActorRef, ExitReason } from '../actor/types.ts';
import { SUP } from './messages.ts';
import type { ChildCounts, ChildInfo, Reply, SupervisorMessage, SupervisorRequest } from './messages.ts';
import { resolveChildSpec } from './spec.ts';
import type { ChildSpec } from './spec.ts';

/** Operations shared by static and dynamic supervisors. */
export interface SupervisorClientBase {
  /** The supervisor actor. */
  readonly ref: ActorRef<SupervisorMessage, unknown>;
  /** Snapshot of every child, in start order. */
  whichChildren(): Promise<ChildInfo[]>;
  /** OTP `count_children`. */
  countChildren(): Promise<ChildCounts>;
  /** The live incarnation of child `id`, or undefined (unknown id, backoff, stopped). */
  childRef(id: string): Promise<ActorRef | undefined>;
  /**
   * Adds and starts a child (appended to the start order). Resolves `undefined` when the
   * child's `start` returned `'ignore'` (OTP `{ok, undefined}`; see `ChildSpec.start`).
   * @throws SYN_ERR_INVALID_OPTION (bad spec; `significant` where the supervisor's autoShutdown
   *   is `'never'` or in a dynamic supervisor), SYN_ERR_NAME_TAKEN (id in use),
   *   SYN_ERR_OVERLOADED (dynamic: maxChildren reached), SYN_ERR_START_FAILED (init threw or timed out),
   *   SYN_ERR_SHUTDOWN (supervisor stopping), SYN_ERR_NO_PROC (supervisor not alive).
   */
  startChild(spec: ChildSpec): Promise<ActorRef | undefined>;
  /**
   * Stops child `id` per its `shutdown` spec and cancels any pending restart. A static
   * supervisor keeps the spec (see `restartChild`/`deleteChild`) except for temporary
   * children; a dynamic supervisor forgets the child.
   * @throws SYN_ERR_NO_CHILD
   */
  terminateChild(id: string): Promise<void>;
  /** Stops the supervisor (children in reverse start order) and resolves once it exited. */
  stop(reason?: ExitReason): Promise<void>;
}

/** A static supervisor (OTP `supervisor`). */
export interface SupervisorHandle extends SupervisorClientBase {
  /**
   * Starts a stopped child again (OTP `restart_child`); does not count toward intensity.
   * Resolves `undefined` when its `start` returned `'ignore'` (it stays stopped).
   * @throws SYN_ERR_NO_CHILD, SYN_ERR_CHILD_RUNNING (running or in backoff), SYN_ERR_START_FAILED
   */
  restartChild(id: string): Promise<ActorRef | undefined>;
  /**
   * Forgets the spec of a stopped child (OTP `delete_child`).
   * @throws SYN_ERR_NO_CHILD, SYN_ERR_CHILD_RUNNING
   */
  deleteChild(id: string): Promise<void>;
}

/** A dynamic supervisor (Elixir `DynamicSupervisor`). */
export type DynamicSupervisorHandle = SupervisorClientBase;

async function request<T>(ref: ActorRef<SupervisorMessage, unknown>, message: SupervisorRequest): Promise<T> {
  const reply = (await ref.call(message, { timeout: Infinity })) as Reply<T>;
  if (!reply.ok) throw reply.error;
  return reply.value;
}

function base(ref: ActorRef<SupervisorMessage, unknown>): SupervisorClientBase {
  return {
    ref,
    whichChildren: () => request<ChildInfo[]>(ref, { [SUP]: 'whichChildren' }),
    countChildren: () => request<ChildCounts>(ref, { [SUP]: 'countChildren' }),
    childRef: (id) => request<ActorRef | undefined>(ref, { [SUP]: 'childRef', id }),
    async startChild(spec) {
      const resolved = resolveChildSpec(spec, 'spec');
      return request<ActorRef | undefined>(ref, { [SUP]: 'startChild', spec: resolved });
    },
    terminateChild: (id) => request<void>(ref, { [SUP]: 'terminateChild', id }),
    stop: (reason) => ref.stop(reason ?? 'shutdown'),
  };
}

/**
 * A client for a running static supervisor (e.g. a nested one: `supervisorClient(await top.childRef('sub'))`).
 * @example
 * ```ts
 * const sub = supervisorClient((await top.childRef('workers'))!);
 * console.log(await sub.whichChildren());
 * ```
 */
export function supervisorClient(ref: ActorRef<SupervisorMessage, unknown>): SupervisorHandle {
  return {
    ...base(ref),
    restartChild: (id) => request<ActorRef | undefined>(ref, { [SUP]: 'restartChild', id }),
    deleteChild: (id) => request<void>(ref, { [SUP]: 'deleteChild', id }),
  };
}

/** A client for a running dynamic supervisor. */
export function dynamicSupervisorClient(ref: ActorRef<SupervisorMessage, unknown>): DynamicSupervisorHandle {
  return base(ref);
}
