// NATS connection options of natsHost / natsFront against real nats-servers started with auth
// (test/helpers/nats.ts): user/pass and token pass-through (right credentials serve a real Python
// agent end to end; wrong ones fail coded with reason nats_connect), an `authenticator`, a server
// whose subject permissions only allow each side its own inbox subtree (works with `inboxPrefix`,
// fails coded without it), secrets never in logs or errors, option validation, and a run whose
// events were lost in transit (a gap in the event sequence) failing retryable, not as a protocol defect.
import { connect, tokenAuthenticator } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { decodeHopFrame, encodeHopFrame, natsFront, natsHost } from '../../../src/nats/index.ts';
import type { ActorSystem } from '../../../src/system.ts';
import { captureLogs, type LogCapture } from '../../helpers/log-capture.ts';
import { startNats, type NatsServer } from '../../helpers/nats.ts';
import { example, fixture, rejection, startSystem, tempDir } from '../../helpers/system.ts';

const PASS = `pw-${randomBytes(12).toString('hex')}`;
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const WRONG = `wrong-${randomBytes(12).toString('hex')}`;
const HOST_PASS = `hp-${randomBytes(12).toString('hex')}`;
const FRONT_PASS = `fp-${randomBytes(12).toString('hex')}`;
const SECRETS = [PASS, TOKEN, WRONG, HOST_PASS, FRONT_PASS];

const tmp = tempDir('syn-nats-auth-');
let userServer: NatsServer;
let tokenServer: NatsServer;
let permServer: NatsServer;
let host: Awaited<ReturnType<typeof startSystem>>;
let front: Awaited<ReturnType<typeof startSystem>>;
let h: ActorSystem;
let f: ActorSystem;
let logs: LogCapture;
const errors: unknown[] = [];

/** Every rejection is also kept, to check no secret reaches an error. */
async function failure(p: Promise<unknown>) {
  const err = await rejection(p);
  errors.push(err);
  return err;
}

beforeAll(async () => {
  const config = join(tmp.dir, 'perm.conf');
  // One user per role; each side may subscribe only to its own inbox subtree, and replies to
  // requests it received are allowed by allow_responses (docs/distributed.md).
  writeFileSync(
    config,
    `authorization {
  users = [
    { user: front, password: "${FRONT_PASS}", permissions: {
        publish: { allow: ["syn.perm.run.*", "syn.perm.ctl.*"] }
        subscribe: { allow: ["syn.perm.status.*", "_INBOX.front.f1.>"] }
        allow_responses: true } }
    { user: host, password: "${HOST_PASS}", permissions: {
        publish: { allow: ["syn.perm.status.host-p", "_INBOX.front.>"] }
        subscribe: { allow: ["syn.perm.run.*", "syn.perm.ctl.host-p", "_INBOX.host.host-p.>"] }
        allow_responses: true } }
  ]
}
`,
  );
  [userServer, tokenServer, permServer] = await Promise.all([startNats({ args: ['--user', 'syn', '--pass', PASS] }), startNats({ args: ['--auth', TOKEN] }), startNats({ config })]);
  logs = captureLogs('debug');
  host = await startSystem({ logger: logs.log, logLevel: 'debug' });
  h = host.system;
  await h.spawnAgent({ id: 'faults', agent: fixture('faults.py') });
  // A TS tool declared on the host, answered on the front: its tool_call is a request whose reply goes to the host's inbox.
  await h.spawnAgent({ id: 'weather', agent: example('ts_tools.py'), tools: { get_weather: { description: 'Current weather of a city.', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, handler: () => ({ city: 'host', tempC: 0 }) } } });
  await h.serve(natsHost({ servers: userServer.url, namespace: 'auth', hostId: 'host-u', user: 'syn', pass: PASS }));
  await h.serve(natsHost({ servers: tokenServer.url, namespace: 'auth', hostId: 'host-t', token: TOKEN }));
  await h.serve(natsHost({ servers: permServer.url, namespace: 'perm', hostId: 'host-p', user: 'host', pass: HOST_PASS, inboxPrefix: '_INBOX.host.host-p', keepaliveMs: 150 }));
  front = await startSystem({ logger: logs.log, logLevel: 'debug' });
  f = front.system;
}, 60_000);

afterAll(async () => {
  await front?.stopAndCheck(true);
  await host?.stopAndCheck(true);
  await Promise.all([userServer?.close(), tokenServer?.close(), permServer?.close()]);
  tmp.remove();
  // No secret in any log line or any error the tests saw (message, details, cause chain).
  const seen = JSON.stringify(logs.records) + errors.map((e) => inspect(e, { depth: 20 }) + JSON.stringify(e)).join('\n');
  for (const s of SECRETS) expect(seen.includes(s), `secret ${s.slice(0, 3)}… leaked`).toBe(false);
}, 30_000);

describe('natsFront / natsHost authentication', () => {
  it('user/pass: the right password runs a remote turn; a wrong one fails SYN_ERR_AGENT_UNAVAILABLE nats_connect on the front, SYN_ERR_START_FAILED on a host', async () => {
    await f.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: userServer.url, namespace: 'auth', user: 'syn', pass: PASS }) });
    expect((await f.sendMessage('faults', { prompt: 'hello there' })).output).toEqual(expect.any(String));
    const front = await failure(f.attachRemoteAgent({ id: 'faults-bad', transport: natsFront({ servers: userServer.url, namespace: 'auth', user: 'syn', pass: WRONG }) }));
    expect(front).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { reason: 'nats_connect', state: 'unreachable' } });
    expect(front.message).toMatch(/Authorization Violation/i);
    const noCreds = await failure(f.attachRemoteAgent({ id: 'faults-none', transport: natsFront({ servers: userServer.url, namespace: 'auth' }) }));
    expect(noCreds).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { reason: 'nats_connect' } });
    const hostErr = await failure(h.serve(natsHost({ servers: userServer.url, namespace: 'auth', hostId: 'host-bad', user: 'syn', pass: WRONG })));
    expect(hostErr).toMatchObject({ code: 'SYN_ERR_START_FAILED', details: { reason: 'nats_connect', host: 'host-bad' } });
  });

  it('credentials in a server URL are redacted from errors', async () => {
    const url = userServer.url.replace('nats://', `nats://syn:${WRONG}@`);
    const err = await failure(f.attachRemoteAgent({ id: 'faults-url', transport: natsFront({ servers: url, namespace: 'auth' }) }));
    expect(err).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { reason: 'nats_connect' } });
    expect(err.message).toContain('nats://[redacted]@127.0.0.1');
  });

  it('token, and an authenticator: the right token works, a wrong one fails coded', async () => {
    // The host serves `faults` on this server too: a second front system attaches it there (ids are per system).
    const f2 = await startSystem({ logger: logs.log, logLevel: 'debug' });
    try {
      await f2.system.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: tokenServer.url, namespace: 'auth', authenticator: tokenAuthenticator(TOKEN) }) });
      expect((await f2.system.sendMessage('faults', { prompt: 'over a token' })).output).toEqual(expect.any(String));
      const bad = await failure(f2.system.attachRemoteAgent({ id: 'faults-wrong', transport: natsFront({ servers: tokenServer.url, namespace: 'auth', token: WRONG }) }));
      expect(bad).toMatchObject({ code: 'SYN_ERR_AGENT_UNAVAILABLE', details: { reason: 'nats_connect' } });
    } finally {
      await f2.stopAndCheck(true);
    }
  });
});

describe('inboxPrefix under subject permissions', () => {
  it('with its own inbox prefix a restricted front runs remote turns (events, keepalives, a front-side tool call, result); with the default _INBOX it fails coded', async () => {
    const f2 = await startSystem({ logger: logs.log, logLevel: 'debug' });
    try {
      await f2.system.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: permServer.url, namespace: 'perm', frontId: 'f1', user: 'front', pass: FRONT_PASS, inboxPrefix: '_INBOX.front.f1', hostLostMs: 600 }) });
      const deltas: string[] = [];
      let output: unknown;
      for await (const item of f2.system.streamMessage('faults', { prompt: 'streamed under permissions' })) {
        if (item.kind === 'text_delta') deltas.push(item.delta);
        if (item.kind === 'result') output = item.output;
      }
      expect(deltas.length).toBeGreaterThan(0);
      expect(output).toEqual(expect.any(String));
      // 1.2 s with hostLostMs 600: the host's keepalive requests reach the front's inbox and its
      // replies (allow_responses) reach the host's, or the run fails host_lost.
      expect((await f2.system.sendMessage('faults', { prompt: 'slow 1.2' })).output).toMatch(/slow done/);
      // A front-side tool: the host's tool_call request reaches the front's inbox, the front's
      // reply reaches the host's own inbox subtree (its inboxPrefix), or the tool call times out.
      await f2.system.attachRemoteAgent({ id: 'weather', transport: natsFront({ servers: permServer.url, namespace: 'perm', frontId: 'f1', user: 'front', pass: FRONT_PASS, inboxPrefix: '_INBOX.front.f1' }), tools: { get_weather: { handler: (args) => ({ city: (args as { city: string }).city, tempC: 7 }) } }, timeoutMs: 5_000 });
      expect((await f2.system.sendMessage('weather', { prompt: 'weather in Lisbon?' })).output).toBe('[weather] {"city": "Lisbon", "tempC": 7} (re: weather in Lisbon?)');
      expect(logs.records.some((r) => typeof r.msg === 'string' && /permission/i.test(JSON.stringify(r)))).toBe(false);
    } finally {
      await f2.stopAndCheck(true);
    }
    const f3 = await startSystem({ logger: logs.log, logLevel: 'debug' });
    try {
      await f3.system.attachRemoteAgent({ id: 'faults', transport: natsFront({ servers: permServer.url, namespace: 'perm', frontId: 'f1', user: 'front', pass: FRONT_PASS, acceptTimeoutMs: 1_000 }) });
      const err = await failure(f3.system.sendMessage('faults', { prompt: 'default inbox' }));
      expect(err.code).toMatch(/^SYN_ERR_(AGENT_UNAVAILABLE|PROTOCOL)$/);
      console.info(`default _INBOX under permissions: ${err.code} ${JSON.stringify(err.details)} ${err.message}`);
    } finally {
      await f3.stopAndCheck(true);
    }
  });
});

describe('option validation', () => {
  it('bad auth / TLS / inboxPrefix options are SYN_ERR_INVALID_OPTION naming the option, never echoing its value', () => {
    const base = { servers: 'nats://127.0.0.1:1', namespace: 'x' };
    const cases: [Record<string, unknown>, string][] = [
      [{ pass: TOKEN }, 'pass'],
      [{ user: 'u', token: TOKEN }, 'token'],
      [{ token: '' }, 'token'],
      [{ token: 42 }, 'token'],
      [{ user: 7 }, 'user'],
      [{ creds: '' }, 'creds'],
      [{ authenticator: TOKEN }, 'authenticator'],
      [{ authenticator: [] }, 'authenticator'],
      [{ tls: 'yes' }, 'tls'],
      [{ tls: null }, 'tls'],
      [{ tls: { caFilee: '/ca.pem' } }, 'tls.caFilee'],
      [{ tls: { key: 5 } }, 'tls.key'],
      [{ tls: { handshakeFirst: 'true' } }, 'tls.handshakeFirst'],
      [{ inboxPrefix: '_INBOX.>' }, 'inboxPrefix'],
      [{ inboxPrefix: 'a..b' }, 'inboxPrefix'],
      [{ inboxPrefix: 'a b' }, 'inboxPrefix'],
      [{ inboxPrefix: 'x'.repeat(201) }, 'inboxPrefix'],
    ];
    for (const [extra, option] of cases) {
      for (const make of [() => natsFront({ ...base, ...extra } as never), () => natsHost({ ...base, hostId: 'h', ...extra } as never)]) {
        let caught: unknown;
        try {
          make();
        } catch (e) {
          caught = e;
        }
        expect(isSynapseError(caught, 'SYN_ERR_INVALID_OPTION'), `${JSON.stringify(extra).slice(0, 60)} accepted`).toBe(true);
        if (isSynapseError(caught)) {
          expect(caught.details).toMatchObject({ option });
          expect(inspect(caught, { depth: 10 })).not.toContain(TOKEN);
        }
      }
    }
    // Well-formed ones are accepted (nothing connects until attach / serve).
    expect(natsFront({ ...base, user: 'u', pass: 'p', tls: { caFile: '/ca.pem', handshakeFirst: true }, inboxPrefix: '_INBOX.front.a-1' }).kind).toBe('nats');
    expect(natsHost({ ...base, hostId: 'h', creds: '-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n', tls: {} }).kind).toBe('nats');
  });
});

describe('events lost in transit', () => {
  it('a gap in a run\'s event sequence fails SYN_ERR_AGENT_CRASHED { reason: events_lost } (retryable) and cancels the run on its host', async () => {
    const nc = await connect({ servers: tokenServer.url, token: TOKEN });
    const cancels: unknown[] = [];
    let gotCancel: () => void = () => {};
    const cancelled = new Promise<void>((resolve) => (gotCancel = resolve));
    nc.subscribe('syn.gap.ctl.scripted', { callback: (_e, m) => (cancels.push(decodeHopFrame(m.data)), gotCancel()) });
    nc.subscribe('syn.gap.run.gappy', {
      queue: 'syn.gap.run.gappy',
      callback: (_err, msg) => {
        const frame = decodeHopFrame(msg.data);
        if (frame.t !== 'run') return;
        msg.respond(encodeHopFrame({ t: 'accepted', id: frame.id, host: 'scripted', ctl: 'syn.gap.ctl.scripted' }));
        const ev = (seq: number) => encodeHopFrame({ t: 'event', id: frame.id, seq, event: { kind: 'text_delta', delta: `d${seq} ` } });
        nc.publish(frame.inbox, ev(0));
        nc.publish(frame.inbox, ev(2)); // seq 1 "lost"
      },
    });
    await nc.flush();
    try {
      await f.attachRemoteAgent({ id: 'gappy', transport: natsFront({ servers: tokenServer.url, namespace: 'gap', token: TOKEN }) });
      const deltas: string[] = [];
      const err = await failure(
        (async () => {
          for await (const item of f.streamMessage('gappy', { prompt: 'x' })) if (item.kind === 'text_delta') deltas.push(item.delta);
        })(),
      );
      // (`details.host` only when the host's `accepted` was read first: here the events share its TCP read.)
      expect(err).toMatchObject({ code: 'SYN_ERR_AGENT_CRASHED', details: { reason: 'events_lost', expected: 1, received: 2 } });
      expect(deltas).toEqual(['d0 ']);
      await cancelled;
      expect(cancels).toEqual([expect.objectContaining({ t: 'cancel', reason: 'SYN_ERR_AGENT_CRASHED' })]);
    } finally {
      await nc.close();
    }
  });
});
