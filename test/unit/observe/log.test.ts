import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isSynapseError } from '../../../src/errors.ts';
import { childLogger, createLogger } from '../../../src/observe/log.ts';

/** A destination that keeps every line. */
function capture(): { stream: Writable & { write(chunk: string): boolean }; lines: () => Record<string, unknown>[]; raw: () => string } {
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      raw += chunk.toString();
      cb();
    },
  });
  return { stream, raw: () => raw, lines: () => raw.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const SECRET = 'sk-live-DO-NOT-LOG';

function optionError(fn: () => unknown): { code: string; option: unknown } {
  try {
    fn();
  } catch (err) {
    if (isSynapseError(err)) return { code: err.code, option: err.details.option };
    throw err;
  }
  throw new Error('expected a throw');
}

describe('createLogger (created)', () => {
  it('redacts secrets in logged objects, env maps and nested config', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, level: 'debug' });
    log.info(
      {
        apiKey: SECRET,
        config: { apiKey: SECRET, api_key: SECRET, password: SECRET, token: SECRET, secret: SECRET, authorization: SECRET },
        deep: { a: { b: { c: { password: SECRET } } } },
        env: { OPENAI_API_KEY: SECRET, PATH: '/usr/bin' },
        python: { env: { ANTHROPIC_API_KEY: SECRET } },
        headers: { authorization: `Bearer ${SECRET}`, accept: 'json' },
        harmless: 'visible',
      },
      'spawning',
    );
    expect(out.raw()).not.toContain(SECRET);
    const [line] = out.lines();
    expect(line).toMatchObject({
      msg: 'spawning',
      name: 'synapse',
      harmless: 'visible',
      env: { OPENAI_API_KEY: '[Redacted]', PATH: '[Redacted]' },
      headers: { authorization: '[Redacted]', accept: 'json' },
    });
  });

  it('redacts child bindings (childLogger and raw .child)', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream });
    childLogger(log, { agent: 'bot', worker: 0, pythonPid: 42, conversationId: undefined, env: { KEY: SECRET } }).info('a');
    log.child({ cfg: { token: SECRET } }).info('b');
    expect(out.raw()).not.toContain(SECRET);
    const [a, b] = out.lines();
    expect(a).toMatchObject({ agent: 'bot', worker: 0, pythonPid: 42, pid: process.pid, msg: 'a' });
    expect(a).not.toHaveProperty('conversationId');
    expect(b).toMatchObject({ cfg: { token: '[Redacted]' } });
  });

  it('applies user paths, keys and censor', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, redact: { paths: ['request.body.card'], keys: ['ssn'], censor: '***' } });
    log.info({ request: { body: { card: '4111', amount: 3 } }, person: { ssn: '123' } });
    expect(out.lines()[0]).toMatchObject({ request: { body: { card: '***', amount: 3 } }, person: { ssn: '***' } });
    const out2 = capture();
    createLogger({ destination: out2.stream, redact: ['order.pin'] }).info({ order: { pin: 1234 } });
    expect(out2.lines()[0]).toMatchObject({ order: { pin: '[Redacted]' } });
  });

  it('honours level', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, level: 'warn' });
    log.info('hidden');
    log.warn('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });

  it.each([
    [{ nope: 1 }, 'logger.nope'],
    [{ level: 'loud' }, 'logger.level'],
    [{ destination: -1 }, 'logger.destination'],
    [{ logger: {} }, 'logger.logger'],
    [{ redact: [1] }, 'logger.redact[0]'],
    [{ redact: { paths: ['a..b'] } }, 'logger.redact.paths'],
    [{ redact: { bogus: [] } }, 'logger.redact.bogus'],
  ])('rejects %j naming %s', (options, option) => {
    expect(optionError(() => createLogger(options as never))).toEqual({ code: 'SYN_ERR_INVALID_OPTION', option });
  });
});

describe('createLogger (injected)', () => {
  it('keeps the injected logger’s own redaction, destination and formatter, and adds ours', () => {
    const out = capture();
    const user = pino(
      { redact: ['custom.field'], formatters: { log: (o: Record<string, unknown>) => ({ ...o, tagged: true }) } },
      out.stream,
    );
    const log = createLogger({ logger: user });
    log.info({ custom: { field: 'theirs' }, env: { K: SECRET }, nested: { deeper: { apiKey: SECRET } } }, 'x');
    expect(out.raw()).not.toContain(SECRET);
    expect(out.lines()[0]).toMatchObject({ custom: { field: '[Redacted]' }, tagged: true, env: { K: '[Redacted]' } });
  });

  it('does not wrap a Synapse logger twice, and applies level to the wrapper', () => {
    const out = capture();
    const base = createLogger({ destination: out.stream });
    expect(createLogger({ logger: base })).toBe(base);
    const quiet = createLogger({ logger: base, level: 'error' });
    quiet.warn('hidden');
    quiet.error('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });
});
