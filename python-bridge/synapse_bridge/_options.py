"""Run options: what a ``run`` frame's ``options`` (and an agent's ``init`` entry) pass to ``agent.iter``.

Node sends ``options`` only for a run that uses one, so a plain run never enters this module.
Field → ``Agent.iter`` keyword (pydantic-ai as pinned; ``docs/agents.md``):

* ``model`` → ``model``: a pydantic-ai model name (``'test'``, ``'openai:gpt-4o-mini'``) or a
  ``'module:attr'`` / ``'file.py:attr'`` reference to a ``Model`` or a zero-arg factory of one.
  Resolved once per process and cached (a factory is called once).
* ``modelSettings`` → ``model_settings`` (merged over the agent's own spawn-level settings).
* ``usageLimits`` → ``usage_limits`` (a ``UsageLimits`` built from its field names).
* ``instructions`` → ``instructions`` (extra instructions for this run).
* ``metadata`` → ``metadata``.
* ``output`` → ``output_type``: a ``StructuredDict`` of the JSON Schema (``_structured``).
* ``retry`` (an ``init`` agent's only) → ``model``: the run's model wrapped in a
  ``_retry.RetryingModel`` (failed model requests retried; docs/providers.md).
* ``deps`` → ``deps``, validated into the agent's ``deps_type`` with a pydantic ``TypeAdapter``.
  An agent with a spawn-level ``deps`` factory skips this: its runs go through ``_deps`` and the
  factory gets the JSON raw.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_ai import Agent
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.models import Model, infer_model, parse_model_id
from pydantic_ai.providers import infer_provider_class
from pydantic_ai.usage import UsageLimits
from pydantic_core import to_jsonable_python

from ._agents import load_ref
from ._retry import retry_policy
from ._structured import output_type_of
from .exceptions import AgentLoadError, InvalidArgumentError, InvalidOptionError

__all__ = ['SLOTS_KEY', 'ModelResolver', 'agent_run_kwargs', 'run_kwargs', 'usage_limits', 'validate_deps']

_RETRY = '__synapse_retry__'
"""The key of an agent's retry policy among its spawn-level ``run_kwargs`` (popped by ``run_kwargs``)."""

SLOTS_KEY = '__synapse_model_slots__'
"""The key of the process's :class:`~synapse_bridge._slots.SlotClient` among the ``run_kwargs`` of an
agent with ``modelSlots`` (set by the runtime, popped by ``run_kwargs``)."""

_USAGE_FIELDS = frozenset(f.name for f in dataclasses.fields(UsageLimits))


def _is_file_ref(target: str) -> bool:
    return target.endswith('.py') or '/' in target


def _known_provider(name: str) -> bool:
    provider, _ = parse_model_id(name)
    if provider is None:
        return False
    try:
        infer_provider_class(provider)
    except ValueError:
        return False
    except ImportError:  # a known provider whose package is not installed: the run says so
        return True
    return True


class ModelResolver:
    """Resolves model names and refs to ``Model`` instances, once per name per process."""

    def __init__(self, cwd: str | None) -> None:
        self._cwd = cwd
        self._models: dict[str, Model] = {}

    def check(self, name: str, option: str) -> None:
        """Raises :class:`InvalidOptionError` naming ``name`` unless it resolves (a provider
        model name is only checked for a known provider: its client is built on first use)."""
        if name == 'test' or _known_provider(name):
            return
        self.resolve(name, option)

    def resolve(self, name: str, option: str) -> Model:
        """The ``Model`` for ``name``. A provider's client is built here on first use (so a
        missing API key fails the run as pydantic-ai itself would, not the spawn)."""
        model = self._models.get(name)
        if model is not None:
            return model
        if name == 'test' or _known_provider(name):
            model = infer_model(name)
        else:
            model = self._from_ref(name, option)
        self._models[name] = model
        return model

    def _from_ref(self, name: str, option: str) -> Model:
        target, sep, attr = name.rpartition(':')
        unknown = (
            f'Unknown model {name!r} (option "{option}"): not a pydantic-ai model name such as "test" or '
            f'"openai:gpt-4o-mini", nor a "module:attr" / "file.py:attr" reference to a Model or a zero-arg factory'
        )
        if not sep or not target or not attr:
            raise InvalidOptionError(unknown, option)
        try:
            obj = load_ref(name, self._cwd)
        except AgentLoadError as exc:
            raise InvalidOptionError(f'{unknown}: {exc}', option) from None
        except ModuleNotFoundError as exc:
            if _is_file_ref(target) or (exc.name is not None and not target.startswith(exc.name)):
                raise  # the module exists but its own import failed: the user's error, unchanged
            raise InvalidOptionError(f'{unknown}: no module named {exc.name!r}', option) from None
        if not isinstance(obj, Model) and callable(obj):
            obj = obj()
        if not isinstance(obj, Model):
            raise InvalidOptionError(f'Model reference {name!r} (option "{option}") is a {type(obj).__name__}, not a pydantic-ai Model', option)
        return obj


def usage_limits(fields: dict[str, Any], option: str) -> UsageLimits:
    """A ``UsageLimits`` from its field names; an unknown field is :class:`InvalidOptionError`."""
    unknown = sorted(set(fields) - _USAGE_FIELDS)
    if unknown:
        raise InvalidOptionError(
            f'Unknown {option} field(s) {", ".join(unknown)} (pydantic-ai UsageLimits has {", ".join(sorted(_USAGE_FIELDS))})',
            option,
        )
    try:
        return TypeAdapter(UsageLimits).validate_python(fields)
    except ValidationError as exc:
        raise InvalidOptionError(f'Invalid {option}: {_summary(exc)}', option) from None


@functools.lru_cache(maxsize=256)
def _adapter(deps_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(deps_type)


def _summary(exc: ValidationError) -> str:
    """Locations and messages only: never the input values (deps may hold secrets)."""
    parts = [f'{".".join(str(x) for x in e["loc"]) or "(root)"}: {e["msg"]}' for e in exc.errors(include_input=False)]
    return '; '.join(parts[:5]) + (f'; … {len(parts) - 5} more' if len(parts) > 5 else '')


def validate_deps(agent: AbstractAgent[Any, Any], value: Any) -> Any:
    """``value`` (JSON) validated into ``agent.deps_type``.

    Raises:
        InvalidArgumentError: with pydantic's error list (no input values) as ``errors``.
    """
    deps_type = getattr(agent, 'deps_type', type(None))
    try:
        return _adapter(deps_type).validate_python(value)
    except ValidationError as exc:
        errors = to_jsonable_python(
            exc.errors(include_input=False, include_url=False, include_context=True), fallback=str
        )
        name = getattr(deps_type, '__name__', str(deps_type))
        raise InvalidArgumentError(f'deps do not match the agent\'s deps_type {name}: {_summary(exc)}', errors) from None


def agent_run_kwargs(spec: dict[str, Any], resolver: ModelResolver) -> dict[str, Any]:
    """The ``agent.iter`` keywords of an agent's spawn-level options (``init.agents[i]``), checked
    now so a bad one fails the start-up (``invalid_option``)."""
    kwargs: dict[str, Any] = {}
    if 'model' in spec:
        resolver.check(spec['model'], 'model')
        kwargs['model'] = spec['model']  # the name: resolved (and cached) on first run
    if 'modelSettings' in spec:
        kwargs['model_settings'] = dict(spec['modelSettings'])
    if 'usageLimits' in spec:
        kwargs['usage_limits'] = usage_limits(spec['usageLimits'], 'usageLimits')
    if 'retry' in spec:  # not an agent.iter keyword: run_kwargs turns it into a RetryingModel
        kwargs[_RETRY] = retry_policy(spec['retry'])
    return kwargs


def run_kwargs(
    agent: AbstractAgent[Any, Any], base: dict[str, Any], options: dict[str, Any] | None, resolver: ModelResolver
) -> dict[str, Any]:
    """The ``agent.iter`` keywords of one run: the agent's ``base`` with the call's ``options`` over it.

    Raises:
        InvalidOptionError: unknown model / usage limit field / unusable output schema;
        InvalidArgumentError: bad deps.
    """
    kwargs = dict(base)
    policy = kwargs.pop(_RETRY, None)
    slots = kwargs.pop(SLOTS_KEY, None)
    if 'model' in kwargs:
        kwargs['model'] = resolver.resolve(kwargs['model'], 'model')
    if options:
        _apply_call_options(agent, kwargs, options, resolver)
    if policy is not None or slots is not None:
        model = kwargs.get('model', agent.model if isinstance(agent, Agent) else None)
        if model is not None:  # no model at all: pydantic-ai's own error says so
            if slots is not None:  # inside the retry wrapper: every attempt asks for its own slot
                model = slots.wrap(model)
            kwargs['model'] = policy.wrap(model) if policy is not None else model
    return kwargs


def _apply_call_options(agent: AbstractAgent[Any, Any], kwargs: dict[str, Any], options: dict[str, Any], resolver: ModelResolver) -> None:
    if 'model' in options:
        kwargs['model'] = resolver.resolve(options['model'], 'options.model')
    if 'modelSettings' in options:
        kwargs['model_settings'] = {**kwargs.get('model_settings', {}), **options['modelSettings']}
    if 'usageLimits' in options:
        kwargs['usage_limits'] = usage_limits(options['usageLimits'], 'options.usageLimits')
    if 'instructions' in options:
        kwargs['instructions'] = options['instructions']
    if 'metadata' in options:
        kwargs['metadata'] = options['metadata']
    if 'output' in options:
        kwargs['output_type'] = output_type_of(agent, options['output'])
    if 'deps' in options:
        kwargs['deps'] = validate_deps(agent, options['deps'])
