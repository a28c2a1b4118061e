"""Agent lifespans: entered once per worker process after the agents load, exited at shutdown.

One task owns every lifespan of the process, from ``__aenter__`` to ``__aexit__`` (a manager that
opens an anyio task group or cancel scope must be exited by the task that entered it, as in
Starlette's lifespan). It runs in the runs' base context, so context variables a lifespan sets
(e.g. pydantic-ai's ``agent.override(model=…)``) are seen by every run, and it exits in the same
context it entered.

* Enter: in ``init`` order; the first that raises ends :meth:`Lifespans.enter` with that error
  (the runtime reports a start-up failure; managers already entered are exited first).
* Exit: in reverse order, on the graceful stop path (``shutdown``, stdin EOF), bounded by
  :data:`LIFESPAN_EXIT_S`. An exit error is logged (type and message), never fatal. A process that
  dies (crash, SIGKILL) exits nothing: its replacement enters the lifespan afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Any

from ._agents import LoadedAgent
from ._deps import lifespan_manager

__all__ = ['LIFESPAN_EXIT_S', 'Lifespans']

LIFESPAN_EXIT_S = 3.0
"""How long the graceful stop waits for the lifespans to exit before going on without them."""
_log = logging.getLogger('synapse_bridge')


class Lifespans:
    """The lifespans of one process's agents (those that name one)."""

    def __init__(self, agents: list[LoadedAgent]) -> None:
        self._agents = [a for a in agents if a.lifespan is not None]
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def pending(self) -> bool:
        """True when some agent has a lifespan still to enter."""
        return bool(self._agents) and self._task is None

    async def enter(self, context: contextvars.Context) -> dict[str, Any]:
        """Enters every lifespan in one task running in ``context``; returns what each yielded,
        by agent name.

        Raises:
            whatever a lifespan (or the callable returning it) raised on enter.
        """
        loop = asyncio.get_running_loop()
        entered: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._stop = asyncio.Event()
        self._task = loop.create_task(self._hold(entered, self._stop), context=context)
        try:
            return await asyncio.shield(entered)
        except asyncio.CancelledError:
            self._task.cancel()
            raise

    async def _hold(self, entered: asyncio.Future[dict[str, Any]], stop: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            try:
                resources: dict[str, Any] = {}
                for loaded in self._agents:
                    resources[loaded.name] = await stack.enter_async_context(lifespan_manager(loaded))
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    entered.cancel()
                    raise
                if not entered.done():
                    entered.set_exception(exc)
                return  # the stack exits what was entered; the error is reported by enter()
            entered.set_result(resources)
            await stop.wait()

    async def aclose(self) -> None:
        """Exits every entered lifespan (idempotent; bounded by :data:`LIFESPAN_EXIT_S`). An exit
        error is logged, not raised."""
        task, self._task = self._task, None
        if task is None or task.done():
            self._log_failure(task)
            return
        assert self._stop is not None
        self._stop.set()
        done, _ = await asyncio.wait([task], timeout=LIFESPAN_EXIT_S)
        if not done:
            _log.warning('lifespan exit took longer than %.1f s: going on without it', LIFESPAN_EXIT_S)
            task.cancel()
            return
        self._log_failure(task)

    @staticmethod
    def _log_failure(task: asyncio.Task[None] | None) -> None:
        if task is None or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            _log.error('lifespan exit failed: %s: %s', type(exc).__name__, exc)
