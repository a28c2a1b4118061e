/**
 * Lifecycle states of an actor cell, shared by the loop (`cell.ts`) and the cold paths
 * (`cell-lifecycle.ts`). Plain small integers so status checks on the hot path are Smi
 * compares.
 */

/** Lifecycle states of a cell (starting: init pending; stopping: terminate running). */
export const Status = Object.freeze({ Starting: 0, Idle: 1, Running: 2, Stopping: 3, Dead: 4 } as const);
/** One of the {@link Status} values. */
export type Status = (typeof Status)[keyof typeof Status];
