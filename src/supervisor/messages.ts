/**
 * The supervisor actor's message protocol (requests, replies, child snapshots). Requests are
 * tagged with a private symbol so a stray user message is never mistaken for one.
 */
import type { ActorRef, ExitSignal } from '../actor/types.ts';
import type { SynapseError } from '../errors.ts';
import type { ResolvedChildSpec } from './spec.ts';

/** Marks supervisor requests. */
export const SUP = Symbol.for('synapse.supervisor.request');

/** One child as reported by `whichChildren()`. */
export interface ChildInfo {
  readonly id: string;
  /** The live incarnation; absent while in backoff or stopped. */
  readonly ref?: ActorRef;
  readonly state: 'running' | 'backoff' | 'stopped';
  readonly type: 'worker' | 'supervisor';
  /** Successful restarts (group restarts included). */
  readonly restarts: number;
  /** Restart attempts whose start failed (init threw or exceeded startTimeoutMs). */
  readonly startupFailures: number;
  /** When the pending restart fires (supervisor clock ms), while in backoff. */
  readonly nextRestartAt?: number;
}

/** OTP `count_children`. */
export interface ChildCounts {
  /** All child specs (running or not). */
  readonly specs: number;
  /** Children with a live incarnation. */
  readonly active: number;
  readonly supervisors: number;
  readonly workers: number;
}

/** Requests a supervisor actor answers (`restart` is its own backoff timer message). */
export type SupervisorRequest =
  | { readonly [SUP]: 'restart'; readonly job: number }
  | { readonly [SUP]: 'startChild'; readonly spec: ResolvedChildSpec }
  | { readonly [SUP]: 'terminateChild'; readonly id: string }
  | { readonly [SUP]: 'restartChild'; readonly id: string }
  | { readonly [SUP]: 'deleteChild'; readonly id: string }
  | { readonly [SUP]: 'whichChildren' }
  | { readonly [SUP]: 'countChildren' }
  | { readonly [SUP]: 'childRef'; readonly id: string };

/** Everything a supervisor actor can receive. */
export type SupervisorMessage = SupervisorRequest | ExitSignal;

/** Replies never throw inside the supervisor (a throw would crash it); errors travel as values. */
export type Reply<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SynapseError };

/** True for a supervisor request (tagged with {@link SUP}). */
export function isRequest(message: unknown): message is SupervisorRequest {
  return typeof message === 'object' && message !== null && SUP in message;
}

/** A successful reply. */
export const ok = <T>(value: T): Reply<T> => ({ ok: true, value });
/** A failed reply carrying a coded error (re-thrown by the client). */
export const fail = (error: SynapseError): Reply<never> => ({ ok: false, error });
