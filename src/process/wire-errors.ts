/**
 * Translation of Python-side failures into coded {@link SynapseError}s, once, at the edge.
 */
import { synErr } from '../errors.ts';
import type { ErrorCode, ErrorDetails, ProviderErrorDetails, SynapseError } from '../errors.ts';
import type { ErrorFrame, PyErrorKind } from '../protocol/frames.ts';

/** Error `kind` on the wire → Synapse error code (docs/protocol.md, "Semantics"). */
export const ERROR_KIND_CODES: Readonly<Record<PyErrorKind, ErrorCode>> = Object.freeze({
  agent: 'SYN_ERR_AGENT_FAILED',
  usage_limit: 'SYN_ERR_AGENT_FAILED',
  unexpected_model_behavior: 'SYN_ERR_AGENT_FAILED',
  tool: 'SYN_ERR_AGENT_FAILED',
  deps: 'SYN_ERR_AGENT_FAILED',
  timeout: 'SYN_ERR_TIMEOUT',
  cancelled: 'SYN_ERR_ABORTED',
  startup: 'SYN_ERR_STARTUP_FAILED',
  protocol: 'SYN_ERR_PROTOCOL',
  invalid_option: 'SYN_ERR_INVALID_OPTION',
  invalid_argument: 'SYN_ERR_INVALID_ARGUMENT',
  provider: 'SYN_ERR_PROVIDER',
});

/**
 * The coded error for an `error` frame; `details` carries `kind`, `type`, `traceback`,
 * `retryable` and the given context (pid, agent, runId…), plus `errors` (pydantic's list, for
 * bad deps), `option` (the rejected option) and, for a provider failure, the fields of its
 * `provider` object (`category`, `status`, `retryAfterMs`, `providerCode`, `retryable`:
 * {@link ProviderErrorDetails}) when the frame has them.
 */
export function errorFromFrame(frame: ErrorFrame, context: ErrorDetails = {}): SynapseError {
  const code = ERROR_KIND_CODES[frame.kind];
  return synErr(code, frame.message || `${frame.type} (${frame.kind})`, {
    ...context,
    ...(frame.id === null ? {} : { runId: frame.id }),
    kind: frame.kind,
    type: frame.type,
    traceback: frame.traceback,
    retryable: frame.retryable,
    ...(frame.errors === undefined ? {} : { errors: frame.errors }),
    ...(frame.option === undefined ? {} : { option: frame.option }),
    ...frame.provider,
  });
}

/** A copy of `error` with more details (SynapseError details are frozen). Keeps code, message and cause. */
export function withDetails(error: SynapseError, details: ErrorDetails): SynapseError {
  const copy = synErr(error.code, error.message, { ...error.details, ...details }, error.cause);
  if (error.stack !== undefined) copy.stack = error.stack;
  return copy;
}
