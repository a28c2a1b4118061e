"""Loading agents named in ``init``: ``pkg.mod:attr`` or ``path/file.py:attr``.

A relative file path is resolved against the ``cwd`` of ``init`` (default: the process cwd),
which is also put on ``sys.path`` so ``pkg.mod`` references resolve from it. A file's own
directory is put on ``sys.path`` too (like ``python file.py``), so an agent file can import
its siblings. ``attr`` may be dotted (``mod:holder.agent``).

The attribute must be a pydantic-ai agent (any ``AbstractAgent``) or a plain handler: a sync
or async callable taking ``(prompt)``, ``(prompt, history)`` or ``(input: RunInput)``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pydantic_ai.agent import AbstractAgent

from ._run_input import takes_run_input
from .exceptions import AgentLoadError

__all__ = ['LoadedAgent', 'load_agents', 'load_ref']


@dataclass(frozen=True)
class LoadedAgent:
    """One loaded agent: either ``agent`` (pydantic-ai) or ``handler`` (plain callable) is set."""

    name: str
    ref: str
    agent: AbstractAgent[Any, Any] | None = None
    handler: Any = None
    handler_arity: int = 0
    handler_is_async: bool = False
    handler_takes_input: bool = False
    """The handler is ``handler(input: RunInput)`` (``_run_input``): it gets one :class:`RunInput`."""
    run_kwargs: dict[str, Any] = field(default_factory=dict)
    """``agent.iter`` keywords of the agent's spawn-level options (``init.agents[i]``: model, settings, limits)."""
    deps_factory: Any = None
    """The spawn-level ``deps`` factory ``(call_deps_json, ctx) -> deps`` (``_deps``), or ``None``."""
    deps_ref: str | None = None
    lifespan: Any = None
    """The spawn-level ``lifespan`` (an async context manager or a callable returning one), or ``None``."""
    lifespan_ref: str | None = None
    resources: Any = None
    """What ``lifespan`` yielded in this process (given to the factory as ``ctx.resources``)."""


def _split_ref(ref: str) -> tuple[str, str]:
    target, sep, attr = ref.rpartition(':')
    if not sep or not target or not attr:
        raise AgentLoadError(f'agent reference {ref!r} must look like "pkg.mod:attr" or "path/file.py:attr"')
    return target, attr


def _is_file_target(target: str) -> bool:
    return target.endswith('.py') or os.sep in target or '/' in target


def _prepend_path(path: str) -> None:
    if path not in sys.path:
        sys.path.insert(0, path)


def _import_file(path: str) -> ModuleType:
    if not os.path.isfile(path):
        raise AgentLoadError(f'agent file not found: {path}')
    digest = hashlib.sha1(path.encode()).hexdigest()[:10]
    stem = os.path.splitext(os.path.basename(path))[0]
    mod_name = f'synapse_user_{stem}_{digest}'
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise AgentLoadError(f'cannot import agent file: {path}')
    module = importlib.util.module_from_spec(spec)
    _prepend_path(os.path.dirname(path))
    sys.modules[mod_name] = module  # before exec: dataclasses/pydantic look the module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


def _positional_arity(fn: Any) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    params = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        return 2
    return len(params)


def load_ref(ref: str, cwd: str | None = None) -> Any:
    """Imports ``ref`` and returns the attribute it names.

    Raises:
        AgentLoadError: bad syntax, missing file or attribute. An exception raised by the
            imported module itself propagates unchanged (it is the user's start-up failure).
    """
    base = os.path.abspath(cwd or os.getcwd())
    target, attr = _split_ref(ref)
    if _is_file_target(target):
        module = _import_file(os.path.normpath(os.path.join(base, target)))
    else:
        _prepend_path(base)
        module = importlib.import_module(target)
    obj: Any = module
    for part in attr.split('.'):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AgentLoadError(f'{target!r} has no attribute {attr!r}') from None
    return obj


def _classify(name: str, ref: str, obj: Any) -> LoadedAgent:
    if isinstance(obj, AbstractAgent):
        return LoadedAgent(name=name, ref=ref, agent=obj)
    if callable(obj) and not isinstance(obj, type):
        arity = _positional_arity(obj)
        if arity not in (1, 2):
            raise AgentLoadError(f'handler {ref!r} must take (prompt), (prompt, history) or (input: RunInput); it takes {arity}')
        is_async = inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(getattr(obj, '__call__', None))
        takes_input = arity == 1 and takes_run_input(obj)
        return LoadedAgent(name=name, ref=ref, handler=obj, handler_arity=arity, handler_is_async=is_async, handler_takes_input=takes_input)
    raise AgentLoadError(
        f'{ref!r} is a {type(obj).__name__}, not a pydantic-ai Agent or a handler callable'
    )


def load_agents(specs: list[dict[str, Any]], cwd: str | None = None) -> dict[str, LoadedAgent]:
    """Loads every ``{name, ref}`` of ``init.agents``; names must be unique.

    Raises:
        AgentLoadError: duplicate name, bad reference, or not an agent/handler.
    """
    loaded: dict[str, LoadedAgent] = {}
    for spec in specs:
        name, ref = spec['name'], spec['ref']
        if name in loaded:
            raise AgentLoadError(f'duplicate agent name {name!r} in init')
        loaded[name] = _classify(name, ref, load_ref(ref, cwd))
    return loaded
