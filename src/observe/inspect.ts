/**
 * The inspection tree: a JSON-safe snapshot of the supervision tree that `system.inspect()`
 * returns, `GET /inspect` serves and the live view renders. The system fills it; this module
 * only defines the shape and small helpers.
 */

/**
 * What a node is (`spare`: an idle warm spare process of an agent, state `idle`; `host`: a host
 * serving a remote agent; `zygote`: a fork server of `python.zygote` workers, a child of the system node).
 */
export type InspectNodeKind = 'system' | 'supervisor' | 'agent' | 'worker' | 'spare' | 'actor' | 'host' | 'zygote';

/**
 * One node of the tree. `state` is free text from the owning layer, with these conventional
 * values so the live view can colour them: `running`, `ready`, `idle`, `starting`, `restarting`,
 * `backoff`, `parked`, `stopping`, `stopped`, `crashed`, `quarantined`.
 *
 * @example
 * ```ts
 * const tree: InspectNode = {
 *   kind: 'system', id: 'synapse', state: 'running', children: [
 *     { kind: 'supervisor', id: 'agents', state: 'running', restarts: 2, children: [
 *       { kind: 'agent', id: 'support', state: 'ready', inFlight: 1, queued: 0, children: [
 *         { kind: 'worker', id: 'support/0', state: 'ready', pid: 4242, restarts: 2, children: [] },
 *       ] },
 *     ] },
 *   ],
 * };
 * ```
 */
export interface InspectNode {
  readonly kind: InspectNodeKind;
  /** Unique within the tree (actor id, agent id, `agent/worker`). */
  readonly id: string;
  /** Registered or display name. */
  readonly name?: string;
  readonly state: string;
  /** OS process id (workers). */
  readonly pid?: number;
  /** Restarts of this node (children of a supervisor) or performed (a supervisor). */
  readonly restarts?: number;
  /** Requests being processed. */
  readonly inFlight?: number;
  /** Requests waiting in a bounded queue (agent queue, mailbox). */
  readonly queued?: number;
  /** Epoch ms until which a quarantined / backing-off node rejects work. */
  readonly nextRetryAt?: number;
  /** Small extra facts for display (strategy, restart type…): JSON-safe scalars only. */
  readonly meta?: Readonly<Record<string, string | number | boolean | null>>;
  readonly children: readonly InspectNode[];
}

/** Produces the current tree (may be async). */
export type InspectFn = () => InspectNode | Promise<InspectNode>;

/** Health of one agent in a {@link HealthReport}. */
export interface AgentHealth {
  readonly state: string;
  readonly healthy: boolean;
  readonly workers?: number;
  readonly readyWorkers?: number;
  readonly inFlight?: number;
  readonly queued?: number;
  readonly nextRetryAt?: number;
}

/**
 * `GET /healthz` body. `ok` and `degraded` answer 200 (serving, maybe with fewer workers or a
 * quarantined agent); `unhealthy` answers 503.
 */
export interface HealthReport {
  readonly status: 'ok' | 'degraded' | 'unhealthy';
  readonly agents: Readonly<Record<string, AgentHealth>>;
}

/** Produces the current health (may be async). */
export type HealthFn = () => HealthReport | Promise<HealthReport>;

/** Visits every node depth-first, parents before children. */
export function* walkInspect(node: InspectNode, depth = 0): Generator<{ node: InspectNode; depth: number }> {
  yield { node, depth };
  for (const child of node.children) yield* walkInspect(child, depth + 1);
}

/** Finds a node by id (depth-first), or undefined. */
export function findInspectNode(root: InspectNode, id: string): InspectNode | undefined {
  for (const { node } of walkInspect(root)) if (node.id === id) return node;
  return undefined;
}

/**
 * Derives a {@link HealthReport} from a tree: every `agent` node is healthy unless its state is
 * `crashed`, `quarantined` or `stopped`; `ok` when all are healthy, `unhealthy` when none is
 * (or the system itself is not running), `degraded` otherwise. A convenience for the system's
 * health function; a system may compute health its own way.
 */
export function healthFromTree(root: InspectNode): HealthReport {
  const agents: Record<string, AgentHealth> = {};
  for (const { node } of walkInspect(root)) {
    if (node.kind !== 'agent') continue;
    const workers = node.children.filter((c) => c.kind === 'worker');
    const entry: { -readonly [K in keyof AgentHealth]: AgentHealth[K] } = {
      state: node.state,
      healthy: !['crashed', 'quarantined', 'stopped'].includes(node.state),
      workers: workers.length,
      readyWorkers: workers.filter((w) => w.state === 'ready' || w.state === 'running').length,
    };
    if (node.inFlight !== undefined) entry.inFlight = node.inFlight;
    if (node.queued !== undefined) entry.queued = node.queued;
    if (node.nextRetryAt !== undefined) entry.nextRetryAt = node.nextRetryAt;
    agents[node.id] = entry;
  }
  const list = Object.values(agents);
  const healthy = list.filter((a) => a.healthy).length;
  const systemDown = root.kind === 'system' && !['running', 'ready'].includes(root.state);
  const status = systemDown || (list.length > 0 && healthy === 0) ? 'unhealthy' : healthy === list.length ? 'ok' : 'degraded';
  return { status, agents };
}
