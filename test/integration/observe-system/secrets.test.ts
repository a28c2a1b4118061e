// Secrets given to an agent's Python environment never reach logs, errors, metrics or argv —
// only the Python process's environment — even when Python code prints or raises them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs } from '../../helpers/log-capture.ts';
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
}, { system: { logger: logs.log, logLevel: 'trace', metrics: { port: 0 } } });

describe('secrets in python.env', () => {
  it('are in the Python process environment, never in its argv', () => {
    const [pid] = system.agentStatus('secretive').pids;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`OPENAI_API_KEY=${SECRET}`);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(SECRET);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain('OPENAI_API_KEY');
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
