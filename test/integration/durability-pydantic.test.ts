// Node-owned history round-trips through real pydantic-ai: each turn's history comes from the
// journal store, is validated and used by a real pydantic-ai agent (TestModel, no network),
// and its new_messages() are validated by our checker and committed. After a reopen, the
// whole stored history is accepted by pydantic-ai again.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isWellFormed } from '../../src/conversation/history.ts';
import { JournalHistoryStore } from '../../src/conversation/journal.ts';
import { historyOf } from '../../src/conversation/store.ts';
import { TurnSerializer } from '../../src/conversation/turns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = join(ROOT, '.venv/bin/python');
const SCRIPT = fileURLToPath(new URL('../fixtures/pydantic-turn.py', import.meta.url));

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe.skipIf(!existsSync(PYTHON))('history round-trip through real pydantic-ai', () => {
  it('three turns: stored history is accepted by pydantic-ai and new messages are well-formed', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'syn-pyhist-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const py = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    py.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4_000)));
    const exited = once(py, 'exit');
    cleanup.push(async () => {
      if (py.exitCode === null && py.signalCode === null) {
        py.kill('SIGKILL');
        await exited;
      }
    });
    const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
    const ask = async (prompt: string, history: readonly unknown[]): Promise<{ messages: unknown[]; output: string; historyLen: number }> => {
      py.stdin.write(`${JSON.stringify({ prompt, history })}\n`);
      const r = await lines.next();
      if (r.done === true) throw new Error(`python exited: ${stderr}`);
      return JSON.parse(r.value) as { messages: unknown[]; output: string; historyLen: number };
    };

    let store = await JournalHistoryStore.open({ dir });
    const turns = new TurnSerializer({ store });
    const lens: number[] = [];
    for (const prompt of ['first', 'second', 'third']) {
      const r = await turns.run({ conversationId: 'conv/1', turnId: `turn-${prompt}`, agent: 'py' }, async ({ history }) => {
        const out = await ask(prompt, history);
        lens.push(out.historyLen);
        return { messages: out.messages, output: out.output };
      });
      expect(r.replayed).toBe(false);
    }
    await turns.close();
    await store.close();

    store = await JournalHistoryStore.open({ dir });
    cleanup.push(() => store.close());
    const history = historyOf(await store.load('conv/1'));
    expect(isWellFormed(history)).toBe(true);
    expect(lens[0]).toBe(0);
    expect(lens[2]).toBe(history.length - (await store.load('conv/1'))[2]!.messages.length);
    // pydantic-ai accepts the reloaded history and continues it
    const last = await ask('fourth', history);
    expect(last.historyLen).toBe(history.length);
    expect(isWellFormed([...history, ...last.messages])).toBe(true);
    py.stdin.end();
    const [code] = (await exited) as [number | null];
    expect(code, stderr).toBe(0);
  });
});
