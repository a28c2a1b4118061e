/**
 * A real OpenAI-compatible, fault-injecting HTTP server for tests: LLMock (PyPI `llmock`, a dev
 * dependency in the venv) run by `test/fixtures/llmock/server.py` on a free loopback port. The
 * harness owns the process: it reads the `{"url"}` handshake line, scripts faults through LLMock's
 * admin API and, on `close()`, ends its stdin (it stops and exits), SIGKILLs it if it has not
 * exited within 5 s, and awaits the exit.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { REPO_ROOT, VENV_PYTHON } from './python.ts';

/** One LLMock behaviour (see LLMock's README, "The faults"), e.g. `{ type: 'fail', status: 429, retry_after: 2 }`. */
export type LlmockBehavior = Readonly<Record<string, unknown>>;

/** One request LLMock saw (`GET /_llmock/requests`), reduced to what tests look at. */
export interface LlmockRequest {
  readonly path: string;
  readonly [key: string]: unknown;
}

/** A running LLMock server owned by a test file. */
export interface LlmockServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The OpenAI `base_url` (`<url>/v1`). */
  readonly openaiBaseUrl: string;
  readonly pid: number;
  /** Forgets every request and pending behaviour, then queues `behaviors` (applied in order to the next requests). */
  script(...behaviors: LlmockBehavior[]): Promise<void>;
  /** Every request LLMock saw since the last `script()`. */
  requests(): Promise<readonly LlmockRequest[]>;
  /** Stops the server and awaits its exit. Idempotent. */
  close(): Promise<void>;
}

async function admin(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}/_llmock/${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  if (!res.ok) throw new Error(`llmock ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Starts LLMock; resolves once it accepts connections. */
export async function startLlmock(): Promise<LlmockServer> {
  const child = spawn(VENV_PYTHON, [`${REPO_ROOT}test/fixtures/llmock/server.py`], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    exited.then(([code]) => {
      throw new Error(`llmock exited before its handshake (code ${String(code)}): ${stderr}`);
    }),
  ]);
  lines.close();
  const { url } = JSON.parse(first) as { url: string };
  let closing: Promise<void> | undefined;
  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    pid: child.pid!,
    async script(...behaviors) {
      await admin(url, 'POST', 'reset');
      if (behaviors.length > 0) await admin(url, 'POST', 'scenario', { behaviors });
    },
    async requests() {
      const body = (await admin(url, 'GET', 'requests')) as { requests?: LlmockRequest[] } | LlmockRequest[];
      return Array.isArray(body) ? body : (body.requests ?? []);
    },
    close() {
      closing ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.stdin.end();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        try {
          await exited;
        } finally {
          clearTimeout(kill);
        }
      })();
      return closing;
    },
  };
}
