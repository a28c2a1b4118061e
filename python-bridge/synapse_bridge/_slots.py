"""Model request slots (``spawnAgent({ rateLimit })``, feature ``model_slots``): Node decides when.

An agent whose ``init`` entry has ``modelSlots: true`` runs its model wrapped in :class:`SlottedModel`
(inside the retry policy's :class:`~synapse_bridge._retry.RetryingModel`, so every attempt asks
again). Before each model request it writes ``model_slot {id, callId}`` and awaits the matching
``model_slot_grant``; when the request ends — answered, failed or cancelled — it writes
``model_slot_release {id, callId, tokens?}`` with the response's total tokens (for Node's
tokens-per-minute accounting). Node's per-agent limiter coordinates all the agent's workers; a wait
Node refuses (deadline) ends the run from Node's side (``cancel``), which cancels the wait here.
A streamed request holds its slot until its stream is closed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai.models import Model
from pydantic_ai.models.wrapper import WrapperModel

from ._logging import run_id_var
from ._wrap import wrap_once
from .exceptions import OverloadedError

__all__ = ['MAX_PENDING_SLOTS', 'SlotClient', 'SlottedModel']

MAX_PENDING_SLOTS = 4096
"""Upper bound on model requests awaiting a ``model_slot_grant`` across all runs of a process."""

_log = logging.getLogger('synapse_bridge.slots')


class SlotClient:
    """Owns the pending ``model_slot`` requests of a process (one per runtime, bound at ``init``)."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send
        self._pending: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._ids = itertools.count(1)
        self._wrapped: dict[int, tuple[Model, SlottedModel]] = {}

    @property
    def pending(self) -> int:
        """Model requests currently awaiting their grant."""
        return len(self._pending)

    def wrap(self, model: Model | str) -> SlottedModel:
        """The slotted wrapper of ``model`` (one per model instance, reused across runs)."""
        return wrap_once(self._wrapped, model, SlottedModel, lambda m: SlottedModel(m, self))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Callable[[int | None], None]]:
        """Holds a granted slot for the body; the body calls the yielded ``used(tokens)`` once it knows them.

        Raises:
            OverloadedError: more than :data:`MAX_PENDING_SLOTS` requests wait.
            RuntimeError: outside a run.
        """
        run_id = run_id_var.get()
        if run_id is None:
            raise RuntimeError('model request outside a run')
        if len(self._pending) >= MAX_PENDING_SLOTS:
            raise OverloadedError(f'too many model requests waiting for a slot ({MAX_PENDING_SLOTS})')
        call_id = f'm{next(self._ids)}'
        key = (run_id, call_id)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        tokens: list[int | None] = [None]

        def used(n: int | None) -> None:
            tokens[0] = n

        try:
            self._send({'t': 'model_slot', 'id': run_id, 'callId': call_id})
            try:
                await future
            finally:
                self._pending.pop(key, None)
            yield used
        finally:
            release: dict[str, Any] = {'t': 'model_slot_release', 'id': run_id, 'callId': call_id}
            if tokens[0] is not None:
                release['tokens'] = tokens[0]
            self._send(release)  # also after a cancelled wait: Node ignores an unknown callId

    def resolve(self, frame: dict[str, Any]) -> bool:
        """Delivers a ``model_slot_grant``; returns ``False`` (and ignores it) if nobody awaits it."""
        future = self._pending.get((frame['id'], frame['callId']))
        if future is None or future.done():
            _log.debug('ignoring model_slot_grant for unknown request %s/%s', frame['id'], frame['callId'])
            return False
        future.set_result(None)
        return True


def _total_tokens(usage: Any) -> int | None:
    total = getattr(usage, 'total_tokens', None)
    return total if isinstance(total, int) and total >= 0 else None


class SlottedModel(WrapperModel):
    """``wrapped`` with each request run inside a slot Node granted (see the module docstring)."""

    def __init__(self, wrapped: Model, client: SlotClient) -> None:
        super().__init__(wrapped)
        self.client = client

    async def request(self, messages: Any, model_settings: Any, model_request_parameters: Any) -> Any:
        async with self.client.slot() as used:
            response = await self.wrapped.request(messages, model_settings, model_request_parameters)
            used(_total_tokens(response.usage))
            return response

    @asynccontextmanager
    async def request_stream(
        self, messages: Any, model_settings: Any, model_request_parameters: Any, run_context: Any = None
    ) -> AsyncGenerator[Any]:
        async with self.client.slot() as used:
            async with self.wrapped.request_stream(messages, model_settings, model_request_parameters, run_context) as stream:
                try:
                    yield stream
                finally:
                    usage = getattr(stream, 'usage', None)
                    used(_total_tokens(usage() if callable(usage) else usage))
