/**
 * The IPC protocol between a cluster parent (test/helpers/cluster.ts, examples/demo.ts
 * `--cluster`) and its children, examples/cluster/host.ts and examples/cluster/front.ts
 * (`child_process.fork` with tsx, Node IPC). Children read their configuration from the
 * environment (`SYN_CLUSTER_*`, see each script), never secrets from argv.
 */

/** The agent id every host serves and every front attaches. */
export const CLUSTER_AGENT = 'cluster';

/** A coded error as it crosses IPC: the `SynapseError`'s code, message and details verbatim. */
export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

/** Parent → front: run a turn (`sendMessage` or `streamMessage`) of the remote agent. */
export interface TurnCommand {
  readonly cmd: 'send' | 'stream';
  /** The parent's call id (echoed in `delta` / `settled`). */
  readonly id: number;
  readonly conversationId: string;
  readonly turnId: string;
  readonly prompt: string;
  readonly timeoutMs?: number;
}

/** Parent → child: stop cleanly (`system.stop()`), answer `stopped`, exit 0. */
export interface StopCommand {
  readonly cmd: 'stop';
}

/** Parent → host: report the live Python pids (`pids`): its workers and their zygote. */
export interface PidsCommand {
  readonly cmd: 'pids';
}

/** Anything a parent sends. */
export type ClusterCommand = TurnCommand | StopCommand | PidsCommand;

/** What a settled turn resolves with across IPC (a subset of `SendResult`). */
export interface TurnValue {
  readonly output: unknown;
  readonly messages: readonly unknown[];
  readonly conversationId: string;
  readonly turnId: string;
  readonly replayed: boolean;
}

/** Child → parent messages. */
export type ClusterEvent =
  | { readonly ev: 'ready'; readonly role: 'host'; readonly id: string; readonly pid: number; readonly pids: readonly number[]; readonly pidFile: string }
  | { readonly ev: 'ready'; readonly role: 'front'; readonly id: string; readonly pid: number }
  | { readonly ev: 'pids'; readonly pids: readonly number[] }
  | { readonly ev: 'delta'; readonly id: number; readonly text: string }
  | { readonly ev: 'settled'; readonly id: number; readonly ok: true; readonly value: TurnValue }
  | { readonly ev: 'settled'; readonly id: number; readonly ok: false; readonly error: WireError }
  | { readonly ev: 'stopped' };

/** Reads a required `SYN_CLUSTER_*` variable. */
export function env(name: string, fallback?: string): string {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
}

/** Sends one event to the parent (no-op without an IPC channel). */
export function send(event: ClusterEvent): void {
  if (process.connected) process.send?.(event);
}
