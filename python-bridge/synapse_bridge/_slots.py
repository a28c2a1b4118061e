"""Model request slots (``spawnAgent({ rateLimit })``, feature ``model_slots``): Node decides when.

An agent whose ``init`` entry has ``modelSlots: true`` runs its model wrapped in :class:`SlottedModel`
(inside the retry policy's :class:`~synapse_bridge._retry.RetryingModel`, so every attempt asks
again). Before each model request it writes ``model_slot {id, callId, estTokens}`` (the request's
token estimate, :func:`estimate_tokens`) and awaits the matching
``model_slot_grant``; when the request ends — answered, failed or cancelled — it writes
``model_slot_release {id, callId, tokens?}`` with the response's total tokens (for Node's
tokens-per-minute accounting). Node's per-agent limiter coordinates all the agent's workers; a wait
Node refuses (deadline) ends the run from Node's side (``cancel``), which cancels the wait here.
A streamed request holds its slot until its stream is closed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai.models import Model
from pydantic_ai.models.wrapper import WrapperModel

from ._logging import run_id_var
from ._wrap import wrap_once
from .exceptions import OverloadedError

__all__ = ['CHARS_PER_TOKEN', 'MAX_PENDING_SLOTS', 'SlotClient', 'SlottedModel', 'estimate_tokens']

CHARS_PER_TOKEN = 4
"""The estimate's ratio: about 4 characters of English text per token (OpenAI's rule of thumb)."""

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
    async def slot(self, est_tokens: int | None = None) -> AsyncIterator[Callable[[int | None], None]]:
        """Holds a granted slot for the body; the body calls the yielded ``used(tokens)`` once it knows them.

        ``est_tokens``: the request's token estimate, sent as ``estTokens`` (Node debits it from the
        tokens-per-minute budget until the release says what the response used).

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
            ask: dict[str, Any] = {'t': 'model_slot', 'id': run_id, 'callId': call_id}
            if est_tokens is not None:
                ask['estTokens'] = est_tokens
            self._send(ask)
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


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):  # a multimodal prompt's text items (media not counted), a retry prompt's errors
        return sum(len(v) if isinstance(v, str) else len(json.dumps(v, default=str)) if isinstance(v, dict) else 0 for v in value)
    return 0


def estimate_tokens(messages: Any, model_settings: Any, model_request_parameters: Any, model: Any = None) -> int:
    """A request's token estimate for Node's ``tokensPerMinute`` admission (corrected on release).

    The input: the characters of the messages' text (prompts, instructions, answers, tool call
    arguments and returns) and of the tool definitions sent, over :data:`CHARS_PER_TOKEN`; plus the
    output the request may use: ``max_tokens`` of the run's (else the model's) settings, when set —
    as providers count it against their own tokens-per-minute limits. Media parts are not counted.
    """
    chars = 0
    for message in messages or ():
        chars += _text_chars(getattr(message, 'instructions', None))
        for part in getattr(message, 'parts', ()):
            args_json = getattr(part, 'args_as_json_str', None)  # a tool call: its arguments
            if callable(args_json):
                chars += len(part.tool_name) + len(args_json())
                continue
            content = getattr(part, 'content', None)
            if isinstance(content, (str, list, tuple)):
                chars += _text_chars(content)
            elif content is not None:  # a tool return's value
                try:
                    chars += len(json.dumps(content, default=str))
                except (TypeError, ValueError):
                    chars += len(str(content))
    params = model_request_parameters
    for tool in [*getattr(params, 'function_tools', ()), *getattr(params, 'output_tools', ())]:
        chars += len(tool.name) + len(tool.description or '') + len(json.dumps(tool.parameters_json_schema, default=str))
    estimate = math.ceil(chars / CHARS_PER_TOKEN)
    for settings in (model_settings, getattr(model, 'settings', None)):
        max_tokens = settings.get('max_tokens') if isinstance(settings, dict) else None
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
            return estimate + max_tokens
    return estimate


def _estimate(messages: Any, model_settings: Any, model_request_parameters: Any, model: Any) -> int | None:
    try:
        return estimate_tokens(messages, model_settings, model_request_parameters, model)
    except Exception:  # never fail a model request over its estimate: Node falls back to its running mean
        _log.debug('could not estimate the tokens of a model request', exc_info=True)
        return None


def _total_tokens(usage: Any) -> int | None:
    total = getattr(usage, 'total_tokens', None)
    return total if isinstance(total, int) and total >= 0 else None


class SlottedModel(WrapperModel):
    """``wrapped`` with each request run inside a slot Node granted (see the module docstring)."""

    def __init__(self, wrapped: Model, client: SlotClient) -> None:
        super().__init__(wrapped)
        self.client = client

    async def request(self, messages: Any, model_settings: Any, model_request_parameters: Any) -> Any:
        async with self.client.slot(_estimate(messages, model_settings, model_request_parameters, self.wrapped)) as used:
            response = await self.wrapped.request(messages, model_settings, model_request_parameters)
            used(_total_tokens(response.usage))
            return response

    @asynccontextmanager
    async def request_stream(
        self, messages: Any, model_settings: Any, model_request_parameters: Any, run_context: Any = None
    ) -> AsyncGenerator[Any]:
        async with self.client.slot(_estimate(messages, model_settings, model_request_parameters, self.wrapped)) as used:
            async with self.wrapped.request_stream(messages, model_settings, model_request_parameters, run_context) as stream:
                try:
                    yield stream
                finally:
                    usage = getattr(stream, 'usage', None)
                    used(_total_tokens(usage() if callable(usage) else usage))
