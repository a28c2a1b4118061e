"""The heartbeat control channel: ``ping`` in on one fd, ``pong`` out on another, served by a
daemon thread so a blocked asyncio loop cannot starve the heartbeat.

Node opens it as extra stdio pipes and names them in env ``SYNAPSE_CONTROL_FDS`` (``"3,4"``:
read fd, write fd). Frames are NDJSON with the protocol's own ``ping``/``pong`` schema. Any
other frame (or a malformed one) is a protocol violation; the end of the read fd means the
parent is gone, exactly like stdin EOF.

:class:`GcNotices` writes ``gc {phase}`` frames on the same channel at the start and stop of
every full (generation 2) garbage collection, when Node asked for them (``init.gcNotices``):
a full collection over a large heap holds the GIL for seconds, so the control thread cannot
answer ``ping`` meanwhile, and the notice tells Node that the silence is a collection, not a
hang (docs/protocol.md, "GC notices").
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ._framing import FrameWriter, LineSplitter, decode_line, encode_frame, read_chunk
from ._schema import validate_from_node
from .exceptions import ProtocolError

__all__ = ['CONTROL_MAX_FRAME_BYTES', 'NOTICE_LOCK_WAIT_S', 'ControlChannel', 'GcNotices', 'control_fds_from_env']

CONTROL_MAX_FRAME_BYTES = 4096
"""A ``ping`` is a few dozen bytes; anything longer on the control channel is a violation."""
_READ_CHUNK = 4096
NOTICE_LOCK_WAIT_S = 0.02
"""Longest a notice waits for the control channel's write lock (held by a ``pong`` being written)
before it is dropped. Bounded, so a collection that starts on a thread holding the lock, or while
the pipe is full, is delayed by at most this, never deadlocked; the wait releases the GIL, so the
thread holding the lock can finish its write."""


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
        self._write_lock = threading.Lock()  # pongs and notices: whole lines, never interleaved
        self._thread = threading.Thread(target=self._serve, name='synapse-control', daemon=True)

    def start(self) -> ControlChannel:
        """Starts the thread; the control fds are made non-inheritable first."""
        os.set_inheritable(self._fd, False)
        os.set_inheritable(self._writer.fd, False)
        self._thread.start()
        return self

    def try_send(self, frame: dict[str, Any]) -> bool:
        """Writes ``frame`` unless the channel stays busy for :data:`NOTICE_LOCK_WAIT_S` (then
        drops it and returns ``False``). Callable from any thread, also from a ``gc`` callback."""
        data = encode_frame(frame, CONTROL_MAX_FRAME_BYTES)
        if not self._write_lock.acquire(timeout=NOTICE_LOCK_WAIT_S):
            return False
        try:
            self._writer.write_raw(data)
        except OSError:  # the parent is gone: the writer's broken-pipe callback has acted on it
            return False
        finally:
            self._write_lock.release()
        return True

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
                    data = encode_frame(self._pong(int(frame['seq'])), CONTROL_MAX_FRAME_BYTES)
                    with self._write_lock:
                        self._writer.write_raw(data)
            except ProtocolError as exc:
                self._on_violation(exc)
                return


class GcNotices:
    """A ``gc.callbacks`` hook writing ``gc {phase: "start"}`` when a full (generation 2)
    collection starts and ``gc {phase: "stop", pauseMs}`` when it ends, through ``send`` (the
    control channel's :meth:`ControlChannel.try_send`: a busy channel drops the notice rather
    than wait). Younger generations are ignored: they take milliseconds. The hook never raises.

    ``install()`` / ``uninstall()`` are idempotent.
    """

    def __init__(self, send: Callable[[dict[str, Any]], bool], clock: Callable[[], float] = time.perf_counter) -> None:
        self._send = send
        self._clock = clock
        self._started: float | None = None
        self.sent = 0
        """Notices written (for tests and diagnostics)."""
        self.dropped = 0
        """Notices dropped because the channel was busy."""

    def install(self) -> GcNotices:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        return self

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info.get('generation') != 2:
            return
        try:
            if phase == 'start':
                self._started = self._clock()
                frame: dict[str, Any] = {'t': 'gc', 'phase': 'start'}
            else:
                started, self._started = self._started, None
                pause = 0.0 if started is None else (self._clock() - started) * 1000
                frame = {'t': 'gc', 'phase': 'stop', 'pauseMs': round(pause, 3)}
            if self._send(frame):
                self.sent += 1
            else:
                self.dropped += 1
        except Exception:  # an exception escaping a gc callback is only printed; a notice is best effort
            self.dropped += 1
