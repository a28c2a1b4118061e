/**
 * What the NATS front and host share: subjects, option checks, NATS error classification and
 * the rebuilding of a host's SynapseError on the front.
 */
import { credsAuthenticator, errors as natsErrors, type Authenticator, type ConnectionOptions, type TlsOptions } from '@nats-io/transport-node';
import { ERROR_CODES, SynapseError, synErr, type ErrorCode } from '../errors.ts';
import type { HopError } from './codec.ts';

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks a namespace / host id / front id (one NATS subject token). @throws SYN_ERR_INVALID_OPTION */
export function checkToken(option: string, value: unknown): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${option}": expected 1–64 characters of [A-Za-z0-9_-], got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value}`, { option });
  }
  return value;
}

/** Checks `servers`: a NATS URL or a non-empty array of them. @throws SYN_ERR_INVALID_OPTION */
export function checkServers(value: unknown): string | string[] {
  const ok = (s: unknown): boolean => typeof s === 'string' && s.length > 0 && s.length < 2000;
  if (ok(value)) return value as string;
  if (Array.isArray(value) && value.length > 0 && value.length <= 100 && value.every(ok)) return [...(value as string[])];
  throw synErr('SYN_ERR_INVALID_OPTION', 'Invalid option "servers": expected a NATS URL or a non-empty array of them', { option: 'servers' });
}

/** Checks an optional positive integer option. @throws SYN_ERR_INVALID_OPTION */
export function checkMs(option: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${option}": expected an integer >= ${min}`, { option });
  return value;
}

/** `syn.<ns>.run.<agentId>`: a queue group per served agent. */
export const runSubject = (namespace: string, agent: string): string => `syn.${namespace}.run.${agent}`;
/** `syn.<ns>.ctl.<hostId>`: cancel (later restart / inspect). */
export const ctlSubject = (namespace: string, hostId: string): string => `syn.${namespace}.ctl.${hostId}`;

/** `syn.<ns>.status.<hostId>`: the host's status advert (`statusSubject(ns, '*')`: every host's). */
export const statusSubject = (namespace: string, hostId: string): string => `syn.${namespace}.status.${hostId}`;

/** True when a NATS request failed because nobody subscribes to the subject. */
export function isNoResponders(error: unknown): boolean {
  if (error instanceof natsErrors.NoRespondersError) return true;
  if (error instanceof natsErrors.RequestError) return error.isNoResponders();
  return error instanceof Error && error.cause instanceof natsErrors.NoRespondersError;
}

/** True when a NATS request timed out. */
export function isRequestTimeout(error: unknown): boolean {
  return error instanceof natsErrors.TimeoutError || (error instanceof Error && error.cause instanceof natsErrors.TimeoutError);
}

/** The SynapseError a host sent, rebuilt (code and details verbatim, plus `host`); an unknown code is SYN_ERR_PROTOCOL. */
export function errorFromHop(frame: HopError, host: string | undefined): SynapseError {
  const details = { ...frame.details, ...(host === undefined ? {} : { host }) };
  if (!Object.hasOwn(ERROR_CODES, frame.code)) return synErr('SYN_ERR_PROTOCOL', `Host sent an unknown error code ${frame.code}: ${frame.message}`, { ...details, hop: true, remoteCode: frame.code });
  return new SynapseError(frame.code as ErrorCode, frame.message, { details });
}

/**
 * Authentication, TLS and inbox options of `natsHost` / `natsFront`, passed to the NATS client
 * (`@nats-io/transport-node` `connect`). Secrets (`pass`, `token`, `creds`, `tls.key`) are never
 * logged nor put in error messages; URLs in `servers` are shown with their user info redacted.
 */
export interface NatsConnectOptions {
  /** User name (with `pass`) for the server's `authorization { users … }`. */
  readonly user?: string;
  /** Password of `user`. */
  readonly pass?: string;
  /** Token for the server's `authorization { token … }` (exclusive with `user` / `pass`). */
  readonly token?: string;
  /** The content of a `.creds` file (user JWT + nkey seed: NATS decentralized auth), read by the caller. */
  readonly creds?: string | Uint8Array;
  /** NATS authenticator(s) (`nkeyAuthenticator`, `jwtAuthenticator`, …), added to the above. */
  readonly authenticator?: Authenticator | readonly Authenticator[];
  /** TLS to the server (`{}` requires TLS with the system CAs; files or PEM strings otherwise). */
  readonly tls?: TlsOptions;
  /**
   * Subject prefix of this process's reply inboxes (its run inboxes on a front, its request
   * inboxes on both), instead of `_INBOX`: subject permissions can then give each front and host
   * its own inbox subtree (docs/distributed.md, "subject permissions"). Tokens of
   * `[A-Za-z0-9_-]`, dot-separated, no wildcards, at most 200 characters.
   */
  readonly inboxPrefix?: string;
}

/** The part of the NATS client's options that {@link checkConnectOptions} builds. */
export type ResolvedConnectOptions = Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'authenticator' | 'tls' | 'inboxPrefix'> & { readonly inboxPrefix: string };

const TLS_KEYS: Readonly<Record<keyof TlsOptions, 'string' | 'boolean'>> = Object.freeze({ handshakeFirst: 'boolean', certFile: 'string', cert: 'string', caFile: 'string', ca: 'string', keyFile: 'string', key: 'string' });
const INBOX_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const invalid = (option: string, expected: string): never => {
  // Never the value: it may be a secret.
  throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${option}": expected ${expected}`, { option });
};
const nonEmpty = (option: string, value: unknown, max = 64 * 1024): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) invalid(option, `a non-empty string of at most ${max} characters`);
  return value as string;
};

/**
 * Checks the {@link NatsConnectOptions} of `natsHost` / `natsFront` and builds the client's.
 * @throws SYN_ERR_INVALID_OPTION (the message names the option, never its value).
 */
export function checkConnectOptions(o: NatsConnectOptions): ResolvedConnectOptions {
  const user = nonEmpty('user', o.user, 1024);
  const pass = nonEmpty('pass', o.pass);
  const token = nonEmpty('token', o.token);
  if (pass !== undefined && user === undefined) invalid('pass', '"user" with it');
  if (token !== undefined && user !== undefined) invalid('token', 'either "token" or "user"/"pass", not both');
  const authenticators: Authenticator[] = [];
  if (o.creds !== undefined) {
    const creds = o.creds;
    if (!((typeof creds === 'string' && creds.length > 0) || (creds instanceof Uint8Array && creds.byteLength > 0))) invalid('creds', 'the content of a .creds file (a non-empty string or Uint8Array)');
    authenticators.push(credsAuthenticator(typeof creds === 'string' ? new TextEncoder().encode(creds) : creds));
  }
  if (o.authenticator !== undefined) {
    const list = typeof o.authenticator === 'function' ? [o.authenticator] : o.authenticator;
    if (!Array.isArray(list) || list.length === 0 || list.length > 16 || !list.every((a) => typeof a === 'function')) invalid('authenticator', 'a NATS authenticator function or a non-empty array of them');
    authenticators.push(...(list as Authenticator[]));
  }
  let tls: TlsOptions | undefined;
  if (o.tls !== undefined) {
    if (typeof o.tls !== 'object' || o.tls === null || Array.isArray(o.tls)) invalid('tls', 'an object of TLS options (handshakeFirst, certFile, cert, caFile, ca, keyFile, key)');
    for (const [k, v] of Object.entries(o.tls as object)) {
      const type = TLS_KEYS[k as keyof TlsOptions];
      if (type === undefined) invalid(`tls.${k}`, `one of ${Object.keys(TLS_KEYS).join(', ')}`);
      if (v !== undefined && (typeof v !== type || (type === 'string' && (v as string).length === 0))) invalid(`tls.${k}`, type === 'string' ? 'a non-empty string' : 'a boolean');
    }
    tls = { ...o.tls };
  }
  const inboxPrefix = o.inboxPrefix ?? '_INBOX';
  if (typeof inboxPrefix !== 'string' || inboxPrefix.length > 200 || !INBOX_PREFIX.test(inboxPrefix)) invalid('inboxPrefix', 'a subject prefix: dot-separated tokens of [A-Za-z0-9_-], no wildcards, at most 200 characters');
  return {
    inboxPrefix,
    ...(user === undefined ? {} : { user }),
    ...(pass === undefined ? {} : { pass }),
    ...(token === undefined ? {} : { token }),
    ...(authenticators.length === 0 ? {} : { authenticator: authenticators.length === 1 ? authenticators[0]! : authenticators }),
    ...(tls === undefined ? {} : { tls }),
  };
}

/** `servers` for messages and logs: user info in a URL (`nats://user:secret@host`) redacted. */
export function showServers(servers: string | readonly string[]): string {
  return (typeof servers === 'string' ? [servers] : servers).map((s) => s.replace(/\/\/[^/@]*@/, '//[redacted]@')).join(',');
}
