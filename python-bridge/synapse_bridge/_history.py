"""Reassembly of a run's history sent in ``history_chunk`` frames (feature ``history_chunks``).

A history too large for one ``run`` frame arrives as ``history_chunk {id, data}`` frames ahead of
its ``run``: ``data`` is base64 of a slice of the UTF-8 bytes of the history's JSON, so a slice
may end anywhere (inside a message, a string or a multi-byte character). The ``run`` then says
``historyChunks: n`` and the history is the JSON of the ``n`` slices joined, in order.

Bounds (see ``docs/protocol.md``):

* bytes: the decoded slices of every partial history together stay within ``max_bytes``
  (``init.maxHistoryBytes``). The chunk that would pass it drops its run's partial history; the
  run's later chunks are counted but not kept, and its ``run`` is answered with
  :class:`~synapse_bridge.exceptions.HistoryTooLargeError`;
* ids: at most ``max_pending`` runs may have a partial history at once (a protocol violation past it).

A ``cancel`` for a run whose history is still arriving discards it at once; its ``run``, when it
comes, is answered ``cancelled``. ``clear()`` (shutdown) discards everything. Pure bookkeeping,
no I/O: the runtime calls it on the loop thread.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from ._framing import decode_json
from .exceptions import HistoryTooLargeError, ProtocolError

__all__ = ['DEFAULT_MAX_HISTORY_BYTES', 'CANCELLED', 'HistoryAssembler']

DEFAULT_MAX_HISTORY_BYTES = 256 * 1024 * 1024
"""Cap on reassembled history bytes when ``init`` does not set ``maxHistoryBytes``."""

CANCELLED: Literal['cancelled'] = 'cancelled'
"""What :meth:`HistoryAssembler.take` returns for a run cancelled while its history arrived."""


class _Partial:
    __slots__ = ('chunks', 'parts', 'size', 'state')

    def __init__(self) -> None:
        self.chunks = 0
        self.parts: list[bytes] = []
        self.size = 0
        self.state: Literal['open', 'overflow', 'cancelled'] = 'open'


class HistoryAssembler:
    """The partial histories of runs whose ``run`` frame has not arrived yet."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_HISTORY_BYTES, max_pending: int = 64) -> None:
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        self._pending: dict[str, _Partial] = {}
        self._bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """Decoded bytes held for every partial history together."""
        return self._bytes

    @property
    def pending(self) -> int:
        """Runs with a partial history (cancelled or overflowed ones included until their ``run``)."""
        return len(self._pending)

    def add(self, run_id: str, data: str) -> None:
        """Appends one ``history_chunk``.

        Raises:
            ProtocolError: ``data`` is not base64, or ``max_pending`` runs already have one.
        """
        partial = self._pending.get(run_id)
        if partial is None:
            if len(self._pending) >= self.max_pending:
                raise ProtocolError(f'history_chunk for a {self.max_pending + 1}th run with a partial history')
            partial = self._pending[run_id] = _Partial()
        partial.chunks += 1
        if partial.state != 'open':
            return  # dropped (too large or cancelled): counted, not kept
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f'history_chunk of run {run_id!r}: data is not base64 ({exc})') from exc
        if self._bytes + len(raw) > self.max_bytes:
            self._drop(partial, 'overflow')
            return
        partial.parts.append(raw)
        partial.size += len(raw)
        self._bytes += len(raw)

    def cancel(self, run_id: str) -> bool:
        """Discards the partial history of ``run_id``; returns whether it had one."""
        partial = self._pending.get(run_id)
        if partial is None:
            return False
        self._drop(partial, 'cancelled')
        return True

    def take(self, run_id: str, chunks: int) -> list[Any] | Literal['cancelled']:
        """Removes and returns the history of ``run_id`` (its ``run`` said ``historyChunks: chunks``),
        or :data:`CANCELLED` if the run was cancelled while it arrived.

        Raises:
            HistoryTooLargeError: the history passed ``max_bytes`` (a run error, not a violation).
            ProtocolError: a chunk count other than ``chunks`` arrived, or the joined bytes are not
                the JSON of an array.
        """
        partial = self._pending.pop(run_id, None)
        received = 0 if partial is None else partial.chunks
        if partial is None or received != chunks:
            if partial is not None:
                self._drop(partial, 'cancelled')
            raise ProtocolError(f'run {run_id!r} says historyChunks={chunks} but {received} history_chunk frames arrived')
        parts, size, state = partial.parts, partial.size, partial.state
        self._drop(partial, state)
        if state == 'overflow':
            raise HistoryTooLargeError(
                f'history of run {run_id!r} is larger than maxHistoryBytes ({self.max_bytes}, all partial histories together)'
            )
        if state == 'cancelled':
            return CANCELLED
        try:
            history = decode_json(b''.join(parts))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(f'history of run {run_id!r} ({size} bytes in {chunks} chunks) is not valid UTF-8 JSON: {exc}') from exc
        if not isinstance(history, list):
            raise ProtocolError(f'history of run {run_id!r} is not a JSON array')
        return history

    def clear(self) -> None:
        """Discards every partial history (shutdown)."""
        self._pending.clear()
        self._bytes = 0

    def _drop(self, partial: _Partial, state: Literal['open', 'overflow', 'cancelled']) -> None:
        self._bytes -= partial.size
        partial.parts = []
        partial.size = 0
        partial.state = state
