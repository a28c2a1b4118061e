/**
 * The user-actor part of `system.inspect()`: the live actors outside the agents subtree, as a
 * forest following spawn links (a supervisor's children under it), with the supervision facts
 * actor snapshots lack — which supervisor child an actor is, and how often that child was
 * restarted — taken from the supervisors' own events.
 */
import type { ActorInfo } from './runtime.ts';
import type { InspectNode } from '../observe/inspect.ts';
import type { SynapseEventEmitter } from '../observe/events.ts';

const key = (supervisor: string, child: string): string => `${supervisor}\u0000${child}`;

/**
 * Supervision facts by actor id, kept from `supervisor.child_started` / `supervisor.restarted`
 * events. Bounded: entries of actors no longer alive are pruned once the map holds more than
 * {@link SupervisionFacts.PRUNE_ABOVE} of them.
 */
export class SupervisionFacts {
  static readonly PRUNE_ABOVE = 10_000;
  readonly #childOf = new Map<string, { supervisor: string; child: string }>();
  readonly #restarts = new Map<string, number>();
  readonly #supervisors = new Set<string>();
  readonly #off: (() => void)[] = [];

  /** `liveIds()` (the ids of the live actors) lets the facts forget actors that are gone. */
  constructor(
    events: SynapseEventEmitter,
    private readonly liveIds: () => ReadonlySet<string>,
  ) {
    const started = (e: { supervisor: string; child: string; actor: string }): void => {
      this.#supervisors.add(e.supervisor);
      this.#childOf.set(e.actor, { supervisor: e.supervisor, child: e.child });
      if (this.#childOf.size > SupervisionFacts.PRUNE_ABOVE) this.#prune();
    };
    const restarted = (e: { supervisor: string; child: string; actor: string }): void => {
      started(e);
      const k = key(e.supervisor, e.child);
      this.#restarts.set(k, (this.#restarts.get(k) ?? 0) + 1);
    };
    events.on('supervisor.child_started', started);
    events.on('supervisor.restarted', restarted);
    this.#off.push(() => events.off('supervisor.child_started', started), () => events.off('supervisor.restarted', restarted));
  }

  /** The supervisor label and child id of a supervised actor. */
  childOf(actorId: string): { supervisor: string; child: string } | undefined {
    return this.#childOf.get(actorId);
  }

  /** Restarts of a supervisor's child (by child id) since the system started. */
  restartsOf(supervisor: string, child: string): number {
    return this.#restarts.get(key(supervisor, child)) ?? 0;
  }

  /** Whether `label` (a supervisor's name, else its actor id) has started children. */
  isSupervisor(label: string): boolean {
    return this.#supervisors.has(label);
  }

  close(): void {
    for (const off of this.#off.splice(0)) off();
  }

  #prune(): void {
    const live = this.liveIds();
    for (const id of this.#childOf.keys()) if (!live.has(id)) this.#childOf.delete(id);
  }
}

/**
 * The forest of live actors, minus the subtree rooted at the actor named `exclude` (the agents
 * supervisor, which `inspect()` renders with agent detail). Roots are actors with no live
 * parent; children follow spawn links in spawn order.
 */
export function actorForest(actors: readonly ActorInfo[], facts: SupervisionFacts, exclude: string): InspectNode[] {
  const children = new Map<string | undefined, ActorInfo[]>();
  const live = new Set(actors.map((a) => a.id));
  for (const a of actors) {
    const parent = a.parent !== undefined && live.has(a.parent) ? a.parent : undefined;
    const list = children.get(parent);
    if (list === undefined) children.set(parent, [a]);
    else list.push(a);
  }
  const node = (a: ActorInfo): InspectNode => {
    const label = a.name ?? a.id;
    const sup = facts.childOf(a.id);
    return {
      kind: facts.isSupervisor(label) ? 'supervisor' : 'actor',
      id: a.id,
      ...(a.name === undefined ? {} : { name: a.name }),
      state: a.status,
      queued: a.mailboxDepth,
      ...(sup === undefined ? {} : { restarts: facts.restartsOf(sup.supervisor, sup.child) }),
      meta: {
        mailboxCapacity: a.mailboxCapacity,
        dropped: a.dropped,
        trapExit: a.trapExit,
        timers: a.timers,
        ...(sup === undefined ? {} : { supervisor: sup.supervisor, child: sup.child }),
      },
      children: (children.get(a.id) ?? []).filter((c) => c.name !== exclude).map(node),
    };
  };
  return (children.get(undefined) ?? []).filter((a) => a.name !== exclude).map(node);
}
