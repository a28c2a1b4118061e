// Pure helpers of the process layer: env allow-list, stderr tail, options, error mapping, lifecycle, pid file.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isSynapseError } from '../../../src/errors.ts';
import { buildChildEnv } from '../../../src/process/env.ts';
import { TRANSITIONS } from '../../../src/process/worker.ts';
import { defaultPythonPath, findPython, PYTHON_PROCESS_DEFAULTS, resolveProcessOptions } from '../../../src/process/options.ts';
import { PidFile, reapStale } from '../../../src/process/pidfile.ts';
import { readProcStat } from '../../../src/process/proc.ts';
import { StderrTail } from '../../../src/process/stderr-tail.ts';
import { ERROR_KIND_CODES, errorFromFrame } from '../../../src/process/wire-errors.ts';
import { PY_ERROR_KINDS, parseInbound, type ErrorFrame } from '../../../src/protocol/frames.ts';

function codeOf(fn: () => unknown): { code: string; details: Record<string, unknown> } | undefined {
  try {
    fn();
  } catch (e) {
    if (isSynapseError(e)) return { code: e.code, details: { ...e.details } };
    throw e;
  }
  return undefined;
}

describe('buildChildEnv', () => {
  it('passes only allow-listed variables, then extras, then the runtime variables', () => {
    const env = buildChildEnv(
      { PATH: '/bin', HOME: '/h', LANG: 'C', LC_ALL: 'C.UTF-8', TZ: 'UTC', OPENAI_API_KEY: 'sk-secret', PYTHONDONTWRITEBYTECODE: '1', NODE_OPTIONS: '--x' },
      { MY_SECRET: 's3', SYNAPSE_PARENT_PID: 'forged', PYTHONDONTWRITEBYTECODE: '1' },
      1234,
    );
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', LANG: 'C', LC_ALL: 'C.UTF-8', TZ: 'UTC', MY_SECRET: 's3', SYNAPSE_PARENT_PID: '1234', PYTHONUNBUFFERED: '1' });
  });

  it('passes the offline guard SYNAPSE_ALLOW_MODEL_REQUESTS through, and no other SYNAPSE_ variable', () => {
    const env = buildChildEnv({ SYNAPSE_ALLOW_MODEL_REQUESTS: '0', SYNAPSE_LOOP: 'asyncio', SYNAPSE_CONTROL_FDS: '7,8' }, {}, 1);
    expect(env).toEqual({ SYNAPSE_ALLOW_MODEL_REQUESTS: '0', SYNAPSE_PARENT_PID: '1', PYTHONUNBUFFERED: '1' });
  });
});

describe('StderrTail', () => {
  it('keeps only the last maxBytes bytes', () => {
    const tail = new StderrTail(10);
    for (let i = 0; i < 100; i++) tail.push(Buffer.from(`line ${i}\n`));
    expect(tail.text()).toBe('8\nline 99\n');
    expect(Buffer.byteLength(tail.text())).toBeLessThanOrEqual(10);
  });

  it('splits lines across chunks and caps a giant line', () => {
    const tail = new StderrTail(16);
    const lines: string[] = [];
    tail.push(Buffer.from('hel'), (l) => lines.push(l));
    tail.push(Buffer.from('lo\nwor'), (l) => lines.push(l));
    tail.push(Buffer.from('x'.repeat(100)), (l) => lines.push(l));
    tail.push(Buffer.from('\n'), (l) => lines.push(l));
    tail.push(Buffer.from('partial'), (l) => lines.push(l));
    tail.flush((l) => lines.push(l));
    expect(lines).toEqual(['hello', `wor${'x'.repeat(13)}`, 'partial']);
  });
});

describe('resolveProcessOptions', () => {
  it('applies documented defaults', () => {
    const r = resolveProcessOptions({ executable: process.execPath });
    expect(r).toMatchObject({ ...PYTHON_PROCESS_DEFAULTS, agents: [], tools: [], env: {}, label: {} });
  });

  it('rejects unknown keys and bad values naming the option', () => {
    expect(codeOf(() => resolveProcessOptions({ executable: process.execPath, heartbeat: 1 }))).toMatchObject({ code: 'SYN_ERR_INVALID_OPTION', details: { option: 'heartbeat' } });
    expect(codeOf(() => resolveProcessOptions({ executable: process.execPath, env: { A: 1 } }))?.details.option).toBe('env.A');
    expect(codeOf(() => resolveProcessOptions({ executable: process.execPath, clock: {} }))?.details.option).toBe('clock');
    for (const gcThresholds of [[700, 10], [0, 10, 10], [700, 10, 1.5], 'x']) {
      expect(codeOf(() => resolveProcessOptions({ executable: process.execPath, gcThresholds }))?.details.option).toBe('gcThresholds');
    }
    expect(codeOf(() => resolveProcessOptions({ executable: process.execPath, gcGraceMs: -1 }))?.details.option).toBe('gcGraceMs');
    expect(resolveProcessOptions({ executable: process.execPath, gcThresholds: [700, 10, 100] })).toMatchObject({ gcThresholds: [700, 10, 100], gcGraceMs: PYTHON_PROCESS_DEFAULTS.gcGraceMs });
    expect(codeOf(() => resolveProcessOptions({ executable: process.execPath, cwd: '/no/such/dir' }))?.details.option).toBe('cwd');
    expect(codeOf(() => resolveProcessOptions({ executable: process.execPath, tools: [{ name: 't', description: 'd', parameters: [] }] }))?.details.option).toBe('tools[0].parameters');
  });

  it('finds the interpreter: explicit, then SYNAPSE_PYTHON, else the package venv', () => {
    expect(findPython(process.execPath)).toBe(process.execPath);
    expect(codeOf(() => findPython('/no/such/python'))?.code).toBe('SYN_ERR_PYTHON_NOT_FOUND');
    const saved = process.env.SYNAPSE_PYTHON;
    try {
      process.env.SYNAPSE_PYTHON = '/no/such/env-python';
      expect(codeOf(() => findPython())?.details.executable).toBe('/no/such/env-python');
    } finally {
      if (saved === undefined) delete process.env.SYNAPSE_PYTHON;
      else process.env.SYNAPSE_PYTHON = saved;
    }
    expect(defaultPythonPath()).toMatch(/\/\.venv\/bin\/python$/);
  });
});

describe('wire errors', () => {
  it('maps every protocol error kind to a registered code', () => {
    for (const kind of PY_ERROR_KINDS) expect(Object.hasOwn(ERROR_CODES, ERROR_KIND_CODES[kind])).toBe(true);
    expect(ERROR_KIND_CODES).toMatchObject({ agent: 'SYN_ERR_AGENT_FAILED', timeout: 'SYN_ERR_TIMEOUT', cancelled: 'SYN_ERR_ABORTED', startup: 'SYN_ERR_STARTUP_FAILED', protocol: 'SYN_ERR_PROTOCOL' });
  });

  it('a process-level error frame carries no runId', () => {
    const e = errorFromFrame({ t: 'error', id: null, kind: 'protocol', type: 'ProtocolError', message: 'bad', traceback: '', retryable: false }, { pid: 1 });
    expect(e.code).toBe('SYN_ERR_PROTOCOL');
    expect(e.details).toEqual({ pid: 1, kind: 'protocol', type: 'ProtocolError', traceback: '', retryable: false });
  });

  it('a provider error frame becomes SYN_ERR_PROVIDER with its provider object as typed details', () => {
    const frame = parseInbound({
      t: 'error', id: 'r1', kind: 'provider', type: 'ModelRateLimitError', message: 'status_code: 429', traceback: 'tb', retryable: true,
      provider: { category: 'rate_limit', status: 429, retryAfterMs: 2000, providerCode: 'rate_limit_exceeded', retryable: true, extra: 'ignored' },
    });
    const e = errorFromFrame(frame as ErrorFrame, { agent: 'a' });
    expect(e.code).toBe('SYN_ERR_PROVIDER');
    expect(e.kind).toBe('failure');
    expect(e.details).toEqual({ agent: 'a', runId: 'r1', kind: 'provider', type: 'ModelRateLimitError', traceback: 'tb', category: 'rate_limit', status: 429, retryAfterMs: 2000, providerCode: 'rate_limit_exceeded', retryable: true });
    // A quota error says retrying will not help, whatever the frame's top-level flag says.
    const quota = errorFromFrame({ ...(frame as ErrorFrame), provider: { category: 'quota', retryable: false } });
    expect(quota.details).toMatchObject({ category: 'quota', retryable: false });
    expect(quota.details.status).toBeUndefined();
  });

  it('a malformed provider object is a protocol violation naming the field', () => {
    const base = { t: 'error', id: 'r1', kind: 'provider', type: 'X', message: 'm', traceback: '', retryable: true };
    for (const [provider, field] of [[{ retryable: true }, 'category'], [{ category: 'server' }, 'retryable'], [{ category: 'server', retryable: true, status: -1 }, 'provider.status'], [{ category: 'server', retryable: true, retryAfterMs: 1.5 }, 'provider.retryAfterMs'], ['x', 'provider']] as const) {
      const got = codeOf(() => parseInbound({ ...base, provider }));
      expect(got?.code).toBe('SYN_ERR_PROTOCOL');
      expect(() => parseInbound({ ...base, provider })).toThrow(field);
    }
  });
});

describe('worker state transitions', () => {
  it('only the documented moves: handshake forward, any live state to stopping or crashed, ends final', () => {
    expect(TRANSITIONS).toEqual({
      spawning: ['handshaking', 'stopping', 'crashed'],
      handshaking: ['parked', 'ready', 'stopping', 'crashed'],
      parked: ['handshaking', 'stopping', 'crashed'],
      ready: ['stopping', 'crashed'],
      stopping: ['stopping', 'exited'],
      crashed: ['crashed'],
      exited: [],
    });
    // No way back to ready once stopping or crashed, and a crash is never "un-crashed".
    for (const from of ['stopping', 'crashed', 'exited'] as const) expect(TRANSITIONS[from]).not.toContain('ready');
    expect(Object.isFrozen(TRANSITIONS)).toBe(true);
  });
});

describe('PidFile', () => {
  it('records live pids with their start time and deletes the file when empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'synapse-pidfile-unit-'));
    try {
      const file = new PidFile({ dir });
      expect(file.path).toBe(join(dir, `${process.pid}.json`));
      expect(file.add(process.pid)).toBe(true);
      expect(file.add(999_999_999)).toBe(false); // no such process: not recorded
      const content = JSON.parse(readFileSync(file.path, 'utf8')) as { ownerPid: number; entries: unknown[] };
      expect(content.ownerPid).toBe(process.pid);
      expect(content.entries).toEqual([{ pid: process.pid, startTime: readProcStat(process.pid)!.startTime }]);
      expect(reapStale(dir)).toEqual([]); // our own file is never reaped
      file.remove(process.pid);
      expect(existsSync(file.path)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reapStale of a missing directory reaps nothing', () => {
    expect(reapStale(join(tmpdir(), 'synapse-no-such-dir-xyz'))).toEqual([]);
  });
});
