"""TypeScript tools: pydantic-ai tools whose body runs in Node.

Each ``init.tools`` entry becomes a ``Tool.from_schema`` tool (arguments are passed through
as JSON, Node validates them). Calling it writes ``tool_call {id, callId, tool, args}`` and
awaits the matching ``tool_result``: ``ok: true`` returns ``value``; ``ok: false`` raises
``ModelRetry(error)`` so the model sees the failure and can adapt. The set is offered to every
run as an extra toolset. Cancelling the run cancels the wait; a late ``tool_result`` is ignored.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from pydantic_ai import ModelRetry, Tool
from pydantic_ai.toolsets import FunctionToolset

from ._logging import run_id_var
from .exceptions import OverloadedError

__all__ = ['MAX_PENDING_TOOL_CALLS', 'ToolBridge']

MAX_PENDING_TOOL_CALLS = 1024
"""Upper bound on tool calls awaiting a ``tool_result`` across all runs of a process."""

_log = logging.getLogger('synapse_bridge.tools')


class ToolBridge:
    """Owns the pending ``tool_call``s of a process and builds the TS toolset from ``init``."""

    def __init__(self, send: Callable[[dict[str, Any]], None], specs: list[dict[str, Any]]) -> None:
        self._send = send
        self._pending: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.names = [spec['name'] for spec in specs]
        tools = [
            Tool.from_schema(self._make_call(spec['name']), spec['name'], spec['description'], spec['parameters'])
            for spec in specs
        ]
        self.toolset: FunctionToolset[Any] | None = FunctionToolset(tools) if tools else None

    @property
    def pending(self) -> int:
        """Tool calls currently awaiting their result."""
        return len(self._pending)

    def _make_call(self, name: str) -> Callable[..., Any]:
        async def call_ts_tool(**args: Any) -> Any:
            return await self.call(name, args)

        call_ts_tool.__name__ = name
        return call_ts_tool

    async def call(self, tool: str, args: dict[str, Any]) -> Any:
        """Asks Node to run ``tool`` for the current run and awaits the answer.

        Raises:
            ModelRetry: Node answered ``ok: false`` (the model sees ``error``).
            OverloadedError: more than :data:`MAX_PENDING_TOOL_CALLS` calls are pending.
            RuntimeError: called outside a run.
        """
        run_id = run_id_var.get()
        if run_id is None:
            raise RuntimeError(f'TS tool {tool!r} called outside a run')
        if len(self._pending) >= MAX_PENDING_TOOL_CALLS:
            raise OverloadedError(f'too many pending TS tool calls ({MAX_PENDING_TOOL_CALLS})')
        call_id = f'c{next(self._ids)}'
        key = (run_id, call_id)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self._send({'t': 'tool_call', 'id': run_id, 'callId': call_id, 'tool': tool, 'args': args})
            answer = await future
        finally:
            self._pending.pop(key, None)
        if answer['ok']:
            return answer.get('value')
        raise ModelRetry(answer.get('error') or f'tool {tool!r} failed')

    def resolve(self, frame: dict[str, Any]) -> bool:
        """Delivers a ``tool_result``; returns ``False`` (and ignores it) if nobody awaits it."""
        future = self._pending.get((frame['id'], frame['callId']))
        if future is None or future.done():
            _log.debug('ignoring tool_result for unknown call %s/%s', frame['id'], frame['callId'])
            return False
        future.set_result(frame)
        return True
