/**
 * Helpers for system-level integration tests (real Python workers behind `Synapse.start`):
 * a system with quiet logs and a private pid dir, coded-rejection capture, awaiting typed
 * events, and a bounded wait for a file written by Python.
 */
import { mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, basename, join } from 'node:path';
import { isSynapseError, type SynapseError } from '../../src/errors.ts';
import type { SynapseEventName, SynapseEvents } from '../../src/observe/events.ts';
import { Synapse, type ActorSystem, type SynapseOptions } from '../../src/system.ts';
import { assertNoLeakedPids, waitForPidsGone } from './pids.ts';
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
 * `stopAndCheck()` stops it, removes the state dir and asserts no leaked Python pid.
 */
export async function startSystem(options: SynapseOptions = {}): Promise<{ system: ActorSystem; stopAndCheck(): Promise<void> }> {
  const state = tempDir('synapse-state-');
  const system = await Synapse.start({ logLevel: 'silent', stateDir: state.dir, ...options });
  return {
    system,
    async stopAndCheck() {
      await system.stop();
      state.remove();
      assertNoLeakedPids();
    },
  };
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
