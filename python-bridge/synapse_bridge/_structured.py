"""Structured output: the ``output`` run option (a JSON Schema output type) and partial outputs.

* ``run.options.output = {schema, name?, description?}`` → ``output_type=StructuredDict(schema,
  name=, description=)`` of ``agent.iter`` (pydantic-ai as pinned). The schema is checked here
  first — with ``jsonschema``'s meta-schema when that package is installed, else with a structural
  check of the common keywords — then by ``StructuredDict`` itself; any failure is an
  :class:`InvalidOptionError` naming ``options.output`` (``SYN_ERR_INVALID_OPTION`` in Node).
  Built types are cached by the schema's canonical JSON, so a caller sending the same schema on
  every call builds it once per process.
* Partial outputs: a streamed run whose output type is not plain text reads the model's response
  through pydantic-ai's ``AgentStream.stream_output(debounce_by=…)`` and emits each new partial
  output as an ``output`` event; text runs keep ``text_delta`` events and pay nothing for this.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Callable
from typing import Any

from pydantic_ai import StructuredDict
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.exceptions import UserError

from .exceptions import InvalidOptionError

__all__ = ['PARTIAL_OUTPUT_DEBOUNCE_S', 'output_type_of', 'streams_output', 'structured_output_name', 'stream_partial_outputs']

PARTIAL_OUTPUT_DEBOUNCE_S = 0.1
"""How long partial outputs are grouped before one is emitted (pydantic-ai's own default): at most
about ten ``output`` events a second, each a full validation of the output so far."""

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

try:  # optional: the full JSON Schema meta-schema check when the package is installed
    from jsonschema import Draft202012Validator as _Validator
    from jsonschema.exceptions import SchemaError as _SchemaError
except ImportError:  # pragma: no cover - depends on the environment
    _Validator = None
    _SchemaError = Exception


def _structural_errors(node: Any, at: str) -> str | None:
    """The first structural problem of a JSON Schema (sub)schema at ``at``, or ``None``.

    Covers what a malformed schema usually gets wrong (a schema that is not an object, an unknown
    ``type``, ``required`` / ``enum`` that are not arrays, ``properties`` that are not schemas);
    the full meta-schema check needs ``jsonschema``.
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


def _check_schema(schema: dict[str, Any]) -> None:
    if _Validator is not None:
        try:
            _Validator.check_schema(schema)
        except _SchemaError as exc:
            path = ''.join(f'[{p!r}]' if isinstance(p, int) else f'.{p}' for p in exc.path)
            raise InvalidOptionError(f'Invalid {_OPTION}: schema{path}: {exc.message}', _OPTION) from None
    elif (err := _structural_errors(schema, 'schema')) is not None:
        raise InvalidOptionError(f'Invalid {_OPTION}: {err}', _OPTION)


@functools.lru_cache(maxsize=128)
def _build(canonical: str) -> type[Any]:
    spec = json.loads(canonical)
    schema = spec['schema']
    if not isinstance(schema, dict):
        raise InvalidOptionError(f'Invalid {_OPTION}: schema must be a JSON Schema object', _OPTION)
    _check_schema(schema)
    try:
        output_type = StructuredDict(schema, name=spec.get('name'), description=spec.get('description'))
    except UserError as exc:  # not an object schema, recursive $defs, …
        raise InvalidOptionError(f'Invalid {_OPTION}: {exc}', _OPTION) from None
    name = spec.get('name') or schema.get('title')
    setattr(output_type, _NAME_ATTR, name if isinstance(name, str) and name else 'dict')
    return output_type


def output_type_of(agent: AbstractAgent[Any, Any], spec: dict[str, Any]) -> type[Any]:
    """The ``output_type`` for ``run.options.output`` (a cached ``StructuredDict``).

    Raises:
        InvalidOptionError: the schema is not a usable object JSON Schema, or the agent has output
            validators (pydantic-ai refuses a run-level ``output_type`` for those).
    """
    if getattr(agent, '_output_validators', None):
        raise InvalidOptionError(
            f'Invalid {_OPTION}: agent {agent.name!r} has output validators, and pydantic-ai refuses a per-run output type for such an agent',
            _OPTION,
        )
    canonical = json.dumps(
        {k: spec[k] for k in ('schema', 'name', 'description') if k in spec}, sort_keys=True, separators=(',', ':'), ensure_ascii=False
    )
    return _build(canonical)


def structured_output_name(output_type: Any) -> str:
    """The ``outputType`` of a run with ``options.output``: the ``StructuredDict``'s name (the
    ``name`` given, else the schema's ``title``), else ``'dict'``."""
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
    validated). A response without output (a function tool call) emits nothing."""
    last: Any = None
    sent = False
    async for partial in stream.stream_output(debounce_by=PARTIAL_OUTPUT_DEBOUNCE_S):
        wire = jsonable(partial)
        if sent and wire == last:
            continue
        last, sent = wire, True
        emit_output(wire)
