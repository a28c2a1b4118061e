"""Forwarding of Python ``logging`` records as ``log`` frames, tagged with the current run.

The run id lives in a :class:`~contextvars.ContextVar` set by the run's task; asyncio copies
the context into every task and callback the run creates, so a record logged from an agent's
tool carries the ``id`` of the run that called it. Environment values are never logged here.

Node drops ``log`` frames below its logger's level; it says which it would keep in env
``SYNAPSE_LOG_FORWARD`` (a wire level, ``debug`` … ``error``, or ``off``), and the handler leaves
the others unsent. Without it, every turn of an agent on the provider path sends httpx's INFO
``HTTP Request: …`` line as its own frame — one extra write and one Node wake-up per turn, for a
frame a ``silent`` or ``warn`` logger then drops (docs/benchmarks.md, "Provider path"). The root
logger's level is left as it is (env ``SYNAPSE_LOG_LEVEL``), so handlers the user's code adds see
the same records as before.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Callable
from typing import Any

__all__ = ['FrameLogHandler', 'current_run_id', 'forward_threshold', 'install_log_forwarding', 'run_id_var']

run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar('synapse_run_id', default=None)

_MAX_MSG_CHARS = 64 * 1024
"""Longer messages are cut (with a marker) so a log record can never exceed a frame."""

_LEVELS = {logging.DEBUG: 'debug', logging.INFO: 'info', logging.WARNING: 'warning'}

_OFF = 2**31
"""A handler level above every record's: nothing is forwarded."""
_THRESHOLDS = {'debug': logging.NOTSET, 'info': logging.INFO, 'warning': logging.WARNING, 'error': logging.ERROR, 'off': _OFF}
"""Env ``SYNAPSE_LOG_FORWARD`` → the handler level that keeps exactly the records whose wire level
(:func:`_wire_level`) Node keeps."""


def current_run_id() -> str | None:
    """The id of the ``run`` whose task is executing the caller, or ``None`` outside a run."""
    return run_id_var.get()


def _wire_level(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return 'error'
    if levelno >= logging.WARNING:
        return 'warning'
    if levelno >= logging.INFO:
        return 'info'
    return _LEVELS.get(levelno, 'debug')


class FrameLogHandler(logging.Handler):
    """A ``logging.Handler`` that writes each record as a ``log`` frame through ``send``."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.exc_info:
                msg = f'{msg}\n{logging.Formatter().formatException(record.exc_info)}'
            if len(msg) > _MAX_MSG_CHARS:
                msg = msg[:_MAX_MSG_CHARS] + f'… [truncated {len(msg) - _MAX_MSG_CHARS} chars]'
            frame: dict[str, Any] = {'t': 'log', 'level': _wire_level(record.levelno), 'logger': record.name, 'msg': msg}
            run_id = run_id_var.get()
            if run_id is not None:
                frame['id'] = run_id
            self._send(frame)
        except Exception:  # a failing log must never break the caller; logging prints it to stderr
            self.handleError(record)


def forward_threshold(environ: dict[str, str] | None = None) -> int:
    """The :class:`FrameLogHandler` level for env ``SYNAPSE_LOG_FORWARD`` (the lowest wire level
    Node keeps, or ``off``); unset or unknown: ``NOTSET``, everything is sent."""
    raw = (os.environ if environ is None else environ).get('SYNAPSE_LOG_FORWARD', '')
    return _THRESHOLDS.get(raw.strip().lower(), logging.NOTSET)


def install_log_forwarding(send: Callable[[dict[str, Any]], None]) -> FrameLogHandler:
    """Replaces the root logger's handlers with a :class:`FrameLogHandler`.

    The root level comes from env ``SYNAPSE_LOG_LEVEL`` (a name such as ``DEBUG``; default
    ``INFO``; an unknown name falls back to ``INFO`` with a warning); the handler's own level from
    env ``SYNAPSE_LOG_FORWARD`` (:func:`forward_threshold`).
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = FrameLogHandler(send)
    handler.setLevel(forward_threshold())
    root.addHandler(handler)
    name = os.environ.get('SYNAPSE_LOG_LEVEL', 'INFO').strip().upper() or 'INFO'
    level = logging.getLevelName(name)
    if isinstance(level, int):
        root.setLevel(level)
    else:
        root.setLevel(logging.INFO)
        logging.getLogger('synapse_bridge').warning('SYNAPSE_LOG_LEVEL is not a logging level name; using INFO')
    logging.captureWarnings(True)
    return handler
