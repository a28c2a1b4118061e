"""The heartbeat control channel: ``ping`` in on one fd, ``pong`` out on another, served by a
daemon thread so a blocked asyncio loop cannot starve the heartbeat.

Node opens it as extra stdio pipes and names them in env ``SYNAPSE_CONTROL_FDS`` (``"3,4"``:
read fd, write fd). Frames are NDJSON with the protocol's own ``ping``/``pong`` schema. Any
other frame (or a malformed one) is a protocol violation; the end of the read fd means the
parent is gone, exactly like stdin EOF.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ._framing import FrameWriter, LineSplitter, decode_line, read_chunk
from ._schema import validate_from_node
from .exceptions import ProtocolError

__all__ = ['CONTROL_MAX_FRAME_BYTES', 'ControlChannel', 'control_fds_from_env']

CONTROL_MAX_FRAME_BYTES = 4096
"""A ``ping`` is a few dozen bytes; anything longer on the control channel is a violation."""
_READ_CHUNK = 4096


def control_fds_from_env(environ: dict[str, str] | None = None) -> tuple[int, int] | None:
    """``(read_fd, write_fd)`` from env ``SYNAPSE_CONTROL_FDS`` (``"3,4"``), or ``None`` when
    unset or malformed (then pings travel on stdin, answered by the stdin reader thread)."""
    raw = (os.environ if environ is None else environ).get('SYNAPSE_CONTROL_FDS', '')
    parts = raw.split(',')
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        return None
    read_fd, write_fd = int(parts[0]), int(parts[1])
    for fd in (read_fd, write_fd):
        try:
            os.fstat(fd)
        except OSError:
            return None
    return read_fd, write_fd


class ControlChannel:
    """Daemon thread answering ``ping`` frames read from ``read_fd`` with ``pong(seq)``
    written to ``writer``. ``on_violation`` and ``on_eof`` run on the thread."""

    def __init__(
        self,
        read_fd: int,
        writer: FrameWriter,
        pong: Callable[[int], dict[str, Any]],
        on_violation: Callable[[ProtocolError], None],
        on_eof: Callable[[], None],
    ) -> None:
        self._fd = read_fd
        self._writer = writer
        self._pong = pong
        self._on_violation = on_violation
        self._on_eof = on_eof
        self._splitter = LineSplitter(CONTROL_MAX_FRAME_BYTES)
        self._thread = threading.Thread(target=self._serve, name='synapse-control', daemon=True)

    def start(self) -> ControlChannel:
        """Starts the thread; the control fds are made non-inheritable first."""
        os.set_inheritable(self._fd, False)
        os.set_inheritable(self._writer.fd, False)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            chunk = read_chunk(self._fd, _READ_CHUNK)
            if not chunk:
                self._on_eof()
                return
            try:
                for line in self._splitter.feed(chunk):
                    frame = validate_from_node(decode_line(line))
                    if frame['t'] != 'ping':
                        raise ProtocolError(f'{frame["t"]!r} frame on the control channel (only ping)')
                    self._writer.write(self._pong(int(frame['seq'])))
            except ProtocolError as exc:
                self._on_violation(exc)
                return
