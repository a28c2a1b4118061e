"""Structured output: the ``output`` run option (a JSON Schema output type) and partial outputs.

* ``run.options.output = {schema, name?, description?}`` → ``output_type=`` of ``agent.iter``: a
  subclass of pydantic-ai's ``StructuredDict(schema, name=, description=)`` that keeps its JSON
  Schema (what the model is shown) and adds, after its "is a JSON object" check, validation of
  the object against the schema with ``jsonschema`` (the draft named by ``$schema``, default
  2020-12). A violation raises ``ValueError`` inside pydantic validation, so pydantic-ai treats it
  as any output validation error: the model is told what is wrong and tries again, within the
  agent's output retries (exhausted: ``UnexpectedModelBehavior``, ``SYN_ERR_AGENT_FAILED``).
  When the agent's own output type includes ``DeferredToolRequests``, the run's output type is
  ``[that type, DeferredToolRequests]`` so approval / external tools still end the turn deferred.
* The schema is checked first against its meta-schema with ``jsonschema`` (a structural check of
  the common keywords only if ``jsonschema`` cannot be imported; the output is then only checked
  to be an object), then by ``StructuredDict`` itself; any failure is an
  :class:`InvalidOptionError` naming ``options.output`` (``SYN_ERR_INVALID_OPTION`` in Node).
  Built types are cached by the schema's canonical JSON, so a caller sending the same schema on
  every call builds it once per process.
* Partial outputs: a streamed run whose output type is not plain text reads the model's response
  through pydantic-ai's ``AgentStream.stream_output(debounce_by=…)`` and emits each new partial
  output as an ``output`` event; text runs keep ``text_delta`` events and pay nothing for this.
  A partial is emitted once it validates (for a schema: once the object so far satisfies it, as
  pydantic-ai does for a model class with required fields).
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from pydantic_ai import StructuredDict
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.exceptions import ModelRetry, UnexpectedModelBehavior, UserError
from pydantic_ai.tools import DeferredToolRequests
from pydantic_core import core_schema

from .exceptions import InvalidOptionError

__all__ = ['MAX_REPORTED_ERRORS', 'PARTIAL_OUTPUT_DEBOUNCE_S', 'output_type_of', 'streams_output', 'structured_output_name', 'stream_partial_outputs']

PARTIAL_OUTPUT_DEBOUNCE_S = 0.1
"""How long partial outputs are grouped before one is emitted (pydantic-ai's own default): at most
about ten ``output`` events a second, each a full validation of the output so far."""

MAX_REPORTED_ERRORS = 8
"""How many schema violations one output-retry message lists (the rest are counted): enough for
the model to fix them, bounded so one bad output cannot flood the conversation."""
_MAX_ERROR_CHARS = 300

_OPTION = 'options.output'
_NAME_ATTR = '__synapse_output_name__'
_JSON_TYPES = frozenset({'object', 'array', 'string', 'number', 'integer', 'boolean', 'null'})
_SCHEMA_MAPS = ('properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas')
_SCHEMA_LISTS = ('anyOf', 'oneOf', 'allOf', 'prefixItems')
_SCHEMA_ONES = ('additionalProperties', 'items', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedProperties', 'additionalItems')

try:  # private in pydantic-ai: without it, an agent's plain ``output_type is str`` decides
    from pydantic_ai._output import TextOutputSchema as _TextOutputSchema
except ImportError:  # pragma: no cover - another pydantic-ai layout
    _TextOutputSchema = None


@functools.cache
def _jsonschema() -> Any:
    """``jsonschema``'s ``(validator_for, Draft202012Validator, SchemaError)``, imported on the first
    schema built (the import takes 50–80 ms, which a worker whose runs never send ``output`` does
    not pay at start-up); ``None`` if it cannot be imported (a runtime dependency of synapse-bridge,
    so only in an environment that left it out)."""
    try:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return validator_for, Draft202012Validator, SchemaError


def _structural_errors(node: Any, at: str) -> str | None:
    """The first structural problem of a JSON Schema (sub)schema at ``at``, or ``None``.

    Covers what a malformed schema usually gets wrong (a schema that is not an object, an unknown
    ``type``, ``required`` / ``enum`` that are not arrays, ``properties`` that are not schemas);
    only used when ``jsonschema`` cannot be imported.
    """
    if isinstance(node, bool):
        return None
    if not isinstance(node, dict):
        return f'{at} must be a schema object or a boolean'
    t = node.get('type')
    if t is not None:
        types = t if isinstance(t, list) else [t]
        bad = [x for x in types if not isinstance(x, str) or x not in _JSON_TYPES]
        if bad or not types:
            return f'{at}.type must be one of {", ".join(sorted(_JSON_TYPES))} (or an array of them), got {json.dumps(t)[:80]}'
    if 'required' in node and not (isinstance(node['required'], list) and all(isinstance(x, str) for x in node['required'])):
        return f'{at}.required must be an array of strings'
    if 'enum' in node and not isinstance(node['enum'], list):
        return f'{at}.enum must be an array'
    for key in ('$ref', 'title', 'description', 'pattern', 'format'):
        if key in node and not isinstance(node[key], str):
            return f'{at}.{key} must be a string'
    for key in _SCHEMA_MAPS:
        if key in node:
            sub = node[key]
            if not isinstance(sub, dict):
                return f'{at}.{key} must be an object of schemas'
            for name, s in sub.items():
                if (err := _structural_errors(s, f'{at}.{key}.{name}')) is not None:
                    return err
    for key in _SCHEMA_LISTS:
        if key in node:
            sub = node[key]
            if not isinstance(sub, list) or not sub:
                return f'{at}.{key} must be a non-empty array of schemas'
            for i, s in enumerate(sub):
                if (err := _structural_errors(s, f'{at}.{key}[{i}]')) is not None:
                    return err
    for key in _SCHEMA_ONES:
        if key in node and (err := _structural_errors(node[key], f'{at}.{key}')) is not None:
            return err
    return None


def _checked_validator(schema: dict[str, Any]) -> Any:
    """A ``jsonschema`` validator of ``schema`` (the draft its ``$schema`` names, default
    2020-12) after the meta-schema check; ``None`` (after the structural check) without
    ``jsonschema``."""
    lib = _jsonschema()
    if lib is None:
        if (err := _structural_errors(schema, 'schema')) is not None:
            raise InvalidOptionError(f'Invalid {_OPTION}: {err}', _OPTION)
        return None
    validator_for, default, schema_error = lib
    if not isinstance(schema.get('$schema', ''), str):
        raise InvalidOptionError(f'Invalid {_OPTION}: schema.$schema must be a string (a meta-schema URI)', _OPTION)
    cls = validator_for(schema, default=default)  # an unknown $schema URI: the default draft
    try:
        cls.check_schema(schema)
    except schema_error as exc:
        path = ''.join(f'[{p!r}]' if isinstance(p, int) else f'.{p}' for p in exc.path)
        raise InvalidOptionError(f'Invalid {_OPTION}: schema{path}: {exc.message}', _OPTION) from None
    return cls(schema)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + '…'


def _violations(validator: Any) -> Callable[[Any], Any]:
    """The after-validator of a schema output: the value unchanged if it satisfies the schema,
    else ``ValueError`` listing jsonschema's messages with their JSON paths (what pydantic-ai
    sends the model in its retry prompt)."""

    def check(value: Any) -> Any:
        errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        if not errors:
            return value
        lines = [f'at {e.json_path}: {_clip(e.message)}' for e in errors[:MAX_REPORTED_ERRORS]]
        if len(errors) > MAX_REPORTED_ERRORS:
            lines.append(f'… and {len(errors) - MAX_REPORTED_ERRORS} more')
        raise ValueError('the output does not match the JSON Schema: ' + '; '.join(lines))

    return check


def _schema_checked(base: type[Any], validator: Any) -> type[Any]:
    """``base`` (a ``StructuredDict``) whose pydantic core schema is its own dict schema followed
    by the JSON Schema check; its JSON Schema, name and model-like flag are inherited unchanged."""
    check = _violations(validator)

    class _SchemaValidatedDict(base):  # type: ignore[misc,valid-type]
        @classmethod
        def __get_pydantic_core_schema__(cls, source_type: Any, handler: Any) -> core_schema.CoreSchema:
            return core_schema.no_info_after_validator_function(check, base.__get_pydantic_core_schema__(source_type, handler))

    _SchemaValidatedDict.__name__ = base.__name__
    _SchemaValidatedDict.__qualname__ = base.__qualname__
    return _SchemaValidatedDict


@functools.lru_cache(maxsize=128)
def _build(canonical: str, deferred: bool) -> Any:
    spec = json.loads(canonical)
    schema = spec['schema']
    if not isinstance(schema, dict):
        raise InvalidOptionError(f'Invalid {_OPTION}: schema must be a JSON Schema object', _OPTION)
    validator = _checked_validator(schema)
    try:  # StructuredDict may rewrite its argument (inlined $defs, title): give it its own copy
        output_type: type[Any] = StructuredDict(json.loads(canonical)['schema'], name=spec.get('name'), description=spec.get('description'))
    except UserError as exc:  # not an object schema, recursive $defs, …
        raise InvalidOptionError(f'Invalid {_OPTION}: {exc}', _OPTION) from None
    if validator is not None:
        output_type = _schema_checked(output_type, validator)
    name = spec.get('name') or schema.get('title')
    setattr(output_type, _NAME_ATTR, name if isinstance(name, str) and name else 'dict')
    return [output_type, DeferredToolRequests] if deferred else output_type


def _allows_deferred(agent: AbstractAgent[Any, Any]) -> bool:
    """Whether the agent's own output type includes ``DeferredToolRequests``."""
    schema = getattr(agent, '_output_schema', None)
    if schema is not None and hasattr(schema, 'allows_deferred_tools'):
        return bool(schema.allows_deferred_tools)
    declared = getattr(agent, 'output_type', None)  # pragma: no cover - another pydantic-ai layout
    members = declared if isinstance(declared, (list, tuple)) else [declared]  # pragma: no cover
    return DeferredToolRequests in members  # pragma: no cover


def output_type_of(agent: AbstractAgent[Any, Any], spec: dict[str, Any]) -> Any:
    """The ``output_type`` for ``run.options.output``: a cached, schema-validating
    ``StructuredDict``, or ``[it, DeferredToolRequests]`` when the agent's own output type
    includes ``DeferredToolRequests`` (so a per-run output does not drop the agent's deferred tools).

    Raises:
        InvalidOptionError: the schema is not a usable object JSON Schema, or the agent has output
            validators (pydantic-ai refuses a run-level ``output_type`` for those).
    """
    if getattr(agent, '_output_validators', None):
        raise InvalidOptionError(
            f'Invalid {_OPTION}: {f"agent {agent.name!r}" if agent.name else "the agent"} has output validators, and pydantic-ai refuses a per-run output type for such an agent',
            _OPTION,
        )
    canonical = json.dumps(
        {k: spec[k] for k in ('schema', 'name', 'description') if k in spec}, sort_keys=True, separators=(',', ':'), ensure_ascii=False
    )
    return _build(canonical, _allows_deferred(agent))


def structured_output_name(output_type: Any) -> str:
    """The ``outputType`` of a run with ``options.output`` (``output_type`` as
    :func:`output_type_of` returned it): the ``StructuredDict``'s name (the ``name`` given, else
    the schema's ``title``), else ``'dict'``."""
    if isinstance(output_type, list):
        output_type = output_type[0]
    return getattr(output_type, _NAME_ATTR, 'dict')


_STREAMS_OUTPUT: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def streams_output(agent: AbstractAgent[Any, Any]) -> bool:
    """Whether a streamed run of ``agent`` (with its own output type) emits partial ``output``
    events: every output type but plain text (``str``, ``TextOutput``, with or without
    ``DeferredToolRequests``), whose runs stream ``text_delta`` events. Computed once per agent."""
    try:
        return _STREAMS_OUTPUT[agent]
    except (KeyError, TypeError):
        pass
    schema = getattr(agent, '_output_schema', None)
    if _TextOutputSchema is not None and schema is not None:
        answer = not isinstance(schema, _TextOutputSchema)
    else:
        answer = getattr(agent, 'output_type', str) is not str
    try:
        _STREAMS_OUTPUT[agent] = answer
    except TypeError:  # not weak-referenceable: recomputed per run (cheap)
        pass
    return answer


async def stream_partial_outputs(stream: Any, emit_output: Callable[[Any], None], jsonable: Callable[[Any], Any]) -> None:
    """Reads a model request's ``AgentStream`` as debounced partial outputs and emits the JSON of
    each one that differs from the one before (pydantic-ai repeats the final output once fully
    validated). A response without output (a function tool call) emits nothing.

    A final output that fails validation emits nothing more: ``stream_output`` then raises
    ``UnexpectedModelBehavior`` ("retries are not supported in ``run_stream()``"), but under
    ``agent.iter`` the graph's next node validates the same response again and turns the error
    into pydantic-ai's normal output retry, so it is not the run's failure."""
    last: Any = None
    sent = False
    try:
        async for partial in stream.stream_output(debounce_by=PARTIAL_OUTPUT_DEBOUNCE_S):
            wire = jsonable(partial)
            if sent and wire == last:
                continue
            last, sent = wire, True
            emit_output(wire)
    except UnexpectedModelBehavior as exc:
        if not isinstance(exc.__cause__, (ValidationError, ModelRetry)):
            raise
