/**
 * Shared set-up of the fault suites: a system per test with a private pid dir, quick
 * heartbeats and backoff, an event recorder, and teardown that stops everything and asserts
 * no Python worker leaked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { SpawnAgentOptions } from '../../../src/agent/options.ts';
import { isSynapseError, type SynapseError } from '../../../src/errors.ts';
import { Synapse, type ActorSystem, type SynapseOptions } from '../../../src/system.ts';
import { EventRecorder, assertNoLeakedPids } from '../../../src/testing/index.ts';
import { REPO_ROOT, fixtureRef } from '../../helpers/python.ts';

export { REPO_ROOT, fixtureRef };
/** A fixture of this suite (`test/integration/faults/fixtures/<file>:<attr>`). */
export const localFixture = (file: string, attr = 'agent'): string => `${REPO_ROOT}test/integration/faults/fixtures/${file}:${attr}`;

/** Quick-failing agent settings: 200 ms heartbeats, 1 s heartbeat timeout, short backoff. */
export const FAST = {
  restart: { intensity: 3, periodMs: 5_000, backoff: { minMs: 50, maxMs: 400 }, quarantine: { minMs: 800, maxMs: 1_600 } },
  python: { cwd: REPO_ROOT, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1_000, shutdownTimeoutMs: 2_000 },
  cancelGraceMs: 500,
} as const satisfies Partial<SpawnAgentOptions>;

export interface Harness {
  readonly system: ActorSystem;
  readonly events: EventRecorder;
  readonly stateDir: string;
  spawn(id: string, ref: string, extra?: Partial<SpawnAgentOptions>): ReturnType<ActorSystem['spawnAgent']>;
}

const live: { system: ActorSystem; events: EventRecorder; stateDir: string }[] = [];

/** Installs the per-test teardown (stop systems, remove dirs, leak check). */
export function useFaultHarness(): (options?: SynapseOptions) => Promise<Harness> {
  afterEach(async () => {
    for (const h of live.splice(0)) {
      h.events.close();
      await h.system.stop();
      rmSync(h.stateDir, { recursive: true, force: true });
    }
    assertNoLeakedPids();
  });
  return async (options = {}) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synapse-faults-'));
    const system = await Synapse.start({ logLevel: 'silent', stateDir, ...options });
    const events = new EventRecorder(system);
    live.push({ system, events, stateDir });
    return {
      system,
      events,
      stateDir,
      spawn: (id, ref, extra = {}) =>
        system.spawnAgent({
          ...FAST,
          ...extra,
          id,
          agent: ref,
          restart: { ...FAST.restart, ...extra.restart },
          python: { ...FAST.python, ...extra.python },
        } as SpawnAgentOptions),
    };
  };
}

/** The coded error a promise rejects with (fails the test if it resolves or throws something else). */
export async function rejection(promise: Promise<unknown>): Promise<SynapseError> {
  try {
    await promise;
  } catch (error) {
    if (isSynapseError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
