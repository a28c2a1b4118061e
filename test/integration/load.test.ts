/**
 * The load tool end to end: a few seconds of multi-step conversations against real Python
 * workers while chaos kills, freezes and corrupts them; every acknowledged turn must be in
 * the history exactly once, the summary must have its documented shape, and no worker may
 * outlive the run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LoadConfig } from '../../scripts/load/args.ts';
import { formatSummary } from '../../scripts/load/report.ts';
import { runLoad } from '../../scripts/load/run.ts';
import { assertNoLeakedPids } from '../helpers/pids.ts';
import { tempDir } from '../helpers/system.ts';

const base: LoadConfig = {
  agents: 2,
  workers: 1,
  conversations: 8,
  concurrency: 4,
  durationMs: 4_000,
  timeoutMs: 20_000,
  retries: 3,
  turnsPerConversation: 5,
  seed: 20_240_601,
  chaos: {},
  progress: 'off',
};

// Fast failure detection and restarts so a few seconds hold several faults; a large crash
// budget so chaos never quarantines an agent (that is a different test).
const agent = {
  restart: { intensity: 1_000, periodMs: 1_000, backoff: { minMs: 10, maxMs: 100 } },
  python: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000 },
} as const;

describe('load tool (real Python workers)', () => {
  it('loses and duplicates no acknowledged turn under kill / stop / garbage chaos', { timeout: 120_000 }, async () => {
    const state = tempDir('synapse-load-');
    const spawned = new Set<number>();
    let progressCalls = 0;
    try {
      const summary = await runLoad(
        { ...base, chaos: { kill: 0.75, stop: 0.25, garbage: 0.75 } },
        { system: { stateDir: state.dir }, agent, onProgress: () => progressCalls++ },
      );
      for (const p of summary.resources.python) spawned.add(p.pid);

      // The invariant the tool exists for.
      expect(summary.verification.lost).toBe(0);
      expect(summary.verification.duplicated).toBe(0);
      expect(summary.verification.outOfOrder).toBe(0);
      expect(summary.verification.foreign).toBe(0);
      expect(summary.verification.danglingToolCalls).toBe(0);
      expect(summary.verification.crossTalk).toBe(0);
      expect(summary.ok).toBe(true);

      // Chaos really happened and was survived.
      const fired = Object.values(summary.chaos.counts).reduce((n, c) => n + c.fired, 0);
      expect(fired).toBeGreaterThan(0);
      expect(summary.chaos.events.length).toBe(fired);
      expect(summary.crashes).toBeGreaterThan(0);
      expect(summary.turns.acked).toBeGreaterThan(0);
      expect(summary.verification.ackedTurns).toBe(summary.turns.acked);
      expect(summary.turns.started).toBe(summary.turns.acked + summary.turns.failed);

      // Summary shape.
      expect(summary).toMatchObject({
        config: { agents: 2, workers: 1, conversations: 8, concurrency: 4, seed: base.seed },
        machine: { node: process.version },
        turns: expect.any(Object),
        latencyMs: { count: summary.turns.acked },
        outcomes: { ok: expect.any(Number) },
        resources: { node: { rssBytes: expect.any(Number), cpuSeconds: expect.any(Number) } },
      });
      expect(summary.outcomes.ok).toBe(summary.turns.acked);
      const attempts = Object.values(summary.outcomes).reduce((a, b) => a + b, 0);
      expect(attempts).toBe(summary.turns.acked + summary.turns.failed + summary.turns.retries);
      for (const key of ['p50', 'p95', 'p99', 'max'] as const) expect(summary.latencyMs[key]).toBeGreaterThan(0);
      expect(summary.latencyMs.p50).toBeLessThanOrEqual(summary.latencyMs.p99);
      expect(summary.resources.python.length).toBeGreaterThan(2); // replacements were sampled too
      for (const p of summary.resources.python) expect(p.rssBytes).toBeGreaterThan(0);
      expect(summary.agents.map((a) => a.id)).toEqual(['support-0', 'support-1']);
      expect(progressCalls).toBeGreaterThan(0);
      expect(() => JSON.parse(JSON.stringify(summary))).not.toThrow();
      expect(formatSummary(summary)).toContain('lost 0 · duplicated 0');
    } finally {
      state.remove();
    }
    assertNoLeakedPids();
  });
});

describe('npm run load (the CLI)', () => {
  it('runs, prints the summary, writes --json and exits 0; bad arguments exit 2 with the usage', () => {
    const dir = tempDir('synapse-load-cli-');
    try {
      const json = join(dir.dir, 'out.json');
      const tsx = new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url).pathname;
      const cli = new URL('../../scripts/load.ts', import.meta.url).pathname;
      const ok = spawnSync(process.execPath, [tsx, cli, '--agents', '1', '--conversations', '4', '--concurrency', '2', '--duration', '1500ms', '--seed', '7', '--no-progress', '--json', json], { encoding: 'utf8', timeout: 60_000 });
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('RESULT: ok');
      const summary = JSON.parse(readFileSync(json, 'utf8')) as { config: { seed: number }; ok: boolean; turns: { acked: number }; verification: { lost: number; duplicated: number } };
      expect(summary).toMatchObject({ config: { seed: 7 }, ok: true, verification: { lost: 0, duplicated: 0 } });
      expect(summary.turns.acked).toBeGreaterThan(0);
      const bad = spawnSync(process.execPath, [tsx, cli, '--agents', 'many'], { encoding: 'utf8', timeout: 30_000 });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('--agents');
    } finally {
      dir.remove();
    }
  }, 90_000);
});
