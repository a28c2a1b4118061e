/**
 * An unexpected end of a worker's protocol stream (stdout EOF while not stopping). A dying process
 * closes its pipes a moment before its exit is reported; one whose stream ended while it keeps
 * running (it closed or redirected the fd) would otherwise only be caught by the heartbeat
 * timeout. {@link watchEof} tells the two apart quickly.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { synErr } from '../errors.ts';
import type { ErrorDetails, SynapseError } from '../errors.ts';
import { readProcStat } from './proc.ts';

/**
 * How long to wait for the OS exit after an unexpected EOF before calling it a protocol defect.
 * Without it a crash could read as SYN_ERR_PROTOCOL instead of SYN_ERR_AGENT_CRASHED (with its
 * exit code); with it, a process living on without its stream is killed after ~0.1 s, not
 * after the heartbeat timeout.
 */
export const EOF_EXIT_GRACE_MS = 100;

/** What {@link watchEof} needs from the worker. */
export interface EofTarget {
  readonly clock: Clock;
  readonly pid: number;
  /** True once the question is moot: exited, stopping, or already condemned. */
  readonly settled: () => boolean;
  /** Called with SYN_ERR_PROTOCOL (`details.reason: 'protocol_eof'`) if the process is still running. */
  readonly onDefect: (error: SynapseError) => void;
  readonly context: () => ErrorDetails;
}

/**
 * Arms the EOF check: after {@link EOF_EXIT_GRACE_MS} and one more I/O poll (an `exit` may be
 * waiting in it), a process that is neither exited nor a zombie is reported as defective.
 * Returns the clock timer (clear it when the worker is finalised).
 */
export function watchEof(t: EofTarget): TimerHandle {
  return t.clock.setTimeout(() => {
    setImmediate(() => {
      if (t.settled()) return;
      const stat = readProcStat(t.pid);
      if (stat === undefined || stat.state === 'Z') return; // dead, not yet reaped: 'exit' follows
      t.onDefect(
        synErr('SYN_ERR_PROTOCOL', `Protocol violation by Python worker ${t.pid}: its protocol stream ended (EOF) while it kept running; killed`, {
          ...t.context(),
          reason: 'protocol_eof',
        }),
      );
    });
  }, EOF_EXIT_GRACE_MS);
}
