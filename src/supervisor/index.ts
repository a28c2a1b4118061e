/**
 * Supervision: OTP supervisors (static and dynamic) with Akka-style per-child backoff.
 * See docs/supervision.md.
 */
export { supervisor, startSupervisor } from './supervisor.ts';
export type { SupervisorOptions } from './supervisor.ts';
export { dynamicSupervisor, startDynamicSupervisor, DYNAMIC_SUPERVISOR_DEFAULTS } from './dynamic.ts';
export type { DynamicSupervisorOptions } from './dynamic.ts';
export { supervisorClient, dynamicSupervisorClient } from './client.ts';
export type { SupervisorHandle, DynamicSupervisorHandle, SupervisorClientBase } from './client.ts';
export type { ChildInfo, ChildCounts, SupervisorMessage } from './messages.ts';
export { CHILD_DEFAULTS, DEFAULT_BACKOFF, IGNORE, SUPERVISOR_DEFAULTS, resolveChildSpec } from './spec.ts';
export type { AnyBehaviour, AutoShutdown, BackoffSpec, ChildSpec, ResolvedChildSpec, ShutdownSpec, StartInfo, Strategy } from './spec.ts';
export { countInWindow, intensityExceeded, isAbnormal, nextDelay, pruneStamps, recordRestart, shouldRestart } from './policy.ts';
export type { BackoffBounds, IntensityLimit, RestartType } from './policy.ts';
