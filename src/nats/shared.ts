/**
 * What the NATS front and host share: subjects, option checks, NATS error classification and
 * the rebuilding of a host's SynapseError on the front.
 */
import { errors as natsErrors } from '@nats-io/transport-node';
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
