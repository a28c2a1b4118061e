"""Spawn-level hooks of an agent: its ``deps`` factory and its ``lifespan`` (``init.agents[i]``).

* ``deps`` names a factory ``factory(call_deps_json, ctx: DepsContext) -> deps``, sync or async;
  it may return an async context manager, entered for the run (its value is the run's deps) and
  exited after it, also when the run fails or is cancelled. With a factory the call's ``deps`` JSON
  is passed raw (no ``TypeAdapter``); ``None`` when the call sent none. A factory that raises is
  :class:`DepsFactoryError` (kind ``deps``): that run fails, the worker goes on.
* ``lifespan`` names an async context manager, or a callable returning one (``@asynccontextmanager``
  functions taking no argument or the agent); see ``_lifespan`` for when it is entered and exited.

A ref that does not resolve (no such module, file or attribute; not callable) is an
:class:`InvalidOptionError` naming ``deps`` / ``lifespan``, so ``spawnAgent`` rejects with
``SYN_ERR_INVALID_OPTION``. A module whose own import fails propagates unchanged (a start-up failure).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._agents import LoadedAgent, load_ref
from ._context import DepsContext
from .exceptions import AgentLoadError, DepsFactoryError, InvalidOptionError

__all__ = ['apply_hooks', 'lifespan_manager', 'with_factory_deps']

_log = logging.getLogger('synapse_bridge')
T = TypeVar('T')


def _resolve(ref: str, option: str, cwd: str | None) -> Any:
    try:
        obj = load_ref(ref, cwd)
    except AgentLoadError as exc:
        raise InvalidOptionError(f'{option} reference {ref!r} does not resolve (option "{option}"): {exc}', option) from None
    except ModuleNotFoundError as exc:
        target = ref.rpartition(':')[0]
        if target.endswith('.py') or '/' in target or (exc.name is not None and not target.startswith(exc.name)):
            raise  # the module exists but its own import failed: the user's error, unchanged
        raise InvalidOptionError(f'{option} reference {ref!r} does not resolve (option "{option}"): no module named {exc.name!r}', option) from None
    return obj


def apply_hooks(loaded: LoadedAgent, spec: dict[str, Any], cwd: str | None) -> LoadedAgent:
    """``loaded`` with the ``deps`` factory and ``lifespan`` of its ``init`` entry resolved.

    Raises:
        InvalidOptionError: a ref that does not resolve or names something unusable, or hooks on a
            plain handler (it has no deps to build).
    """
    if 'deps' not in spec and 'lifespan' not in spec:
        return loaded
    if loaded.agent is None:
        option = 'deps' if 'deps' in spec else 'lifespan'
        raise InvalidOptionError(f'{loaded.ref!r} is a plain handler: deps and lifespan apply to pydantic-ai agents only', option)
    factory = lifespan = None
    if 'deps' in spec:
        factory = _resolve(spec['deps'], 'deps', cwd)
        if not callable(factory):
            raise InvalidOptionError(f'deps reference {spec["deps"]!r} is a {type(factory).__name__}, not a factory (call_deps_json, ctx) -> deps', 'deps')
    if 'lifespan' in spec:
        lifespan = _resolve(spec['lifespan'], 'lifespan', cwd)
        if not (hasattr(lifespan, '__aenter__') or callable(lifespan)):
            raise InvalidOptionError(f'lifespan reference {spec["lifespan"]!r} is a {type(lifespan).__name__}, not an async context manager or a callable returning one', 'lifespan')
    return dataclasses.replace(
        loaded,
        deps_factory=factory,
        deps_ref=spec.get('deps'),
        lifespan=lifespan,
        lifespan_ref=spec.get('lifespan'),
    )


def lifespan_manager(loaded: LoadedAgent) -> Any:
    """The async context manager of ``loaded.lifespan``: the object itself, or what calling it
    (with no argument, or with the agent when it takes one) returns.

    Raises:
        InvalidOptionError: the result is not an async context manager. Whatever the call raises
            propagates (a start-up failure).
    """
    obj = loaded.lifespan
    if not hasattr(obj, '__aenter__'):
        obj = obj(loaded.agent) if _required_positional(obj) >= 1 else obj()
    if not (hasattr(obj, '__aenter__') and hasattr(obj, '__aexit__')):
        raise InvalidOptionError(f'lifespan {loaded.lifespan_ref!r} returned a {type(obj).__name__}, not an async context manager', 'lifespan')
    return obj


def _required_positional(fn: Any) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


async def with_factory_deps(
    loaded: LoadedAgent, frame: dict[str, Any], raw: Any, run: Callable[[Any], Awaitable[T]]
) -> T:
    """Builds the run's deps with ``loaded.deps_factory`` and awaits ``run(deps)``; a context
    manager the factory returned is exited after it (run failed or cancelled included).

    Raises:
        DepsFactoryError: the factory (or the manager's ``__aenter__``) raised. ``CancelledError``
            propagates untranslated.
    """
    options = frame.get('options') or {}
    ctx = DepsContext(
        resources=loaded.resources,
        agent_name=loaded.name,
        conversation_id=frame.get('conversationId'),
        metadata=options.get('metadata'),
        run_id=frame['id'],
    )
    ref = loaded.deps_ref or '?'
    try:
        deps = loaded.deps_factory(raw, ctx)
        if inspect.isawaitable(deps):
            deps = await deps
        manager = deps if hasattr(deps, '__aenter__') and hasattr(deps, '__aexit__') else None
        if manager is not None:
            deps = await manager.__aenter__()
    except Exception as exc:
        raise DepsFactoryError(ref, exc) from exc
    if manager is None:
        return await run(deps)
    try:
        result = await run(deps)
    except BaseException as exc:
        await _exit_quietly(manager, ref, exc)
        raise
    await _exit_quietly(manager, ref, None)
    return result


async def _exit_quietly(manager: Any, ref: str, exc: BaseException | None) -> None:
    """Exits the run's deps manager. Its own failure is logged (type only: its message may carry
    deps) and does not replace the run's outcome; it cannot suppress the run's exception either."""
    try:
        if exc is None:
            await manager.__aexit__(None, None, None)
        else:
            await manager.__aexit__(type(exc), exc, exc.__traceback__)
    except Exception as exit_exc:
        _log.warning('deps of factory %r failed to exit: %s', ref, type(exit_exc).__name__)
