import { isSynapseError } from '../../src/errors.ts';

/**
 * The coded error `fn` throws synchronously, as a plain object (code, a copy of the details,
 * message) for `toMatchObject`; fails if it returns or throws anything but a SynapseError.
 */
export function codedError(fn: () => unknown): { code: string; details: Record<string, unknown>; message: string } {
  try {
    fn();
  } catch (error) {
    if (isSynapseError(error)) return { code: error.code, details: { ...error.details }, message: error.message };
    throw error;
  }
  throw new Error('expected a coded error');
}

/**
 * The coded error `promise` rejects with, as a plain object (code, a copy of the details) for
 * `toMatchObject`; fails if it resolves or rejects with anything but a SynapseError.
 */
export async function codedRejection(promise: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    if (isSynapseError(error)) return { code: error.code, details: { ...error.details } };
    throw error;
  }
  throw new Error('expected a rejection');
}
