/**
 * Links and monitors between cells (Erlang semantics). Links are bidirectional and carry
 * exit signals; monitors are one-way and deliver one {@link DownSignal}. On exit a cell
 * hands its links and monitors to {@link severAll}, which routes the signals through the
 * kernel's worklist (never recursively, so a long chain of links cannot overflow the stack).
 */
import { synErr } from '../errors.ts';
import type { ActorCell } from './cell.ts';
import { propagatedReason } from './reason.ts';
import { DownSignal, type ExitReason, type MonitorRef } from './types.ts';

/** A monitor: `watcher` gets one DOWN when `target` exits. Its `id` is the public MonitorRef. */
export class Monitor implements MonitorRef {
  constructor(
    readonly id: string,
    /** @internal */ readonly watcher: ActorCell,
    /** @internal */ readonly target: ActorCell,
  ) {}
}

/** Links `a` and `b` both ways. @throws SYN_ERR_NO_PROC if `b` is not alive. */
export function link(a: ActorCell, b: ActorCell): void {
  if (a === b) return;
  if (!b.isAlive()) throw synErr('SYN_ERR_NO_PROC', `Cannot link to actor ${b.id}: it is not alive`, { actor: b.id });
  (a.links ??= new Set()).add(b);
  (b.links ??= new Set()).add(a);
}

/** Removes the link between `a` and `b` (no-op if none). */
export function unlink(a: ActorCell, b: ActorCell): void {
  a.links?.delete(b);
  b.links?.delete(a);
}

/** `watcher` monitors `target`; if `target` is already dead, DOWN('noproc') is queued at once. */
export function monitor(watcher: ActorCell, target: ActorCell): Monitor {
  const mon = new Monitor(watcher.kernel.nextMonitorId(), watcher, target);
  if (!target.isAlive()) {
    watcher.enqueueSignal(new DownSignal(mon, target, 'noproc'));
    return mon;
  }
  (watcher.monitorsOut ??= new Map()).set(mon.id, mon);
  (target.monitorsIn ??= new Map()).set(mon.id, mon);
  return mon;
}

/** Removes a monitor held by `watcher` (no-op if unknown or already fired). */
export function demonitor(watcher: ActorCell, ref: MonitorRef): void {
  const mon = watcher.monitorsOut?.get(ref.id);
  if (mon === undefined) return;
  watcher.monitorsOut!.delete(mon.id);
  mon.target.monitorsIn?.delete(mon.id);
}

/** Called once by an exiting cell: signals its links, fires monitors on it, drops monitors it held. */
export function severAll(cell: ActorCell, reason: ExitReason): void {
  const seen = propagatedReason(reason);
  const { links, monitorsIn, monitorsOut } = cell;
  cell.links = undefined;
  cell.monitorsIn = undefined;
  cell.monitorsOut = undefined;
  if (monitorsOut !== undefined) for (const mon of monitorsOut.values()) mon.target.monitorsIn?.delete(mon.id);
  if (monitorsIn !== undefined) {
    for (const mon of monitorsIn.values()) {
      mon.watcher.monitorsOut?.delete(mon.id);
      mon.watcher.enqueueSignal(new DownSignal(mon, cell, seen));
    }
  }
  if (links !== undefined) {
    for (const other of links) {
      other.links?.delete(cell);
      cell.kernel.deliverExit(other, cell, seen);
    }
  }
}
