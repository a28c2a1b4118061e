// system.inspect() shows the user's own actors and supervision trees next to the agents tree:
// supervisors with their children in spawn-link order, restart counts from the supervisors'
// events, mailbox depth and state; the agents subtree is not repeated among them.
import { describe, expect, it } from 'vitest';
import { Synapse, startSupervisor, type Behaviour } from '../../../src/index.ts';
import { walkInspect } from '../../../src/observe/inspect.ts';

const crashy = (): Behaviour<'crash' | 'ping', string> => ({
  init: () => undefined,
  handle(message) {
    if (message === 'crash') throw new Error('boom');
    return 'pong';
  },
});

describe('inspect(): user actors and supervisors', () => {
  it('renders a user supervision tree with restart counts and a lone actor, outside the agents subtree', async () => {
    const system = await Synapse.start({ logLevel: 'silent', metrics: false });
    try {
      const lone = system.spawn(crashy(), { name: 'loner' });
      await startSupervisor(system.runtime, {
        name: 'app',
        strategy: 'one_for_one',
        children: [
          { id: 'w1', start: crashy, backoff: false, spawn: { name: 'w1' } },
          { id: 'w2', start: crashy, backoff: false },
        ],
      });
      const restarted = new Promise((resolve) => system.on('supervisor.restarted', resolve));
      system.whereis('w1')!.send('crash');
      await restarted;
      await lone.call('ping');

      const tree = system.inspect();
      expect(tree.children.map((c) => [c.kind, c.name])).toEqual([
        ['supervisor', 'agents'],
        ['actor', 'loner'],
        ['supervisor', 'app'],
      ]);
      const app = tree.children[2]!;
      // In spawn order: the restarted w1 is now the newest.
      expect(app.children.map((c) => ({ kind: c.kind, child: c.meta?.child, restarts: c.restarts, state: c.state }))).toEqual([
        { kind: 'actor', child: 'w2', restarts: 0, state: 'idle' },
        { kind: 'actor', child: 'w1', restarts: 1, state: 'idle' },
      ]);
      expect(app.children[1]!.name).toBe('w1');
      expect(tree.children[1]).toMatchObject({ id: lone.id, queued: 0, meta: { trapExit: false, mailboxCapacity: 10_000 } });
      const ids = [...walkInspect(tree)].map((n) => n.node.id);
      expect(new Set(ids).size).toBe(ids.length); // every actor once
    } finally {
      await system.stop();
    }
  });
});
