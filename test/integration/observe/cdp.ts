/**
 * A minimal headless-Chromium driver for tests: Chrome DevTools Protocol over
 * `--remote-debugging-pipe` (NUL-delimited JSON on fds 3 and 4, the transport Puppeteer and
 * Playwright use), so no WebSocket client and no npm dependency is needed. Unlike
 * `--dump-dom`, it reads the live DOM while the page's SSE stream stays open.
 *
 * Chromium runs in its own process group with a fresh profile directory; `close()` asks it to
 * quit (`Browser.close`), SIGKILLs the group after a bounded wait, awaits `exit` and removes the
 * profile. Idempotent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** Path of the system Chromium the browser tests use. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags required on this machine (CI containers: no sandbox, no GPU, small /dev/shm, no network chatter). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--disable-breakpad',
  '--disable-crash-reporter',
  '--remote-debugging-pipe',
] as const;

/** True when the system Chromium is installed. */
export const chromiumAvailable = (): boolean => existsSync(CHROMIUM);

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/** One Chromium with one page (a target attached in flat session mode). */
export class HeadlessChromium {
  readonly #child: ChildProcess;
  readonly #out: Writable;
  readonly #profile: string;
  readonly #pending = new Map<number, Pending>();
  readonly #exited: Promise<unknown>;
  readonly #stderr: string[] = [];
  #nextId = 1;
  #buffer = '';
  #closing: Promise<void> | undefined;

  private constructor(child: ChildProcess, profile: string) {
    this.#child = child;
    this.#profile = profile;
    this.#out = child.stdio[3] as Writable;
    this.#exited = once(child, 'exit');
    const input = child.stdio[4] as Readable;
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => this.#onData(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr.push(chunk);
      if (this.#stderr.length > 50) this.#stderr.shift(); // bounded: only the tail matters for a failure message
    });
    this.#out.on('error', () => {}); // EPIPE after the browser died: the pending calls fail on exit below
    void this.#exited.then(() => this.#failAll(new Error(`chromium exited; stderr tail:\n${this.stderrTail()}`)));
  }

  /** Starts Chromium with a fresh profile. */
  static launch(): HeadlessChromium {
    const profile = mkdtempSync(join(tmpdir(), 'synapse-chromium-'));
    const child = spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, 'about:blank'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      detached: true, // own process group: close() can kill the renderer and zygote helpers too
    });
    return new HeadlessChromium(child, profile);
  }

  /** Last lines Chromium wrote to stderr. */
  stderrTail(): string {
    return this.#stderr.join('').split('\n').slice(-20).join('\n');
  }

  /** Sends one CDP command (to the browser, or to a page session) and resolves with its result. */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
        reject(new Error(`chromium is not running (${method})`));
        return;
      }
      this.#pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      this.#out.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`);
    });
  }

  /**
   * Opens `url` in a new page and returns the page's session id once the navigation committed
   * (later `evaluate` calls run in the new document, which may still be loading).
   */
  async open(url: string): Promise<string> {
    const { targetId } = await this.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const nav = await this.send<{ errorText?: string }>('Page.navigate', { url }, sessionId);
    if (nav.errorText !== undefined) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
    return sessionId;
  }

  /**
   * Like {@link HeadlessChromium.open}, with the page's viewport set to `width × height` CSS px
   * (device scale 1) before the navigation, so layout is measured at that size.
   */
  async openAt(url: string, width: number, height: number): Promise<string> {
    const { targetId } = await this.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
    const nav = await this.send<{ errorText?: string }>('Page.navigate', { url }, sessionId);
    if (nav.errorText !== undefined) throw new Error(`navigation to ${url} failed: ${nav.errorText}`);
    return sessionId;
  }

  /** A PNG screenshot of the page's viewport. */
  async screenshot(sessionId: string): Promise<Buffer> {
    const { data } = await this.send<{ data: string }>('Page.captureScreenshot', { format: 'png' }, sessionId);
    return Buffer.from(data, 'base64');
  }

  /** Pids of live processes whose command line names this browser's profile directory (empty after `close()`). */
  livePids(): number[] {
    const found: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(this.#profile)) found.push(Number(name));
      } catch {
        // exited meanwhile, or not readable
      }
    }
    return found;
  }

  /**
   * Evaluates `expression` in the page (awaiting a returned promise) and returns its JSON value.
   * A page-side exception rejects with its description.
   */
  async evaluate<T>(sessionId: string, expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: unknown }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
      'Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true },
      sessionId,
    );
    if (r.exceptionDetails !== undefined) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Quits the browser (bounded), kills its process group if needed, awaits exit, removes the profile. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const running = this.#child.exitCode === null && this.#child.signalCode === null;
    if (running) {
      // Ask politely; whatever happens, the group is killed after 5 s at most.
      const killTimer = setTimeout(() => this.#killGroup(), 5_000);
      this.send('Browser.close').catch(() => {}); // the reply may never come: the browser quits first
      await this.#exited;
      clearTimeout(killTimer);
    }
    this.#killGroup(); // helpers (zygote, renderer) that outlived the browser process
    rmSync(this.#profile, { recursive: true, force: true });
  }

  #killGroup(): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is already gone
    }
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\0')) >= 0) {
      const text = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 1);
      const msg = JSON.parse(text) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) continue; // an event: this driver only needs command replies
      const p = this.#pending.get(msg.id);
      if (p === undefined) continue;
      this.#pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`CDP: ${msg.error.message}`));
      else p.resolve(msg.result);
    }
  }

  #failAll(error: Error): void {
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}
