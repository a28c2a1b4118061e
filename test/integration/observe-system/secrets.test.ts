// Secrets given to an agent's Python environment never reach logs, errors, metrics or argv —
// only the Python process's environment — even when Python code prints or raises them. Forked
// from the zygote (the default on Linux), the worker gets them over its own socket after the fork:
// in its os.environ, in no env block, and never in the zygote; spawned (`zygote: false`), they are
// in the worker's env block.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
import { memoryContains, zygotePids } from '../../helpers/pids.ts';
import { fixture, nextEvent, rejection, useSystem } from '../../helpers/system.ts';

const SECRET = `sk-secret-${process.pid}-${Date.now().toString(36)}-do-not-log`;
const logs = captureLogs('trace');
let system: ActorSystem;
const seen: string[] = []; // everything else observable: errors, events, metrics, inspect

useSystem(async (s) => {
  system = s;
  system.on('inspect', (e) => seen.push(JSON.stringify(e)));
  await system.spawnAgent({
    id: 'secretive',
    agent: fixture('faults.py'),
    restart: { backoff: { minMs: 10, maxMs: 50 } },
    python: { env: { OPENAI_API_KEY: SECRET, OTHER_TOKEN: SECRET } },
  });
  await system.spawnAgent({ id: 'spawned', agent: fixture('faults.py'), python: { zygote: false, env: { OPENAI_API_KEY: SECRET } } });
}, { system: { logger: logs.log, logLevel: 'trace', metrics: { port: 0 } } });

/** `/proc/<pid>/environ` and `/proc/<pid>/cmdline` of `pid`. */
const procText = (pid: number | undefined) => ({ environ: readFileSync(`/proc/${pid}/environ`, 'utf8'), cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8') });

describe('secrets in python.env', () => {
  it('spawned (zygote: false): in the Python process environment, never in its argv', () => {
    const { environ, cmdline } = procText(system.agentStatus('spawned').pids[0]);
    expect(environ.split('\0')).toContain(`OPENAI_API_KEY=${SECRET}`);
    expect(cmdline).not.toContain(SECRET);
    expect(cmdline).not.toContain('OPENAI_API_KEY');
  });

  it('forked (the default): in the worker only — not in any env block or argv, nor anywhere in the zygote', () => {
    const [pid] = system.agentStatus('secretive').pids;
    const zygotes = zygotePids(system);
    expect(zygotes).toHaveLength(1);
    for (const p of [pid, ...zygotes]) {
      const { environ, cmdline } = procText(p);
      expect(environ).not.toContain(SECRET); // the worker's env block is a copy of the zygote's
      expect(cmdline).not.toContain(SECRET);
      expect(cmdline).not.toContain('OPENAI_API_KEY');
    }
    // The worker holds it (os.environ, applied after the fork: the scan can find it); the zygote
    // that forked it never had it in its memory.
    expect(memoryContains(pid!, SECRET)).toBe(true);
    expect(memoryContains(zygotes[0]!, SECRET)).toBe(false);
  });

  it('never appear in logs, errors, events, metrics or inspect through calls, failures, a crash and stop', async () => {
    expect((await system.sendMessage('secretive', { prompt: 'hello' })).output).toBe('[faults] ok (re: hello)');
    seen.push(JSON.stringify(await rejection(system.sendMessage('secretive', { prompt: 'raise_error x' }))));
    // Python code that leaks the key in free text: a log record, a stderr line, an exception message.
    const leak = await rejection(system.sendMessage('secretive', { prompt: 'leak_env OPENAI_API_KEY' }));
    expect(leak).toMatchObject({ code: 'SYN_ERR_AGENT_FAILED', details: { type: 'PermissionError' } });
    expect(leak.message).toBe("provider rejected key '[Redacted]'");
    seen.push(JSON.stringify(leak), String(leak.details.traceback), leak.stack ?? '');
    await logs.waitFor((r) => typeof r.msg === 'string' && r.msg.startsWith('debug: key='));
    const ready = nextEvent(system, 'worker.ready', (e) => e.agent === 'secretive');
    const crash = await rejection(system.sendMessage('secretive', { prompt: 'crash_in_tool' }));
    expect(crash.code).toBe('SYN_ERR_AGENT_CRASHED');
    seen.push(JSON.stringify(crash), String(crash.details.stderrTail), crash.stack ?? '');
    await ready;
    expect(memoryContains(zygotePids(system)[0]!, SECRET)).toBe(false); // nor after forking the replacement
    seen.push(await system.metricsText(), JSON.stringify(await system.metrics()), JSON.stringify(system.inspect()));
    seen.push(await (await fetch(new URL('/inspect', system.observeUrl))).text());
    await system.stopAgent('secretive');
    await logs.waitFor((r) => r.event === 'agent.stopped');
    // The capture really saw the lifecycle (so an empty capture cannot pass).
    const text = logs.records.map((r) => JSON.stringify(r)).join('\n');
    for (const event of ['worker.ready', 'worker.crashed', 'agent.stopped']) expect(text).toContain(event);
    expect(text).toContain('connecting with key [Redacted]'); // the forwarded Python log record
    expect(text).toContain('debug: key=[Redacted]'); // the stderr line
    expect(text).not.toContain(SECRET);
    expect(seen.join('\n')).not.toContain(SECRET);
  });
});
