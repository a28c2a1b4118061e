"""Orphan-proofing: the runtime must never outlive the Node process that spawned it.

Three independent layers (the fourth, exit on stdin EOF, lives in the reader):

1. ``PR_SET_PDEATHSIG(SIGKILL)`` via ``prctl`` on Linux: the kernel kills us when the parent dies.
2. A daemon thread polling ``os.getppid()`` against env ``SYNAPSE_PARENT_PID`` (or the parent
   seen at start-up): once re-parented, the process exits with :data:`EXIT_PARENT_LOST`.
3. The protocol writer treats ``EPIPE`` as a lost parent (see ``_runtime``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Callable

__all__ = ['EXIT_PARENT_LOST', 'Watchdog', 'expected_parent_pid', 'pid_alive_probe', 'set_parent_death_signal']

EXIT_PARENT_LOST = 4
"""Exit code when the parent is gone (re-parented or the protocol pipe broke)."""

_PR_SET_PDEATHSIG = 1


def expected_parent_pid() -> int:
    """The parent pid to guard: env ``SYNAPSE_PARENT_PID`` if it is a positive integer, else
    the current ``os.getppid()``."""
    raw = os.environ.get('SYNAPSE_PARENT_PID', '')
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return os.getppid()


def pid_alive_probe(pid: int) -> Callable[[], int]:
    """A ``getppid`` stand-in for :class:`Watchdog` in a worker forked by the zygote (whose
    parent is the zygote, not Node): returns ``pid`` while that process exists, else ``-1``."""

    def probe() -> int:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return -1
        except PermissionError:
            return pid  # it exists (owned by someone else: cannot happen for our Node, harmless)
        return pid

    return probe


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Asks the Linux kernel to send ``sig`` to this process when its parent thread exits.

    Returns ``False`` (and does nothing) off Linux or if ``prctl`` is unavailable.
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Watchdog:
    """Daemon thread that calls ``on_orphaned`` once the parent pid is no longer ours.

    ``close()`` stops it (idempotent). ``on_orphaned`` runs on the watchdog thread; the default
    flushes stderr and ``os._exit(EXIT_PARENT_LOST)`` — an orphan must not wait for anything.
    """

    def __init__(
        self,
        parent_pid: int,
        interval_s: float = 0.5,
        on_orphaned: Callable[[], None] | None = None,
        getppid: Callable[[], int] = os.getppid,
    ) -> None:
        self.parent_pid = parent_pid
        self.interval_s = interval_s
        self._on_orphaned = on_orphaned or _exit_orphaned
        self._getppid = getppid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name='synapse-watchdog', daemon=True)

    def start(self) -> Watchdog:
        """Starts polling; checks once synchronously first (the parent may already be gone)."""
        if self._getppid() != self.parent_pid:
            self._on_orphaned()
            return self
        self._thread.start()
        return self

    def close(self) -> None:
        """Stops the thread (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.interval_s * 2)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self._getppid() != self.parent_pid:
                self._on_orphaned()
                return


def _exit_orphaned() -> None:
    try:
        sys.stderr.write('synapse_bridge: parent process is gone, exiting\n')
        sys.stderr.flush()
    finally:
        os._exit(EXIT_PARENT_LOST)
