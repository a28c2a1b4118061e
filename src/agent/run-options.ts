/**
 * Run options of `spawnAgent` and of one call (`sendMessage` / `streamMessage`): the fields,
 * their checks and their wire form (`init` agent fields, `run.options`). What each one means in
 * pydantic-ai is in docs/agents.md; Python resolves models and validates deps (it has the types).
 *
 * Validated once, here at the public edge: anything that is not JSON (functions, BigInt,
 * symbols, cycles, class instances, non-finite numbers) never reaches the wire.
 */
import { synErr, type ErrorCode } from '../errors.ts';
import { v, type Field } from '../options.ts';
import { JSON_MAX_DEPTH, jsonSize, notJson } from '../json.ts';
import type { RunOptionsFrame, TraceContextFrame } from '../protocol/frames.ts';

/** Size limits of the per-call JSON options (UTF-8 bytes of their JSON); larger → SYN_ERR_INVALID_ARGUMENT. */
export const RUN_OPTION_LIMITS = Object.freeze({
  /** Largest per-call `deps` (1 MiB). */
  maxDepsBytes: 1024 * 1024,
  /** Largest per-call `metadata` (64 KiB). */
  maxMetadataBytes: 64 * 1024,
  /** Largest per-call `output.schema` (256 KiB; SYN_ERR_INVALID_OPTION above it). */
  maxOutputSchemaBytes: 256 * 1024,
  /** Deepest nesting of a JSON option. */
  maxDepth: JSON_MAX_DEPTH,
});

/** pydantic-ai `UsageLimits` fields; keys may be snake_case (as in Python) or camelCase (`requestLimit`). */
export type UsageLimitsOption = Record<string, number | boolean | null>;

/**
 * A structured output for one run: a JSON Schema of an object, run as pydantic-ai
 * `StructuredDict(schema, name=, description=)` (`output_type=` of `Agent.iter`). The result's
 * `output` is the object the model produced, validated against the schema (`jsonschema` in the
 * worker; a violation is sent back to the model as pydantic-ai's output retry, and spent retries
 * fail the turn with SYN_ERR_AGENT_FAILED, kind `unexpected_model_behavior`); `outputType` is
 * `name` (else the schema's `title`, else `'dict'`). A schema Python rejects →
 * SYN_ERR_INVALID_OPTION naming `options.output`.
 */
export interface OutputOption {
  /** A JSON Schema with `type: 'object'` (at most {@link RUN_OPTION_LIMITS}.maxOutputSchemaBytes of JSON). */
  schema: Record<string, unknown>;
  /** The output's name (the schema's `title`; pydantic-ai names the output tool after it). Letters, digits, `_`, `-`; at most 64. */
  name?: string;
  /** What the output is, for the model (the schema's `description`). */
  description?: string;
}

/** The options a call may add to a run (all optional; see docs/agents.md). */
export interface RunOptions {
  /**
   * The model for this run: a pydantic-ai model name (`'test'`, `'openai:gpt-4o-mini'`) or a
   * `'module:attr'` / `'file.py:attr'` reference to a `Model` or a zero-arg factory of one.
   * Overrides the agent's `model`. Unknown → SYN_ERR_INVALID_OPTION.
   */
  model?: string;
  /** pydantic-ai `ModelSettings` (`temperature`, `max_tokens`, provider-specific keys…), merged over the agent's. */
  modelSettings?: Record<string, unknown>;
  /** pydantic-ai `UsageLimits` (e.g. `{ request_limit: 3 }`); exceeding one fails the turn (SYN_ERR_AGENT_FAILED, kind `usage_limit`). */
  usageLimits?: UsageLimitsOption;
  /** Extra instructions for this run (pydantic-ai `instructions=`), added to the agent's own. */
  instructions?: string;
  /** JSON metadata attached to the run (pydantic-ai `metadata=`). Never logged. */
  metadata?: unknown;
  /** JSON deps, validated by Python into the agent's `deps_type` (bad → SYN_ERR_INVALID_ARGUMENT, `details.errors`). Never logged. */
  deps?: unknown;
  /** A JSON Schema output type for this run (pydantic-ai `StructuredDict`; see {@link OutputOption}). */
  output?: OutputOption;
}


function jsonOf(code: ErrorCode, maxBytes: number): Field<unknown> {
  return (value, path) => {
    const size = jsonSize(value, path, code);
    if (size > maxBytes) {
      const key = code === 'SYN_ERR_INVALID_OPTION' ? 'option' : 'argument';
      throw synErr(code, `Invalid ${key} "${path}": ${size} bytes of JSON (limit ${maxBytes})`, { [key]: path, bytes: size, limit: maxBytes });
    }
    return value;
  };
}

const jsonObject: Field<Record<string, unknown>> = (value, path) => {
  const obj = v.record(v.any())(value, path);
  jsonSize(obj, path, 'SYN_ERR_INVALID_OPTION');
  return obj;
};

const usageLimits: Field<UsageLimitsOption> = (value, path) => {
  const obj = v.record((x, p): number | boolean | null => (x === null || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x) && x >= 0) ? x : v.number({ min: 0 })(x, p)))(value, path);
  const out: UsageLimitsOption = {};
  for (const [k, x] of Object.entries(obj)) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = x;
  return out;
};

const outputSchema: Field<Record<string, unknown>> = (value, path) => {
  const schema = v.record(v.any())(value, path);
  const size = jsonSize(schema, path, 'SYN_ERR_INVALID_OPTION');
  if (size > RUN_OPTION_LIMITS.maxOutputSchemaBytes) {
    throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${path}": ${size} bytes of JSON (limit ${RUN_OPTION_LIMITS.maxOutputSchemaBytes})`, { option: path, bytes: size, limit: RUN_OPTION_LIMITS.maxOutputSchemaBytes });
  }
  // pydantic-ai's StructuredDict takes an object schema only (or a `$ref` to one); Python checks the rest.
  if (schema.type !== 'object' && typeof schema.$ref !== 'string') {
    throw synErr('SYN_ERR_INVALID_OPTION', `Invalid option "${path}": a JSON Schema of an object (type: "object") is required`, { option: path, expected: 'a JSON Schema with type "object"' });
  }
  return schema;
};

const output: Field<OutputOption> = (value, path) => {
  const o = v.object({
    schema: outputSchema,
    name: v.optional(v.string({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ })),
    description: v.optional(v.string({ max: 4096 })),
  })(value, path);
  return { schema: o.schema, ...(o.name === undefined ? {} : { name: o.name }), ...(o.description === undefined ? {} : { description: o.description }) };
};

/** Fields of the spawn-level run options (in the `spawnAgent` schema). */
export const AGENT_RUN_OPTION_FIELDS = {
  model: v.optional(v.string({ min: 1, max: 1000 })),
  modelSettings: v.optional(jsonObject),
  usageLimits: v.optional(usageLimits),
};

/** Fields of the per-call run options (in the `sendMessage` / `streamMessage` options schema). */
export const CALL_RUN_OPTION_FIELDS = {
  ...AGENT_RUN_OPTION_FIELDS,
  instructions: v.optional(v.string({ max: 1024 * 1024 })),
  metadata: v.optional((value: unknown, path: string) => {
    if (value === null) notJson('SYN_ERR_INVALID_ARGUMENT', path, 'null');
    return jsonOf('SYN_ERR_INVALID_ARGUMENT', RUN_OPTION_LIMITS.maxMetadataBytes)(value, path);
  }),
  deps: v.optional(jsonOf('SYN_ERR_INVALID_ARGUMENT', RUN_OPTION_LIMITS.maxDepsBytes)),
  output: v.optional(output),
};

/**
 * The `run.options` of resolved call options, or `undefined` when the call uses none (the
 * run frame then carries no `options`: the common run pays nothing).
 */
export function runOptionsFrame(o: { readonly [K in keyof RunOptions]?: RunOptions[K] | undefined }): RunOptionsFrame | undefined {
  let frame: Record<string, unknown> | undefined;
  for (const key of ['model', 'modelSettings', 'usageLimits', 'instructions', 'metadata', 'deps', 'output'] as const) {
    if (Object.hasOwn(o, key) && o[key] !== undefined) (frame ??= {})[key] = o[key];
  }
  return frame as RunOptionsFrame | undefined;
}

/**
 * `frame` with the turn span's W3C trace context as `trace` (docs/observability.md); unchanged
 * (possibly `undefined`: no options at all) when there is no trace context to continue.
 */
export function withTraceContext(frame: RunOptionsFrame | undefined, trace: TraceContextFrame | undefined): RunOptionsFrame | undefined {
  return trace === undefined ? frame : { ...frame, trace };
}
