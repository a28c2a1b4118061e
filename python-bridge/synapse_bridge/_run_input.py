"""``RunInput``: the one argument of a plain handler written as ``handler(input: RunInput)``.

Kept free of pydantic-ai imports so ``synapse_bridge`` can export it (importing the package must
not import pydantic-ai; see ``__init__``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_ai.messages import UserContent

__all__ = ['RunInput', 'takes_run_input']


@dataclass(frozen=True, slots=True)
class RunInput:
    """Everything a turn gives a plain handler (``docs/agents.md``, "Plain handlers: RunInput")::

        from synapse_bridge import RunInput

        async def handler(input: RunInput) -> str:
            customer = (input.deps or {}).get('customer_id')
            return f'hello customer {customer}: {input.prompt}'

    A handler whose single parameter is annotated ``RunInput`` gets one; ``handler(prompt)`` and
    ``handler(prompt, history)`` keep getting their positional arguments.
    """

    prompt: str | Sequence[UserContent] | None
    """The user prompt: a string, or (a multimodal prompt) pydantic-ai's content objects
    (``ImageUrl``, ``BinaryContent``, ``DocumentUrl``, …, and strings); ``None`` for a resume of a
    deferred turn without a new prompt."""
    deps: Any
    """The call's ``deps`` option as JSON (not validated: a handler has no ``deps_type``), or ``None``."""
    history: list[Any]
    """The conversation's committed messages in ``ModelMessagesTypeAdapter`` JSON (as the
    ``(prompt, history)`` form gets them); ``ModelMessagesTypeAdapter.validate_python(history)``
    gives pydantic-ai's message objects."""
    metadata: Any
    """The call's ``metadata`` option (JSON), or ``None``."""
    conversation_id: str | None
    """The conversation of the turn, or ``None`` for a call outside one."""


def takes_run_input(fn: Any) -> bool:
    """Whether ``fn`` has exactly one required positional parameter, annotated :class:`RunInput`
    (the class itself, or — under ``from __future__ import annotations`` — a string naming it that
    resolves to it, or cannot be resolved and reads ``RunInput``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    if len(params) != 1 or any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        return False
    annotation = params[0].annotation
    if annotation is RunInput:
        return True
    if not isinstance(annotation, str):
        return False
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else getattr(fn, '__call__', fn)
    try:
        return typing.get_type_hints(target).get(params[0].name) is RunInput
    except Exception:  # an annotation that does not resolve (e.g. a name only imported under TYPE_CHECKING)
        return annotation.rsplit('.', 1)[-1] == 'RunInput'
