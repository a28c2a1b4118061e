import { describe, expect, it } from 'vitest';
import { findInspectNode, healthFromTree, walkInspect } from '../../../src/observe/inspect.ts';
import type { InspectNode } from '../../../src/observe/inspect.ts';

const worker = (id: string, state: string, pid: number): InspectNode => ({ kind: 'worker', id, state, pid, restarts: 0, children: [] });
const agent = (id: string, state: string, workers: InspectNode[]): InspectNode => ({ kind: 'agent', id, state, inFlight: 1, queued: 2, children: workers });
const tree = (agents: InspectNode[], state = 'running'): InspectNode => ({
  kind: 'system',
  id: 'synapse',
  state,
  children: [{ kind: 'supervisor', id: 'agents', state: 'running', restarts: 1, children: agents }],
});

describe('inspect helpers', () => {
  it('walks depth-first with depths and finds by id', () => {
    const root = tree([agent('a', 'ready', [worker('a/0', 'ready', 1)])]);
    expect([...walkInspect(root)].map(({ node, depth }) => `${depth}:${node.id}`)).toEqual(['0:synapse', '1:agents', '2:a', '3:a/0']);
    expect(findInspectNode(root, 'a/0')?.pid).toBe(1);
    expect(findInspectNode(root, 'nope')).toBeUndefined();
  });

  it('health: ok when every agent is healthy', () => {
    const report = healthFromTree(tree([agent('a', 'ready', [worker('a/0', 'ready', 1), worker('a/1', 'restarting', 2)])]));
    expect(report).toEqual({ status: 'ok', agents: { a: { state: 'ready', healthy: true, workers: 2, readyWorkers: 1, inFlight: 1, queued: 2 } } });
  });

  it('health: degraded when some agents are quarantined, unhealthy when all are or the system is stopping', () => {
    const a = agent('a', 'ready', []);
    const b = { ...agent('b', 'quarantined', []), nextRetryAt: 5 };
    expect(healthFromTree(tree([a, b])).status).toBe('degraded');
    expect(healthFromTree(tree([a, b])).agents.b).toMatchObject({ healthy: false, nextRetryAt: 5 });
    expect(healthFromTree(tree([b])).status).toBe('unhealthy');
    expect(healthFromTree(tree([a], 'stopping')).status).toBe('unhealthy');
    expect(healthFromTree(tree([]))).toEqual({ status: 'ok', agents: {} });
  });
});
