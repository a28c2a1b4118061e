"""Exceptions of the Synapse Python runtime, and how any exception crosses the wire.

Two roots keep the two kinds of trouble apart:

* :class:`BridgeMisuseError` — the runtime was configured or called wrongly (an agent
  reference that does not resolve, an attribute that is not an agent, a bad ``init``).
* :class:`BridgeRuntimeError` — something went wrong while running (a protocol violation,
  an oversized frame, a tool that failed, too many runs).

Every exception of this module carries a wire ``kind`` (the ``kind`` of an ``error`` frame,
see ``docs/protocol.md``) and a ``retryable`` flag, and serialises with :meth:`to_wire`.
Foreign exceptions (pydantic-ai's, the user's) are classified once, by :func:`classify`.
"""

from __future__ import annotations

import asyncio
import traceback as _traceback
from typing import Any, ClassVar, Literal

from ._provider import provider_details

__all__ = [
    'AgentLoadError',
    'BridgeError',
    'BridgeMisuseError',
    'BridgeRuntimeError',
    'DepsFactoryError',
    'ErrorKind',
    'FrameTooLargeError',
    'HistoryTooLargeError',
    'InvalidArgumentError',
    'InvalidInitError',
    'InvalidOptionError',
    'OverloadedError',
    'ProtocolError',
    'ToolError',
    'UnknownAgentError',
    'classify',
    'error_frame',
]

ErrorKind = Literal[
    'agent',
    'cancelled',
    'timeout',
    'startup',
    'protocol',
    'usage_limit',
    'unexpected_model_behavior',
    'tool',
    'invalid_option',
    'invalid_argument',
    'deps',
    'provider',
]
"""The ``kind`` of an ``error`` frame (protocol v1; ``deps`` only with feature ``deps_factory``;
``provider``: a model provider's API failed; the frame's ``provider`` object says how)."""


class BridgeError(Exception):
    """Base of every exception raised by ``synapse_bridge`` itself."""

    kind: ClassVar[ErrorKind] = 'agent'
    retryable: ClassVar[bool] = False

    @property
    def wire_type(self) -> str:
        """The ``type`` reported on the wire (the class name unless a subclass says otherwise)."""
        return type(self).__name__

    def to_wire(self, run_id: str | None) -> dict[str, Any]:
        """Serialises this exception as an ``error`` frame for ``run_id`` (``None``: the process)."""
        return error_frame(self, run_id)


class BridgeMisuseError(BridgeError):
    """The runtime was configured or called wrongly. Fix the caller; retrying will not help."""


class BridgeRuntimeError(BridgeError):
    """Something failed while the runtime was running."""


class AgentLoadError(BridgeMisuseError):
    """An agent reference could not be loaded: bad syntax, import failure, missing attribute,
    or an attribute that is neither a pydantic-ai ``Agent`` nor a callable handler."""

    kind = 'startup'


class InvalidInitError(BridgeMisuseError):
    """The ``init`` frame is well-formed but unusable (e.g. ``memoryLimitMb`` below current use)."""

    kind = 'startup'


class InvalidOptionError(BridgeMisuseError):
    """A run option (or an agent's option in ``init``) is unusable: an unknown model name, a model
    reference that does not resolve, unknown ``usageLimits`` fields. Node reports it as
    ``SYN_ERR_INVALID_OPTION``; in ``init`` it is a start-up failure of that kind."""

    kind = 'invalid_option'

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


class InvalidArgumentError(BridgeMisuseError):
    """A run's per-call ``deps`` failed validation into the agent's ``deps_type``. ``errors`` is
    pydantic's error list without the input values (deps may hold secrets); it crosses the wire
    as the ``errors`` field of the ``error`` frame (``SYN_ERR_INVALID_ARGUMENT`` ``details.errors``)."""

    kind = 'invalid_argument'

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class UnknownAgentError(BridgeMisuseError):
    """A ``run`` named an agent that this process did not load in ``init``."""

    kind = 'agent'


class ProtocolError(BridgeRuntimeError):
    """The peer sent a frame that violates protocol v1 (bad JSON, bad schema, bad sequence)."""

    kind = 'protocol'


class FrameTooLargeError(ProtocolError):
    """A frame passed ``maxFrameBytes``. Raised by the reader (incoming) and the writer (outgoing)."""


class OverloadedError(BridgeRuntimeError):
    """A ``run`` arrived while the process already held its maximum of running + waiting runs."""

    retryable = True


class HistoryTooLargeError(BridgeRuntimeError):
    """A run's chunked history passed ``init.maxHistoryBytes`` (see ``_history``). Node checks the
    same limit before it sends, so this answers a peer that did not."""


class ToolError(BridgeRuntimeError):
    """A tool raised an exception that is not a pydantic-ai control-flow signal.

    The original exception is the ``__cause__``; its class name is reported as the wire ``type``.
    """

    kind = 'tool'

    def __init__(self, tool: str, original: BaseException) -> None:
        super().__init__(f'tool {tool!r} raised {type(original).__name__}: {original}')
        self.tool = tool
        self.original = original

    @property
    def wire_type(self) -> str:
        return type(self.original).__name__


class DepsFactoryError(BridgeRuntimeError):
    """The agent's spawn-level ``deps`` factory raised (or its context manager failed on enter).

    Node reports it as ``SYN_ERR_AGENT_FAILED`` with ``details.kind: 'deps'``; the worker goes on.
    The original exception is the ``__cause__``; its class name is the wire ``type``. The message
    names the factory and the exception, never the deps themselves.
    """

    kind = 'deps'

    def __init__(self, ref: str, original: BaseException) -> None:
        super().__init__(f'deps factory {ref!r} raised {type(original).__name__}: {original}')
        self.ref = ref
        self.original = original

    @property
    def wire_type(self) -> str:
        return type(self.original).__name__


def classify(exc: BaseException) -> tuple[ErrorKind, bool]:
    """Maps any exception to its wire ``(kind, retryable)``.

    ``CancelledError``/``RunCancelled`` → ``cancelled``; ``TimeoutError`` raised by the run
    deadline is reported by the runtime itself (a ``TimeoutError`` from user code is an
    ``agent`` failure); pydantic-ai's ``RunTimedOut`` → ``timeout``; ``UsageLimitExceeded`` →
    ``usage_limit``; ``UnexpectedModelBehavior`` → ``unexpected_model_behavior`` (retryable);
    a model provider's API failure (pydantic-ai's ``ModelAPIError`` family, an openai SDK
    ``APIError``) → ``provider``, retryable unless its category is quota, auth, bad request or not
    found (``_provider.provider_details``); anything else → ``agent``.
    """
    if isinstance(exc, BridgeError):
        return exc.kind, exc.retryable
    # Imported here so that importing this module (done by the framing layer before the
    # protocol stream is claimed) does not import pydantic-ai.
    from pydantic_ai import exceptions as _pai

    if isinstance(exc, _pai.RunTimedOut):
        return 'timeout', True
    if isinstance(exc, (asyncio.CancelledError, _pai.RunCancelled)):
        return 'cancelled', False
    if isinstance(exc, _pai.UsageLimitExceeded):
        return 'usage_limit', False
    if isinstance(exc, _pai.UnexpectedModelBehavior):
        return 'unexpected_model_behavior', True
    provider = provider_details(exc)
    if provider is not None:
        return 'provider', bool(provider['retryable'])
    return 'agent', False


def error_frame(
    exc: BaseException,
    run_id: str | None,
    *,
    kind: ErrorKind | None = None,
    retryable: bool | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Builds the ``error`` frame for ``exc``; ``kind``/``retryable``/``message`` override the
    classification (used for deadline timeouts and cancellations)."""
    auto_kind, auto_retryable = classify(exc)
    provider = provider_details(exc) if auto_kind == 'provider' and kind is None else None
    wire_type = exc.wire_type if isinstance(exc, BridgeError) else type(exc).__name__
    frame: dict[str, Any] = {
        't': 'error',
        'id': run_id,
        'kind': kind if kind is not None else auto_kind,
        'type': wire_type,
        'message': message if message is not None else (str(exc) or type(exc).__name__),
        'traceback': ''.join(_traceback.format_exception(exc)),
        'retryable': retryable if retryable is not None else auto_retryable,
    }
    if isinstance(exc, InvalidArgumentError):
        frame['errors'] = exc.errors
    elif isinstance(exc, InvalidOptionError):
        frame['option'] = exc.option
    elif provider is not None:
        frame['provider'] = provider
    return frame
