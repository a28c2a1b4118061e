"""NDJSON framing of protocol v1: one JSON object per ``\\n``-terminated UTF-8 line.

* :class:`LineSplitter` cuts a byte stream into lines and enforces the maximum frame size
  *while reading*: the moment the current line passes the limit it raises, before buffering
  more (a peer sending an endless line never makes us hold more than ``max + one chunk``).
* :func:`decode_line` / :func:`encode_frame` turn one line into one frame and back.
* :class:`FrameWriter` writes whole frames to the protocol fd under a lock, so frames written
  from the loop, the reader thread (``pong``) and logging threads never interleave.
* :func:`claim_stdout` moves the protocol to a private dup of fd 1 and points fd 1 at fd 2.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from pydantic_core import from_json as _pc_from_json
from pydantic_core import to_json as _pc_to_json

from .exceptions import FrameTooLargeError, ProtocolError

__all__ = [
    'DEFAULT_MAX_FRAME_BYTES',
    'FrameBatch',
    'FrameWriter',
    'LineSplitter',
    'claim_stdout',
    'read_chunk',
    'decode_json',
    'decode_line',
    'encode_frame',
]

DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024
"""Maximum frame size before ``init`` sets one: bytes of one line, excluding the newline."""

_NEWLINE = 0x0A


def _reject_constant(name: str) -> Any:
    raise ValueError(f'{name} is not valid JSON')


# Built once: ``json.loads``/``json.dumps`` with non-default options build a new decoder /
# encoder on every call, which showed up in the per-frame profile.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(',', ':'))
_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(',', ':'))

# The codec's fast path is pydantic-core's JSON (Rust; 1.8-6x faster than the stdlib codec on
# real run/result frames, bench/provider/codec_bench.py, docs/decisions.md). The stdlib codec
# above stays the reference: every input the fast path refuses is handed to it, so what is
# accepted or rejected, and every error raised, is exactly the stdlib codec's. That covers the
# cases where the two differ: a lone-surrogate ``\\uXXXX`` escape (pydantic-core refuses it,
# json accepts it; Node's JSON.stringify writes one for a lone surrogate), nesting deeper than
# pydantic-core's limit, invalid UTF-8, and NaN/Infinity (see ``encode_frame``).
_NON_FINITE = (b'NaN', b'Infinity')


class LineSplitter:
    """Incremental line splitter with a hard per-line byte limit.

    Feed chunks in arrival order; :meth:`feed` returns the complete lines (without ``\\n``).
    After a violation the splitter is poisoned and every later call raises the same error.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError('max_frame_bytes must be >= 1')
        self.max_frame_bytes = max_frame_bytes
        self._parts: list[bytes] = []
        self._pending = 0
        self._failure: FrameTooLargeError | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes of the current, incomplete line held in memory (never above the limit)."""
        return self._pending

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consumes ``chunk``; returns the lines it completed.

        Raises:
            FrameTooLargeError: the current line passed ``max_frame_bytes``. Lines completed
                earlier in the same chunk are lost with it (the stream is dead anyway).
        """
        if self._failure is not None:
            raise self._failure
        lines: list[bytes] = []
        start = 0
        length = len(chunk)
        while start < length:
            nl = chunk.find(b'\n', start)
            end = length if nl == -1 else nl
            if self._pending + (end - start) > self.max_frame_bytes:
                size = self._pending + (end - start)
                self._parts.clear()
                self._pending = 0
                self._failure = FrameTooLargeError(
                    f'frame exceeds maxFrameBytes ({self.max_frame_bytes}): {size}+ bytes without a newline'
                )
                raise self._failure
            if nl == -1:
                self._parts.append(chunk[start:])
                self._pending += length - start
                break
            if self._pending:
                self._parts.append(chunk[start:nl])
                lines.append(b''.join(self._parts))
                self._parts.clear()
                self._pending = 0
            else:
                lines.append(chunk[start:nl])
            start = nl + 1
        return lines

    def at_eof(self) -> int:
        """Bytes of a truncated line left when the stream ended (0 if it ended cleanly)."""
        return self._pending


def read_chunk(fd: int, size: int) -> bytes:
    """One ``os.read`` of up to ``size`` bytes, retried on ``EINTR``; ``b''`` at end of stream
    or on a read error (either way the peer is gone). ``BlockingIOError`` (a non-blocking fd
    with nothing to read) propagates."""
    while True:
        try:
            return os.read(fd, size)
        except InterruptedError:
            continue
        except BlockingIOError:
            raise
        except OSError:
            return b''


def decode_line(line: bytes) -> dict[str, Any]:
    """Decodes one line into a JSON object (not yet schema-checked: see ``_schema``).

    Raises:
        ProtocolError: invalid UTF-8, invalid JSON (``NaN``/``Infinity`` included), or JSON
            that is not an object.
    """
    try:
        value = _pc_from_json(line, allow_inf_nan=False)
    except ValueError:
        try:
            value = _DECODER.decode(line.decode('utf-8'))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(f'frame is not valid UTF-8 JSON: {exc} (starts {line[:80]!r})') from exc
    if not isinstance(value, dict):
        raise ProtocolError(f'frame is not a JSON object (starts {line[:80]!r})')
    return value


def decode_json(data: bytes) -> Any:
    """Decodes UTF-8 JSON text with the frame decoder's rules (``NaN``/``Infinity`` rejected).

    Raises:
        UnicodeDecodeError: invalid UTF-8.
        ValueError: invalid JSON.
    """
    try:
        return _pc_from_json(data, allow_inf_nan=False)
    except ValueError:
        return _DECODER.decode(data.decode('utf-8'))


def encode_frame(frame: dict[str, Any], max_frame_bytes: int | None = None) -> bytes:
    """Encodes ``frame`` as one NDJSON line (with the trailing ``\\n``).

    Non-ASCII text is written as UTF-8; a string holding a lone surrogate (not encodable as
    UTF-8) falls back to ``\\u`` escapes so the line is always valid UTF-8 JSON.

    Encoded by pydantic-core when it can; the stdlib codec takes over for what it refuses (a
    lone surrogate, nesting past its depth limit, an unknown type) and whenever its output holds
    the text ``NaN`` or ``Infinity`` (pydantic-core writes non-finite floats as those constants;
    the stdlib codec raises for them, and gives the same bytes when the text was only inside a
    string). For JSON-native frames (str keys; str, int, float, bool, None, list, tuple, dict
    values — what the bridge builds) the bytes equal the stdlib codec's, except that a float
    may be spelled differently (``1e-7`` for ``1e-07``): the same number.

    Raises:
        TypeError / ValueError: ``frame`` is not JSON-serialisable (or holds NaN/Infinity).
        FrameTooLargeError: the encoded line (without ``\\n``) is longer than ``max_frame_bytes``.
    """
    try:
        data = _pc_to_json(frame)
    except ValueError:  # PydanticSerializationError: the stdlib codec decides (and raises)
        data = _stdlib_encode(frame)
    else:
        if _NON_FINITE[0] in data or _NON_FINITE[1] in data:
            data = _stdlib_encode(frame)
    if max_frame_bytes is not None and len(data) > max_frame_bytes:
        raise FrameTooLargeError(
            f'outgoing {frame.get("t")!r} frame is {len(data)} bytes, above maxFrameBytes ({max_frame_bytes})'
        )
    return data + b'\n'


def _stdlib_encode(frame: dict[str, Any]) -> bytes:
    """The reference encoding: the stdlib codec, with ``\\u`` escapes for a lone surrogate."""
    text = _ENCODER.encode(frame)
    try:
        return text.encode('utf-8')
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(frame).encode('ascii')


class FrameWriter:
    """Writes frames to the protocol fd, one whole line per ``os.write`` (looping only on a
    partial write), under a lock.

    Frames written here leave at once. The runtime batches only the frames of runs that finish
    while other runs are in flight, through a :class:`FrameBatch` in front of this writer.

    ``on_broken_pipe`` is called (once per failing write) when the reader end is gone; the
    runtime uses it to exit, since a parent that stopped reading is a dead parent.
    """

    def __init__(
        self,
        fd: int,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        on_broken_pipe: Callable[[], None] | None = None,
    ) -> None:
        self.fd = fd
        self.max_frame_bytes = max_frame_bytes
        self._lock = threading.Lock()
        self._on_broken_pipe = on_broken_pipe

    @property
    def on_broken_pipe(self) -> Callable[[], None] | None:
        """The callback run when the reader end is gone (shared by the control channel's writer)."""
        return self._on_broken_pipe

    def write(self, frame: dict[str, Any]) -> None:
        """Encodes and writes one frame.

        Raises:
            FrameTooLargeError: the frame is above ``max_frame_bytes`` (nothing is written).
            TypeError / ValueError: the frame is not JSON-serialisable (nothing is written).
        """
        self.write_raw(encode_frame(frame, self.max_frame_bytes))

    def write_raw(self, data: bytes) -> None:
        """Writes ``data`` as is (no framing, no size check). For fault fixtures and ``write``."""
        with self._lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.fd, view)
                except InterruptedError:
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EPIPE, errno.EBADF) and self._on_broken_pipe is not None:
                        self._on_broken_pipe()
                    raise
                view = view[n:]


class FrameBatch:
    """Coalesces the run frames the loop writes within one loop iteration into one ``os.write``.

    Per frame, the write syscall (and the wake-up of Node's reader it causes) was the largest
    single cost of a run in the pipelined profile. :meth:`add` encodes at once, so size and JSON
    errors still raise to the caller with nothing queued, then queues the bytes; the first frame
    of a batch schedules :meth:`flush` with ``schedule`` (the loop's ``call_soon``), so the batch
    goes out right after the callbacks already ready in this iteration: all the runs finished by
    one read of stdin share a write. A batch reaching ``max_frames`` or ``max_bytes`` is written
    at once, so Node starts on the first results while later ones are still being produced, and
    the queue is bounded.

    Called off the owner (loop) thread, :meth:`add` writes through (after any queued frames).
    :meth:`flush` may be called from any thread: the runtime flushes before every frame it
    writes directly (order is kept on the loop thread), when ``serve`` ends, and from the control
    thread when the loop is stalled by user code (so a finished run's result is not held behind
    another run that blocks the loop for longer than the heartbeat interval).
    """

    def __init__(
        self,
        writer: FrameWriter,
        schedule: Callable[[Callable[[], None]], object],
        owner_thread: int,
        max_frames: int = 16,
        max_bytes: int = 64 * 1024,
    ) -> None:
        self._writer = writer
        self._schedule = schedule
        self._owner = owner_thread
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._frames: list[bytes] = []
        self._bytes = 0
        self._scheduled = False

    def add(self, frame: dict[str, Any]) -> None:
        """Encodes ``frame`` and queues it (see the class docstring).

        Raises:
            FrameTooLargeError / TypeError / ValueError: as :meth:`FrameWriter.write`.
        """
        data = encode_frame(frame, self._writer.max_frame_bytes)
        if threading.get_ident() != self._owner:
            self.flush()
            self._writer.write_raw(data)
            return
        with self._lock:
            self._frames.append(data)
            self._bytes += len(data)
            full = len(self._frames) >= self._max_frames or self._bytes >= self._max_bytes
            schedule = not full and not self._scheduled
            if schedule:
                self._scheduled = True
        if full:
            self.flush()
        elif schedule:
            self._schedule(self._scheduled_flush)

    def pending(self) -> int:
        """Frames queued and not yet written."""
        return len(self._frames)

    def flush(self, *, blocking: bool = True) -> None:
        """Writes every queued frame now, in order, with one ``os.write`` (thread-safe).

        ``blocking=False`` gives up at once if another thread is flushing (or blocked writing to
        a full pipe): the control thread must never wait on the protocol stream.
        """
        if not self._lock.acquire(blocking):
            return
        try:
            if not self._frames:
                return
            data = b''.join(self._frames)
            self._frames = []
            self._bytes = 0
            # Written under the lock: a concurrent flush must not overtake these frames.
            self._writer.write_raw(data)
        finally:
            self._lock.release()

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()


def claim_stdout() -> int:
    """Moves the protocol off fd 1: returns a private dup of fd 1 and points fd 1 (and
    ``sys.stdout``) at stderr, so a user ``print()`` can never corrupt the stream."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.set_inheritable(protocol_fd, False)
    os.dup2(2, 1)
    # sys.stdout still wraps fd 1, which is now stderr; make it line-buffered for readable logs.
    sys.stdout = os.fdopen(1, 'w', buffering=1, encoding='utf-8', errors='backslashreplace', closefd=False)
    return protocol_fd
