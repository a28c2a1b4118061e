"""Process resource accounting and limits: RSS for ``pong``, ``memoryLimitMb`` for ``init``.

``memoryLimitMb`` behaviour (Linux; elsewhere the same ``RLIMIT_AS`` call where supported):

* ``init.memoryLimitMb = N`` (N > 0) sets the *soft* ``RLIMIT_AS`` (virtual address space) of
  the process to N MiB, after pydantic-ai is imported and before the agents are loaded. The
  hard limit is left unchanged (capped at it if lower). ``0`` or absent means no limit.
* N must exceed the current virtual size (``/proc/self/statm``); otherwise start-up fails with
  ``error {kind: "startup", type: "InvalidInitError"}`` and exit 2. Virtual size includes
  reserved-but-unused memory (thread stacks, allocator arenas), so leave generous headroom:
  an idle runtime is typically a few hundred MiB of address space.
* Past the limit, allocations fail: Python raises ``MemoryError`` in the allocating code. In a
  run this is an ``error {kind: "agent", type: "MemoryError"}`` (``kind: "tool"`` when raised
  inside a tool) and the process keeps serving. A C extension that does not handle a failed
  ``malloc``, or a failure while the runtime itself allocates, may instead abort the process
  (``SIGABRT``/``SIGSEGV``): Node sees a crash and restarts the worker. Either way the agent
  can no longer eat the machine.
"""

from __future__ import annotations

import os
import resource

from .exceptions import InvalidInitError

__all__ = ['apply_memory_limit', 'rss_bytes', 'virtual_bytes']

_PAGE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


def _statm(field: int) -> int | None:
    try:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[field]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def rss_bytes() -> int:
    """Current resident set size in bytes (``/proc/self/statm``; peak RSS as a fallback)."""
    rss = _statm(1)
    if rss is not None:
        return rss
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def virtual_bytes() -> int | None:
    """Current virtual size in bytes, or ``None`` where ``/proc`` is unavailable."""
    return _statm(0)


def caused_by_memory_error(exc: BaseException | None) -> bool:
    """True if ``exc`` is a ``MemoryError`` or one is in its cause/context chain or, for an
    exception group, in one of its members (a library may wrap the allocation failure)."""
    seen: set[int] = set()
    todo: list[BaseException] = [] if exc is None else [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, MemoryError):
            return True
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
    return False


def apply_memory_limit(limit_mb: int) -> int:
    """Sets the soft ``RLIMIT_AS`` to ``limit_mb`` MiB; returns the limit applied in bytes.

    Raises:
        InvalidInitError: the limit is not above the current virtual size.
    """
    limit = limit_mb * 1024 * 1024
    current = virtual_bytes()
    if current is not None and limit <= current:
        raise InvalidInitError(
            f'memoryLimitMb={limit_mb} is below the current virtual size ({current // (1024 * 1024)} MiB)'
        )
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and limit > hard:
        limit = hard
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit
