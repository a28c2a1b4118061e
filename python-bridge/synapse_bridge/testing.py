"""Fault helpers for test fixtures only — never use these in a real agent.

They reach under the protocol layer on purpose, to let fixtures reproduce what a broken
runtime would do (garbage bytes, half frames, oversized frames, sudden death). They only work
inside a running ``python -m synapse_bridge`` process.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from ._framing import FrameWriter

__all__ = ['crash_now', 'max_frame_bytes', 'protocol_fd', 'write_raw']

_writer: FrameWriter | None = None


def _install(writer: FrameWriter) -> None:
    """Called once by the runtime entry point."""
    global _writer
    _writer = writer


def _require() -> FrameWriter:
    if _writer is None:
        raise RuntimeError('synapse_bridge.testing helpers only work inside the synapse_bridge runtime')
    return _writer


def protocol_fd() -> int:
    """The private fd the protocol stream is written to (fd 1 points at stderr)."""
    return _require().fd


def max_frame_bytes() -> int:
    """The frame size limit in force (8 MiB before ``init``, then ``init.maxFrameBytes``)."""
    return _require().max_frame_bytes


def write_raw(data: bytes) -> None:
    """Writes ``data`` verbatim to the protocol stream (under the writer lock: never mid-frame)."""
    _require().write_raw(data)


def crash_now(code: int = 1) -> NoReturn:
    """Exits immediately with ``code``: no cleanup, no terminal frames, like a hard crash."""
    sys.stderr.flush()
    os._exit(code)
