/**
 * Helpers for system-level integration tests (real Python workers behind `Synapse.start`):
 * a system with quiet logs and a private pid dir (`useSystem`: one shared by a test file),
 * coded-rejection capture, awaiting typed events or a state re-checked on events, and a bounded
 * wait for a file written by Python.
 */
import { mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, basename, join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { isSynapseError, type SynapseError } from '../../src/errors.ts';
import type { SynapseEventName, SynapseEvents } from '../../src/observe/events.ts';
import type { PythonWorker } from '../../src/process/worker.ts';
import { Synapse, type ActorSystem, type SpawnAgentOptions, type SynapseOptions } from '../../src/index.ts';
import { assertNoLeakedPids, isPidLive, waitForPidsGone } from './pids.ts';
import { REPO_ROOT } from './python.ts';

export { REPO_ROOT };
/** `examples/agents/<file>:<attr>` relative to the repo root (the default `python.cwd` of tests). */
export const example = (file: string, attr = 'agent'): string => `examples/agents/${file}:${attr}`;
/** `test/fixtures/agents/<file>:<attr>`. */
export const fixture = (file: string, attr = 'agent'): string => `test/fixtures/agents/${file}:${attr}`;

/** A fresh temporary directory, removed by the returned `remove()`. */
export function tempDir(prefix = 'synapse-it-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts a system for a test: silent logs (unless a logger is given), its own state dir for
 * pid files (so parallel test files never reap each other's workers), no metrics server.
 * `stopAndCheck()` stops it, removes the state dir and asserts that no worker it ever had is
 * alive and — unless `onlyOwn` (another system of this test file is still running) — that no
 * Python worker of this Node process is left at all.
 */
export async function startSystem(options: SynapseOptions = {}): Promise<{ system: ActorSystem; pids: Set<number>; stopAndCheck(onlyOwn?: boolean): Promise<void> }> {
  const state = tempDir('synapse-state-');
  const system = await Synapse.start({ logLevel: 'silent', stateDir: state.dir, ...options });
  const pids = new Set<number>();
  system.on('worker.ready', (e) => pids.add(e.pid));
  return {
    system,
    pids,
    async stopAndCheck(onlyOwn = false) {
      await system.stop();
      state.remove();
      const alive = [...pids].filter(isPidLive);
      if (alive.length > 0) throw new Error(`workers still alive after system.stop(): ${alive.join(', ')}`);
      if (!onlyOwn) assertNoLeakedPids();
    },
  };
}

/**
 * The one system a test file shares (like `useCleanup()`, it installs the hooks): `beforeAll`
 * starts it with {@link startSystem}(`options.system`) and hands it to `setup` (keep it, spawn
 * the file's agents); `afterAll` runs `stopAndCheck()` (stopped, no worker left alive).
 *
 * @example
 * ```ts
 * let system: ActorSystem;
 * useSystem(async (s) => {
 *   system = s;
 *   await system.spawnAgent({ id: 'support', agent: example('support.py') });
 * });
 * ```
 */
export function useSystem(setup: (system: ActorSystem) => unknown, options: { system?: SynapseOptions; startTimeoutMs?: number; stopTimeoutMs?: number } = {}): void {
  let stopAndCheck: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const started = await startSystem(options.system);
    stopAndCheck = started.stopAndCheck;
    await setup(started.system);
  }, options.startTimeoutMs ?? 60_000);
  afterAll(async () => {
    await stopAndCheck?.();
  }, options.stopTimeoutMs ?? 30_000);
}

/**
 * `useSystem` with agents spawned together: several interpreters start at once, so each agent's
 * `python.startTimeoutMs` defaults to 90 s and the setup to 120 s — hang guards on a loaded
 * 2-core machine, not performance bounds. `onSystem` receives the system before the spawns.
 *
 * @example
 * ```ts
 * let system: ActorSystem;
 * useAgents((s) => (system = s), [{ id: 'bank', agent: example('bank.py') }]);
 * ```
 */
export function useAgents(onSystem: (system: ActorSystem) => unknown, agents: readonly SpawnAgentOptions[], options: { system?: SynapseOptions } = {}): void {
  useSystem(
    async (s) => {
      await onSystem(s);
      await Promise.all(agents.map((a) => s.spawnAgent({ ...a, python: { startTimeoutMs: 90_000, ...a.python } })));
    },
    { ...options, startTimeoutMs: 120_000 },
  );
}

/** The coded error a promise rejects with (fails if it resolves or rejects with something else). */
export async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<SynapseError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    if (isSynapseError(error)) return error;
    throw new Error(`expected a SynapseError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection, but it resolved');
}

/** The next `name` event matching `predicate`. Subscribe before triggering what emits it. */
export function nextEvent<K extends SynapseEventName>(system: ActorSystem, name: K, predicate: (e: SynapseEvents[K]) => boolean = () => true): Promise<SynapseEvents[K]> {
  return new Promise((resolve) => {
    const off = system.on(name, ((e: SynapseEvents[K]) => {
      if (!predicate(e)) return;
      off();
      resolve(e);
    }) as never);
  });
}

/** Collects every `name` event until `stop()` (returns the list). */
export function collectEvents<K extends SynapseEventName>(system: ActorSystem, name: K): { events: SynapseEvents[K][]; stop(): SynapseEvents[K][] } {
  const events: SynapseEvents[K][] = [];
  const off = system.on(name, ((e: SynapseEvents[K]) => events.push(e)) as never);
  return {
    events,
    stop() {
      off();
      return events;
    },
  };
}

/**
 * Resolves with the file's text once `file` exists and its text satisfies `complete` (default:
 * ends with a newline, so a half-written file is not taken), watching its directory with
 * fs.watch plus one check after arming the watcher; rejects after `deadlineMs`.
 */
export function waitForFile(file: string, deadlineMs: number, complete: (text: string) => boolean = (t) => t.endsWith('\n')): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const ready = (): boolean => {
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return false; // not there yet
      }
      return complete(text);
    };
    const watcher = watch(dirname(file), (_event, name) => {
      if ((name === null || name === basename(file)) && ready()) done();
    });
    const timer = setTimeout(() => done(new Error(`${file} did not appear within ${deadlineMs} ms`)), deadlineMs);
    function done(error?: Error): void {
      clearTimeout(timer);
      watcher.close();
      if (error === undefined) resolve(text);
      else reject(error);
    }
    if (ready()) done();
  });
}

/** Waits (bounded) until none of `pids` is alive; fails naming the survivors. */
export async function expectPidsGone(pids: readonly number[], deadlineMs = 10_000): Promise<void> {
  const alive = await waitForPidsGone(pids, deadlineMs);
  if (alive.length > 0) throw new Error(`pids still alive after ${deadlineMs} ms: ${alive.join(', ')}`);
}

type Part = { part_kind: string; content?: unknown };
type Msg = { kind: 'request' | 'response'; parts: Part[] };

/** The (user prompt, answer text) pairs of a history, in order. */
export function exchanges(history: readonly unknown[]): { prompt: string; answer: string | undefined }[] {
  const out: { prompt: string; answer: string | undefined }[] = [];
  for (const m of history as Msg[]) {
    for (const p of m.parts) {
      if (m.kind === 'request' && p.part_kind === 'user-prompt') out.push({ prompt: String(p.content), answer: undefined });
      if (m.kind === 'response' && p.part_kind === 'text' && out.length > 0) out[out.length - 1]!.answer = String(p.content);
    }
  }
  return out;
}

/**
 * Resolves once `predicate()` holds, checked now and again each time `subscribe` calls its
 * `check` (e.g. on every event that may change the state); rejects naming `what` after
 * `deadlineMs` (a deadline timer, not a poll), or with the error `subscribe` passes to `fail`.
 * `subscribe` returns its unsubscribe; it is called, and the timer cleared, once settled.
 *
 * @example
 * ```ts
 * await until((check) => system.on('spare.ready', check), () => idleSpares() === 1, 20_000, 'one idle spare');
 * ```
 */
export function until(
  subscribe: (check: () => void, fail: (error: Error) => void) => () => void,
  predicate: () => boolean,
  deadlineMs: number,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let unsubscribe: (() => void) | undefined;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe?.();
      if (error === undefined) resolve();
      else reject(error);
    };
    const check = (): void => {
      if (settled) return;
      try {
        if (predicate()) settle();
      } catch (error) {
        settle(error instanceof Error ? error : new Error(String(error)));
      }
    };
    const timer = setTimeout(() => settle(new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`)), deadlineMs);
    unsubscribe = subscribe(check, settle);
    if (settled) unsubscribe(); // failed (or checked true) during subscribe
    else check();
  });
}

/** The live worker processes of an agent by worker index (the fault kit's internal hook on the system). */
export function processesOf(system: ActorSystem, agent: string): ReadonlyMap<number, PythonWorker> {
  return (system as unknown as Record<symbol, (id: string) => ReadonlyMap<number, PythonWorker>>)[Symbol.for('synapse.testing.processes')]!(agent);
}

/** In-flight runs of an agent's worker as its process counts them (cancelled runs Python has not acknowledged included). */
export function workerInFlight(system: ActorSystem, agent: string, worker = 0): number | undefined {
  const node = system.inspect().children[0]?.children.find((a) => a.id === agent)?.children[worker];
  return node?.inFlight;
}
