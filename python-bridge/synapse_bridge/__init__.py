"""synapse_bridge — the Python runtime of Synapse.

Node spawns ``python -m synapse_bridge``, which speaks protocol v1 (``docs/protocol.md``) on
stdio and runs pydantic-ai agents (or plain handlers) as asyncio tasks. This package's public
surface is small: the exceptions, :class:`DepsContext` (what a ``deps`` factory gets),
:class:`RunInput` (what a ``handler(input: RunInput)`` gets),
:func:`current_run_id` (for agent code that wants to tag its
own work), and the pure protocol helpers (framing + schema) used by tests and tools.

Importing this package does not import pydantic-ai (the runtime entry point must claim stdout
before that import).
"""

from ._context import DepsContext
from ._framing import DEFAULT_MAX_FRAME_BYTES, LineSplitter, decode_line, encode_frame
from ._logging import current_run_id
from ._run_input import RunInput
from ._schema import PROTOCOL_VERSION, validate_from_node, validate_from_python
from .exceptions import (
    AgentLoadError,
    BridgeError,
    BridgeMisuseError,
    BridgeRuntimeError,
    DepsFactoryError,
    FrameTooLargeError,
    HistoryTooLargeError,
    InvalidArgumentError,
    InvalidInitError,
    InvalidOptionError,
    OverloadedError,
    ProtocolError,
    ToolError,
    UnknownAgentError,
)

__version__ = '0.1.0'

__all__ = [
    'DEFAULT_MAX_FRAME_BYTES',
    'PROTOCOL_VERSION',
    'AgentLoadError',
    'BridgeError',
    'BridgeMisuseError',
    'BridgeRuntimeError',
    'DepsContext',
    'DepsFactoryError',
    'FrameTooLargeError',
    'HistoryTooLargeError',
    'InvalidArgumentError',
    'InvalidInitError',
    'InvalidOptionError',
    'LineSplitter',
    'OverloadedError',
    'ProtocolError',
    'RunInput',
    'ToolError',
    'UnknownAgentError',
    '__version__',
    'current_run_id',
    'decode_line',
    'encode_frame',
    'validate_from_node',
    'validate_from_python',
]
