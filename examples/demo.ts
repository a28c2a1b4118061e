/**
 * The Synapse demo (`npm run demo`): real pydantic-ai agents in supervised Python processes,
 * concurrent conversations, then a crash, a hang and a crash loop injected while you watch.
 * Offline (FunctionModel agents); under a minute; exits 0 with no process left behind.
 * `npm run demo -- --cluster` runs examples/cluster/demo.ts instead (several machines' worth of
 * processes on this one: NATS, PostgreSQL, two hosts, two fronts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Synapse, isSynapseError, type SynapseEvents } from '../src/index.ts';
import { findWorkerPids } from '../src/testing/pids.ts';

// `npm run demo -- --cluster`: the multi-process demo instead (NATS, PostgreSQL, two hosts, two
// fronts; examples/cluster/demo.ts).
if (process.argv.includes('--cluster')) {
  await import('./cluster/demo.ts');
  process.exit(process.exitCode ?? 0);
}

const t0 = performance.now();
const stamp = () => `${((performance.now() - t0) / 1000).toFixed(2).padStart(6)}s`;
const say = (msg: string) => console.log(`${stamp()}  ${msg}`);
const section = (title: string) => console.log(`\n── ${title} ${'─'.repeat(Math.max(0, 70 - title.length))}`);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const codeOf = (e: unknown) => (isSynapseError(e) ? e.code : String(e));

const dir = mkdtempSync(join(tmpdir(), 'synapse-demo-'));
const brokenMarker = join(dir, 'broken');
const system = await Synapse.start({ logLevel: process.env.SYNAPSE_LOG_LEVEL === undefined ? 'silent' : undefined, history: { dir: join(dir, 'history') } } as Parameters<typeof Synapse.start>[0]);
const seenPids = new Set<number>();
const once = <K extends keyof SynapseEvents>(name: K, pred: (e: SynapseEvents[K]) => boolean = () => true) =>
  new Promise<SynapseEvents[K]>((resolve) => {
    const off = system.on(name, (e) => {
      if (pred(e)) {
        off();
        resolve(e);
      }
    });
  });

// Narrate the supervision events as they happen.
system.on('worker.ready', (e) => {
  seenPids.add(e.pid);
  say(`worker ready      ${e.agent}/${e.worker} pid=${e.pid} (${e.startupMs} ms to ready)`);
});
system.on('worker.crashed', (e) => say(`worker crashed    ${e.agent}/${e.worker} pid=${e.pid} ${e.code} exit=${e.exitCode ?? e.signal}`));
system.on('supervisor.restart_scheduled', (e) =>
  say(`restart scheduled ${e.supervisor} → ${e.child} in ${Math.round(e.delayMs)} ms (attempt ${e.attempt}${e.startup ? ', start-up failure' : ''})`),
);
system.on('supervisor.intensity_exceeded', (e) => say(`intensity exceeded ${e.supervisor}: ${e.restarts} restarts > ${e.intensity} in ${e.periodMs} ms → escalate`));
system.on('agent.quarantined', (e) => say(`QUARANTINED       ${e.agent}, next retry in ${Math.round(e.nextRetryAt - system.clock.now())} ms`));
system.on('agent.recovered', (e) => say(`recovered         ${e.agent}`));

let exitCode = 0;
try {
  section('1. Spawn three supervised agents (real pydantic-ai in Python child processes)');
  await Promise.all([
    system.spawnAgent({ id: 'support', agent: 'examples/agents/support.py:agent', workers: 2 }),
    system.spawnAgent({ id: 'research', agent: 'examples/agents/research.py:agent' }),
    system.spawnAgent({
      id: 'flaky',
      agent: 'examples/agents/flaky.py:agent',
      python: { env: { FLAKY_BROKEN_MARKER: brokenMarker } },
      restart: { intensity: 3, periodMs: 10_000, backoff: { minMs: 50, maxMs: 400 }, quarantine: { minMs: 3_000, maxMs: 10_000 } },
    }),
  ]);
  for (const id of system.agentIds()) say(`agent ${id.padEnd(8)} ${JSON.stringify(system.agentStatus(id))}`);

  section('2. Concurrent conversations: 6 users × 3 turns each, all at once');
  const latencies: number[] = [];
  const conversations: string[] = [];
  await Promise.all(
    Array.from({ length: 6 }, async (_, user) => {
      const agent = user % 2 === 0 ? 'support' : 'research';
      let conversationId: string | undefined;
      for (let turn = 0; turn < 3; turn++) {
        const start = performance.now();
        const r = await system.sendMessage(agent, { prompt: `user ${user} asks about order ${40 + user} (turn ${turn})` }, conversationId === undefined ? {} : { conversationId });
        latencies.push(performance.now() - start);
        conversationId = r.conversationId;
        if (!String(r.output).includes(`user ${user} asks`) || !String(r.output).includes(`history=${turn}`)) throw new Error(`cross-talk or lost history: ${String(r.output)}`);
        if (turn === 2) say(`${agent.padEnd(8)} → ${String(r.output)}`);
      }
      conversations.push(conversationId!);
    }),
  );
  say(`18 turns, each a tool call + answer: p50 ${pct(latencies, 50).toFixed(1)} ms, p95 ${pct(latencies, 95).toFixed(1)} ms; every answer matched its own prompt and history`);

  section('3. A crash mid-request: the tool calls os._exit(17)');
  const crashed = once('supervisor.restarted', (e) => e.supervisor === 'agent:flaky');
  const [crash, bystander] = await Promise.allSettled([
    system.sendMessage('flaky', { prompt: 'crash please' }),
    system.sendMessage('support', { prompt: 'meanwhile, where is order 42?' }),
  ]);
  say(`crashing caller got ${crash.status === 'rejected' ? `${codeOf(crash.reason)} (exitCode=${String((crash.reason as { details?: { exitCode?: unknown } }).details?.exitCode)})` : 'a value?!'}`);
  say(`other agent's caller got: ${bystander.status === 'fulfilled' ? String(bystander.value.output) : codeOf(bystander.reason)}`);
  await crashed;
  const after = await system.sendMessage('flaky', { prompt: 'are you back?' });
  say(`next call after restart → ${String(after.output)}`);

  section('4. A hang: the tool waits forever; the caller has a 1 s deadline');
  const hangStart = performance.now();
  const hang = await system.sendMessage('flaky', { prompt: 'hang forever' }, { timeoutMs: 1_000 }).catch((e: unknown) => e);
  say(`caller got ${codeOf(hang)} after ${(performance.now() - hangStart).toFixed(0)} ms; the Python task was cancelled, the worker kept serving:`);
  say(`→ ${String((await system.sendMessage('flaky', { prompt: 'still there?' })).output)}`);

  section('5. A crash loop: the module now fails at import; every restart fails');
  writeFileSync(brokenMarker, 'broken');
  const quarantined = once('agent.quarantined', (e) => e.agent === 'flaky');
  process.kill(system.agentStatus('flaky').pids[0]!, 'SIGKILL');
  await quarantined;
  const rejections: number[] = [];
  let lastError: unknown;
  for (let i = 0; i < 100; i++) {
    const s = performance.now();
    lastError = await system.sendMessage('flaky', { prompt: 'hello?' }).catch((e: unknown) => e);
    rejections.push(performance.now() - s);
  }
  const nextRetryAt = isSynapseError(lastError) ? Number(lastError.details.nextRetryAt) : NaN;
  say(`100 calls while quarantined: all ${codeOf(lastError)}, median ${(pct(rejections, 50) * 1000).toFixed(0)} µs each, nextRetryAt in ${Math.round(nextRetryAt - system.clock.now())} ms`);
  say('fixing the fault (removing the marker); the agent retries by itself after its quarantine backoff…');
  const recovered = once('agent.recovered', (e) => e.agent === 'flaky');
  rmSync(brokenMarker);
  await recovered;
  say(`→ ${String((await system.sendMessage('flaky', { prompt: 'welcome back' })).output)}`);

  section('6. History is owned by Node and intact through all of it');
  let turns = 0;
  for (const id of conversations) turns += (await system.history(id)).filter((m) => (m as { kind?: string }).kind === 'request' && JSON.stringify(m).includes('user-prompt')).length;
  say(`${conversations.length} conversations hold ${turns} user turns (expected 18), durable on disk (fsync before ack)`);
  const cont = await system.sendMessage('support', { prompt: 'one more about order 40' }, { conversationId: conversations[0]! });
  say(`continuing the first conversation → ${String(cont.output)}`);
  if (!String(cont.output).includes('history=3')) throw new Error('history was not intact');

  if (process.env.OPENAI_API_KEY !== undefined && process.env.OPENAI_API_KEY !== '') {
    section('7. The same machinery on a real model (OPENAI_API_KEY is set)');
    const env: Record<string, string> = { OPENAI_API_KEY: process.env.OPENAI_API_KEY };
    for (const k of ['OPENAI_BASE_URL', 'SYNAPSE_DEMO_MODEL']) if (process.env[k]) env[k] = process.env[k]!;
    try {
      await system.spawnAgent({ id: 'assistant', agent: 'examples/agents/assistant.py:agent', python: { env }, timeoutMs: 60_000 });
      const a = await system.sendMessage('assistant', { prompt: 'What time is it in UTC? Use your tool.' });
      say(`assistant → ${String(a.output)}`);
      const b = await system.sendMessage('assistant', { prompt: 'And what did I just ask you?' }, { conversationId: a.conversationId });
      say(`assistant → ${String(b.output)}`);
    } catch (error) {
      // A real provider is optional: report why it did not run (missing extra, bad key, network) and go on.
      say(`real-model step skipped: ${codeOf(error)} ${error instanceof Error ? error.message.split('\n')[0] : ''}`);
      say("(install the provider extra with: .venv/bin/pip install 'pydantic-ai-slim[openai]')");
    }
  }

  section('Summary');
  for (const id of system.agentIds()) {
    const s = system.agentStatus(id);
    say(`${id.padEnd(8)} state=${s.state} restarts=${s.restarts} crashes=${s.crashes} pids=${s.pids.join(',')}`);
  }
  const m = await system.metrics();
  say(`metrics: ${JSON.stringify(m).length} bytes of JSON snapshot (system.metricsText() for Prometheus)`);
} catch (error) {
  exitCode = 1;
  console.error('demo failed:', error);
} finally {
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
  // Every live Python process this Node process started (found by its SYNAPSE_PARENT_PID in
  // /proc), including any that never became ready (the crash loop's), not only the ones we saw.
  const alive = findWorkerPids(process.pid);
  say(`stopped; ${seenPids.size} Python processes became ready, ${alive.length} of ours left running${alive.length ? `: ${alive.join(', ')}` : ''}`);
  if (alive.length > 0) exitCode = 1;
}
process.exit(exitCode);
