/**
 * The actor layer's public surface (re-exported by `src/index.ts`): the runtime, the
 * contract types, the xstate adapter and the name rules. Cells, the kernel and the queues
 * are internal.
 */
export { ActorRuntime, ACTOR_RUNTIME_DEFAULTS, MAX_MAILBOX_CAPACITY } from './runtime.ts';
export type { ActorInfo, ActorRuntimeOptions, ShutdownOptions } from './runtime.ts';
export { fromMachine, isStateMachine } from './machine.ts';
export type { FromMachineOptions, MachineReply } from './machine.ts';
export { validateName, MAX_NAME_LENGTH } from './names.ts';
export { DEFAULT_CALL_TIMEOUT } from './cell.ts';
export { isCleanExit, propagatedReason } from './reason.ts';
export { DownSignal, ExitSignal } from './types.ts';
export type {
  ActorContext,
  ActorId,
  ActorRef,
  ActorSystemLike,
  Behaviour,
  CallOptions,
  ExitReason,
  MailboxOptions,
  MonitorRef,
  SpawnOptions,
  TimerRef,
} from './types.ts';
