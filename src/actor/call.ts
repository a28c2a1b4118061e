/**
 * One pending `call`: the reply promise's settle functions, its deadline and its abort
 * listener. The object itself is what sits in the callee's mailbox and in the deadline
 * queue, so a call costs one promise and one of these, never a Node timer.
 */
import { synErr } from '../errors.ts';
import type { Deadline } from './deadlines.ts';

type Settle = (value: unknown) => void;

// The executor stores into module slots instead of closing over the call: no closure
// allocation per call. It runs synchronously inside `new Promise`, so the slots are
// read back immediately and can never be observed by another call.
let slotResolve: Settle | undefined;
let slotReject: Settle | undefined;
function captureSettlers(resolve: Settle, reject: Settle): void {
  slotResolve = resolve;
  slotReject = reject;
}

export class PendingCall implements Deadline {
  /** The request; cleared on settle so a settled entry lingering in a queue retains nothing. */
  message: unknown;
  settled = false;
  deadline = 0;
  readonly promise: Promise<unknown>;
  #resolve: Settle;
  #reject: Settle;
  #signal: AbortSignal | undefined = undefined;
  #onAbort: (() => void) | undefined = undefined;

  constructor(
    message: unknown,
    /** Id of the callee, for error messages. */
    readonly actor: string,
    /** The timeout this call was made with (ms, or Infinity). */
    readonly timeout: number,
  ) {
    this.message = message;
    this.promise = new Promise(captureSettlers);
    this.#resolve = slotResolve!;
    this.#reject = slotReject!;
  }

  /** Resolves the caller with `value` (no-op once settled). */
  ok(value: unknown): void {
    if (this.settled) return;
    this.#settle();
    this.#resolve(value);
  }

  /** Rejects the caller with `error` (no-op once settled). */
  fail(error: unknown): void {
    if (this.settled) return;
    this.#settle();
    this.#reject(error);
  }

  /** Called by the deadline queue when `deadline` has passed. */
  expire(): void {
    if (this.settled) return;
    this.fail(synErr('SYN_ERR_TIMEOUT', `Call to actor ${this.actor} timed out after ${this.timeout} ms`, { actor: this.actor, timeoutMs: this.timeout }));
  }

  /** Rejects with SYN_ERR_ABORTED when `signal` fires; the listener is removed on settle. */
  watch(signal: AbortSignal): void {
    this.#signal = signal;
    this.#onAbort = () => this.fail(abortedError(this.actor, signal));
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  #settle(): void {
    this.settled = true;
    this.message = undefined;
    if (this.#signal !== undefined) {
      this.#signal.removeEventListener('abort', this.#onAbort!);
      this.#signal = undefined;
      this.#onAbort = undefined;
    }
  }
}

/** The SYN_ERR_ABORTED error for a call whose signal fired (the signal's reason is the cause). */
export function abortedError(actor: string, signal: AbortSignal): Error {
  return synErr('SYN_ERR_ABORTED', `Call to actor ${actor} was aborted`, { actor }, signal.reason);
}
