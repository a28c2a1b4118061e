/**
 * The error the fault kit's invariant checkers throw: one assertion failure listing every
 * violation found (not just the first), so a red schedule run explains itself.
 */

/**
 * Thrown by {@link CallLedger.check}, `checkHistory`, `checkRestartsWithinPolicy` and
 * `assertNoLeakedPids` when an invariant does not hold. Not a `SynapseError`: it reports a
 * bug in the system under test, not a condition a caller handles.
 *
 * @example
 * ```ts
 * try { ledger.check() } catch (e) { if (e instanceof FaultInvariantError) console.log(e.violations) }
 * ```
 */
export class FaultInvariantError extends Error {
  /** Which invariant failed (`'ledger'`, `'history'`, `'restarts'`, `'pids'`). */
  readonly invariant: string;
  /** One line per violation. */
  readonly violations: readonly string[];

  constructor(invariant: string, violations: readonly string[]) {
    const shown = violations.slice(0, 20);
    const more = violations.length > shown.length ? `\n  … and ${violations.length - shown.length} more` : '';
    super(`Invariant "${invariant}" violated (${violations.length}):\n  ${shown.join('\n  ')}${more}`);
    this.name = 'FaultInvariantError';
    this.invariant = invariant;
    this.violations = Object.freeze([...violations]);
  }
}

/** Throws a {@link FaultInvariantError} when `violations` is not empty. */
export function assertNone(invariant: string, violations: readonly string[]): void {
  if (violations.length > 0) throw new FaultInvariantError(invariant, violations);
}
