/**
 * The Python worker processes of a running system, in a stable order (agent order, then
 * worker index), read from `system.inspect()`. Chaos picks its victims from this list and the
 * resource sampler reads `/proc` for each pid in it.
 */
import type { ActorSystem } from '../../src/system.ts';

/** One worker slot of one agent: its current pid, if a process is attached. */
export interface WorkerSlot {
  readonly agent: string;
  readonly worker: number;
  readonly pid: number | undefined;
  /** Process lifecycle state (`ready`, `spawning`, …) or `down`. */
  readonly state: string;
}

/** The worker slots of every agent of `system`, agents in spawn order. */
export function workerSlots(system: ActorSystem): WorkerSlot[] {
  const slots: WorkerSlot[] = [];
  for (const sup of system.inspect().children) {
    for (const agent of sup.children) {
      agent.children.forEach((w, worker) => {
        slots.push({ agent: agent.id, worker, pid: w.pid, state: w.state });
      });
    }
  }
  return slots;
}
